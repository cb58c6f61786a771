/**
 * The detector's second pass for noisy photos: the same pyramid run again on a median-filtered
 * copy of the photo, its faces merged with the first pass's.
 *
 * **Why.** BlazeFace was trained on clean camera frames. In a noisy, JPEG-compressed photo
 * (an old scan, a low-light shot, a message-app copy) a 40-90 px face can score under the
 * threshold at every level, while a 3 x 3 median, which removes impulsive noise and JPEG's
 * ringing but keeps the eyes' and mouth's edges, lifts it over. The median also costs some faces
 * their score (it flattens fine features), so it is a second pass, not a replacement. On the
 * whole-photo evaluation's scenes of UTKFace `train/` (`scripts/detect-recall.ts`, seeds 0-5,
 * 144 faces per split), severe faces found rose from 126 to 133, mild (144) and medium (143)
 * unchanged, no extra detection on any split. The filter was chosen on seeds 1 and 2 (41 -> 46 of
 * 48; a Gaussian blur and a 5 x 5 median found fewer); on seeds 0 and 3-5, where no filter was tried
 * 85 -> 87 of 96. On every photo of `../shared/data/whole-photos`, `real-degraded` and `hq`, and on
 * blurred, noisy, compressed copies of the whole photos, the median pass found no face the first
 * pass had not.
 *
 * **When.** Only photos whose noise reads at least DENOISED_PASS_NOISE: the pass doubles the
 * detector's time, which a clean 12 MP photo (0.5 s of detection) should not pay, and holds a
 * second decoded copy of the photo (36 MB at 12 MP) while it runs.
 */
import sharp from 'sharp';
import { type RgbImage, estimateCoarseNoise, luma } from '../engine/core.js';

/**
 * The photoNoise reading from which a photo gets the median pass. On the evaluation's train/
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
  const window = new Uint8Array(width * height * 3);
  const readings: number[] = [];
  for (const top of spread(photo.height, height)) {
    for (const left of spread(photo.width, width)) {
      for (let y = 0; y < height; y++) {
        const start = ((top + y) * photo.width + left) * 3;
        window.set(photo.data.subarray(start, start + width * 3), y * width * 3);
      }
      readings.push(estimateCoarseNoise(luma({ data: window, width, height }), width, height));
    }
  }
  readings.sort((a, b) => a - b);
  const middle = readings.length / 2;
  return readings.length % 2 === 1
    ? readings[Math.floor(middle)]!
    : (readings[middle - 1]! + readings[middle]!) / 2;
}

/** NOISE_GRID window origins spread evenly along a side of `length` (one when the window fills it). */
function spread(length: number, window: number): number[] {
  if (length <= window) return [0];
  return Array.from({ length: NOISE_GRID }, (_, i) => Math.round((i * (length - window)) / (NOISE_GRID - 1)));
}

/** The photo through a 3 x 3 median (libvips), same size. */
export async function medianCopy(photo: RgbImage): Promise<RgbImage> {
  const data = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .median(3)
    .raw()
    .toBuffer();
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: photo.width,
    height: photo.height,
  };
}
