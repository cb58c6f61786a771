/**
 * How much a face was enlarged before it reached us: its **effective resolution** is its side
 * divided by that factor, and every estimate (noise, blocking, size) is read there.
 *
 * Two pieces of evidence, either of which accepts a factor f (2, 4 or 8; the face keeps at
 * least 16 px at side / f), taken in order until one fails:
 *
 * 1. **The band above side / f is empty** (bicubic down by f and up changes the luma by less
 *    than `EMPTY_BAND_RMS`). What a plainly enlarged, clean face shows.
 * 2. **The face carries the periodic trace of an enlargement by f (or more), and that band is
 *    small against the band below it** (less than `ENLARGED_BAND_SHARE` of it). An interpolator
 *    enlarging by r / q computes every output pixel from one of r phases of weights, so the
 *    local curvature (squared second differences) varies with the pixel's position modulo r,
 *    smoothly: its profile over 16 phases has a fundamental at period r and harmonics that die
 *    out (x2 with centre-aligned kernels leaves almost none, so x2 is found by the first test or
 *    through a longer period). A face degraded small and enlarged, as the DR2 paper's test sets
 *    and many old web photos are, fails the first test whenever it is noisy: interpolation
 *    leaks energy above side / r in proportion to the noise it enlarges (the paper's `set01` to
 *    `set03`, enlarged x4, x8, x16, leave 4.6-7 grey levels there, against a 2-level threshold),
 *    so it was read at twice or four times its real resolution, its noise read as texture, and
 *    `auto` kept it as it was. A period of 8 or 16 also needs the face confirmed as enlarged by
 *    8 (`confirmedPeriod`): enlargements by 8/7 or 16/15 show those periods while keeping their
 *    detail. Known miss: a face enlarged by 4/3 with bilinear interpolation (a 480 px video frame
 *    shown at 640) can read x2 or x4; with bicubic or Lanczos kernels it shows no period.
 *
 * A face enlarged x16 is read at x8 (its period of 16 is seen and lets the second test accept
 * 8): read at side / 16 it falls in the 16-32 px rows of the calibration table, whose cells
 * for heavily noisy faces restore less than the 64 px row does. On train faces degraded like the
 * paper's `set03` (32 px, noise 20-35, JPEG q 75-90, x16 to 512 px), reading them at 32 px lost
 * 0.077 recognizer identity and 1.1 dB against reading them at 64 px (docs/quality).
 *
 * What the periodic test must not take for an enlargement: JPEG's 8x8 blocks, which put a spike
 * of curvature at every block boundary (a period of 8, whose harmonics stay as strong as its
 * fundamental: refused by `HARMONIC_DECAY`); a small face's own layout (a period as long as
 * a quarter of the face is no period: a period counts only when the face holds at least 16 of
 * them); and a few strong edges along one axis (every one of four profiles, two per axis, must
 * show the period). On the calibration's 1,728 degraded train inputs (16-256 px, JPEG at their
 * own size) it changes no reading, nor on 240 crops of native photos (`../shared` whole photos);
 * on the 15 faces of the DR2 paper's test sets it reads x4, x8 and x16 (read as x8), the factors
 * their bands show. The second test's two readings (the period and the band share) are made on
 * centred windows of the face (`PERIOD_WINDOW`, `SHARE_WINDOW`), so their cost is bounded: about 40 ms for a 512 px face enlarged x8, 0.4 s
 * at 3000 px (`effectiveScale` as a whole; the first test alone reads the whole face, as before).
 *
 * @example
 * ```ts
 * effectiveScale(resizeRgb8(face64, 256, 256)); // 4
 * ```
 */
import type { RgbImage } from '../image/index.js';
import { lowPassPlanes, luma } from './planes.js';

/** RMS luma (0-255) below which a band counts as empty: what interpolation leaves, not detail. */
export const EMPTY_BAND_RMS = 2;

/**
 * A band above side / f that the periodic test accepts as interpolation is at most this share
 * of the band between side / 2f and side / f. On the DR2 test sets at their true factor the
 * share reads 0.31-0.54; a factor beyond it reads 1.16-1.44.
 */
export const ENLARGED_BAND_SHARE = 0.7;

/** The factors tried, in order. */
const FACTORS = [2, 4, 8] as const;

/** The phases of the curvature profile: the longest period looked for. */
const PHASES = 16;

/**
 * Thresholds of the periodic trace, as shares of the profile's mean (harmonic amplitudes):
 * the fundamental at least `FUNDAMENTAL`; every harmonic that is no multiple of it under
 * `FOREIGN_HARMONIC` of it; its 2nd and 3rd harmonics under `HARMONIC_DECAY[0]` and `[1]` of it.
 * On the DR2 test sets the fundamental reads 0.17-0.51, the 2nd harmonic 0.00-0.45 of it and the
 * 3rd 0.00-0.27; a JPEG block grid reads a 2nd and 3rd harmonic of 0.5-0.9 of its fundamental.
 */
const FUNDAMENTAL = 0.1;
const FOREIGN_HARMONIC = 0.3;
const HARMONIC_DECAY = [0.5, 0.45] as const;

