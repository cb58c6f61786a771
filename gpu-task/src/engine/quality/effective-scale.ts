/**
 * How much a face was enlarged before it reached us: its **effective resolution** is its side
 * divided by that factor, and every estimate (noise, blocking, size) is read there.
 *
 * Two pieces of evidence, either of which accepts a factor f (2, 4, 8, 16; the face keeps at
 * least 16 px at side / f), taken in order until one fails:
 *
 * 1. **The band above side / f is empty** (bicubic down by f and up changes the luma by less
 *    than `EMPTY_BAND_RMS`). What a plainly enlarged, clean face shows.
 * 2. **The face carries the periodic trace of an enlargement by f, and that band is small
 *    against the band below it** (less than `ENLARGED_BAND_SHARE` of it). An interpolator
 *    enlarging by a whole factor r computes every output pixel from the same r phases of
 *    weights, so the local curvature (squared second differences) varies with the pixel's
 *    position modulo r, smoothly: its profile over 16 phases has a clear fundamental at period r
 *    and harmonics that die out. A face degraded small and enlarged, as the DR2 paper's test
 *    sets and many old web photos are, fails the first test whenever it is noisy: interpolation
 *    leaks energy above side / r in proportion to the noise it enlarges (the paper's `set01` to
 *    `set03`, enlarged x4, x8, x16, leave 4.6-7 grey levels there, against a 2-level threshold),
 *    so it was read at twice or four times its real resolution, its noise read as texture, and
 *    `auto` kept it as it was.
 *
 * What the periodic test must not take for an enlargement: JPEG's 8x8 blocks, which put a spike
 * of curvature at every block boundary (a period of 8, whose harmonics stay as strong as its
 * fundamental: refused by `HARMONIC_DECAY`), and a small face's own layout (a period as long as
 * a quarter of the face is no period: a period counts only when the face holds at least 16 of
 * them). On the calibration's 1,728 degraded train inputs (16-256 px, JPEG at their own size)
 * it changes no reading; on the 15 faces of the DR2 paper's test sets it reads x4, x8 and x16,
 * the factors their bands show.
 *
 * @example
 * ```ts
 * effectiveScale(resizeRgb8(face64, 256, 256)); // 4
 * ```
 */
import type { RgbImage } from '../image/index.js';
import { luma, resizePlanes } from './planes.js';

/** RMS luma (0-255) below which a band counts as empty: what interpolation leaves, not detail. */
export const EMPTY_BAND_RMS = 2;

/**
 * A band above side / f that the periodic test accepts as interpolation is at most this share
 * of the band between side / 2f and side / f. On the DR2 test sets at their true factor the
 * share reads 0.31-0.54; a factor beyond it reads 1.16-1.44.
 */
export const ENLARGED_BAND_SHARE = 0.7;

/** The factors tried, in order. */
const FACTORS = [2, 4, 8, 16] as const;

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
 * The factor by which a face was enlarged before it reached us (1, 2, 4, 8 or 16); see the
 * module comment. An upscaled crop's effective resolution, the face size the chooser should
 * see, is its side / f.
 */
export function effectiveScale(face: RgbImage): number {
  const { width, height } = face;
  const y = luma(face);
  const period = interpolationPeriod(y, width, height);
  let best = 1;
  for (const f of FACTORS) {
    const w = Math.round(width / f);
    const h = Math.round(height / f);
    if (Math.min(w, h) < 16) break;
    let accepted = rmsDifference(y, downAndUp(y, width, height, f)) < EMPTY_BAND_RMS;
    if (!accepted && f <= period) accepted = enlargedBandShare(y, width, height, f) < ENLARGED_BAND_SHARE;
    if (!accepted) break;
    best = f;
  }
  return best;
}

/**
 * The period (2, 4, 8 or 16 px) of an enlargement's curvature pattern in the luma, or 1 when
 * there is none (see the module comment). Exported for tests.
 */
export function interpolationPeriod(y: Float32Array, width: number, height: number): number {
  const amplitudes = curvatureHarmonics(y, width, height);
  if (!amplitudes) return 1;
  const longest = Math.min(width, height) / MIN_PERIODS;
  for (const period of [16, 8, 4, 2]) {
    const k0 = PHASES / period;
    const fundamental = amplitudes[k0 - 1]!;
    if (fundamental <= FUNDAMENTAL) continue;
    let foreign = false;
    for (let k = 1; k <= PHASES / 2; k++) {
      if (k % k0 !== 0 && amplitudes[k - 1]! >= FOREIGN_HARMONIC * fundamental) foreign = true;
    }
    if (foreign) continue;
    const decays = HARMONIC_DECAY.every((share, i) => {
      const k = (i + 2) * k0;
      return k > PHASES / 2 || amplitudes[k - 1]! < share * fundamental;
    });
    if (!decays) continue;
    // The strongest period found; a face too small to hold enough of it shows no enlargement.
    return period <= longest ? period : 1;
  }
  return 1;
}

