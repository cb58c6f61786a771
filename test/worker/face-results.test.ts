/** Metering of one restored photo (face-results.ts usageOf): what `usage.faces` counts. */
import { describe, expect, it } from 'vitest';
import type { ImageRestoration } from '../../gpu-task/src/engine/index.js';
import { usageOf } from '../../gpu-task/src/worker/face-results.js';

type Restored = Extract<ImageRestoration, { ok: true }>;

const face = (kept: boolean): Restored['faces'][number] => ({
  box: [0, 0, 40, 40],
  score: 0.9,
  landmarks: [],
  settings: { n: 1, tau: 0, omega: 1, ...(kept ? { kept: true as const } : {}) },
});

function restored(faces: Restored['faces']): Restored {
  return {
    id: 'p',
    ok: true,
    restored: new Uint8Array(),
    width: 2,
    height: 2,
    seed: 1,
    params: { n: 1, tau: 0, omega: 1, steps: 4 },
    timings: { decodeMs: 5, detectMs: 100, dr2Ms: 1200, modelMs: 1000, enhanceMs: 200.4, encodeMs: 9 },
    upscale: 2,
    faces,
    skippedFaces: [],
    warnings: [],
  };
}

describe('usageOf', () => {
  it('counts the faces the model restored, not those auto kept as they were, and the model time', () => {
    expect(usageOf(restored([face(false), face(true), face(false)]))).toEqual({
      images: 1,
      faces: 2,
      modelSeconds: 1.5,
    });
    expect(usageOf(restored([face(true)])).faces).toBe(0);
    expect(usageOf(restored([])).faces).toBe(0);
  });

  it('bills a photo without faces its detection only', () => {
    const noFace = restored([]);
    noFace.timings = { ...noFace.timings, dr2Ms: 0, modelMs: 0, enhanceMs: 0 };
    expect(usageOf(noFace)).toEqual({ images: 1, faces: 0, modelSeconds: 0.1 });
  });
});
