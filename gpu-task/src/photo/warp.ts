/**
 * Pixel resampling under a similarity: cutting an aligned face out of a photo (reflecting the
 * photo where the face square passes its border) and drawing a restored face back into a photo
 * through a soft mask; enlarging faces.
 * All sample with the Keys cubic (a = -0.5, Catmull-Rom), the kernel sharp's `cubic` uses, on
 * pixel centres.
 *
 * Speed (the photo stage runs these on megapixels per photo): axis-aligned grids (resizeCubic) are
 * separable, each input row's horizontal sums computed once for every output
 * row that reads them (GridCubic); rotated frames (warpToFrame, pasteFrame) sample per pixel
 * without allocation, and pasteFrame visits per row only the span the mask can reach.
 */
import { InvalidParametersError, type RgbImage } from '../engine/core.js';
import { type Similarity, applySimilarity, invertSimilarity } from './similarity.js';

/** Keys cubic weights for a fractional offset t in [0, 1), taps at -1, 0, 1, 2. */
function cubicWeights(t: number, out: Float64Array, at = 0): void {
  const t2 = t * t;
  const t3 = t2 * t;
  out[at] = -0.5 * t3 + t2 - 0.5 * t;
  out[at + 1] = 1.5 * t3 - 2.5 * t2 + 1;
  out[at + 2] = -1.5 * t3 + 2 * t2 + 0.5 * t;
  out[at + 3] = 0.5 * t3 - 0.5 * t2;
}

/** Symmetric (half-sample) reflection of an index into 0..size-1. */
function reflect(index: number, size: number): number {
  if (index >= 0 && index < size) return index;
  const period = 2 * size;
  const wrapped = ((index % period) + period) % period;
  return wrapped < size ? wrapped : period - 1 - wrapped;
}

/*
 * Every sampler here computes a pixel in one fixed order, the bytes the photo stage's outputs
 * (and their tests) are pinned to: per tap row j, the row sum 0 + w0·p0 + w1·p1 + w2·p2 + w3·p3
 * (taps left to right, Float64), then 0 + v0·row0 + v1·row1 + v2·row2 + v3·row3. The axis-aligned
 * paths share row sums between output pixels; the general path computes them per pixel; both
 * give the same doubles, hence the same bytes.
 */

/** One tap row: 0 + w0·data[row + c0] + ... in tap order (the leading 0 keeps -0 out, as a sum from 0 would). */
function dot4(
  data: Uint8Array,
  row: number,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
): number {
  return 0 + w0 * data[row + c0]! + w1 * data[row + c1]! + w2 * data[row + c2]! + w3 * data[row + c3]!;
}

/** sampleCubic's x weights (0-3) and y weights (4-7), reused: the sampler runs per pixel. */
const SAMPLE_WEIGHTS = new Float64Array(8);

/**
 * Sample an RGB8 image at (x, y) in index units (pixel i's centre at i) with the cubic kernel,
 * reflecting outside; writes 3 floats (0-255, not clamped) into `out`. For samples at arbitrary
 * positions (rotated frames); rows or columns of a fixed grid go through the separable sampler.
 */
