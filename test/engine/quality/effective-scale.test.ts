import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../../gpu-task/src/engine/image/index.js';
import {
  effectiveScale,
  estimateAtEffectiveSize,
  estimateDegradation,
  interpolationPeriod,
  resizeRgb8,
} from '../../../gpu-task/src/engine/quality/index.js';
import { luma } from '../../../gpu-task/src/engine/quality/planes.js';
import { jpeg, testCard, withNoise } from './cards.js';

/** A face degraded small (heavy noise, then JPEG) and enlarged by `factor`: the DR2 test sets' recipe. */
async function degradedAndEnlarged(small: number, factor: number, noise: number): Promise<RgbImage> {
  const degraded = await jpeg(withNoise(testCard(small), noise), 90);
  return resizeRgb8(degraded, small * factor, small * factor);
}

/** The side x side window from (left, top). */
function cut(image: RgbImage, left: number, top: number, side: number): RgbImage {
  const data = new Uint8Array(side * side * 3);
  for (let row = 0; row < side; row++) {
    const from = ((top + row) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + side * 3), row * side * 3);
  }
  return { data, width: side, height: side };
}

function periodOf(image: RgbImage): number {
  return interpolationPeriod(luma(image), image.width, image.height);
}

describe('effectiveScale: how much a face was enlarged before it reached us', () => {
  it.each([
    [128, 4],
    [64, 8],
    [32, 16],
  ])(
    'reads a heavily noisy %i px face enlarged x%i at its true factor (interpolation leaks its noise above the band it had)',
    async (small, factor) => {
      // Prepare: noise of std 30 at the small size, as the DR2 paper's test faces carry.
      const enlarged = await degradedAndEnlarged(small, factor, 30);
      // Act
      const f = effectiveScale(enlarged);
      // Assess: the trace of the enlargement is found, and the face is read at its own size.
      expect(periodOf(enlarged)).toBe(factor);
      expect(f).toBe(factor);
      expect(estimateAtEffectiveSize(enlarged, small * factor).faceSize).toBe(small);
    },
  );

  it('reads the same factor on a crop whose corner lies off the enlargement grid', async () => {
    // Prepare: x8 from 64 px, cut at (3, 5): the corner 3 and 5 px off the grid.
    const enlarged = await degradedAndEnlarged(64, 8, 30);
    const offGrid = cut(enlarged, 3, 5, 400);
    // Act and assess
    expect(effectiveScale(offGrid)).toBe(8);
  });

  it('reads a noisy enlarged face as enlarged noise, not as a large face with texture', async () => {
    // Prepare: x4 from 128 px with noise 30.
    const enlarged = await degradedAndEnlarged(128, 4, 30);
    // Act
    const estimate = estimateAtEffectiveSize(enlarged, 512);
    // Assess: at its own size the noise reads near what was added (JPEG q 90 took some of it);
    // read on the enlarged pixels, or at twice its size, it is a few grey levels.
    expect(estimate.noise).toBeGreaterThan(10);
    expect(estimate.noise).toBeGreaterThan(2 * estimateDegradation(resizeRgb8(enlarged, 256, 256)).noise);
  });

  it('does not take a JPEG block grid for an enlargement', async () => {
    // Prepare: a 256 px face, noisy and compressed hard at its own size (8 px blocks, the period
    // an x8 enlargement would have).
    const compressed = await jpeg(withNoise(testCard(256), 15), 20);
    // Act and assess
    expect(periodOf(compressed)).toBe(1);
    expect(effectiveScale(compressed)).toBe(1);
  });

  it('still reads a clean enlargement by its empty band, as before', () => {
    // Prepare: a mildly noisy 64 px face enlarged x4.
    const enlarged = resizeRgb8(withNoise(testCard(64), 8), 256, 256);
    // Act and assess
    expect(effectiveScale(enlarged)).toBe(4);
  });
});
