/**
 * Full-reference image metrics of the evaluation.
 *
 * - **PSNR** (dB) over all three RGB channels of the 8-bit images:
 *   `10 log10(255² / MSE)`, MSE averaged over every pixel and channel. Identical images give +∞.
 * - **SSIM** (Wang, Bovik, Sheikh, Simoncelli 2004) on luma Y (BT.601 studio range, as MATLAB
 *   `rgb2ycbcr`): 11x11 Gaussian window with σ = 1.5 (normalised), K1 = 0.01, K2 = 0.03,
 *   L = 255, statistics over the "valid" window positions only (no padding), mean of the map.
 *   This is the reference `ssim_index.m` setting without its automatic downsampling.
 * - **GMSD** (Xue, Zhang, Mou, Bovik 2014), gradient magnitude similarity deviation, a
 *   perceptual proxy (lower is better, 0 for identical images): grey `0.299 R + 0.587 G +
 *   0.114 B`, a 2x2 mean filter and downsampling by 2, Prewitt gradients (3x3, divided by 3)
 *   over the valid region, `GMS = (2 m_r m_d + c) / (m_r² + m_d² + c)` with c = 170, and GMSD =
 *   the standard deviation (population) of the GMS map.
 */
import { InvalidParametersError, type RgbImage } from '../engine/index.js';
import { greyRec601, lumaBt601Studio } from './planes.js';

function checkPair(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new InvalidParametersError(
      `images must have the same size to be compared: ${a.width}x${a.height} vs ${b.width}x${b.height}`,
    );
  }
}

/** Mean squared error over all pixels and channels of two 8-bit RGB images. */
export function meanSquaredError(a: RgbImage, b: RgbImage): number {
  checkPair(a, b);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    sum += d * d;
  }
  return sum / a.data.length;
}

/**
 * PSNR in dB between two 8-bit RGB images (+∞ when identical).
 *
 * @example
 * ```ts
 * psnr(restored, groundTruth); // e.g. 24.7
 * ```
 */
export function psnr(a: RgbImage, b: RgbImage): number {
  const mse = meanSquaredError(a, b);
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** The 11-tap Gaussian window of SSIM (σ = 1.5), normalised to sum 1. */
export const SSIM_WINDOW: Float64Array = (() => {
  const taps = new Float64Array(11);
  let sum = 0;
  for (let i = 0; i < 11; i++) {
    const d = i - 5;
    taps[i] = Math.exp(-(d * d) / (2 * 1.5 * 1.5));
    sum += taps[i]!;
  }
  for (let i = 0; i < 11; i++) taps[i]! /= sum;
  return taps;
})();

/**
 * Separable "valid" filtering of a plane with a symmetric 1-D window:
 * output (h - n + 1) x (w - n + 1).
 */
function filterValid(plane: Float64Array, width: number, height: number, taps: Float64Array): Float64Array {
  const n = taps.length;
  const outWidth = width - n + 1;
  const outHeight = height - n + 1;
  const rows = new Float64Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += taps[k]! * plane[y * width + x + k]!;
      rows[y * outWidth + x] = sum;
    }
  }
  const out = new Float64Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += taps[k]! * rows[(y + k) * outWidth + x]!;
      out[y * outWidth + x] = sum;
    }
  }
  return out;
}

/**
 * SSIM between two single-channel planes (values on a 0-255 scale).
 *
 * @throws InvalidParametersError when the planes are smaller than the 11x11 window.
 */
