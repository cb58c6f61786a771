/**
 * The guided filter (He, Sun and Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013): an
 * edge-preserving smoother whose output is, in every window, a linear function of a guide
 * image. Where the guide varies much more than `eps` allows for (an edge, a texture above the
 * noise) the output follows it; where it varies less (noise on a flat wall) the output is the
 * window's mean. Cost is a few box means, O(1) per pixel whatever the radius.
 *
 * Planes are Float32Array rows of `width`; windows are squares of side 2r + 1 cut at the
 * plane's borders (the mean over the pixels inside), so a band of rows computed with 2r rows
 * of context either side equals the same rows of the whole plane (test/photo/background-denoise.test.ts).
 *
 * Box means dominate the cost of denoising a photo (14 per pixel for luma and both chroma
 * planes), so they run in place where they can, with their working rows reused (BoxScratch),
 * and a guide's statistics are computed once for all the planes it guides (GuideStatistics).
 * None of this changes a sample: every plane gets the same arithmetic in the same order as
 * when each filter computed its own.
 */

/** The working rows of box means over planes of one size, reused from call to call. */
export class BoxScratch {
  /** The horizontal means, which the vertical pass sums. */
  readonly rows: Float32Array;
  /** Column sums in float64: a running float32 sum over thousands of rows drifts. */
  readonly sums: Float64Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rows = new Float32Array(width * height);
    this.sums = new Float64Array(width);
  }

  /** This scratch when it fits planes of `width` x `height`, else a new one that does. */
  static fitting(scratch: BoxScratch | undefined, width: number, height: number): BoxScratch {
    return scratch && scratch.width === width && scratch.height === height
      ? scratch
      : new BoxScratch(width, height);
  }
}

/**
 * Mean over the (2r + 1)² window around each pixel, the window cut at the borders. `out` may
 * be `src` itself (the source is read only by the first, horizontal pass).
 *
 * @example
 * ```ts
 * boxMean(new Float32Array([0, 3, 6]), 3, 1, 1); // [1.5, 3, 4.5]
 * ```
 */
export function boxMean(
  src: Float32Array,
  width: number,
  height: number,
  r: number,
  out: Float32Array = new Float32Array(width * height),
  scratch?: BoxScratch,
): Float32Array {
  const { rows, sums } = BoxScratch.fitting(scratch, width, height);
  for (let y = 0; y < height; y++) horizontalMeans(src, y * width, rows, y * width, width, r);
  // Vertical running sums, one per column.
  sums.fill(0);
  for (let y = 0; y <= Math.min(r, height - 1); y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) sums[x]! += rows[row + x]!;
  }
  for (let y = 0; y < height; y++) {
    const scale = 1 / (Math.min(height - 1, y + r) - Math.max(0, y - r) + 1);
    const row = y * width;
    const add = (y + r + 1) * width;
    const sub = (y - r) * width;
    const adds = y + r + 1 < height;
    const drops = y - r >= 0;
    if (adds && drops) {
      for (let x = 0; x < width; x++) {
        let s = sums[x]!;
        out[row + x] = s * scale;
        s += rows[add + x]!;
        s -= rows[sub + x]!;
        sums[x] = s;
      }
    } else {
      for (let x = 0; x < width; x++) out[row + x] = sums[x]! * scale;
      if (adds) for (let x = 0; x < width; x++) sums[x]! += rows[add + x]!;
      if (drops) for (let x = 0; x < width; x++) sums[x]! -= rows[sub + x]!;
    }
  }
  return out;
}

/** Means over the 2r + 1 samples around each of a row's `width` samples (cut at its ends). */
function horizontalMeans(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  width: number,
  r: number,
): void {
  // A running sum. Away from the ends every step adds and drops one sample; the end columns
  // take the same steps with the checks the interior does not need. 1 / (samples in the
  // window) is rounded to float32, as the planes are.
  const interiorFrom = Math.min(r, width);
  const interiorTo = Math.max(interiorFrom, width - r - 1);
  const inverseInterior = Math.fround(1 / (2 * r + 1));
  let sum = 0;
  for (let x = 0; x <= Math.min(r, width - 1); x++) sum += src[from + x]!;
  let x = 0;
  for (; x < interiorFrom; x++) {
    dst[to + x] = sum * Math.fround(1 / (Math.min(width - 1, x + r) + 1));
    if (x + r + 1 < width) sum += src[from + x + r + 1]!;
  }
  for (; x < interiorTo; x++) {
    dst[to + x] = sum * inverseInterior;
    sum += src[from + x + r + 1]!;
    sum -= src[from + x - r]!;
  }
  for (; x < width; x++) {
    dst[to + x] = sum * Math.fround(1 / (Math.min(width - 1, x + r) - Math.max(0, x - r) + 1));
    if (x + r + 1 < width) sum += src[from + x + r + 1]!;
    if (x - r >= 0) sum -= src[from + x - r]!;
  }
}