function sampleCubic(image: RgbImage, x: number, y: number, out: Float64Array): void {
  const { width, height, data } = image;
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  cubicWeights(x - ix, SAMPLE_WEIGHTS, 0);
  cubicWeights(y - iy, SAMPLE_WEIGHTS, 4);
  const w = SAMPLE_WEIGHTS;
  const wx0 = w[0]!;
  const wx1 = w[1]!;
  const wx2 = w[2]!;
  const wx3 = w[3]!;
  const wy0 = w[4]!;
  const wy1 = w[5]!;
  const wy2 = w[6]!;
  const wy3 = w[7]!;
  // Byte offsets of the 4 tap columns and 4 tap rows (reflection is the identity inside).
  let c0: number, c1: number, c2: number, c3: number;
  if (ix >= 1 && ix + 2 < width) {
    c0 = (ix - 1) * 3;
    c1 = c0 + 3;
    c2 = c0 + 6;
    c3 = c0 + 9;
  } else {
    c0 = reflect(ix - 1, width) * 3;
    c1 = reflect(ix, width) * 3;
    c2 = reflect(ix + 1, width) * 3;
    c3 = reflect(ix + 2, width) * 3;
  }
  const stride = width * 3;
  let r0: number, r1: number, r2: number, r3: number;
  if (iy >= 1 && iy + 2 < height) {
    r0 = (iy - 1) * stride;
    r1 = r0 + stride;
    r2 = r1 + stride;
    r3 = r2 + stride;
  } else {
    r0 = reflect(iy - 1, height) * stride;
    r1 = reflect(iy, height) * stride;
    r2 = reflect(iy + 1, height) * stride;
    r3 = reflect(iy + 2, height) * stride;
  }
  for (let c = 0; c < 3; c++) {
    out[c] =
      0 +
      wy0 * dot4(data, r0 + c, c0, c1, c2, c3, wx0, wx1, wx2, wx3) +
      wy1 * dot4(data, r1 + c, c0, c1, c2, c3, wx0, wx1, wx2, wx3) +
      wy2 * dot4(data, r2 + c, c0, c1, c2, c3, wx0, wx1, wx2, wx3) +
      wy3 * dot4(data, r3 + c, c0, c1, c2, c3, wx0, wx1, wx2, wx3);
  }
}

/**
 * The cubic sampled on a grid: columns at fixed x positions, rows requested one at a time (in
 * any order; in increasing order each input row's horizontal sums are computed once for all
 * the output rows that read it). The horizontal sums of the last rows used are kept in 4 slots,
 * slot = input row mod 4: the (reflected) taps of one output row span at most 4 consecutive
 * rows, so they never share a slot.
 */
class GridCubic {
  /** Per output column, the 4 tap byte offsets (reflected) and their weights. */
  private readonly columns: Int32Array;
  private readonly weights: Float64Array;
  /** 4 slots of horizontal sums, each `count` x 3 floats. */
  private readonly sums: Float64Array;
  private readonly slotRow = new Int32Array([-1, -1, -1, -1]);
  private readonly rowWeights = new Float64Array(4);

  /** `xs`: the sample positions of the output columns, in input index units. */
  constructor(
    private readonly image: RgbImage,
    private readonly count: number,
    xs: (k: number) => number,
  ) {
    this.columns = new Int32Array(count * 4);
    this.weights = new Float64Array(count * 4);
    this.sums = new Float64Array(4 * count * 3);
    for (let k = 0; k < count; k++) {
      const x = xs(k);
      const ix = Math.floor(x);
      cubicWeights(x - ix, this.weights, k * 4);
      for (let i = 0; i < 4; i++) this.columns[k * 4 + i] = reflect(ix - 1 + i, image.width) * 3;
    }
  }

  /**
   * Write the samples of the row at `y`, rounded and clamped to levels (clamp8), into `out`
   * from `at` on (count x 3 bytes).
   */
  sampleRow(y: number, out: Uint8Array, at: number): void {
    const iy = Math.floor(y);
    const wy = this.rowWeights;
    cubicWeights(y - iy, wy);
    const n3 = this.count * 3;
    const s0 = this.slotFor(reflect(iy - 1, this.image.height)) * n3;
    const s1 = this.slotFor(reflect(iy, this.image.height)) * n3;
    const s2 = this.slotFor(reflect(iy + 1, this.image.height)) * n3;
    const s3 = this.slotFor(reflect(iy + 2, this.image.height)) * n3;
    const w0 = wy[0]!;
    const w1 = wy[1]!;
    const w2 = wy[2]!;
    const w3 = wy[3]!;
    const sums = this.sums;
    for (let k = 0; k < n3; k++) {
      out[at + k] = clamp8(
        0 + w0 * sums[s0 + k]! + w1 * sums[s1 + k]! + w2 * sums[s2 + k]! + w3 * sums[s3 + k]!,
      );
    }
  }

