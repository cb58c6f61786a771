/**
 * Bicubic resizing with MATLAB `imresize` semantics, which is how the DR2 reference builds its
 * low-pass filter and how the engine fits images to a model's input size.
 *
 * Per axis, output pixel `o` (1-based) samples the input around `c = o / scale + 0.5 (1 - 1/scale)`
 * with the Keys cubic kernel (a = -0.5). When downscaling the kernel is stretched
 * (`w(d) = scale · cubic(scale · d)`, support 4 / scale) so it also low-passes (antialiasing).
 * Taps outside the image are mirrored symmetrically (-1 -> 0, S -> S-1) and each output's weights
 * are normalised to sum to 1.
 *
 * The two axes are separable: the weights of one axis depend only on (inSize, outSize), so they
 * are computed once, cached, and applied as fixed-length (index, weight) tap lists.
 */
import { InvalidParametersError } from '../errors.js';

/** Precomputed taps of one axis: output `o` reads `indices[o*taps + k]` with `weights[o*taps + k]`. */
export interface AxisWeights {
  readonly inSize: number;
  readonly outSize: number;
  /** Taps per output pixel (the same for every output; unused taps have weight 0). */
  readonly taps: number;
  /** 0-based input indices, already mirrored into range. */
  readonly indices: Int32Array;
  /** Normalised weights (each output's taps sum to 1). */
  readonly weights: Float64Array;
}

/** Keys' cubic convolution kernel with a = -0.5 (the one MATLAB's `bicubic` uses). */
export function keysCubic(distance: number): number {
  const d = Math.abs(distance);
  const d2 = d * d;
  const d3 = d2 * d;
  if (d <= 1) return 1.5 * d3 - 2.5 * d2 + 1;
  if (d <= 2) return -0.5 * d3 + 2.5 * d2 - 4 * d + 2;
  return 0;
}

/** Support of the unscaled cubic kernel, in input pixels. */
const KERNEL_WIDTH = 4;

/** Symmetric (half-sample) mirroring of a 0-based index into 0..size-1, for any distance. */
function mirrorIndex(index: number, size: number): number {
  const period = 2 * size;
  const wrapped = ((index % period) + period) % period;
  return wrapped < size ? wrapped : period - 1 - wrapped;
}

function computeAxisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = outSize / inSize;
  const downscaling = scale < 1;
  const kernel = downscaling ? (d: number) => scale * keysCubic(scale * d) : keysCubic;
  const kernelWidth = downscaling ? KERNEL_WIDTH / scale : KERNEL_WIDTH;
  // Candidate taps per output, as MATLAB counts them; taps whose weight is 0 for every output
  // are trimmed below because they cost time and contribute nothing.
  const candidates = Math.ceil(kernelWidth) + 2;

  const firstTap = new Int32Array(outSize); // 1-based input position of candidate 0
  const rawWeights = new Float64Array(outSize * candidates);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 1) / scale + 0.5 * (1 - 1 / scale);
    const left = Math.floor(centre - kernelWidth / 2);
    firstTap[o] = left;
    let sum = 0;
    for (let k = 0; k < candidates; k++) {
      const weight = kernel(centre - (left + k));
      rawWeights[o * candidates + k] = weight;
      sum += weight;
    }
    const norm = sum === 0 ? 1 : sum;
    for (let k = 0; k < candidates; k++) rawWeights[o * candidates + k]! /= norm;
  }

  // Trim each output to its span of non-zero weights; all outputs share the widest span length.
  let taps = 1;
  const spanStart = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let first = 0;
    let last = candidates - 1;
    while (first < last && rawWeights[o * candidates + first] === 0) first++;
    while (last > first && rawWeights[o * candidates + last] === 0) last--;
    spanStart[o] = first;
    taps = Math.max(taps, last - first + 1);
  }

  const indices = new Int32Array(outSize * taps);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < taps; k++) {
      const candidate = (spanStart[o] as number) + k;
      if (candidate >= candidates) break; // padding: index 0, weight 0
      indices[o * taps + k] = mirrorIndex((firstTap[o] as number) + candidate - 1, inSize);
      weights[o * taps + k] = rawWeights[o * candidates + candidate] as number;
    }
  }
  return { inSize, outSize, taps, indices, weights };
}

const axisCache = new Map<string, AxisWeights>();

function assertSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidParametersError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * The cached taps for resizing one axis from `inSize` to `outSize` pixels.
 *
 * @throws InvalidParametersError for sizes that are not positive integers.
 */
