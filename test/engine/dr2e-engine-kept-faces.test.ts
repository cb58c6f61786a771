/**
 * Faces `auto` keeps as they are (input weight 1, detail weight 1: the fused face is the input
 * whatever DR2 gives) are not run through the model. Aligned path, tiny random-weight model: a
 * small crop at fidelity 1 is such a face.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Dr2eEngine, type ImageRestoration } from '../../gpu-task/src/engine/index.js';
import { repoRoot } from './helpers/fixture-paths.js';

const TINY_MODEL = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');
type Ok = Extract<ImageRestoration, { ok: true }>;

let engine: Dr2eEngine;
beforeAll(async () => {
  engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await engine?.dispose();
});

/** A square PNG of soft gradients and waves (something to restore; what it shows does not matter). */
async function crop(side: number): Promise<Uint8Array> {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    const x = i % side;
    const y = Math.floor(i / side);
    const wave = 12 * Math.sin(x / 5) * Math.cos(y / 7);
    data[i * 3] = 90 + x + wave;
    data[i * 3 + 1] = 110 + y / 2 + wave;
    data[i * 3 + 2] = 140 - y / 2 + wave;
  }
  return new Uint8Array(
    await sharp(data, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** Restore one aligned crop, counting the faces handed to the model. */
async function restoreCounting(
  bytes: Uint8Array,
  options: Parameters<Dr2eEngine['restoreImages']>[1],
): Promise<{ result: Ok; modelFaces: number }> {
  const spy = vi.spyOn(engine, 'restoreTensors');
  try {
    const [result] = await engine.restoreImages([{ id: 'crop', bytes, seed: 5 }], {
      aligned: true,
      ...options,
    });
    if (!result?.ok)
      throw new Error(`restore failed: ${result?.ok === false ? result.error.message : 'none'}`);
    const modelFaces = spy.mock.calls.reduce((sum, [request]) => sum + request.batch, 0);
    return { result, modelFaces };
  } finally {
    spy.mockRestore();
  }
}

describe('aligned crops auto keeps as they are', () => {
  const keep = { params: { preset: 'auto', fidelity: 1, steps: 4 } } as const;

  it('are not passed to the model (unless DR2 is asked for), reported kept, and come out as before (the input enlarged)', async () => {
    // Prepare: a 48 px crop (below the tiny model's 64 px cut-off) at fidelity 1.
    const input = await crop(48);
    // Act: as the engine does now, and with the DR2 intermediate asked for (which runs the model
    // and fuses its output, as every crop was before).
    const kept = await restoreCounting(input, keep);
    const run = await restoreCounting(input, { ...keep, keepDr2: true });
    // Assess
    expect(kept.modelFaces).toBe(0);
    expect(kept.result.faces[0]?.settings?.kept).toBe(true);
    expect(kept.result.timings.modelMs).toBe(0);
    expect(run.modelFaces).toBe(1);
    // Run for DR2's output only: still kept (its output is its input), so the CLI says so
    expect(run.result.faces[0]?.settings?.kept).toBe(true);
    expect(run.result.dr2).toBeDefined();
    expect([kept.result.width, kept.result.height]).toEqual([96, 96]);
    expect(Buffer.compare(Buffer.from(kept.result.restored), Buffer.from(run.result.restored))).toBe(0);
  });

  it('are restored when auto does not keep them (fidelity 0) or the setting is fixed', async () => {
    const input = await crop(48);
    const low = await restoreCounting(input, { params: { preset: 'auto', fidelity: 0, steps: 4 } });
    const fixed = await restoreCounting(input, { params: { preset: 'mild', steps: 4 } });
    expect([low.modelFaces, fixed.modelFaces]).toEqual([1, 1]);
    expect(low.result.faces[0]?.settings?.kept).toBeUndefined();
    expect(fixed.result.faces[0]?.settings?.kept).toBeUndefined();
  });
});