/** What every plane a guide filters needs of it: its box means and those of its squares. */
export interface GuideStatistics {
  guide: Float32Array;
  width: number;
  height: number;
  r: number;
  mean: Float32Array;
  squareMean: Float32Array;
  scratch: BoxScratch;
}

/**
 * The statistics of `guide` over windows of radius `r`, for filterWithGuide.
 *
 * @example
 * ```ts
 * const stats = guideStatistics(smoothLuma, width, height, 2);
 * const smoothCb = filterWithGuide(stats, cb, eps);
 * const smoothCr = filterWithGuide(stats, cr, eps);
 * ```
 */
export function guideStatistics(
  guide: Float32Array,
  width: number,
  height: number,
  r: number,
  scratch?: BoxScratch,
): GuideStatistics {
  const fitted = BoxScratch.fitting(scratch, width, height);
  const mean = boxMean(guide, width, height, r, undefined, fitted);
  const squareMean = new Float32Array(width * height);
  for (let i = 0; i < squareMean.length; i++) squareMean[i] = guide[i]! * guide[i]!;
  boxMean(squareMean, width, height, r, squareMean, fitted);
  return { guide, width, height, r, mean, squareMean, scratch: fitted };
}

/** Box means of the slope and offset of each window's linear model: the output is `a * guide + b`. */
export interface GuidedCoefficients {
  a: Float32Array;
  b: Float32Array;
  width: number;
  height: number;
}

/**
 * The coefficients that filter `target` guided by the guide of `stats` with regularisation
 * `eps` (the variance, in the planes' units squared, below which the guide's variation is
 * smoothed away). `target` may be the guide itself (self-guided smoothing). Neither plane is
 * changed.
 *
 * @example
 * ```ts
 * const { a, b } = guidedCoefficients(guideStatistics(y, width, height, 2), y, (1.5 * sigma) ** 2);
 * ```
 */
export function guidedCoefficients(
  stats: GuideStatistics,
  target: Float32Array,
  eps: number,
): GuidedCoefficients {
  const { guide, width, height, r, mean: guideMean, squareMean, scratch } = stats;
  const n = width * height;
  const self = target === guide;
  // Self-guided, the target's means are the guide's (the covariance is the variance).
  const targetMean = self ? guideMean : boxMean(target, width, height, r, undefined, scratch);
  let productMean = squareMean;
  if (!self) {
    productMean = new Float32Array(n);
    for (let i = 0; i < n; i++) productMean[i] = guide[i]! * target[i]!;
    boxMean(productMean, width, height, r, productMean, scratch);
  }
  // a and b of each window's linear model, in place of the means they come from where those
  // belong to this call alone.
  const a = self ? new Float32Array(n) : productMean;
  const b = self ? new Float32Array(n) : targetMean;
  for (let i = 0; i < n; i++) {
    const mg = guideMean[i]!;
    const mt = targetMean[i]!;
    const variance = squareMean[i]! - mg * mg;
    const covariance = productMean[i]! - mg * mt;
    const slope = covariance / (variance + eps);
    a[i] = slope;
    b[i] = mt - slope * mg;
  }
  boxMean(a, width, height, r, a, scratch);
  boxMean(b, width, height, r, b, scratch);
  return { a, b, width, height };
}

/**
 * Filter `target` guided by the guide of `stats` (see guidedCoefficients).
 *
 * @example
 * ```ts
 * const smoothLuma = filterWithGuide(guideStatistics(y, width, height, 2), y, (1.5 * sigma) ** 2);
 * ```
 */
export function filterWithGuide(stats: GuideStatistics, target: Float32Array, eps: number): Float32Array {
  const { a, b } = guidedCoefficients(stats, target, eps);
  const guide = stats.guide;
  for (let i = 0; i < a.length; i++) a[i] = a[i]! * guide[i]! + b[i]!;
  return a;
}

/**
 * Filter `target` guided by `guide` (the same plane for self-guided smoothing) with window
 * radius `r` and regularisation `eps` (see guidedCoefficients; guideStatistics once when one
 * guide filters several planes).
 *
 * @example
 * ```ts
 * const smoothLuma = guidedFilter(y, y, width, height, 1, (1.5 * sigma) ** 2);
 * const smoothCb = guidedFilter(smoothLuma, cb, width, height, 2, (3 * sigma) ** 2);
 * ```
 */
export function guidedFilter(
  guide: Float32Array,
  target: Float32Array,
  width: number,
  height: number,
  r: number,
  eps: number,
): Float32Array {
  return filterWithGuide(guideStatistics(guide, width, height, r), target, eps);
}
