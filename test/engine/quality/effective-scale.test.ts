import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
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
import { SeededRandom } from '../../../gpu-task/src/engine/random/seeded-random.js';
import { sharedDir } from '../helpers/fixture-paths.js';
import { jpeg, testCard, withNoise } from './cards.js';

const photosDir = path.join(sharedDir, 'data', 'whole-photos');
const photosPresent = existsSync(photosDir);

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

  it('reads a face enlarged x16 as enlarged x8, the largest factor it reads', async () => {
    // Prepare: a 32 px face enlarged to 512 px (the paper's set03).
    const enlarged = await degradedAndEnlarged(32, 16, 30);
    // Act and assess: the period of 16 is seen; the face is read at 64 px, not 32 (read at
    // 32 px, such faces lost identity against their reading at 64: docs/quality).
    expect(periodOf(enlarged)).toBe(16);
    expect(effectiveScale(enlarged)).toBe(8);
  });

  it('reads no factor above 8, even where the band above side / 16 is empty', () => {
    // Prepare: a mildly noisy 32 px face enlarged x16 (its empty-band test passes at 16).
    const enlarged = resizeRgb8(withNoise(testCard(32), 4), 512, 512);
    // Act and assess
    expect(effectiveScale(enlarged)).toBe(8);
  });

  it('does not read a face enlarged by 16/15 through its period (its weights repeat every 16 px too)', async () => {
    // Prepare: a 480 px face with some noise, enlarged to 512 px with bilinear interpolation.
    const native = withNoise(testCard(480), 5);
    const raw = { width: 480, height: 480, channels: 3 as const };
    const data = await sharp(native.data, { raw }).resize(512, 512, { kernel: 'linear' }).raw().toBuffer();
    const enlarged = { data: new Uint8Array(data), width: 512, height: 512 };
    // Act and assess: a period is there, but the face keeps its detail far above side / 8, so the
    // period is not taken for an enlargement by 8 or 16 (read through it, the face read x2).
    expect(periodOf(enlarged)).toBe(16);
    expect(effectiveScale(enlarged)).toBe(1);
  });

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

  it.skipIf(!photosPresent)(
    `finds no enlargement in crops of native photos, whatever strong edges they hold${photosPresent ? '' : ` (skipped: ${photosDir} is absent)`}`,
    async () => {
      // Prepare: 24 crops of 256-480 px at 8 px-aligned places of two photos at their own
      // resolution (a JPEG with hard edges, a motion-blurred face): before every profile had to
      // agree, a few strong edges along one axis read as a period of 16 and such crops as x2-x16.
      const crops: RgbImage[] = [];
      const random = new SeededRandom(5);
      for (const name of ['00.jpg', 'insightface_blur.jpg']) {
        const { data, info } = await sharp(path.join(photosDir, name))
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        const photo = { data: new Uint8Array(data), width: info.width, height: info.height };
        for (let i = 0; i < 12; i++) {
          const side = Math.min(256 + Math.floor(random.uniform() * 224), info.width, info.height);
          const left = Math.floor((random.uniform() * (info.width - side + 1)) / 8) * 8;
          const top = Math.floor((random.uniform() * (info.height - side + 1)) / 8) * 8;
          crops.push(cut(photo, left, top, side));
        }
      }
      // Act and assess
      expect(crops.map(periodOf)).toEqual(crops.map(() => 1));
    },
  );

  it('still reads a clean enlargement by its empty band, as before', () => {
    // Prepare: a mildly noisy 64 px face enlarged x4.
    const enlarged = resizeRgb8(withNoise(testCard(64), 8), 256, 256);
    // Act and assess
    expect(effectiveScale(enlarged)).toBe(4);
  });
});