export function axisWeights(inSize: number, outSize: number): AxisWeights {
  assertSize('inSize', inSize);
  assertSize('outSize', outSize);
  const key = `${inSize}:${outSize}`;
  let weights = axisCache.get(key);
  if (weights === undefined) {
    weights = computeAxisWeights(inSize, outSize);
    axisCache.set(key, weights);
  }
  return weights;
}

/**
 * Resizes batches of planes `[planes, inHeight, inWidth]` to `[planes, outHeight, outWidth]`.
 *
 * The intermediate plane is kept in float64 in a scratch buffer owned by the resizer, so resizing
 * allocates nothing; a resizer is therefore not re-entrant, which is fine in single-threaded JS
 * because {@link BicubicResizer.resize} is synchronous.
 *
 * @example
 * ```ts
 * const resizer = BicubicResizer.get(100, 100, 64, 64);
 * const out = new Float32Array(3 * 64 * 64);
 * resizer.resize(rgbPlanes100, out, 3);
 * ```
 */
export class BicubicResizer {
  private readonly rows: AxisWeights;
  private readonly columns: AxisWeights;
  private readonly heightFirst: boolean;
  private readonly scratch: Float64Array;
  /** Float64 accumulator for one output row when the row pass writes the float32 output. */
  private readonly rowAccumulator: Float64Array;

  constructor(
    readonly inHeight: number,
    readonly inWidth: number,
    readonly outHeight: number,
    readonly outWidth: number,
  ) {
    this.rows = axisWeights(inHeight, outHeight);
    this.columns = axisWeights(inWidth, outWidth);
    // The operator is separable, so the order of the passes changes only float rounding; pick
    // the cheaper one. The column pass gathers through an index table and costs about twice a
    // row pass, which streams whole rows.
    const rowPass = (width: number) => outHeight * this.rows.taps * width;
    const columnPass = (height: number) => 2 * height * outWidth * this.columns.taps;
    this.heightFirst = rowPass(inWidth) + columnPass(outHeight) <= columnPass(inHeight) + rowPass(outWidth);
    this.scratch = new Float64Array(this.heightFirst ? outHeight * inWidth : inHeight * outWidth);
    this.rowAccumulator = new Float64Array(this.heightFirst ? 0 : outWidth);
  }

  /** A shared resizer per size combination (their taps and scratch are reused across calls). */
  static get(inHeight: number, inWidth: number, outHeight: number, outWidth: number): BicubicResizer {
    const key = `${inHeight}x${inWidth}>${outHeight}x${outWidth}`;
    let resizer = resizerCache.get(key);
    if (resizer === undefined) {
      resizer = new BicubicResizer(inHeight, inWidth, outHeight, outWidth);
      resizerCache.set(key, resizer);
    }
    return resizer;
  }

  /**
   * Resize `planes` planes from `src` into `dst`. `src` and `dst` may be the same array only when
   * the input and output sizes are equal.
   *
   * @throws InvalidParametersError when the arrays are too short for `planes` planes.
   */
  resize(src: Float32Array, dst: Float32Array, planes: number): void {
    const inPlane = this.inHeight * this.inWidth;
    const outPlane = this.outHeight * this.outWidth;
    if (!Number.isInteger(planes) || planes < 0) {
      throw new InvalidParametersError(`planes must be a non-negative integer, got ${String(planes)}`);
    }
    if (src.length < planes * inPlane || dst.length < planes * outPlane) {
      throw new InvalidParametersError(
        `resize of ${planes} planes ${this.inHeight}x${this.inWidth} -> ${this.outHeight}x${this.outWidth} ` +
          `needs ${planes * inPlane} input and ${planes * outPlane} output values, ` +
          `got ${src.length} and ${dst.length}`,
      );
    }
    if (this.inHeight === this.outHeight && this.inWidth === this.outWidth) {
      if (src !== dst) dst.set(src.subarray(0, planes * inPlane));
      return;
    }
    for (let p = 0; p < planes; p++) {
      if (this.heightFirst) {
        rowsToScratch(src, p * inPlane, this.inWidth, this.rows, this.scratch);
        columnsFromScratch(this.scratch, this.outHeight, this.columns, dst, p * outPlane);
      } else {
        columnsToScratch(src, p * inPlane, this.inHeight, this.columns, this.scratch);
        rowsFromScratch(this.scratch, this.outWidth, this.rows, dst, p * outPlane, this.rowAccumulator);
      }
    }
  }
}

