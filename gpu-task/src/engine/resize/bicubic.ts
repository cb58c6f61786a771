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
  /** Taps per output pixel: the same for every output, a multiple of 4; unused taps have weight 0. */
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

/** Taps are processed in groups of this size (unrolled), so every tap list is a multiple of it. */
const TAP_GROUP = 4;

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

  // Trim each output to its span of non-zero weights; all outputs share the widest span length,
  // rounded up to a multiple of 4 because the kernels below take taps four at a time.
  let span = 1;
  const spanStart = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let first = 0;
    let last = candidates - 1;
    while (first < last && rawWeights[o * candidates + first] === 0) first++;
    while (last > first && rawWeights[o * candidates + last] === 0) last--;
    spanStart[o] = first;
    span = Math.max(span, last - first + 1);
  }
  const taps = Math.ceil(span / TAP_GROUP) * TAP_GROUP;

  const indices = new Int32Array(outSize * taps);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    let index = 0;
    for (let k = 0; k < taps; k++) {
      const candidate = (spanStart[o] as number) + k;
      // Padding taps repeat the previous index with weight 0.
      if (candidate < candidates) {
        index = mirrorIndex((firstTap[o] as number) + candidate - 1, inSize);
        weights[o * taps + k] = rawWeights[o * candidates + candidate] as number;
      }
      indices[o * taps + k] = index;
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
  /** One output row in float64, before it is stored into the float32 output. */
  private readonly accumulator: Float64Array;

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
    this.accumulator = new Float64Array(outWidth);
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
    this.run(src, dst, planes, null);
  }

  /**
   * `dst <- dst - resize(src) + add`, fused into the last pass (DR2's refinement step needs
   * exactly this and saves a full pass over the image). `add` has the output's size; `dst` must
   * not overlap `src`.
   *
   * @throws InvalidParametersError when the arrays are too short for `planes` planes.
   */
  resizeSubtractAdd(src: Float32Array, dst: Float32Array, add: Float32Array, planes: number): void {
    if (add.length < planes * this.outHeight * this.outWidth) {
      throw new InvalidParametersError(`add has ${add.length} values; ${planes} output planes need more`);
    }
    this.run(src, dst, planes, add);
  }

  private run(src: Float32Array, dst: Float32Array, planes: number, add: Float32Array | null): void {
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
    if (add === null && this.inHeight === this.outHeight && this.inWidth === this.outWidth) {
      if (src !== dst) dst.set(src.subarray(0, planes * inPlane));
      return;
    }
    for (let p = 0; p < planes; p++) {
      if (this.heightFirst) {
        rowsToScratch(src, p * inPlane, this.inWidth, this.rows, this.scratch);
        columnsFromScratch(
          this.scratch,
          this.outHeight,
          this.columns,
          dst,
          p * outPlane,
          this.accumulator,
          add,
        );
      } else {
        columnsToScratch(src, p * inPlane, this.inHeight, this.columns, this.scratch);
        rowsFromScratch(this.scratch, this.outWidth, this.rows, dst, p * outPlane, this.accumulator, add);
      }
    }
  }
}

const resizerCache = new Map<string, BicubicResizer>();

// The pass kernels below are written out per element type (rather than one generic function
// over Float32Array | Float64Array) so that every array access site sees a single element kind
// and V8 keeps them monomorphic, and they take taps four at a time: together that makes the
// filter about four times faster than a plain generic loop.

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
    for (let k = 0; k < taps; k += TAP_GROUP) {
      const w0 = weights[base + k] as number;
      const w1 = weights[base + k + 1] as number;
      const w2 = weights[base + k + 2] as number;
      const w3 = weights[base + k + 3] as number;
      const r0 = srcOffset + (indices[base + k] as number) * width;
      const r1 = srcOffset + (indices[base + k + 1] as number) * width;
      const r2 = srcOffset + (indices[base + k + 2] as number) * width;
      const r3 = srcOffset + (indices[base + k + 3] as number) * width;
      if (k === 0) {
        for (let x = 0; x < width; x++) {
          dst[outRow + x] =
            w0 * (src[r0 + x] as number) +
            w1 * (src[r1 + x] as number) +
            w2 * (src[r2 + x] as number) +
            w3 * (src[r3 + x] as number);
        }
      } else {
        for (let x = 0; x < width; x++) {
          dst[outRow + x]! +=
            w0 * (src[r0 + x] as number) +
            w1 * (src[r1 + x] as number) +
            w2 * (src[r2 + x] as number) +
            w3 * (src[r3 + x] as number);
        }
      }
    }
  }
}

