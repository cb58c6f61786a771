/**
 * Degradation estimates of one face, from its pixels alone (no reference):
 *
 * - **noise**: standard deviation (0-255) of additive white noise, from the median absolute
 *   response of the luma to the 3x3 Laplacian-of-Laplacian mask `[1 -2 1; -2 4 -2; 1 -2 1]`
 *   (Immerkaer 1996). The mask cancels smooth gradients; the median (not the mean) ignores the
 *   minority of pixels on edges, so faces' edges bias it little. White noise of std σ gives a
 *   response of std 6σ, and for a Gaussian median|r| = 0.6745 std: σ = median|r| / (6 · 0.6745).
 *   Reported per RGB channel, assuming independent noise per channel (luma has 0.67 of it).
 * - **blur**: spectral fall-off, 0 (sharp) to 1 (no detail in the finest octave): the ratio of
 *   the luma's energy in the finest octave (x - G_1 x) to the next (G_1 x - G_2 x), after
 *   removing the noise's share of each, against the ratio of sharp natural faces
 *   (`SHARP_OCTAVE_RATIO`).
 * - **jpeg**: 8x8 blocking, the mean absolute luma step across block boundaries over the mean
 *   step inside blocks, minus 1 (0 for no blocking; compressed at q 20-40 gives 0.2-1). Only
 *   meaningful on the decoded grid (an unresampled crop).
 * - **coarseNoise**: the same estimate on the 2x2 block means of the luma, times 2 (white
 *   noise of std σ has std σ / 2 there): the noise left at the scale JPEG keeps. JPEG removes
 *   most of a noisy face's finest-scale noise (so `noise` reads ~1 under q 20-70 whatever the
 *   added noise), not its coarser part. Face detail adds to it on small faces (under ~64 px it
 *   is mostly detail): the chooser compares it only among faces of one size.
 * - **acZeros**: the share of the luma's 8x8 DCT AC coefficients (on the decoded grid) that
 *   carry no detail: within ±max(1.5, AC_ZERO_NOISE_MULTIPLE x the noise's std in a coefficient)
 *   of zero. JPEG quantises coefficients to multiples of a step that grows as the quality falls,
 *   so most become exactly zero (decoding to 8 bits moves a zero by far less than 1.5); noise
 *   buries the rest. Medians on the calibration's clean train faces 0.51 (32 px) to 0.82 (64 px),
 *   extreme (q 10-20) 0.85-0.92. Blur raises it too; see severityOf.
 * - **colourNoise**: the coarse estimate (2x2 block means, as `coarseNoise`) on the two chroma
 *   planes (BT.601 Cb and Cr), averaged and reported per RGB channel. Noise that is independent
 *   per channel (a sensor's, the Eq. 13 model's) shows in chroma as much as in luma; a face's own
 *   texture (wrinkles, pores, hair) is nearly all luma. Uncompressed, it reads per-channel noise
 *   at its level; JPEG's 4:2:0 subsampling and coarse chroma quantisation leave less (noise 25
 *   under q 90-95 reads about 10), and quality 70-85 can remove it all, so its absence alone
 *   proves nothing (see creditedCoarseNoise). On the calibration's train faces (45-256 px) it
 *   reads under 1.9 on every split but `noisy` (one face 2.04), 2.1 and up on `noisy` (noise
 *   15-35 under JPEG q 90-97). 0 on a grey image.
 * - **faceSize**: the face's side in input pixels before any resampling (the caller's, as the
 *   crop handed here may already be resampled).
 */
import type { RgbImage } from '../image/index.js';
import { CB_WEIGHTS, CR_WEIGHTS, LUMA_WEIGHTS, chroma, luma } from './planes.js';

/**
 * Faces under this side (px, at their effective resolution; the boundary between the table's
 * 32 and 45 px rows, √(32 · 45) ≈ 37.9) are binned by blocking minus fine detail: on a 16-32 px
 * face the coarse noise reads the face's own structure (its median is the same for every split
 * of the calibration), while the finest-scale response (`noise`) falls with every degradation
 * (blur and compression remove a small face's fine detail first): at 32 px its median reads
 * 4.7 / 3.4 / 2.1 / 2.1 / 1.1 on the clean / mild / medium / severe / extreme training faces.
 * From 45 px up the coarse noise orders the splits better (45 px training faces, the probability
 * that a face of the next split reads as more severe: 0.96 / 0.97 / 0.99 / 0.94 with it, 0.94 /
 * 0.92 / 0.88 / 0.86 with the fine detail). The boundary lies between two rows of the default
 * table (16, 32, 45, 64, ... px), so every row is binned by one formula; a table with other rows
 * would mix them within a row, so the calibration script keeps these rows.
 */
