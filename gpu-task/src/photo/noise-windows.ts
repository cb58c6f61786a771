/**
 * A photo's noise read in windows of its own pixels (downscaling would average the noise away):
 * the detector's gate for its smoothed second pass (denoised-pass.ts, the median of a 4 x 4
 * grid) and the background denoiser's reading (background-denoise.ts, a low quantile of a tiling)
 * both read here, each taking the statistic it needs.
 */
import { type RgbImage, estimateCoarseNoise, luma } from '../engine/core.js';

/**
 * `count` origins of windows of `side` spread evenly along a side of `length`, from 0 to
 * `length - side`; one, at 0, when the window fills the side.
 *
 * @example
 * ```ts
 * spreadOrigins(1000, 128, 4); // [0, 291, 581, 872]
 * ```
 */
export function spreadOrigins(length: number, side: number, count: number): number[] {
  if (length <= side || count < 2) return [0];
  return Array.from({ length: count }, (_, i) => Math.round((i * (length - side)) / (count - 1)));
}

/**
 * The coarse noise (per channel, 0-255; estimateCoarseNoise of the BT.601 luma) of each
 * `width` x `height` window at every top of `tops` and left of `lefts`, row by row.
 *
 * @example
 * ```ts
 * const readings = windowNoiseReadings(photo, 64, 64, [0, 64, 128], [0, 64]); // 6 readings
 * ```
 */
export function windowNoiseReadings(
  photo: RgbImage,
  width: number,
  height: number,
  lefts: readonly number[],
  tops: readonly number[],
): number[] {
  const window = new Uint8Array(width * height * 3);
  const readings: number[] = [];
  for (const top of tops) {
    for (const left of lefts) {
      for (let y = 0; y < height; y++) {
        const start = ((top + y) * photo.width + left) * 3;
        window.set(photo.data.subarray(start, start + width * 3), y * width * 3);
      }
      readings.push(estimateCoarseNoise(luma({ data: window, width, height }), width, height));
    }
  }
  return readings;
}
