/**
 * The background's own restoration: a noisy photo's noise and compression speckle taken out of
 * everything around the faces, so a clean restored face does not sit in a grainy photo (the
 * "background left behind" of whole-photo face restorers), and everything outside the faces
 * comes closer to the clean photo than its plain enlargement (measured, with the one split where
 * it does not, in docs/eval/README.md "Backgrounds").
 *
 * **How.** At the photo's own resolution, before it is enlarged: luma through a self-guided
 * filter (guided-filter.ts) whose `eps` is (lumaStrength x the photo's noise)², chroma through
 * the same filter guided by the smoothed luma (colour noise is smoothed where the luma is flat,
 * colour edges that follow luma edges stay). The photo's noise is read as a low quantile of
 * small windows' readings, not their median: texture (foliage, fabric, hair) reads as noise in
 * the windows that hold it, and a median over a landscape is texture; noise is in every window.
 *
 * **When.** Only from DENOISE_FROM_NOISE up; a cleaner photo is returned as it is (a
 * guided filter on a clean photo flattens fine texture for nothing).
 *
 * **Photos that are themselves enlargements** (a small, noisy photo or scan blown up before it
 * was sent, as the DR2 paper's test faces are, x4 to x16) carry their noise as blobs of the
 * enlargement's size, which the pixel-scale reading mostly misses (0.3-5.5 on those test
 * photos, whose noise reads 19-51 at their own scale) and a filter of radius 2 could not take
 * out. So every photo is first read for its own enlargement (photoEnlargement: effectiveScale,
 * as `auto` reads a face, on a centred window); enlarged by f, it is read and filtered at 1 / f
 * (box means of f x f pixels), and the change the filter made there is enlarged back (linear
 * interpolation) and added to the photo, so its edges stay where its pixels put them. Faces left as they were
 * (kept by `auto`, skipped by `maxFaces` or `minFace`) are blended back to their own pixels
 * under a paste mask the caller sizes (the photo stage: 1.5 times their frame), so "left
 * untouched" stays true of them; a face `auto` hedged partly toward keeping is blended back as
 * far as it is kept (FaceLeftAlone.share), under it and around it, so its grain does not stop at
 * a denoised ring; restored faces are pasted over the result as before.
 *
 * Greyscale photos: noise equal in R, G and B reads about 1.5 times its std (the reading assumes
 * independent channels), so for them the threshold acts at about 2.7; the filter's strength is
 * the luma's own noise either way.
 *
 * Constants chosen on backgrounds alone (`scripts/background-denoise-sweep.ts`, docs/eval/README.md
 * "Backgrounds"): windows of the whole-photo eval's no-face photo drawn for seeds 1 and 2, which
 * the val runs (seed 0) do not draw, though they cut windows from the same photo.
 */
import {
  type RgbImage,
  chroma,
  effectiveScale,
  estimateCoarseNoise,
  luma,
  LUMA_WEIGHTS,
} from '../engine/core.js';
import { type BoxScratch, filterWithGuide, guideStatistics } from './guided-filter.js';
import { spreadOrigins, windowNoiseReadings } from './noise-windows.js';
import { type Similarity, applySimilarity } from './similarity.js';
import { checkShare, clamp8, frameBounds, pasteMaskAt } from './warp.js';
import { cropRaw } from './enlarge.js';

/** How the background is denoised (DEFAULT_DENOISE_SETTINGS; other values for the sweep script). */
export interface DenoiseSettings {
  /** Luma's `eps` is (this x the luma noise std)²: variation within about this many noise stds is smoothed. */
  lumaStrength: number;
  /** Chroma's `eps` (on the smoothed luma guide) is (this x the luma noise std)². */
  chromaStrength: number;
  /** Window radii (px of the photo) of the luma and chroma filters. */
  lumaRadius: number;
  chromaRadius: number;
  /** The photo noise (backgroundNoise, per channel, 0-255) from which the background is denoised. */
  fromNoise: number;
}

/**
 * Chosen on the eval's scene backgrounds for seeds 1 and 2 (12 photos per split; see the module
 * comment) among luma radii 1-2 and strengths 1-2, chroma radii 2-3 and strengths 2-3, and the
 * threshold 0 or 4: the most gained on medium and severe photos with nothing lost on mild ones on
 * average (docs/eval/README.md, "Backgrounds").
 */