export const SMALL_FACE_BELOW = Math.sqrt(32 * 45);

/** What the chooser needs to know about a face's input. */
export interface DegradationEstimate {
  /** Noise standard deviation, 0-255 scale. */
  noise: number;
  /** 0 sharp .. 1 blurred (finest octave empty). */
  blur: number;
  /** JPEG blocking, 0 = none. */
  jpeg: number;
  /** Noise std (0-255) measured at half resolution (robust to JPEG; see the module comment). */
  coarseNoise?: number;
  /** Share of the luma's 8x8 DCT AC coefficients near zero (JPEG's quantisation; see the module comment). */
  acZeros?: number;
  /** Noise std (0-255, per channel) of the chroma planes at half resolution: colour noise, which texture lacks. */
  colourNoise?: number;
  /** The face's side in input pixels. */
  faceSize: number;
}

export interface EstimateOptions {
  /** Side of the face in the input, px (default: the crop's width). */
  faceSize?: number;
}

/**
 * Finest-to-next octave energy ratio of a sharp face: the median over 30 clean UTKFace train
 * faces downsampled to 64 px (0.87; their 200-px originals give 0.40, being soft themselves, and
 * 32-px versions 1.3), rounded down.
 */
export const SHARP_OCTAVE_RATIO = 0.8;

/**
 * Estimate the degradation of a face crop.
 *
 * @example
 * ```ts
 * const estimate = estimateDegradation(faceCrop, { faceSize: 92 });
 * // { noise: 6.1, blur: 0.42, jpeg: 0.08, faceSize: 92 }
 * ```
 */
export function estimateDegradation(face: RgbImage, options: EstimateOptions = {}): DegradationEstimate {
  const y = luma(face);
  const { width, height } = face;
  const noise = estimateNoise(y, width, height);
  const coarseNoise = estimateCoarseNoise(y, width, height);
  const faceSize = options.faceSize ?? width;
  // The noise a coefficient must stand above to carry detail: on faces under SMALL_FACE_BELOW
  // the coarse reading is mostly the face's own structure, so the fine one stands in.
  const floorNoise = faceSize < SMALL_FACE_BELOW ? noise : coarseNoise;
  return {
    noise,
    blur: estimateBlur(y, width, height, noise),
    jpeg: estimateBlocking(y, width, height),
    coarseNoise,
    acZeros: estimateAcZeros(y, width, height, acZeroBelow(floorNoise)),
    colourNoise: estimateColourNoise(face),
    faceSize,
  };
}

/**
 * Noise std per RGB channel (0-255) read on the chroma planes at half resolution (see the
 * module comment): the mean of Cb's and Cr's coarse estimates, each scaled from its plane's
 * share of independent channel noise to one channel's.
 */
export function estimateColourNoise(face: RgbImage): number {
  const { cb, cr } = chroma(face);
  const { width, height } = face;
  // estimateCoarseNoise reports per channel through luma's gain; undo it, apply the plane's own.
  const perPlane = (plane: Float32Array, gain: number) =>
    (estimateCoarseNoise(plane, width, height) * LUMA_NOISE_GAIN) / gain;
  return (perPlane(cb, CB_NOISE_GAIN) + perPlane(cr, CR_NOISE_GAIN)) / 2;
}

/** Noise std at half resolution (2x2 block means), scaled back to the input's pixels (x 2). */
export function estimateCoarseNoise(y: Float32Array, width: number, height: number): number {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  if (w < 3 || h < 3) return 0;
  const half = new Float32Array(w * h);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const k = 2 * r * width + 2 * c;
      half[r * w + c] =
        ((y[k] as number) + (y[k + 1] as number) + (y[k + width] as number) + (y[k + width + 1] as number)) /
        4;
    }
  }
  return 2 * estimateNoise(half, w, h);
}

/**
 * Std of BT.601 luma for independent unit noise in R, G and B: sqrt(0.299² + 0.587² + 0.114²).
 * The estimate is measured on luma and reported per channel (the Eq. 13 model's δ).
 */