/**
 * Amplitudes of harmonics 1..8 of the mean squared second difference by pixel position modulo
 * 16, as shares of its mean: for the columns (second differences along rows) and for the rows
 * (along columns) separately, then averaged, since a crop's corner may sit at another phase on
 * each axis. Undefined for a flat or tiny face.
 */
function curvatureHarmonics(y: Float32Array, width: number, height: number): number[] | undefined {
  if (width < 3 || height < 3) return undefined;
  const across = new Float64Array(PHASES);
  const acrossCount = new Float64Array(PHASES);
  const down = new Float64Array(PHASES);
  const downCount = new Float64Array(PHASES);
  for (let r = 1; r + 1 < height; r++) {
    for (let c = 1; c + 1 < width; c++) {
      const at = r * width + c;
      const v = 2 * (y[at] as number);
      const dx = (y[at - 1] as number) + (y[at + 1] as number) - v;
      const dy = (y[at - width] as number) + (y[at + width] as number) - v;
      across[c % PHASES]! += dx * dx;
      acrossCount[c % PHASES]! += 1;
      down[r % PHASES]! += dy * dy;
      downCount[r % PHASES]! += 1;
    }
  }
  const x = profileHarmonics(across, acrossCount);
  const yAxis = profileHarmonics(down, downCount);
  if (!x || !yAxis) return undefined;
  return x.map((a, k) => (a + yAxis[k]!) / 2);
}

/** Harmonics 1..8 of a profile (sums and counts per phase), as shares of its mean. */
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
    amplitudes.push(Math.hypot(re, im) / PHASES / mean);
  }
  return amplitudes;
}

/**
 * The band above side / f as a share of the band from side / 2f to side / f, read on the crop
 * shifted so that its grid lies on the enlargement's. A crop whose corner is off that grid (a
 * face cut from a photo, whose corner is snapped to the JPEG grid only) reads a larger share at
 * its own phase: the DR2 test faces cut 3 px off their grid read x2 where they were enlarged x4.
 * The shift (multiples of f/8, at least 1 px) is searched one axis at a time, twice over. Infinity when the coarser band is
 * under 4 px.
 */
export function enlargedBandShare(y: Float32Array, width: number, height: number, f: number): number {
  const step = Math.max(1, f / 8);
  const shifts: number[] = [];
  for (let s = 0; s < f; s += step) shifts.push(s);
  const shareAt = (dx: number, dy: number): number => {
    // Whole multiples of 2f, so that both resamplings keep the grid across the whole crop.
    const w = Math.floor((width - dx) / (2 * f)) * 2 * f;
    const h = Math.floor((height - dy) / (2 * f)) * 2 * f;
    if (Math.min(w, h) < 8 * f) return Infinity;
    const plane = dx === 0 && dy === 0 && w === width && h === height ? y : cropPlane(y, width, dx, dy, w, h);
    const back = downAndUp(plane, w, h, f);
    const below = rmsDifference(back, downAndUp(plane, w, h, 2 * f));
    return below > 0 ? rmsDifference(plane, back) / below : Infinity;
  };
  // Coordinate descent, two rounds: the share along one axis is least where that axis is on
  // the grid, whatever the other's phase, but reads clearest once the other is on it too.
  let [bestX, bestY, least] = [0, 0, shareAt(0, 0)];
  for (let round = 0; round < 2; round++) {
    for (const dx of shifts) {
      const share = shareAt(dx, bestY);
      if (share < least) [least, bestX] = [share, dx];
    }
    for (const dy of shifts) {
      const share = shareAt(bestX, dy);
      if (share < least) [least, bestY] = [share, dy];
    }
  }
  return least;
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
  return resizePlanes(resizePlanes(y, 1, width, height, w, h), 1, w, h, width, height);
}

/** RMS of a − b. */
function rmsDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) sum += ((a[k] as number) - (b[k] as number)) ** 2;
  return Math.sqrt(sum / a.length);
}
