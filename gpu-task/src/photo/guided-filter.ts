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
 */

/**
 * Mean over the (2r + 1)² window around each pixel, the window cut at the borders.
 *
 * @example
 * ```ts
 * boxMean(new Float32Array([0, 3, 6]), 3, 1, 1); // [1.5, 3, 4.5]
 * ```
 */
export function boxMean(src: Float32Array, width: number, height: number, r: number): Float32Array {
  const rows = new Float32Array(width * height);
  // 1 / (pixels in the window's row span) per column: the same for every row.
  const inverse = new Float32Array(width);
  for (let x = 0; x < width; x++) inverse[x] = 1 / (Math.min(width - 1, x + r) - Math.max(0, x - r) + 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let x = 0; x <= Math.min(r, width - 1); x++) sum += src[row + x]!;
    for (let x = 0; x < width; x++) {
      rows[row + x] = sum * inverse[x]!;
      if (x + r + 1 < width) sum += src[row + x + r + 1]!;
      if (x - r >= 0) sum -= src[row + x - r]!;
    }
  }
  const out = new Float32Array(width * height);
  // Column sums in float64: a running float32 sum over thousands of rows drifts.
  const sums = new Float64Array(width);
  for (let y = 0; y <= Math.min(r, height - 1); y++) {
    for (let x = 0; x < width; x++) sums[x]! += rows[y * width + x]!;
  }
  for (let y = 0; y < height; y++) {
    const scale = 1 / (Math.min(height - 1, y + r) - Math.max(0, y - r) + 1);
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = sums[x]! * scale;
    const add = (y + r + 1) * width;
    const sub = (y - r) * width;
    if (y + r + 1 < height) for (let x = 0; x < width; x++) sums[x]! += rows[add + x]!;
    if (y - r >= 0) for (let x = 0; x < width; x++) sums[x]! -= rows[sub + x]!;
  }
  return out;
}

/**
 * Filter `target` guided by `guide` (the same plane for self-guided smoothing) with window
 * radius `r` and regularisation `eps` (the variance, in the planes' units squared, below
 * which the guide's variation is smoothed away).
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
  const n = width * height;
  const self = guide === target;
  const guideMean = boxMean(guide, width, height, r);
  const targetMean = self ? guideMean : boxMean(target, width, height, r);
  const product = new Float32Array(n);
  for (let i = 0; i < n; i++) product[i] = guide[i]! * target[i]!;
  const productMean = boxMean(product, width, height, r);
  let squareMean = productMean;
  if (!self) {
    const square = product; // reused: the products are no longer needed
    for (let i = 0; i < n; i++) square[i] = guide[i]! * guide[i]!;
    squareMean = boxMean(square, width, height, r);
  }
  // a and b of each window's linear model, in place of the means they come from.
  const a = productMean === squareMean ? new Float32Array(n) : productMean;
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const mg = guideMean[i]!;
    const mt = targetMean[i]!;
    const variance = squareMean[i]! - mg * mg;
    const covariance = productMean[i]! - mg * mt;
    const slope = covariance / (variance + eps);
    a[i] = slope;
    b[i] = mt - slope * mg;
  }
  const aMean = boxMean(a, width, height, r);
  const bMean = boxMean(b, width, height, r);
  const out = bMean;
  for (let i = 0; i < n; i++) out[i] = aMean[i]! * guide[i]! + bMean[i]!;
  return out;
}