const LUMA_NOISE_GAIN = Math.hypot(...LUMA_WEIGHTS);
/** The same for BT.601 Cb and Cr. */
const CB_NOISE_GAIN = Math.hypot(...CB_WEIGHTS);
const CR_NOISE_GAIN = Math.hypot(...CR_WEIGHTS);

/** Noise std (per channel) from the median absolute Laplacian-of-Laplacian response (see the module comment). */
export function estimateNoise(y: Float32Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  const responses = new Float32Array((width - 2) * (height - 2));
  let k = 0;
  for (let r = 1; r < height - 1; r++) {
    // Rows above, at and below; the sum in the mask's reading order (the same float result as
    // reading each tap by its (dr, dc) offset, without a closure per pixel: 4x faster).
    let up = (r - 1) * width + 1;
    let at = r * width + 1;
    let down = (r + 1) * width + 1;
    for (let c = 1; c < width - 1; c++, up++, at++, down++) {
      const v =
        (y[up - 1] as number) -
        2 * (y[up] as number) +
        (y[up + 1] as number) -
        2 * (y[at - 1] as number) +
        4 * (y[at] as number) -
        2 * (y[at + 1] as number) +
        (y[down - 1] as number) -
        2 * (y[down] as number) +
        (y[down + 1] as number);
      responses[k++] = Math.abs(v);
    }
  }
  responses.sort();
  const median = responses[Math.floor(responses.length / 2)] as number;
  return median / (6 * 0.6745) / LUMA_NOISE_GAIN;
}

function gaussianBlurPlane(src: Float32Array, width: number, height: number, sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp((-i * i) / (2 * sigma * sigma));
    taps[i + radius] = w;
    sum += w;
  }
  for (let i = 0; i < taps.length; i++) taps[i] = (taps[i] as number) / sum;
  const reflect = (i: number, n: number) => {
    let j = i;
    while (j < 0 || j >= n) j = j < 0 ? -j - 1 : 2 * n - j - 1;
    return j;
  };
  const temp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      let acc = 0;
      for (let i = -radius; i <= radius; i++)
        acc += (taps[i + radius] as number) * (src[r * width + reflect(c + i, width)] as number);
      temp[r * width + c] = acc;
    }
  }
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      let acc = 0;
      for (let i = -radius; i <= radius; i++)
        acc += (taps[i + radius] as number) * (temp[reflect(r + i, height) * width + c] as number);
      out[r * width + c] = acc;
    }
  }
  return out;
}

/**
 * Fraction of white noise's variance in the octaves x - G_1 x and G_1 x - G_2 x (Gaussian σ = 1
 * and 2 px): sum of the squared taps of each band's 2-D kernel, computed once.
 */
const NOISE_SHARE = (() => {
  const size = 33;
  const impulse = new Float32Array(size * size);
  impulse[16 * size + 16] = 1;
  const g1 = gaussianBlurPlane(impulse, size, size, 1);
  const g2 = gaussianBlurPlane(impulse, size, size, 2);
  let fine = 0;
  let next = 0;
  for (let i = 0; i < impulse.length; i++) {
    fine += ((impulse[i] as number) - (g1[i] as number)) ** 2;
    next += ((g1[i] as number) - (g2[i] as number)) ** 2;
  }
  return { fine, next };
})();

/** 0 (sharp) .. 1 (finest octave empty) from the octave energy ratio (see the module comment). */
export function estimateBlur(y: Float32Array, width: number, height: number, noise: number): number {
  const ratio = octaveRatio(y, width, height, noise);
  return Math.min(1, Math.max(0, 1 - ratio / SHARP_OCTAVE_RATIO));
}

/** Noise-corrected energy ratio of the finest octave to the next (0 for crops under 8 px). */
export function octaveRatio(y: Float32Array, width: number, height: number, noise: number): number {
  if (width < 8 || height < 8) return 0;
  const g1 = gaussianBlurPlane(y, width, height, 1);
  const g2 = gaussianBlurPlane(y, width, height, 2);
  // Interior only: the borders' reflection adds no energy but the face's edge would.
  const margin = 4;
  let fine = 0;
  let next = 0;
  let count = 0;
  for (let r = margin; r < height - margin; r++) {
    for (let c = margin; c < width - margin; c++) {
      const k = r * width + c;
      fine += ((y[k] as number) - (g1[k] as number)) ** 2;
      next += ((g1[k] as number) - (g2[k] as number)) ** 2;
      count++;
    }
  }
  if (count === 0) return 0;
  const variance = noise * noise;
  const fineSignal = Math.max(0, fine / count - variance * NOISE_SHARE.fine);
  const nextSignal = Math.max(1e-6, next / count - variance * NOISE_SHARE.next);
  return fineSignal / nextSignal;
}