const resizerCache = new Map<string, BicubicResizer>();

// The four pass kernels below are written out per element type (rather than one generic
// function over Float32Array | Float64Array) so that every array access site sees a single
// element kind and V8 keeps them monomorphic; this roughly halves the filter's cost.

/** Row pass, float32 plane into the float64 scratch: `out[o, x] = Σ_k w[o,k] · in[idx[o,k], x]`. */
function rowsToScratch(
  src: Float32Array,
  srcOffset: number,
  width: number,
  axis: AxisWeights,
  dst: Float64Array,
): void {
  const { outSize, taps, indices, weights } = axis;
  for (let o = 0; o < outSize; o++) {
    const outRow = o * width;
    const base = o * taps;
    {
      const weight = weights[base] as number;
      const inRow = srcOffset + (indices[base] as number) * width;
      for (let x = 0; x < width; x++) dst[outRow + x] = weight * (src[inRow + x] as number);
    }
    for (let k = 1; k < taps; k++) {
      const weight = weights[base + k] as number;
      if (weight === 0) continue;
      const inRow = srcOffset + (indices[base + k] as number) * width;
      for (let x = 0; x < width; x++) dst[outRow + x]! += weight * (src[inRow + x] as number);
    }
  }
}

/** Row pass, float64 scratch into float32 output, each row accumulated in float64. */
function rowsFromScratch(
  src: Float64Array,
  width: number,
  axis: AxisWeights,
  dst: Float32Array,
  dstOffset: number,
  accumulator: Float64Array,
): void {
  const { outSize, taps, indices, weights } = axis;
  for (let o = 0; o < outSize; o++) {
    const base = o * taps;
    {
      const weight = weights[base] as number;
      const inRow = (indices[base] as number) * width;
      for (let x = 0; x < width; x++) accumulator[x] = weight * (src[inRow + x] as number);
    }
    for (let k = 1; k < taps; k++) {
      const weight = weights[base + k] as number;
      if (weight === 0) continue;
      const inRow = (indices[base + k] as number) * width;
      for (let x = 0; x < width; x++) accumulator[x]! += weight * (src[inRow + x] as number);
    }
    const outRow = dstOffset + o * width;
    for (let x = 0; x < width; x++) dst[outRow + x] = accumulator[x] as number;
  }
}

/** Column pass, float32 plane into the float64 scratch: `out[y, o] = Σ_k w[o,k] · in[y, idx[o,k]]`. */
function columnsToScratch(
  src: Float32Array,
  srcOffset: number,
  height: number,
  axis: AxisWeights,
  dst: Float64Array,
): void {
  const { inSize, outSize, taps, indices, weights } = axis;
  for (let y = 0; y < height; y++) {
    const inRow = srcOffset + y * inSize;
    const outRow = y * outSize;
    for (let o = 0; o < outSize; o++) {
      const base = o * taps;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        sum += (weights[base + k] as number) * (src[inRow + (indices[base + k] as number)] as number);
      }
      dst[outRow + o] = sum;
    }
  }
}

/** Column pass, float64 scratch into float32 output. */
function columnsFromScratch(
  src: Float64Array,
  height: number,
  axis: AxisWeights,
  dst: Float32Array,
  dstOffset: number,
): void {
  const { inSize, outSize, taps, indices, weights } = axis;
  for (let y = 0; y < height; y++) {
    const inRow = y * inSize;
    const outRow = dstOffset + y * outSize;
    for (let o = 0; o < outSize; o++) {
      const base = o * taps;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        sum += (weights[base + k] as number) * (src[inRow + (indices[base + k] as number)] as number);
      }
      dst[outRow + o] = sum;
    }
  }
}

/**
 * Resize `[planes, inHeight, inWidth]` to a new array `[planes, outHeight, outWidth]`; a
 * convenience over {@link BicubicResizer} for code outside hot loops.
 *
 * @example
 * ```ts
 * const small = resizeBicubic(planes, 3, 256, 256, 64, 64); // 3 planes of 64x64
 * ```
 */
export function resizeBicubic(
  src: Float32Array,
  planes: number,
  inHeight: number,
  inWidth: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  const dst = new Float32Array(planes * outHeight * outWidth);
  BicubicResizer.get(inHeight, inWidth, outHeight, outWidth).resize(src, dst, planes);
  return dst;
}
