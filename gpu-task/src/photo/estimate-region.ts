/**
 * Where a face's degradation is measured in a whole photo: the photo's decoded pixels in the
 * face's axis-aligned box, cut without resampling.
 *
 * The aligned cut (rotated and scaled onto the template for paste-back) is no place for it:
 * interpolation averages neighbouring pixels, so white noise of std 20 reads as 1-2 and the
 * JPEG 8x8 grid is smeared away (blocking <= 0.05 at q 20-40), and every face of a noisy photo
 * would be binned as nearly clean (`dr2e eval-photos`). The calibration
 * (scripts/calibrate-quality.ts) estimates each degraded face on its own decoded grid, so the
 * photo path measures on the same: the box's origin is snapped down to a multiple of 8, where
 * the photo's JPEG blocks start, so the estimate's 8x8 grid is the compression's.
 */
import type { RgbImage } from '../engine/core.js';
import { type Similarity, applySimilarity, invertSimilarity, similarityScale } from './similarity.js';

/** A face's region of the decoded photo, for its degradation estimate. */
export interface FaceEstimateRegion {
  /** The photo's pixels in the region, as decoded. */
  image: RgbImage;
  /** The region's top-left corner in the photo (multiples of 8). */
  left: number;
  top: number;
  /**
   * The face's side in input pixels: the aligned frame's side, what the calibration calls the
   * face size (its crops' side at their input size).
   */
  faceSize: number;
}

/** The JPEG block size: region origins are snapped to it. */
const JPEG_BLOCK = 8;

/**
 * Cut the face's estimate region out of the decoded photo: the square of the aligned frame's
 * side centred on the frame's centre (not rotated), its origin snapped down to a multiple of 8
 * and clamped to the photo; at least one pixel.
 *
 * @param photo - the decoded photo (the pixels detection ran on).
 * @param toUnit - the face's alignment, photo coordinates -> frame fractions.
 * @example
 * ```ts
 * const region = faceEstimateRegion(prepared.decoded.image, face.toUnit);
 * const estimate = estimateAtEffectiveSize(region.image, region.faceSize);
 * ```
 */
export function faceEstimateRegion(photo: RgbImage, toUnit: Similarity): FaceEstimateRegion {
  const side = 1 / similarityScale(toUnit);
  const [cx, cy] = applySimilarity(invertSimilarity(toUnit), [0.5, 0.5]);
  const span = (centre: number, limit: number): [number, number] => {
    const start = Math.min(Math.max(0, Math.floor(centre - side / 2)), limit - 1);
    const from = Math.floor(start / JPEG_BLOCK) * JPEG_BLOCK;
    const to = Math.min(limit, Math.max(start + 1, Math.round(centre + side / 2)));
    return [from, to];
  };
  const [left, right] = span(cx, photo.width);
  const [top, bottom] = span(cy, photo.height);
  const width = right - left;
  const height = bottom - top;
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((top + row) * photo.width + left) * 3;
    data.set(photo.data.subarray(from, from + width * 3), row * width * 3);
  }
  return { image: { data, width, height }, left, top, faceSize: Math.max(1, Math.round(side)) };
}
