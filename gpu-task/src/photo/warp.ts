/**
 * Pixel resampling under a similarity: cutting an aligned face out of a photo (reflecting the
 * photo where the face square passes its border) and drawing a restored face back into a photo
 * through a soft mask. Both sample with the Keys cubic (a = -0.5, Catmull-Rom), the kernel
 * sharp's `cubic` uses, on pixel centres.
 */
import type { RgbImage } from '../engine/core.js';
import { type Similarity, applySimilarity, invertSimilarity } from './similarity.js';

/** Keys cubic weights for a fractional offset t in [0, 1), taps at -1, 0, 1, 2. */
function cubicWeights(t: number, out: Float64Array): void {
  const t2 = t * t;
  const t3 = t2 * t;
  out[0] = -0.5 * t3 + t2 - 0.5 * t;
  out[1] = 1.5 * t3 - 2.5 * t2 + 1;
  out[2] = -1.5 * t3 + 2 * t2 + 0.5 * t;
  out[3] = 0.5 * t3 - 0.5 * t2;
}

/** Symmetric (half-sample) reflection of an index into 0..size-1. */
function reflect(index: number, size: number): number {
  if (index >= 0 && index < size) return index;
  const period = 2 * size;
  const wrapped = ((index % period) + period) % period;
  return wrapped < size ? wrapped : period - 1 - wrapped;
}

/**
 * Sample an RGB8 image at (x, y) in index units (pixel i's centre at i)
 * with the cubic kernel, reflecting outside; writes 3 floats (0-255, not clamped) into `out`.
 */
function sampleCubic(
  image: RgbImage,
  x: number,
  y: number,
  wx: Float64Array,
  wy: Float64Array,
  out: Float64Array,
): void {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  cubicWeights(x - ix, wx);
  cubicWeights(y - iy, wy);
  let r = 0;
  let g = 0;
  let b = 0;
  const { width, height, data } = image;
  const inside = ix >= 1 && iy >= 1 && ix + 2 < width && iy + 2 < height;
  for (let j = 0; j < 4; j++) {
    const row = (inside ? iy - 1 + j : reflect(iy - 1 + j, height)) * width;
    let rr = 0;
    let gg = 0;
    let bb = 0;
    for (let i = 0; i < 4; i++) {
      const p = (row + (inside ? ix - 1 + i : reflect(ix - 1 + i, width))) * 3;
      const w = wx[i]!;
      rr += w * data[p]!;
      gg += w * data[p + 1]!;
      bb += w * data[p + 2]!;
    }
    const w = wy[j]!;
    r += w * rr;
    g += w * gg;
    b += w * bb;
  }
  out[0] = r;
  out[1] = g;
  out[2] = b;
}