/** A face must hold this many periods for a period to count. */
const MIN_PERIODS = 16;

/**
 * The largest windows (px) the two tests read: the trace is the same over the whole face, and
 * a window bounds their cost on large faces (a 3000 px face read whole took seconds).
 */
const PERIOD_WINDOW = 512;
const SHARE_WINDOW = 256;

/**
 * The factor by which a face was enlarged before it reached us (1, 2, 4 or 8); see the module
 * comment. An upscaled crop's effective resolution, the face size the chooser should see, is its
 * side / f.
 */
export function effectiveScale(face: RgbImage): number {
  const { width, height } = face;
  const y = luma(face);
  const shares = new Map<number, number>();
  const shareAt = (f: number): number => {
    if (!shares.has(f)) shares.set(f, enlargedBandShare(y, width, height, f));
    return shares.get(f)!;
  };
  let period: number | undefined;
  let best = 1;
  for (const f of FACTORS) {
    const w = Math.round(width / f);
    const h = Math.round(height / f);
    if (Math.min(w, h) < 16) break;
    let accepted = rmsDifference(y, downAndUp(y, width, height, f)) < EMPTY_BAND_RMS;
    if (!accepted) {
      period ??= confirmedPeriod(interpolationPeriod(y, width, height), shareAt);
      accepted = f <= period && shareAt(f) < ENLARGED_BAND_SHARE;
    }
    if (!accepted) break;
    best = f;
  }
  return best;
}

/**
 * A period of 8 or 16 counts only when the face is confirmed as enlarged by (at least) 8: its
 * band above side / 8 small against the band below. Enlarging by 8/7 or 16/15 (a non-integer
 * factor r/q repeats its weights every r pixels too) leaves the face's own detail up to q/r of
 * its new resolution: on photo crops and test cards so enlarged the share at 8 read 0.83-1.53,
 * against 0.19-0.62 for faces enlarged x8 or x16, and without this check such a face read x2.
 * A period of 4 is left as it is: a face enlarged by 4/3 with bilinear interpolation reads a
 * share at 4 (0.60-0.75) within the range of true x4 enlargements (0.50-0.74), so nothing here
 * tells them apart (docs/quality).
 */
function confirmedPeriod(period: number, shareAt: (f: number) => number): number {
  if (period < 8) return period;
  return shareAt(8) < ENLARGED_BAND_SHARE ? period : 1;
}

/**
 * The period (2, 4, 8 or 16 px) of an enlargement's curvature pattern in the luma, or 1 when
 * there is none (see the module comment). Read on the centred window of at most
 * `PERIOD_WINDOW` px, in four profiles (along rows in the window's top and bottom halves, along
 * columns in its left and right halves): an enlargement is the same everywhere and on both
 * axes, so every profile must show the same period. A few strong edges along one axis (a native
 * photo's window frame, a blurred face's hairline) make a smooth bump in one profile, which read
 * alone (or averaged with the others) passed for a period of 16. Exported for tests.
 */
export function interpolationPeriod(y: Float32Array, width: number, height: number): number {
  const window = centredWindow(y, width, height, PERIOD_WINDOW);
  const profiles = curvatureHarmonics(window.plane, window.width, window.height);
  if (!profiles) return 1;
  const periods = new Set(profiles.map(profilePeriod));
  const [period] = periods;
  // A face too small to hold enough of its period shows no enlargement.
  return periods.size === 1 && period! <= Math.min(width, height) / MIN_PERIODS ? period! : 1;
}

/** The period one profile's harmonics show (the longest that passes every test), or 1. */
function profilePeriod(amplitudes: readonly number[]): number {
  const at = (k: number) => amplitudes[k - 1]!;
  for (const period of [16, 8, 4, 2]) {
    const k0 = PHASES / period;
    const fundamental = at(k0);
    if (fundamental <= FUNDAMENTAL) continue;
    let foreign = false;
    for (let k = 1; k <= PHASES / 2; k++) {
      if (k % k0 !== 0 && at(k) >= FOREIGN_HARMONIC * fundamental) foreign = true;
    }
    if (foreign) continue;
    const decays = HARMONIC_DECAY.every((share, i) => {
      const k = (i + 2) * k0;
      return k > PHASES / 2 || at(k) < share * fundamental;
    });
    if (decays) return period;
  }
  return 1;
}

/**
 * Amplitudes of harmonics 1..8 (as shares of the mean) of the mean squared second difference by
 * pixel position modulo 16, in four profiles: along rows, over the top and over the bottom half
 * of the rows; along columns, over the left and the right half of the columns. Undefined for a
 * face too small to hold two rows of each, or one that is flat in a half.
 */