  /** The slot holding input row `row`'s horizontal sums, computing them if it does not. */
  private slotFor(row: number): number {
    const slot = row & 3;
    if (this.slotRow[slot] === row) return slot;
    this.slotRow[slot] = row;
    const { data, width } = this.image;
    const { columns, weights, sums } = this;
    const base = row * width * 3;
    let o = slot * this.count * 3;
    for (let k = 0; k < this.count; k++, o += 3) {
      const t = k * 4;
      const c0 = columns[t]!;
      const c1 = columns[t + 1]!;
      const c2 = columns[t + 2]!;
      const c3 = columns[t + 3]!;
      const w0 = weights[t]!;
      const w1 = weights[t + 1]!;
      const w2 = weights[t + 2]!;
      const w3 = weights[t + 3]!;
      sums[o] = dot4(data, base, c0, c1, c2, c3, w0, w1, w2, w3);
      sums[o + 1] = dot4(data, base + 1, c0, c1, c2, c3, w0, w1, w2, w3);
      sums[o + 2] = dot4(data, base + 2, c0, c1, c2, c3, w0, w1, w2, w3);
    }
    return slot;
  }
}

/**
 * Round to the nearest level, halves up, within 0-255: Math.round's result on every double
 * (NaN included). Why not Math.round: V8 compiles it to a slow sequence on x64 (about 3x the
 * cost of Math.floor, and every output byte passes here). floor(v + 0.5) equals Math.round(v)
 * for v >= 0.5 (the sum is exact or rounds within one binade, never across an integer); below
 * 0.5 it could not (0.49999999999999994 + 0.5 rounds to 1), so those give 0 first.
 */
export function clamp8(v: number): number {
  return v < 0.5 ? 0 : v >= 255 ? 255 : Math.floor(v + 0.5);
}

/**
 * Coordinates: continuous, x right and y down, pixel i covering [i, i + 1) (its centre at
 * i + 0.5), in the photo and in the frame alike; detector landmarks use the same convention.
 *
 * Cut a `side` x `side` face out of `image`: `toFrame` maps image coordinates to frame
 * coordinates. Parts of the square outside the image are
 * filled by reflection, so faces at the border are cut without a crash or a black band.
 *
 * @example
 * ```ts
 * const face = warpToFrame(photo, { a: 0.5, b: 0, tx: -40, ty: -20 }, 128);
 * ```
 */
export function warpToFrame(image: RgbImage, toFrame: Similarity, side: number): RgbImage {
  const { a, b, tx, ty } = invertSimilarity(toFrame);
  const out = new Uint8Array(side * side * 3);
  const px = new Float64Array(3);
  for (let v = 0; v < side; v++) {
    const fv = v + 0.5;
    for (let u = 0; u < side; u++) {
      // applySimilarity's arithmetic, inlined (same order, same doubles).
      const fu = u + 0.5;
      const x = a * fu - b * fv + tx;
      const y = b * fu + a * fv + ty;
      sampleCubic(image, x - 0.5, y - 0.5, px);
      const o = (v * side + u) * 3;
      out[o] = clamp8(px[0]!);
      out[o + 1] = clamp8(px[1]!);
      out[o + 2] = clamp8(px[2]!);
    }
  }
  return { data: out, width: side, height: side };
}

/**
 * The paste mask of a square face frame, as a function of frame coordinates in [0, 1]: 0 at
 * the border, an `erode` margin of 0, then a smooth (C1) ramp over `feather` to 1. Both are
 * fractions of the side. Square frames with a smooth ramp leave no visible edge; the erosion
 * keeps the frame's border pixels (which the model saw without context) out of the photo.
 */
export interface PasteMask {
  erode: number;
  feather: number;
}

export const DEFAULT_PASTE_MASK: Readonly<PasteMask> = Object.freeze({ erode: 0.02, feather: 0.14 });