/**
 * Row pass, float64 scratch into the float32 output, each row accumulated in float64; with
 * `add`, stores `dst - result + add` instead of the result.
 */
function rowsFromScratch(
  src: Float64Array,
  width: number,
  axis: AxisWeights,
  dst: Float32Array,
  dstOffset: number,
  accumulator: Float64Array,
  add: Float32Array | null,
): void {
  const { outSize, taps, indices, weights } = axis;
  for (let o = 0; o < outSize; o++) {
    const base = o * taps;
    for (let k = 0; k < taps; k += TAP_GROUP) {
      const w0 = weights[base + k] as number;
      const w1 = weights[base + k + 1] as number;
      const w2 = weights[base + k + 2] as number;
      const w3 = weights[base + k + 3] as number;
      const r0 = (indices[base + k] as number) * width;
      const r1 = (indices[base + k + 1] as number) * width;
      const r2 = (indices[base + k + 2] as number) * width;
      const r3 = (indices[base + k + 3] as number) * width;
      if (k === 0) {
        for (let x = 0; x < width; x++) {
          accumulator[x] =
            w0 * (src[r0 + x] as number) +
            w1 * (src[r1 + x] as number) +
            w2 * (src[r2 + x] as number) +
            w3 * (src[r3 + x] as number);
        }
      } else {
        for (let x = 0; x < width; x++) {
          accumulator[x]! +=
            w0 * (src[r0 + x] as number) +
            w1 * (src[r1 + x] as number) +
            w2 * (src[r2 + x] as number) +
            w3 * (src[r3 + x] as number);
        }
      }
    }
    storeRow(accumulator, width, dst, dstOffset + o * width, add);
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
      for (let k = base; k < base + taps; k += TAP_GROUP) {
        sum +=
          (weights[k] as number) * (src[inRow + (indices[k] as number)] as number) +
          (weights[k + 1] as number) * (src[inRow + (indices[k + 1] as number)] as number) +
          (weights[k + 2] as number) * (src[inRow + (indices[k + 2] as number)] as number) +
          (weights[k + 3] as number) * (src[inRow + (indices[k + 3] as number)] as number);
      }
      dst[outRow + o] = sum;
    }
  }
}

/** Column pass, float64 scratch into the float32 output (or `dst - result + add`, see rowsFromScratch). */
function columnsFromScratch(
  src: Float64Array,
  height: number,
  axis: AxisWeights,
  dst: Float32Array,
  dstOffset: number,
  accumulator: Float64Array,
  add: Float32Array | null,
): void {
  const { inSize, outSize, taps, indices, weights } = axis;
  for (let y = 0; y < height; y++) {
    const inRow = y * inSize;
    for (let o = 0; o < outSize; o++) {
      const base = o * taps;
      let sum = 0;
      for (let k = base; k < base + taps; k += TAP_GROUP) {
        sum +=
          (weights[k] as number) * (src[inRow + (indices[k] as number)] as number) +
          (weights[k + 1] as number) * (src[inRow + (indices[k + 1] as number)] as number) +
          (weights[k + 2] as number) * (src[inRow + (indices[k + 2] as number)] as number) +
          (weights[k + 3] as number) * (src[inRow + (indices[k + 3] as number)] as number);
      }
      accumulator[o] = sum;
    }
    storeRow(accumulator, outSize, dst, dstOffset + y * outSize, add);
  }
}

/** Store one finished output row: the result itself, or `dst - result + add`. */
function storeRow(
  row: Float64Array,
  length: number,
  dst: Float32Array,
  offset: number,
  add: Float32Array | null,
): void {
  if (add === null) {
    for (let x = 0; x < length; x++) dst[offset + x] = row[x] as number;
  } else {
    for (let x = 0; x < length; x++) {
      dst[offset + x] = (dst[offset + x] as number) - (row[x] as number) + (add[offset + x] as number);
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