function curvatureHarmonics(y: Float32Array, width: number, height: number): number[][] | undefined {
  if (width < 6 || height < 6) return undefined;
  const sums = Array.from({ length: 4 }, () => new Float64Array(PHASES));
  const counts = Array.from({ length: 4 }, () => new Float64Array(PHASES));
  const midRow = Math.floor(height / 2);
  const midColumn = Math.floor(width / 2);
  for (let r = 1; r + 1 < height; r++) {
    for (let c = 1; c + 1 < width; c++) {
      const at = r * width + c;
      const v = 2 * (y[at] as number);
      const across = (y[at - 1] as number) + (y[at + 1] as number) - v;
      const down = (y[at - width] as number) + (y[at + width] as number) - v;
      const rowHalf = r < midRow ? 0 : 1;
      const columnHalf = c < midColumn ? 2 : 3;
      sums[rowHalf]![c % PHASES]! += across * across;
      counts[rowHalf]![c % PHASES]! += 1;
      sums[columnHalf]![r % PHASES]! += down * down;
      counts[columnHalf]![r % PHASES]! += 1;
    }
  }
  const profiles: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const amplitudes = profileHarmonics(sums[i]!, counts[i]!);
    if (!amplitudes) return undefined;
    profiles.push(amplitudes);
  }
  return profiles;
}

/**
 * Harmonics 1..8 of a profile (sums and counts per phase), relative to its mean: a cosine of
 * relative amplitude a reads a / 2 at every k (the Nyquist bin, k = 8, has no mirror: halved to
 * match the others).
 */
function profileHarmonics(sums: Float64Array, counts: Float64Array): number[] | undefined {
  const profile = Array.from(sums, (s, p) => (counts[p]! > 0 ? s / counts[p]! : 0));
  const mean = profile.reduce((a, b) => a + b, 0) / PHASES;
  if (!(mean > 0)) return undefined;
  const amplitudes: number[] = [];
  for (let k = 1; k <= PHASES / 2; k++) {
    let re = 0;
    let im = 0;
    for (let p = 0; p < PHASES; p++) {
      re += profile[p]! * Math.cos((2 * Math.PI * k * p) / PHASES);
      im += profile[p]! * Math.sin((2 * Math.PI * k * p) / PHASES);
    }
    const unmirrored = k === PHASES / 2 ? 0.5 : 1;
    amplitudes.push((unmirrored * Math.hypot(re, im)) / PHASES / mean);
  }
  return amplitudes;
}

/**
 * The band above side / f as a share of the band from side / 2f to side / f, read on the centred
 * window of at most `SHARE_WINDOW` px shifted so that its grid lies on the enlargement's. A
 * crop whose corner is off that grid (a face cut from a photo, whose corner is snapped to the
 * JPEG grid only) reads a larger share at its own phase: the DR2 test faces cut 3 px off their
 * grid read x2 where they were enlarged x4. The shift (1 px steps) is searched along x, then
 * along y at the best x. Infinity when the window is under 8f px.
 */
export function enlargedBandShare(y: Float32Array, width: number, height: number, f: number): number {
  const window = centredWindow(y, width, height, SHARE_WINDOW);
  const shareAt = (dx: number, dy: number): number => {
    // Whole multiples of 2f, so that both resamplings keep the grid across the whole window.
    const w = Math.floor((window.width - dx) / (2 * f)) * 2 * f;
    const h = Math.floor((window.height - dy) / (2 * f)) * 2 * f;
    if (Math.min(w, h) < 8 * f) return Infinity;
    const plane = cropPlane(window.plane, window.width, dx, dy, w, h);
    const back = downAndUp(plane, w, h, f);
    const below = rmsDifference(back, downAndUp(plane, w, h, 2 * f));
    return below > 0 ? rmsDifference(plane, back) / below : Infinity;
  };
  let [bestX, least] = [0, shareAt(0, 0)];
  for (let dx = 1; dx < f; dx++) {
    const share = shareAt(dx, 0);
    if (share < least) [least, bestX] = [share, dx];
  }
  for (let dy = 1; dy < f; dy++) least = Math.min(least, shareAt(bestX, dy));
  return least;
}

/** The centred window of a plane, at most `limit` px on a side (the plane itself when it fits). */
function centredWindow(
  y: Float32Array,
  width: number,
  height: number,
  limit: number,
): { plane: Float32Array; width: number; height: number } {
  if (width <= limit && height <= limit) return { plane: y, width, height };
  const w = Math.min(width, limit);
  const h = Math.min(height, limit);
  return {
    plane: cropPlane(y, width, Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h),
    width: w,
    height: h,
  };
}

/** The w x h window of a plane `width` wide from (left, top). */
function cropPlane(
  y: Float32Array,
  width: number,
  left: number,
  top: number,
  w: number,
  h: number,
): Float32Array {
  const out = new Float32Array(w * h);
  for (let r = 0; r < h; r++)
    out.set(y.subarray((top + r) * width + left, (top + r) * width + left + w), r * w);
  return out;
}

/** The luma with the detail above side / f removed: bicubic down by f and back up. */
function downAndUp(y: Float32Array, width: number, height: number, f: number): Float32Array {
  const w = Math.max(1, Math.round(width / f));
  const h = Math.max(1, Math.round(height / f));
  return lowPassPlanes(y, 1, width, height, w, h);
}

/** RMS of a − b. */
function rmsDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) sum += ((a[k] as number) - (b[k] as number)) ** 2;
  return Math.sqrt(sum / a.length);
}
