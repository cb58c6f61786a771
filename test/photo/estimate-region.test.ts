/**
 * A face's degradation estimate in a whole photo is taken on the photo's decoded pixels in the
 * face's box (photo/estimate-region.ts), not on the resampled aligned cut, so it reads what the
 * calibration read on faces at their own grid.
 */
import { describe, expect, it } from 'vitest';
import {
  type RgbImage,
  SeededRandom,
  estimateAtEffectiveSize,
  severityOf,
} from '../../gpu-task/src/engine/index.js';
import { addNoise, jpegRoundTrip, planarToRgb, rgbToPlanar } from '../../gpu-task/src/eval/index.js';
import {
  type Similarity,
  composeSimilarity,
  faceEstimateRegion,
  invertSimilarity,
  resizeRgb,
} from '../../gpu-task/src/photo/index.js';
import { background, placeFaces, utkFaces, utkPresent } from './helpers.js';

/** Photo -> frame fractions for a frame of `side` px centred on (cx, cy), rotated by `angle`. */
function frameAt(cx: number, cy: number, side: number, angle = 0): Similarity {
  const a = side * Math.cos(angle);
  const b = side * Math.sin(angle);
  return invertSimilarity({ a, b, tx: cx - a / 2 + b / 2, ty: cy - b / 2 - a / 2 });
}

/** A photo whose every pixel names its place (R = x, G = y, B = x + y, mod 256). */
function coordinatePhoto(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x % 256, y % 256, (x + y) % 256], (y * width + x) * 3);
  }
  return { data, width, height };
}

/** Strong noise (σ 20 per channel) and JPEG q 30, as the severe split degrades. */
async function degrade(image: RgbImage, seed: number): Promise<RgbImage> {
  const planar = rgbToPlanar(image);
  addNoise(planar, 'gaussian', 20, new SeededRandom(seed));
  return jpegRoundTrip(planarToRgb(planar), 30);
}

describe('faceEstimateRegion', () => {
  it('cuts the face box unresampled, origin snapped down to the 8x8 grid, whatever the rotation', () => {
    const photo = coordinatePhoto(100, 80);
    const region = faceEstimateRegion(photo, frameAt(50.3, 41, 30, 0.4));
    expect(region.faceSize).toBe(30);
    expect([region.left, region.top]).toEqual([32, 24]); // box from (35.3, 26): down to multiples of 8
    expect([region.image.width, region.image.height]).toEqual([65 - 32, 56 - 24]);
    for (const [x, y] of [
      [0, 0],
      [7, 3],
      [region.image.width - 1, region.image.height - 1],
    ] as const) {
      const at = (y * region.image.width + x) * 3;
      expect([...region.image.data.subarray(at, at + 3)]).toEqual([32 + x, 24 + y, 56 + x + y]);
    }
  });

  it('clamps to the photo, keeping at least one pixel', () => {
    const photo = coordinatePhoto(60, 40);
    const corner = faceEstimateRegion(photo, frameAt(5, 6, 30));
    expect([corner.left, corner.top, corner.image.width, corner.image.height]).toEqual([0, 0, 20, 21]);
    const outside = faceEstimateRegion(photo, frameAt(200, -50, 20));
    expect(outside.image.width).toBeGreaterThanOrEqual(1);
    expect(outside.image.height).toBeGreaterThanOrEqual(1);
    expect(outside.left + outside.image.width).toBeLessThanOrEqual(60);
    expect(outside.top).toBe(0);
  });

  it.skipIf(!utkPresent)(
    'reads a noisy, compressed face in a photo like the same face on its own grid, and the clean photo as clean',
    async () => {
      const [face] = await utkFaces(1, 'train/');
      const side = 96;
      const clean = background(320, 240);
      const [placed] = placeFaces(clean, [{ face: face!, cx: 150, cy: 118, side, angle: 0.3 }]);
      // The crop's frame (pixels 0..crop) as fractions -> photo.
      const crop = face!.image.width;
      const toUnit = invertSimilarity(
        composeSimilarity(placed!.cropToPhoto, { a: crop, b: 0, tx: 0, ty: 0 }),
      );

      const inPhoto = faceEstimateRegion(await degrade(clean, 7), toUnit);
      const inClean = faceEstimateRegion(clean, toUnit);
      expect(inPhoto.faceSize).toBe(side);
      const photoEstimate = estimateAtEffectiveSize(inPhoto.image, inPhoto.faceSize);
      const cleanEstimate = estimateAtEffectiveSize(inClean.image, inClean.faceSize);
      // The calibration's view: the face degraded at its own size, estimated on its own grid.
      const own = await degrade(await resizeRgb(face!.image, side, side), 7);
      const ownEstimate = estimateAtEffectiveSize(own, side);

      expect(photoEstimate.faceSize).toBe(ownEstimate.faceSize);
      expect(photoEstimate.coarseNoise!).toBeGreaterThan(0.7 * ownEstimate.coarseNoise!);
      expect(photoEstimate.coarseNoise!).toBeLessThan(1.4 * ownEstimate.coarseNoise!);
      expect(Math.abs(severityOf(photoEstimate) - severityOf(ownEstimate))).toBeLessThan(
        0.3 * severityOf(ownEstimate),
      );
      expect(photoEstimate.jpeg).toBeGreaterThan(0.1);
      // Clearly more severe than the clean photo: 1 spans two or more of the 64 and 128 px rows' severity bins.
      expect(severityOf(photoEstimate)).toBeGreaterThan(severityOf(cleanEstimate) + 1);
      expect(photoEstimate.acZeros!).toBeGreaterThan(cleanEstimate.acZeros!);
      // On the photo's own JPEG grid the quantised-away share reads as on the face's own grid.
      expect(Math.abs(photoEstimate.acZeros! - ownEstimate.acZeros!)).toBeLessThan(0.08);
    },
  );
});