/**
 * The paste mask's weight at frame fractions (u, v) (see PasteMask): what pasteFrame blends a
 * face in with there.
 *
 * @example
 * ```ts
 * pasteMaskAt(0.5, 0.5); // 1 (the frame's centre)
 * pasteMaskAt(0.01, 0.5); // 0 (inside the eroded border)
 * ```
 */
export function pasteMaskAt(u: number, v: number, mask: PasteMask = DEFAULT_PASTE_MASK): number {
  return maskAt(u, v, mask.erode, mask.feather);
}

/** The paste mask at frame coordinates (u, v) in [0, 1] (see PasteMask). */
function maskAt(u: number, v: number, erode: number, feather: number): number {
  const d = Math.min(u, 1 - u, v, 1 - v) - erode;
  if (d <= 0) return 0;
  if (d >= feather) return 1;
  const t = d / feather;
  return t * t * (3 - 2 * t);
}

/** A rectangle of whole pixels: columns x0..x1 and rows y0..y1, inclusive. */
export interface PixelBounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The pixels of a target that a square face of `side` can cover under `toFrame` (target ->
 * face coordinates, as pasteFrame), not clipped to any image.
 */
export function frameBounds(toFrame: Similarity, side: number): PixelBounds {
  const back = invertSimilarity(toFrame);
  const corners = [
    [0, 0],
    [side, 0],
    [0, side],
    [side, side],
  ].map(([u, v]) => applySimilarity(back, [u!, v!]));
  return {
    x0: Math.floor(Math.min(...corners.map((c) => c[0]))),
    x1: Math.ceil(Math.max(...corners.map((c) => c[0]))),
    y0: Math.floor(Math.min(...corners.map((c) => c[1]))),
    y1: Math.ceil(Math.max(...corners.map((c) => c[1]))),
  };
}

/**
 * Refuse a face's share (of its input kept, or of its pixels left as they were) outside 0..1,
 * NaN included, naming `what` it is.
 */
export function checkShare(share: number, what: string): void {
  if (!(share >= 0 && share <= 1)) {
    throw new InvalidParametersError(`${what} must be between 0 and 1, got ${share}`);
  }
}

/**
 * A face pasted partly as it was: `keep` (0..1) of it is `input` (its aligned input, the face's
 * size), which the target under it already holds as it holds the face left as it was.
 */
export interface KeptPart {
  input: RgbImage;
  keep: number;
}

/**
 * Blend a restored square face into `target` in place: `toFrame` maps target coordinates to the
 * face's coordinates (continuous, as warpToFrame). Each target pixel under the face takes the cubic-resampled
 * face, weighted by the mask; pixels outside the mask are untouched.
 *
 * `origin`: where `target` lies in the coordinates `toFrame` reads, when it is a window of a
 * larger picture (the photo stage blends faces into windows of the output photo; the pixels
 * are the very ones a blend into the whole picture would give).
 *
 * `kept`: the face is `keep · input + (1 - keep) · rest` (a fusion's share that is the input
 * whatever else it does) and the target holds the photo there as the photo stage lays a kept
 * face (the face upsampler's layer of the photo, as far as the background denoiser left it):
 * that share is taken from the target instead, `face - keep · input + keep · target`, so it is
 * not resampled there and back (which softens it). At keep 0 this is the plain paste; at keep 1
 * (face = input) the target is left as it is.
 */
