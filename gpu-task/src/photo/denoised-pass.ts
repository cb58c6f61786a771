/**
 * The detector's second pass for noisy photos: the same pyramid run again on a slightly
 * smoothed copy of the photo (Gaussian, sigma SMOOTHING_SIGMA px), its faces merged with the
 * first pass's.
 *
 * **Why.** BlazeFace was trained on clean camera frames. In a noisy, JPEG-compressed photo
 * (an old scan, a low-light shot, a message-app copy) a 40-90 px face can score under the
 * threshold at every level, while a light smoothing, which takes the pixel-scale noise and
 * JPEG's ringing out but not the eyes' and mouth's shapes, lifts it over. Smoothing also costs
 * some faces their score, so it is a second pass, not a replacement. On the whole-photo
 * evaluation's severe scenes of UTKFace `train/` (`scripts/detect-recall.ts`, seeds 0-5, 144
 * faces) the first pass finds 126, with this pass 134; mild (144) and medium (143) unchanged,
 * no extra detection on any split. A 3 x 3 median found as many (133) but costs 3 s on a
 * noisy 12 MP photo (libvips' rank filter slows down on noise), the Gaussian 0.2 s; sigma 1.0
 * found 132. On every photo of `../shared/data/whole-photos`, `real-degraded` and `hq`, and on
 * blurred, noisy, compressed copies of the whole photos, the pass found no face the first pass
 * had not.
 *
 * **When.** Only photos whose noise reads at least DENOISED_PASS_NOISE: the pass doubles the
 * detector's time (a noisy 12 MP photo: 1.45 s instead of 0.6 s), which a clean photo should
 * not pay, and holds a second decoded copy of the photo (36 MB at 12 MP) while it runs.
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import { spreadOrigins, windowNoiseReadings } from './noise-windows.js';

/**
 * The photoNoise reading from which a photo gets the smoothed pass. On the evaluation's train/
 * scenes (400 x 300, seeds 1 and 2) mild photos read 2.2-7.3, medium 3.8-13.2, severe 5.5-14.4;
 * clean photos of `../shared/data/whole-photos` 0.7-4.6 (a small web photo 6.4), the benchmark's
 * 12 MP photo 1.5. The gate takes all severe photos but one and the noisier medium and mild ones
 * (a pass too many costs time only: it found nothing false on any photo tried).
 */
export const DENOISED_PASS_NOISE = 6;

/** Side of the windows the noise is read in, and how many a side of the photo (a grid). */
const NOISE_WINDOW = 128;
const NOISE_GRID = 4;

/**
 * The photo's noise: the median, over a 4 x 4 grid of 128 px windows spread over the photo, of
 * each window's coarse noise, read in the photo's own pixels (downscaling would average the
 * noise away). The median of windows ignores the few that texture (foliage, fabric) reads as
 * noisy; windows cover the whole photo, so a photo whose centre is sky is read by its other parts
 * as well. About 5 ms whatever the photo's size.
 *
 * @example
 * ```ts
 * photoNoise(photo) >= DENOISED_PASS_NOISE; // what FaceDetector.detect decides by default
 * await detector.detect(photo, { denoisedPass: true }); // or asks for, whatever the noise
 * ```
 */
export function photoNoise(photo: RgbImage): number {
  const width = Math.min(photo.width, NOISE_WINDOW);
  const height = Math.min(photo.height, NOISE_WINDOW);
  const readings = windowNoiseReadings(
    photo,
    width,
    height,
    spreadOrigins(photo.width, width, NOISE_GRID),
    spreadOrigins(photo.height, height, NOISE_GRID),
  );
  readings.sort((a, b) => a - b);
  const middle = readings.length / 2;
  return readings.length % 2 === 1
    ? readings[Math.floor(middle)]!
    : (readings[middle - 1]! + readings[middle]!) / 2;
}

/** Standard deviation (px) of the smoothed pass's Gaussian. */
export const SMOOTHING_SIGMA = 0.8;

/** The photo through a Gaussian of sigma SMOOTHING_SIGMA (libvips), same size. */
export async function smoothedCopy(photo: RgbImage): Promise<RgbImage> {
  const data = await sharp(photo.data, {
    raw: { width: photo.width, height: photo.height, channels: 3 },
    limitInputPixels: false,
  })
    .blur(SMOOTHING_SIGMA)
    .raw()
    .toBuffer();
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: photo.width,
    height: photo.height,
  };
}