export const DEFAULT_DENOISE_SETTINGS: Readonly<DenoiseSettings> = Object.freeze({
  lumaStrength: 1.5,
  chromaStrength: 3,
  lumaRadius: 2,
  chromaRadius: 2,
  fromNoise: 4,
});
/** The photo noise from which the default settings denoise. */
export const DENOISE_FROM_NOISE = DEFAULT_DENOISE_SETTINGS.fromNoise;
/** Side of the windows backgroundNoise reads, and the quantile of their readings it takes. */
const NOISE_WINDOW = 64;
const NOISE_QUANTILE = 0.25;
/** Most windows read along a side: a 12 MP photo is read in 256 windows (30-120 ms here), not 2,900. */
const NOISE_WINDOWS_PER_SIDE = 16;
/**
 * Rows filtered at a time (plus their context): a 12 MP photo needs about 30 MB of planes, and
 * the context rows filtered twice add 6 % to the work.
 */
const STRIP_ROWS = 256;

/** Std of BT.601 luma for unit noise in each of R, G and B (estimateCoarseNoise reports per channel). */
const LUMA_NOISE_GAIN = Math.hypot(...LUMA_WEIGHTS);

/**
 * The photo's noise std per channel (0-255): the NOISE_QUANTILE quantile of the coarse noise
 * read in NOISE_WINDOW px windows tiling the photo, at most NOISE_WINDOWS_PER_SIDE along a side
 * spread evenly over it (its whole reading when smaller than one window).
 *
 * @example
 * ```ts
 * backgroundNoise(photo) >= DENOISE_FROM_NOISE; // whether denoiseBackground changes it
 * ```
 */
export function backgroundNoise(photo: RgbImage): number {
  const { width, height } = photo;
  const readings = windowNoiseReadings(
    photo,
    NOISE_WINDOW,
    NOISE_WINDOW,
    windowOrigins(width),
    windowOrigins(height),
  );
  if (readings.length === 0) return estimateCoarseNoise(luma(photo), width, height);
  readings.sort((a, b) => a - b);
  return readings[Math.floor(NOISE_QUANTILE * (readings.length - 1))]!;
}

/** Origins of the windows along a side of `length`: tiling it, or spread evenly when too many. */
function windowOrigins(length: number): number[] {
  const fit = Math.floor(length / NOISE_WINDOW);
  if (fit <= NOISE_WINDOWS_PER_SIDE) return Array.from({ length: fit }, (_, i) => i * NOISE_WINDOW);
  return spreadOrigins(length, NOISE_WINDOW, NOISE_WINDOWS_PER_SIDE);
}

/** What denoiseBackground did. */
export interface DenoisedBackground {
  /** The photo to enlarge: denoised, or the input itself when its noise is under the threshold. */
  image: RgbImage;
  /** backgroundNoise of the input, read at 1 / `enlargement` of its size. */
  noise: number;
  denoised: boolean;
  /** The factor by which the photo itself was found enlarged (1 for a photo at its own resolution). */
  enlargement: number;
}

/** Side of the centred window on which photoEnlargement reads the photo first. */
const ENLARGEMENT_WINDOW = 512;

/**
 * The factor (1, 2, 4 or 8) by which the photo itself was enlarged before it reached us:
 * effectiveScale of its centred square of at most ENLARGEMENT_WINDOW px (10-60 ms) and, when
 * that reads an enlargement, the median of that and the factors read in four more windows
 * centred in the photo's quarters (each at most half the photo's side). One window is not
 * enough: a flat, blown-out or smooth centre (sky, a backdrop, a shirt) has no detail above
 * any scale and reads x8 in a photo at its own resolution, while a true enlargement reads as
 * one nearly everywhere (the DR2 test photos enlarged x16, whose quarters hold 16 px of real
 * resolution, read x4 in one or two of them).
 *
 * @example
 * ```ts
 * photoEnlargement(smallNoisyPhotoEnlargedX4); // 4
 * ```
 */
export function photoEnlargement(photo: RgbImage): number {
  const { width, height } = photo;
  const centre = effectiveScale(squareWindow(photo, width / 2, height / 2, ENLARGEMENT_WINDOW));
  if (centre === 1) return 1;
  const side = Math.min(ENLARGEMENT_WINDOW, Math.floor(width / 2), Math.floor(height / 2));
  const factors = [centre];
  for (const [fx, fy] of QUARTER_CENTRES) {
    factors.push(effectiveScale(squareWindow(photo, fx * width, fy * height, side)));
  }
  factors.sort((a, b) => a - b);
  return factors[2]!;
}

/** Centres of the photo's quarters, as fractions of its sides. */
const QUARTER_CENTRES = [
  [0.25, 0.25],
  [0.75, 0.25],
  [0.25, 0.75],
  [0.75, 0.75],
] as const;

