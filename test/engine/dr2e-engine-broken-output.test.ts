/**
 * A model output that is NaN or infinite for one image fails that image only: its batch mates
 * (other files of a CLI run, other jobs in a worker's batch) run again without it and succeed
 * with the results they would have had alone. Tiny random-weight model; the broken output is
 * injected for one recognisable input (an all-white crop) through the real contract check.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Dr2eEngine,
  type ImageRestoration,
  ModelContractError,
  type RestoreTensorsRequest,
} from '../../gpu-task/src/engine/index.js';
import { assertFiniteOutput } from '../../gpu-task/src/engine/model/contract.js';
import { repoRoot } from './helpers/fixture-paths.js';

const TINY_MODEL = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');

let engine: Dr2eEngine;
beforeAll(async () => {
  engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await engine?.dispose();
});

/** A square PNG: soft gradients, or all white (the input whose output the test breaks). */
async function crop(side: number, white = false): Promise<Uint8Array> {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    const x = i % side;
    const y = Math.floor(i / side);
    data[i * 3] = white ? 255 : 60 + x;
    data[i * 3 + 1] = white ? 255 : 80 + y;
    data[i * 3 + 2] = white ? 255 : 150 - y / 2;
  }
  const png = sharp(data, { raw: { width: side, height: side, channels: 3 } }).png();
  return new Uint8Array(await png.toBuffer());
}

/** Whether batch item `b` of a request is the all-white input (its tensor is 1 everywhere). */
function isWhite(request: RestoreTensorsRequest, b: number): boolean {
  const per = request.y.length / request.batch;
  return request.y.subarray(b * per, (b + 1) * per).every((v) => v > 0.99);
}

describe('a model output that breaks for one image', () => {
  it('fails that image alone; its batch mates succeed as they would alone', async () => {
    // Prepare: the model's output for the white crop comes back with a NaN in it
    const original = engine.restoreTensors.bind(engine);
    const spy = vi.spyOn(engine, 'restoreTensors').mockImplementation(async (request) => {
      const outcome = await original(request);
      const per = outcome.restored.length / request.batch;
      for (let b = 0; b < request.batch; b++)
        if (isWhite(request, b)) outcome.restored[b * per + 5] = Number.NaN;
      assertFiniteOutput('enhancer tiny', 'out', outcome.restored, request.batch);
      return outcome;
    });
    const inputs = [
      { id: 'first', bytes: await crop(48), seed: 1 },
      { id: 'white', bytes: await crop(48, true), seed: 2 },
      { id: 'third', bytes: await crop(40), seed: 3 },
    ];
    const options = { aligned: true, params: { preset: 'mild', steps: 10 }, batchSize: 3 };
    try {
      // Act
      const together = await engine.restoreImages(inputs, options);
      const alone = await engine.restoreImages([inputs[0]!, inputs[2]!], { ...options, batchSize: 1 });
      // Assess
      const [first, white, third] = together as [ImageRestoration, ImageRestoration, ImageRestoration];
      expect(white.ok).toBe(false);
      if (!white.ok) {
        expect(white.error).toBeInstanceOf(ModelContractError);
        expect(white.error.code).toBe('model_contract');
        expect(white.error.message).toMatch(/enhancer tiny returned NaN in "out"/);
      }
      expect([first.ok, third.ok]).toEqual([true, true]);
      const bytes = (r: ImageRestoration | undefined) => (r?.ok ? Buffer.from(r.restored) : null);
      expect(bytes(first)).toEqual(bytes(alone[0]));
      expect(bytes(third)).toEqual(bytes(alone[1]));
    } finally {
      spy.mockRestore();
    }
  });

  it('fails the broken image alone when it is alone in its group (the last group, or batch size 1)', async () => {
    // Prepare
    const original = engine.restoreTensors.bind(engine);
    const spy = vi.spyOn(engine, 'restoreTensors').mockImplementation(async (request) => {
      const outcome = await original(request);
      const per = outcome.restored.length / request.batch;
      for (let b = 0; b < request.batch; b++) if (isWhite(request, b)) outcome.restored[b * per] = Number.NaN;
      assertFiniteOutput('enhancer tiny', 'out', outcome.restored, request.batch);
      return outcome;
    });
    const inputs = [
      { id: 'a', bytes: await crop(48), seed: 1 },
      { id: 'b', bytes: await crop(40), seed: 2 },
      { id: 'white', bytes: await crop(48, true), seed: 3 },
    ];
    try {
      // Act: groups [a, b] and [white]
      const results = await engine.restoreImages(inputs, {
        aligned: true,
        params: { preset: 'mild', steps: 10 },
        batchSize: 2,
      });
      // Assess
      expect(results.map((r) => r.ok)).toEqual([true, true, false]);
      expect(results[2]!.ok === false && results[2]!.error.code).toBe('model_contract');
    } finally {
      spy.mockRestore();
    }
  });

  it('still fails a batch whose every image breaks, once per image', async () => {
    // Prepare
    const original = engine.restoreTensors.bind(engine);
    const spy = vi.spyOn(engine, 'restoreTensors').mockImplementation(async (request) => {
      const outcome = await original(request);
      outcome.restored.fill(Number.NaN);
      assertFiniteOutput('enhancer tiny', 'out', outcome.restored, request.batch);
      return outcome;
    });
    try {
      // Act
      const results = await engine.restoreImages(
        [
          { id: 'a', bytes: await crop(48), seed: 1 },
          { id: 'b', bytes: await crop(40), seed: 2 },
        ],
        { aligned: true, params: { preset: 'mild', steps: 10 }, batchSize: 2 },
      );
      // Assess: the group, then each image alone
      expect(results.map((r) => r.ok)).toEqual([false, false]);
      expect(spy.mock.calls.map(([request]) => request.batch)).toEqual([2, 1, 1]);
    } finally {
      spy.mockRestore();
    }
  });
});
