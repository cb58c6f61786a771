/**
 * Float planes for the quality stage: interleaved RGB8 <-> planar float (0-255 scale), luma,
 * and the engine's bicubic resizer (MATLAB `imresize` semantics, antialiased when shrinking).
 */
import { InvalidParametersError } from '../errors.js';
import type { RgbImage } from '../image/index.js';
import { resizeBicubic } from '../resize/bicubic.js';

/** Interleaved RGB8 -> planar `[3, h, w]` floats on the 0-255 scale. */
export function toPlanar(image: RgbImage): Float32Array {
  const pixels = image.width * image.height;
  if (image.data.length !== pixels * 3) {
    throw new InvalidParametersError(
      `RGB buffer holds ${image.data.length} bytes, ${image.width}x${image.height} needs ${pixels * 3}`,
    );
  }
  const out = new Float32Array(pixels * 3);
  for (let p = 0, s = 0; p < pixels; p++, s += 3) {
    out[p] = image.data[s] as number;
    out[pixels + p] = image.data[s + 1] as number;
    out[2 * pixels + p] = image.data[s + 2] as number;
  }
  return out;
}

/** Planar floats -> interleaved RGB8, clamped and rounded to nearest. */
export function fromPlanar(planes: Float32Array, width: number, height: number): RgbImage {
  const pixels = width * height;
  const out = new Uint8Array(pixels * 3);
  const clamped = new Uint8ClampedArray(out.buffer);
  for (let p = 0, d = 0; p < pixels; p++, d += 3) {
    clamped[d] = planes[p] as number;
    clamped[d + 1] = planes[pixels + p] as number;
    clamped[d + 2] = planes[2 * pixels + p] as number;
  }
  return { data: out, width, height };
}

/** BT.601 weights of R, G and B (full range, as JPEG): luma and the two colour differences. */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;
export const CB_WEIGHTS = [-0.168736, -0.331264, 0.5] as const;
export const CR_WEIGHTS = [0.5, -0.418688, -0.081312] as const;

/** One plane of weighted R, G and B of an RGB8 image, one float per pixel. */
function weightedPlane(image: RgbImage, [wr, wg, wb]: readonly [number, number, number]): Float32Array {
  const pixels = image.width * image.height;
  const out = new Float32Array(pixels);
  for (let p = 0, s = 0; p < pixels; p++, s += 3) {
    out[p] =
      wr * (image.data[s] as number) +
      wg * (image.data[s + 1] as number) +
      wb * (image.data[s + 2] as number);
  }
  return out;
}

/** BT.601 luma (0-255) of an RGB8 image, one float per pixel. */
export function luma(image: RgbImage): Float32Array {
  return weightedPlane(image, LUMA_WEIGHTS);
}

/**
 * BT.601 chroma (full-range JPEG weights, no offset) of an RGB8 image: blue- and red-difference
 * planes, one float per pixel each.
 */
export function chroma(image: RgbImage): { cb: Float32Array; cr: Float32Array } {
  return { cb: weightedPlane(image, CB_WEIGHTS), cr: weightedPlane(image, CR_WEIGHTS) };
}

/** Bicubic resize of `planes` planes of `[h, w]` floats; a copy when the size is unchanged. */
export function resizePlanes(
  src: Float32Array,
  planes: number,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  if (width === outWidth && height === outHeight) return src.slice();
  return resizeBicubic(src, planes, height, width, outHeight, outWidth);
}

/**
 * The planes with their detail above `lowWidth` x `lowHeight` removed: bicubic down to that size
 * and back up (the low band of the fusion, the empty-band readings of the effective scale).
 */
export function lowPassPlanes(
  src: Float32Array,
  planes: number,
  width: number,
  height: number,
  lowWidth: number,
  lowHeight: number,
): Float32Array {
  const low = resizePlanes(src, planes, width, height, lowWidth, lowHeight);
  return resizePlanes(low, planes, lowWidth, lowHeight, width, height);
}

/** Bicubic resize of an RGB8 image (rounded back to 8 bits). */
export function resizeRgb8(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return image;
  return fromPlanar(
    resizePlanes(toPlanar(image), 3, image.width, image.height, width, height),
    width,
    height,
  );
}