/** The square of side min(`side`, the photo's sides) centred as near (cx, cy) as the photo allows. */
function squareWindow(photo: RgbImage, cx: number, cy: number, side: number): RgbImage {
  const s = Math.max(1, Math.min(side, photo.width, photo.height));
  const left = Math.min(photo.width - s, Math.max(0, Math.round(cx - s / 2)));
  const top = Math.min(photo.height - s, Math.max(0, Math.round(cy - s / 2)));
  return { data: cropRaw(photo.data, photo.width, 3, left, top, s, s), width: s, height: s };
}

/** A face the background denoiser leaves as it was, wholly or in part. */
export interface FaceLeftAlone {
  /** The square to leave: photo pixels -> fractions [0, 1]², as PreparedFace.toUnit. */
  toUnit: Similarity;
  /** 0..1, how far its pixels are blended back under the paste mask (1: as they were). */
  share: number;
}

/**
 * Denoise a photo's background (see the module comment). `keep`: the faces to leave as they
 * were, blended back under the paste mask of their square by their share.
 *
 * @example
 * ```ts
 * const keep = keptFaces.map((f) => ({ toUnit: f.toUnit, share: 1 }));
 * const { image, denoised } = denoiseBackground(photo, keep);
 * ```
 */
export function denoiseBackground(
  photo: RgbImage,
  keep: readonly FaceLeftAlone[] = [],
  settings: Readonly<DenoiseSettings> = DEFAULT_DENOISE_SETTINGS,
): DenoisedBackground {
  const atOwnSize = { noise: backgroundNoise(photo), enlargement: 1 };
  let read = atOwnSize;
  let small: RgbImage | null = null;
  const enlargement = photoEnlargement(photo);
  if (enlargement > 1) {
    small = shrinkByBoxes(photo, enlargement);
    const atEffectiveSize = { noise: backgroundNoise(small), enlargement };
    // An enlargement's noise reads higher at its own scale than at the pixel scale (the DR2 test
    // photos: 19-51 against 0.3-5.5). Lower there, the reading at 1 / f is no enlargement's:
    // the photo is read, and denoised, at its own size.
    if (atEffectiveSize.noise > atOwnSize.noise) read = atEffectiveSize;
    else small = null;
  }
  if (!(read.noise >= settings.fromNoise)) return { image: photo, ...read, denoised: false };
  const filtered = filterPhoto(small ?? photo, read.noise * LUMA_NOISE_GAIN, settings);
  const out = small ? withEnlargedChange(photo, small, filtered, enlargement) : filtered;
  for (const { toUnit, share } of keep) {
    checkShare(share, "a face's share left as it was");
    if (share > 0) restoreUnder(out, photo, toUnit, share);
  }
  return { image: out, ...read, denoised: true };
}

/** The photo's means over f x f blocks (fewer pixels in the last row and column of blocks where its sides are no multiple of f). */
function shrinkByBoxes(photo: RgbImage, f: number): RgbImage {
  const { width, height } = photo;
  const smallWidth = Math.ceil(width / f);
  const smallHeight = Math.ceil(height / f);
  const sums = new Float64Array(smallWidth * smallHeight * 3);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / f) * smallWidth;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const o = (row + Math.floor(x / f)) * 3;
      for (let c = 0; c < 3; c++) sums[o + c] = sums[o + c]! + photo.data[i + c]!;
    }
  }
  const data = new Uint8Array(sums.length);
  for (let by = 0; by < smallHeight; by++) {
    const rows = Math.min(f, height - by * f);
    for (let bx = 0; bx < smallWidth; bx++) {
      const count = rows * Math.min(f, width - bx * f);
      const o = (by * smallWidth + bx) * 3;
      for (let c = 0; c < 3; c++) data[o + c] = Math.round(sums[o + c]! / count);
    }
  }
  return { data, width: smallWidth, height: smallHeight };
}

/**
 * The photo plus the change from `small` to `filtered` (both 1 / f of its size) enlarged by f:
 * linear interpolation between the small pixels' centres, the edge pixels' change repeated
 * beyond the outer centres.
 */
