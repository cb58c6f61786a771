/**
 * `restoreImages` reports one progress over all of its sampler runs: a call of more images than a
 * run holds (a worker's batch of jobs, a photo of more faces than `batchSize`) counts from 1 to
 * its total once. The worker writes these numbers to the job, so a job's progress bar in an app
 * never jumps back. Tiny random-weight model, aligned crops.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Dr2eEngine, type RestoreProgress } from '../../gpu-task/src/engine/index.js';
import { modelCallsOf } from '../../gpu-task/src/engine/sampler/dr2-sampler.js';
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

/** A square PNG of soft gradients, different per `shade` (all white with `white`). */
async function crop(shade: number, white = false): Promise<Uint8Array> {
  const side = 48;
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    data[i * 3] = white ? 255 : 40 + shade * 30 + (i % side);
    data[i * 3 + 1] = white ? 255 : 80 + Math.floor(i / side);
    data[i * 3 + 2] = white ? 255 : 150 - shade * 10;
  }
  return new Uint8Array(
    await sharp(data, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

const options = { aligned: true, params: { preset: 'mild', steps: 10 } } as const;

describe('progress of a call of several sampler runs', () => {
  it('counts from 1 to its total once, run after run, with each run’s images', async () => {
    // Prepare: three crops, one per run
    const inputs = [
      { id: 'a.png', bytes: await crop(0), seed: 1 },
      { id: 'b.png', bytes: await crop(1), seed: 2 },
      { id: 'c.png', bytes: await crop(2), seed: 3 },
    ];
    const reports: RestoreProgress[] = [];
    // Act
    const results = await engine.restoreImages(inputs, {
      ...options,
      batchSize: 1,
      onStep: (p) => void reports.push(p),
    });
    // Assess: the total is known from the first step, three runs of the preset's model calls
    expect(results.every((r) => r.ok)).toBe(true);
    const { omega, tau } = engine.resolveParams(options.params);
    const total = 3 * modelCallsOf([{ omega, tau }]);
    expect(reports[0]!.total).toBe(total);
    expect(reports.map((p) => p.step)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(reports.every((p) => p.total === total)).toBe(true);
    const perRun = total / 3;
    expect(reports.map((p) => p.run)).toEqual(
      [1, 2, 3].flatMap((run) => new Array<number>(perRun).fill(run)),
    );
    expect(reports.map((p) => p.images[0])).toEqual(
      ['a.png', 'b.png', 'c.png'].flatMap((id) => new Array<string>(perRun).fill(id)),
    );
  });

  it('keeps counting forward when a broken run is run again member by member', async () => {
    // Prepare: the white crop's output comes back with a NaN, so its run of two is run again alone
    const original = engine.restoreTensors.bind(engine);
    const spy = vi.spyOn(engine, 'restoreTensors').mockImplementation(async (request) => {
      const outcome = await original(request);
      const per = request.y.length / request.batch;
      const out = outcome.restored.length / request.batch;
      for (let b = 0; b < request.batch; b++) {
        if (request.y.subarray(b * per, (b + 1) * per).every((v) => v > 0.99))
          outcome.restored[b * out] = NaN;
      }
      assertFiniteOutput('enhancer tiny', 'out', outcome.restored, request.batch);
      return outcome;
    });
    const reports: RestoreProgress[] = [];
    try {
      // Act
      const results = await engine.restoreImages(
        [
          { id: 'first', bytes: await crop(0), seed: 1 },
          { id: 'white', bytes: await crop(0, true), seed: 2 },
        ],
        { ...options, batchSize: 2, onStep: (p) => void reports.push(p) },
      );
      // Assess: the planned run, then each member alone; the count goes on, the total grows,
      // and the planned run's last step is not reported as the end (its output broke after it)
      expect(results.map((r) => r.ok)).toEqual([true, false]);
      const planned = reports[0]!.total;
      expect(reports.slice(0, -1).every((p) => p.step < p.total)).toBe(true);
      expect(reports.map((p) => p.step)).toEqual(Array.from({ length: 3 * planned }, (_, i) => i + 1));
      expect(reports.map((p) => p.run)).toEqual(
        [1, 2, 3].flatMap((run) => new Array<number>(planned).fill(run)),
      );
      const totals = reports.map((p) => p.total);
      expect(totals.every((t, i) => i === 0 || t >= totals[i - 1]!)).toBe(true);
      expect(reports.every((p) => p.step <= p.total)).toBe(true);
      expect(reports.at(-1)).toMatchObject({ step: 3 * planned, total: 3 * planned, images: ['white'] });
    } finally {
      spy.mockRestore();
    }
  });
});
