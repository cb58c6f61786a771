/** The engine in a worker thread: same results as in-process, steps, per-image errors, abort. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, type RestoreProgress } from '../../gpu-task/src/engine/index.js';
import { RemoteEngineError, ThreadedEngine } from '../../gpu-task/src/worker/threaded-engine.js';
import { patternPng, TEXT_FILE } from './helpers/images.js';
import { TINY_MODEL } from './helpers/worker-env.js';

let threaded: ThreadedEngine;

beforeAll(async () => {
  threaded = await ThreadedEngine.start({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await threaded.dispose();
});

describe('ThreadedEngine', () => {
  it('restores exactly what the engine restores in-process, and reports every step', async () => {
    // Prepare
    const inputs = [
      { id: 'a', bytes: await patternPng(1), seed: 5 },
      { id: 'b', bytes: await patternPng(2), seed: 6 },
    ];
    const local = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
    const steps: RestoreProgress[] = [];

    // Act
    // The pattern images stand in for aligned face crops (nothing to detect): restored whole.
    // A fixed schedule of three steps (auto would choose per image), one crop per run.
    const params = { steps: 10, n: 4, tau: 2, omega: 4 };
    const inThread = await threaded.restoreImages(inputs, {
      params,
      aligned: true,
      batchSize: 1,
      onStep: (progress) => void steps.push(progress),
    });
    const inProcess = await local.restoreImages(inputs, {
      params,
      aligned: true,
      batchSize: 1,
    });
    await local.dispose();

    // Assess
    expect(threaded.name).toBe('tiny');
    expect(inThread.map((result) => result.ok && Buffer.from(result.restored).toString('base64'))).toEqual(
      inProcess.map((result) => result.ok && Buffer.from(result.restored).toString('base64')),
    );
    // The call's whole progress crosses the thread: one count over both runs, each run's image.
    await expect
      .poll(() => steps)
      .toEqual([
        ...[1, 2, 3].map((step) => ({ step, total: 6, run: 1, images: ['a'] })),
        ...[4, 5, 6].map((step) => ({ step, total: 6, run: 2, images: ['b'] })),
      ]);
  });

  it('returns a bad image as a per-image error with its code', async () => {
    // Act
    const [result] = await threaded.restoreImages([{ id: 'text', bytes: TEXT_FILE }], {
      params: { steps: 10 },
    });

    // Assess
    expect(result?.ok).toBe(false);
    if (result && !result.ok) {
      expect(result.error).toBeInstanceOf(RemoteEngineError);
      expect(result.error.code).toBe('image_decode_failed');
      expect(result.error.retryable).toBe(false);
    }
  });

  it('rejects a whole call with the engine error code (invalid parameters, not retryable)', async () => {
    // Act
    const call = threaded.restoreImages([{ id: 'a', bytes: await patternPng(1) }], {
      params: { steps: 10, n: 4, tau: 8, omega: 3 },
    });

    // Assess
    await expect(call).rejects.toMatchObject({ code: 'invalid_parameters', retryable: false });
  });

  it('stops a call between steps when its signal aborts, and keeps serving', async () => {
    // Prepare
    const controller = new AbortController();
    const inputs = [{ id: 'a', bytes: await patternPng(1), seed: 1 }];

    // Act: abort at the first step of a long run.
    const call = threaded.restoreImages(inputs, {
      params: { n: 4, tau: 10, omega: 900, steps: 1000 },
      aligned: true,
      signal: controller.signal,
      onStep: () => controller.abort(),
    });

    // Assess
    await expect(call).rejects.toMatchObject({ code: 'canceled' });
    const [after] = await threaded.restoreImages(inputs, { params: { steps: 10 } });
    expect(after?.ok).toBe(true);
  });

  it('refuses to start with a model that does not load', async () => {
    await expect(
      ThreadedEngine.start({ model: '/nonexistent/pipeline.json', device: 'cpu' }),
    ).rejects.toBeInstanceOf(RemoteEngineError);
  });
});