/** JPEG 8x8 blocking (see the module comment); 0 for crops under 16 px. */
export function estimateBlocking(y: Float32Array, width: number, height: number): number {
  if (width < 16 || height < 16) return 0;
  let across = 0;
  let acrossCount = 0;
  let inside = 0;
  let insideCount = 0;
  for (let r = 0; r < height; r++) {
    for (let c = 0; c + 1 < width; c++) {
      const step = Math.abs((y[r * width + c + 1] as number) - (y[r * width + c] as number));
      if (c % 8 === 7) {
        across += step;
        acrossCount++;
      } else {
        inside += step;
        insideCount++;
      }
    }
  }
  for (let r = 0; r + 1 < height; r++) {
    for (let c = 0; c < width; c++) {
      const step = Math.abs((y[(r + 1) * width + c] as number) - (y[r * width + c] as number));
      if (r % 8 === 7) {
        across += step;
        acrossCount++;
      } else {
        inside += step;
        insideCount++;
      }
    }
  }
  const meanInside = inside / Math.max(1, insideCount);
  if (meanInside < 1e-3) return 0;
  return Math.max(0, across / Math.max(1, acrossCount) / meanInside - 1);
}

/** Orthonormal 8-point DCT-II basis, row u = frequency. */
const DCT8 = (() => {
  const basis = new Float64Array(64);
  for (let u = 0; u < 8; u++) {
    const scale = u === 0 ? Math.sqrt(1 / 8) : Math.sqrt(2 / 8);
    for (let x = 0; x < 8; x++) basis[u * 8 + x] = scale * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  }
  return basis;
})();

/**
 * |coefficient| below this counts as a quantised zero: decoding to 8 bits adds rounding error of
 * std ~0.3 per orthonormal coefficient, while the smallest JPEG luma step at quality 90 is 2-3.
 */
const AC_ZERO_BELOW = 1.5;

/**
 * Coefficients within this many noise standard deviations (luma, orthonormal DCT: white noise
 * of std σ per channel gives coefficients of std LUMA_NOISE_GAIN · σ) count as zero too: below
 * the noise they carry no detail, whether JPEG removed it or noise buried it. 2 was chosen among
 * 0, 0.5, 1, 1.5 and 2 by the calibration's leave-half-out check on train faces (fewest held-out
 * losses; docs/quality/calibration/cross-validation.md). With 0, a face with noise of std 5
 * and no compression read as milder than the same face clean.
 */
export const AC_ZERO_NOISE_MULTIPLE = 2;

/** The zero threshold for a face whose noise reads `sigma` (per channel, 0-255). */
export function acZeroBelow(sigma: number): number {
  return Math.max(AC_ZERO_BELOW, AC_ZERO_NOISE_MULTIPLE * LUMA_NOISE_GAIN * sigma);
}

/**
 * Share of AC coefficients (63 per block) of the full 8x8 blocks from the top-left corner that
 * lie within ±AC_ZERO_BELOW (see the module comment); 0 for crops without a full block.
 */
export function estimateAcZeros(
  y: Float32Array,
  width: number,
  height: number,
  below: number = AC_ZERO_BELOW,
): number {
  const block = new Float64Array(64);
  const rows = new Float64Array(64);
  let zeros = 0;
  let total = 0;
  for (let by = 0; by + 8 <= height; by += 8) {
    for (let bx = 0; bx + 8 <= width; bx += 8) {
      for (let r = 0; r < 8; r++)
        for (let c = 0; c < 8; c++) block[r * 8 + c] = y[(by + r) * width + bx + c] as number;
      // Separable transform: along each row, then along each column.
      for (let r = 0; r < 8; r++) {
        for (let v = 0; v < 8; v++) {
          let acc = 0;
          for (let c = 0; c < 8; c++) acc += (DCT8[v * 8 + c] as number) * (block[r * 8 + c] as number);
          rows[r * 8 + v] = acc;
        }
      }
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) {
          if (u === 0 && v === 0) continue;
          let acc = 0;
          for (let r = 0; r < 8; r++) acc += (DCT8[u * 8 + r] as number) * (rows[r * 8 + v] as number);
          if (Math.abs(acc) < below) zeros++;
          total++;
        }
      }
    }
  }
  return total === 0 ? 0 : zeros / total;
}