function withEnlargedChange(photo: RgbImage, small: RgbImage, filtered: RgbImage, f: number): RgbImage {
  const { width, height } = photo;
  const sw = small.width;
  const sh = small.height;
  const change = new Float32Array(small.data.length);
  for (let i = 0; i < change.length; i++) change[i] = filtered.data[i]! - small.data[i]!;
  // Where each output column falls between two small columns, and the weight of the second.
  const column0 = new Int32Array(width);
  const column1 = new Int32Array(width);
  const columnWeight = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const u = Math.min(sw - 1, Math.max(0, (x + 0.5) / f - 0.5));
    column0[x] = Math.floor(u);
    column1[x] = Math.min(sw - 1, column0[x]! + 1);
    columnWeight[x] = u - column0[x]!;
  }
  const out = new Uint8Array(photo.data.length);
  for (let y = 0; y < height; y++) {
    const v = Math.min(sh - 1, Math.max(0, (y + 0.5) / f - 0.5));
    const r0 = Math.floor(v);
    const r1 = Math.min(sh - 1, r0 + 1);
    const wy = v - r0;
    for (let x = 0; x < width; x++) {
      const wx = columnWeight[x]!;
      const a = (r0 * sw + column0[x]!) * 3;
      const b = (r0 * sw + column1[x]!) * 3;
      const c = (r1 * sw + column0[x]!) * 3;
      const d = (r1 * sw + column1[x]!) * 3;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        const top = change[a + k]! + wx * (change[b + k]! - change[a + k]!);
        const bottom = change[c + k]! + wx * (change[d + k]! - change[c + k]!);
        out[o + k] = clamp8(photo.data[o + k]! + top + wy * (bottom - top));
      }
    }
  }
  return { data: out, width, height };
}

/** The whole photo through the luma and chroma filters, STRIP_ROWS rows at a time. */
function filterPhoto(photo: RgbImage, lumaNoise: number, settings: Readonly<DenoiseSettings>): RgbImage {
  const { width, height } = photo;
  const { lumaRadius, chromaRadius } = settings;
  const out = new Uint8Array(photo.data.length);
  const lumaEps = (settings.lumaStrength * lumaNoise) ** 2;
  const chromaEps = (settings.chromaStrength * lumaNoise) ** 2;
  // Rows of context either side: the chroma filter reads the smoothed luma 2 x chromaRadius
  // rows away, which reads the photo 2 x lumaRadius rows further.
  const context = 2 * (lumaRadius + chromaRadius);
  // Box means' working rows, reused by every strip of the same height.
  let scratch: BoxScratch | undefined;
  for (let top = 0; top < height; top += STRIP_ROWS) {
    const bottom = Math.min(height, top + STRIP_ROWS);
    const from = Math.max(0, top - context);
    const to = Math.min(height, bottom + context);
    const rows = to - from;
    const { y, cb, cr } = planesOf(photo, from, to);
    const lumaStats = guideStatistics(y, width, rows, lumaRadius, scratch);
    scratch = lumaStats.scratch;
    const smoothY = filterWithGuide(lumaStats, y, lumaEps);
    // One guide for both chroma planes: its statistics are computed once.
    const chromaGuide = guideStatistics(smoothY, width, rows, chromaRadius, scratch);
    const smoothCb = filterWithGuide(chromaGuide, cb, chromaEps);
    const smoothCr = filterWithGuide(chromaGuide, cr, chromaEps);
    for (let row = top; row < bottom; row++) {
      const i0 = (row - from) * width;
      let o = row * width * 3;
      for (let x = 0; x < width; x++, o += 3) {
        const l = smoothY[i0 + x]!;
        const b = smoothCb[i0 + x]!;
        const r = smoothCr[i0 + x]!;
        out[o] = clamp8(l + 1.402 * r);
        out[o + 1] = clamp8(l - 0.344136 * b - 0.714136 * r);
        out[o + 2] = clamp8(l + 1.772 * b);
      }
    }
  }
  return { data: out, width, height };
}

/** BT.601 Y, Cb, Cr planes of rows [from, to) (luma and chroma of a view of those rows). */
function planesOf(
  photo: RgbImage,
  from: number,
  to: number,
): { y: Float32Array; cb: Float32Array; cr: Float32Array } {
  const rowBytes = photo.width * 3;
  const rows = {
    data: photo.data.subarray(from * rowBytes, to * rowBytes),
    width: photo.width,
    height: to - from,
  };
  return { y: luma(rows), ...chroma(rows) };
}

/** Blend `original` back into `out` under a face frame's paste mask (photo -> frame fractions), `share` of the way. */
function restoreUnder(out: RgbImage, original: RgbImage, toUnit: Similarity, share: number): void {
  const bounds = frameBounds(toUnit, 1);
  const x0 = Math.max(0, bounds.x0);
  const x1 = Math.min(out.width - 1, bounds.x1);
  const y0 = Math.max(0, bounds.y0);
  const y1 = Math.min(out.height - 1, bounds.y1);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const [u, v] = applySimilarity(toUnit, [x + 0.5, y + 0.5]);
      const alpha = share * pasteMaskAt(u, v);
      if (alpha <= 0) continue;
      const o = (y * out.width + x) * 3;
      for (let c = 0; c < 3; c++) {
        out.data[o + c] = clamp8(out.data[o + c]! + alpha * (original.data[o + c]! - out.data[o + c]!));
      }
    }
  }
}