export function pasteFrame(
  target: RgbImage,
  face: RgbImage,
  toFrame: Similarity,
  mask: PasteMask = DEFAULT_PASTE_MASK,
  origin: { x: number; y: number } = { x: 0, y: 0 },
  kept: KeptPart | null = null,
): void {
  const side = face.width;
  const bounds = frameBounds(toFrame, side);
  const x0 = Math.max(origin.x, bounds.x0);
  const x1 = Math.min(origin.x + target.width - 1, bounds.x1);
  const y0 = Math.max(origin.y, bounds.y0);
  const y1 = Math.min(origin.y + target.height - 1, bounds.y1);
  const px = new Float64Array(3);
  const { a, b, tx, ty } = toFrame;
  const { erode, feather } = mask;
  if (!Number.isFinite(erode) || !Number.isFinite(feather)) {
    throw new InvalidParametersError(
      `a paste mask needs finite erode and feather, got ${erode} and ${feather}`,
    );
  }
  const keep = kept?.keep ?? 0;
  checkShare(keep, "a face's kept share");
  if (kept && (kept.input.width !== side || kept.input.height !== face.height)) {
    throw new InvalidParametersError(
      `a face's kept input must be its size: ${kept.input.width}x${kept.input.height} for ${side}x${face.height}`,
    );
  }
  const keptInput = keep > 0 ? kept!.input : null;
  const qx = new Float64Array(3);
  const data = target.data;
  // The mask is 0 unless erode·side < u, v < (1 - erode)·side: per row, only the span of x
  // where both hold (widened well past rounding) is visited; every pixel in it is still tested.
  const lo = erode * side;
  const hi = (1 - erode) * side;
  const reach = Math.max(Math.abs(x0), Math.abs(x1), Math.abs(y0), Math.abs(y1)) + 1;
  const slack = 1e-9 * ((Math.abs(a) + Math.abs(b)) * reach + Math.abs(tx) + Math.abs(ty) + side);
  for (let y = y0; y <= y1; y++) {
    const fy = y + 0.5;
    const [uFrom, uTo] = spanWithin(a, -b * fy + tx, lo - slack, hi + slack);
    const [vFrom, vTo] = spanWithin(b, a * fy + ty, lo - slack, hi + slack);
    const from = Math.max(x0, Math.floor(Math.max(uFrom, vFrom)) - 1);
    const to = Math.min(x1, Math.ceil(Math.min(uTo, vTo)) + 1);
    for (let x = from; x <= to; x++) {
      const fx = x + 0.5;
      const u = a * fx - b * fy + tx;
      const v = b * fx + a * fy + ty;
      const alpha = maskAt(u / side, v / side, erode, feather);
      if (alpha <= 0) continue;
      sampleCubic(face, u - 0.5, v - 0.5, px);
      const o = ((y - origin.y) * target.width + x - origin.x) * 3;
      if (keptInput) {
        sampleCubic(keptInput, u - 0.5, v - 0.5, qx);
        for (let c = 0; c < 3; c++) {
          const under = data[o + c]!;
          data[o + c] = clamp8(under + alpha * (px[c]! - keep * qx[c]! - (1 - keep) * under));
        }
        continue;
      }
      for (let c = 0; c < 3; c++) {
        const value = data[o + c]! + alpha * (px[c]! - data[o + c]!);
        data[o + c] = clamp8(value);
      }
    }
  }
}

/**
 * The pixel columns x (as reals) where k·(x + 0.5) + c lies in [lo, hi]: the whole line when
 * k is 0 and c is in range, an empty span when it is not.
 */
function spanWithin(k: number, c: number, lo: number, hi: number): [from: number, to: number] {
  if (k === 0) return c >= lo && c <= hi ? [-Infinity, Infinity] : [Infinity, -Infinity];
  const p = (lo - c) / k - 0.5;
  const q = (hi - c) / k - 0.5;
  return k > 0 ? [p, q] : [q, p];
}

/**
 * Resize with the cubic kernel on pixel centres (pixel i of the output samples the input at
 * (i + 0.5) · in / out - 0.5). Used to enlarge restored faces: libvips' upsampling maps pixel
 * corners instead and would move a face by half an output pixel.
 */
export function resizeCubic(image: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const sx = image.width / width;
  const sy = image.height / height;
  const grid = new GridCubic(image, width, (x) => (x + 0.5) * sx - 0.5);
  for (let y = 0; y < height; y++) grid.sampleRow((y + 0.5) * sy - 0.5, out, y * width * 3);
  return { data: out, width, height };
}