function clamp8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
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
  const back = invertSimilarity(toFrame);
  const out = new Uint8Array(side * side * 3);
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  const px = new Float64Array(3);
  for (let v = 0; v < side; v++) {
    for (let u = 0; u < side; u++) {
      const [x, y] = applySimilarity(back, [u + 0.5, v + 0.5]);
      sampleCubic(image, x - 0.5, y - 0.5, wx, wy, px);
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

function maskAt(u: number, v: number, mask: PasteMask): number {
  const d = Math.min(u, 1 - u, v, 1 - v) - mask.erode;
  if (d <= 0) return 0;
  if (d >= mask.feather) return 1;
  const t = d / mask.feather;
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
 * Blend a restored square face into `target` in place: `toFrame` maps target coordinates to the
 * face's coordinates (continuous, as warpToFrame). Each target pixel under the face takes the cubic-resampled
 * face, weighted by the mask; pixels outside the mask are untouched.
 *
 * `origin`: where `target` lies in the coordinates `toFrame` reads, when it is a window of a
 * larger picture (the photo stage blends faces into windows of the output photo; the pixels
 * are the very ones a blend into the whole picture would give).
 */
export function pasteFrame(
  target: RgbImage,
  face: RgbImage,
  toFrame: Similarity,
  mask: PasteMask = DEFAULT_PASTE_MASK,
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  const side = face.width;
  const bounds = frameBounds(toFrame, side);
  const x0 = Math.max(origin.x, bounds.x0);
  const x1 = Math.min(origin.x + target.width - 1, bounds.x1);
  const y0 = Math.max(origin.y, bounds.y0);
  const y1 = Math.min(origin.y + target.height - 1, bounds.y1);
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  const px = new Float64Array(3);
  const { a, b, tx, ty } = toFrame;
  const data = target.data;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const u = a * (x + 0.5) - b * (y + 0.5) + tx;
      const v = b * (x + 0.5) + a * (y + 0.5) + ty;
      const alpha = maskAt(u / side, v / side, mask);
      if (alpha <= 0) continue;
      sampleCubic(face, u - 0.5, v - 0.5, wx, wy, px);
      const o = ((y - origin.y) * target.width + x - origin.x) * 3;
      for (let c = 0; c < 3; c++) {
        const value = data[o + c]! + alpha * (px[c]! - data[o + c]!);
        data[o + c] = clamp8(value);
      }
    }
  }
}

/**
 * Resize with the cubic kernel on pixel centres (pixel i of the output samples the input at
 * (i + 0.5) · in / out - 0.5). Used to enlarge restored faces: libvips' upsampling maps pixel
 * corners instead and would move a face by half an output pixel.
 */
export function resizeCubic(image: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  const px = new Float64Array(3);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const iy = (y + 0.5) * sy - 0.5;
    for (let x = 0; x < width; x++) {
      sampleCubic(image, (x + 0.5) * sx - 0.5, iy, wx, wy, px);
      const o = (y * width + x) * 3;
      out[o] = clamp8(px[0]!);
      out[o + 1] = clamp8(px[1]!);
      out[o + 2] = clamp8(px[2]!);
    }
  }
  return { data: out, width, height };
}

/** Output pixels over which underlayCubic fades in from the enlargement it covers. */
export const UNDERLAY_RAMP = 8;

/**
 * Lay `photo` enlarged by `factor` with the cubic kernel computed in floating point over
 * `target` in the rectangle `bounds` (output pixels, clipped to `target`; `origin` as in
 * pasteFrame), fading in over UNDERLAY_RAMP pixels along the rectangle's sides.
 *
 * Why: the photo stage's background is libvips' bicubic, which interpolates 8-bit pixels in
 * fixed point and rounds down (0.2 levels from the float result on average, enough to leave a
 * kept face 1-2e-4 SSIM behind a float bicubic enlargement of the whole photo). Under the faces,
 * where users look and where the faces' quality is judged, the float result is laid instead; the
 * fade keeps the sub-level step from drawing a rectangle.
 *
 * @example
 * ```ts
 * underlayCubic(window, photo, 2, { x0: 400, y0: 300, x1: 599, y1: 499 }, { x: 400, y: 300 });
 * ```
 */
export function underlayCubic(
  target: RgbImage,
  photo: RgbImage,
  factor: number,
  bounds: PixelBounds,
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  if (factor === 1) return; // the enlargement is the photo itself
  const x0 = Math.max(origin.x, bounds.x0);
  const x1 = Math.min(origin.x + target.width - 1, bounds.x1);
  const y0 = Math.max(origin.y, bounds.y0);
  const y1 = Math.min(origin.y + target.height - 1, bounds.y1);
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  const px = new Float64Array(3);
  const data = target.data;
  for (let y = y0; y <= y1; y++) {
    const fromRow = Math.min(y - bounds.y0, bounds.y1 - y);
    for (let x = x0; x <= x1; x++) {
      const fromEdge = Math.min(fromRow, x - bounds.x0, bounds.x1 - x);
      const weight = Math.min(1, (fromEdge + 1) / (UNDERLAY_RAMP + 1));
      sampleCubic(photo, (x + 0.5) / factor - 0.5, (y + 0.5) / factor - 0.5, wx, wy, px);
      const o = ((y - origin.y) * target.width + x - origin.x) * 3;
      for (let c = 0; c < 3; c++) {
        const float = clamp8(px[c]!);
        data[o + c] = weight === 1 ? float : clamp8(data[o + c]! + weight * (float - data[o + c]!));
      }
    }
  }
}