export function ssimPlane(a: Float64Array, b: Float64Array, width: number, height: number): number {
  if (width < 11 || height < 11) {
    throw new InvalidParametersError(`SSIM needs images of at least 11x11, got ${width}x${height}`);
  }
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const pixels = width * height;
  const aa = new Float64Array(pixels);
  const bb = new Float64Array(pixels);
  const ab = new Float64Array(pixels);
  for (let i = 0; i < pixels; i++) {
    aa[i] = a[i]! * a[i]!;
    bb[i] = b[i]! * b[i]!;
    ab[i] = a[i]! * b[i]!;
  }
  const muA = filterValid(a, width, height, SSIM_WINDOW);
  const muB = filterValid(b, width, height, SSIM_WINDOW);
  const eAA = filterValid(aa, width, height, SSIM_WINDOW);
  const eBB = filterValid(bb, width, height, SSIM_WINDOW);
  const eAB = filterValid(ab, width, height, SSIM_WINDOW);
  let sum = 0;
  for (let i = 0; i < muA.length; i++) {
    const ma = muA[i]!;
    const mb = muB[i]!;
    const varA = eAA[i]! - ma * ma;
    const varB = eBB[i]! - mb * mb;
    const cov = eAB[i]! - ma * mb;
    sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2));
  }
  return sum / muA.length;
}

/**
 * SSIM on BT.601 luma between two 8-bit RGB images (1 when identical).
 *
 * @example
 * ```ts
 * ssim(restored, groundTruth); // e.g. 0.71
 * ```
 */
export function ssim(a: RgbImage, b: RgbImage): number {
  checkPair(a, b);
  return ssimPlane(lumaBt601Studio(a), lumaBt601Studio(b), a.width, a.height);
}

/** GMSD's stability constant for 0-255 images. */
const GMSD_C = 170;

/** 2x2 mean then keep every second pixel (GMSD's downsampling); odd trailing rows/columns drop. */
function meanDownsample2(plane: Float64Array, width: number, height: number) {
  const outWidth = Math.floor(width / 2);
  const outHeight = Math.floor(height / 2);
  const out = new Float64Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const i = 2 * y * width + 2 * x;
      out[y * outWidth + x] = (plane[i]! + plane[i + 1]! + plane[i + width]! + plane[i + width + 1]!) / 4;
    }
  }
  return { plane: out, width: outWidth, height: outHeight };
}

/** Prewitt gradient magnitude over the valid interior: (w-2) x (h-2). */
function gradientMagnitude(plane: Float64Array, width: number, height: number): Float64Array {
  const out = new Float64Array((width - 2) * (height - 2));
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const up = (y - 1) * width + x;
      const mid = y * width + x;
      const down = (y + 1) * width + x;
      const gx =
        (plane[up - 1]! +
          plane[mid - 1]! +
          plane[down - 1]! -
          plane[up + 1]! -
          plane[mid + 1]! -
          plane[down + 1]!) /
        3;
      const gy =
        (plane[up - 1]! + plane[up]! + plane[up + 1]! - plane[down - 1]! - plane[down]! - plane[down + 1]!) /
        3;
      out[(y - 1) * (width - 2) + (x - 1)] = Math.sqrt(gx * gx + gy * gy);
    }
  }
  return out;
}

/**
 * GMSD between a distorted image and its reference (0 when identical; larger is worse).
 *
 * @throws InvalidParametersError for images smaller than 8x8.
 *
 * @example
 * ```ts
 * gmsd(restored, groundTruth); // e.g. 0.12
 * ```
 */
export function gmsd(distorted: RgbImage, reference: RgbImage): number {
  checkPair(distorted, reference);
  if (distorted.width < 8 || distorted.height < 8) {
    throw new InvalidParametersError(
      `GMSD needs images of at least 8x8, got ${distorted.width}x${distorted.height}`,
    );
  }
  const d = meanDownsample2(greyRec601(distorted), distorted.width, distorted.height);
  const r = meanDownsample2(greyRec601(reference), reference.width, reference.height);
  const gd = gradientMagnitude(d.plane, d.width, d.height);
  const gr = gradientMagnitude(r.plane, r.width, r.height);
  let sum = 0;
  const gms = new Float64Array(gd.length);
  for (let i = 0; i < gd.length; i++) {
    const value = (2 * gd[i]! * gr[i]! + GMSD_C) / (gd[i]! * gd[i]! + gr[i]! * gr[i]! + GMSD_C);
    gms[i] = value;
    sum += value;
  }
  const mean = sum / gms.length;
  let variance = 0;
  for (let i = 0; i < gms.length; i++) variance += (gms[i]! - mean) ** 2;
  return Math.sqrt(variance / gms.length);
}
