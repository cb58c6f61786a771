/**
 * Image buffers for the evaluation: planar float RGB (what the degradations and resizers work
 * on), 8-bit interleaved RGB (what is saved and measured), and conversions between them.
 *
 * All resizing here is the engine's MATLAB-style bicubic (`resizeBicubic`), antialiased when
 * shrinking, so the degradations and baselines use exactly the resizer the engine feeds DR2 with.
 */
import {
  fromPlanar,
  InvalidParametersError,
  resizeBicubic,
  type RgbImage,
  toPlanar,
} from '../engine/index.js';

/** Planar RGB `[3, height, width]`, values on the 0-255 scale (not clamped). */
export interface PlanarImage {
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * Interleaved RGB8 -> planar float on the 0-255 scale (the engine's conversion).
 *
 * @throws InvalidParametersError when the buffer does not hold width x height RGB pixels.
 */
export function rgbToPlanar(image: RgbImage): PlanarImage {
  return { data: toPlanar(image), width: image.width, height: image.height };
}

/** Planar float -> interleaved RGB8, clamped to 0-255 and rounded to nearest (NaN -> 0). */
export function planarToRgb(image: PlanarImage): RgbImage {
  return fromPlanar(image.data, image.width, image.height);
}

/** Bicubic resize (MATLAB `imresize` semantics, antialiased when shrinking) of a planar image. */
export function resizePlanar(image: PlanarImage, width: number, height: number): PlanarImage {
  if (image.width === width && image.height === height) {
    return { data: image.data.slice(), width, height };
  }
  return {
    data: resizeBicubic(image.data, 3, image.height, image.width, height, width),
    width,
    height,
  };
}

/** Bicubic resize of an RGB8 image, rounded back to 8 bits. */
export function resizeRgb(image: RgbImage, width: number, height: number): RgbImage {
  return planarToRgb(resizePlanar(rgbToPlanar(image), width, height));
}

/** Enlarge by an integer factor with nearest-neighbour sampling (to show low-resolution pixels as they are). */
export function enlargeNearest(image: RgbImage, factor: number): RgbImage {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new InvalidParametersError(`enlargement factor must be a positive integer, got ${String(factor)}`);
  }
  const width = image.width * factor;
  const height = image.height * factor;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceRow = Math.floor(y / factor) * image.width;
    for (let x = 0; x < width; x++) {
      const s = (sourceRow + Math.floor(x / factor)) * 3;
      const d = (y * width + x) * 3;
      out[d] = image.data[s]!;
      out[d + 1] = image.data[s + 1]!;
      out[d + 2] = image.data[s + 2]!;
    }
  }
  return { data: out, width, height };
}

/**
 * Luma Y' of ITU-R BT.601 on the "studio" scale 16-235, as MATLAB's `rgb2ycbcr` and most
 * super-resolution papers compute it for PSNR-Y and SSIM:
 * `Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255` with R, G, B in 0-255.
 */
export function lumaBt601Studio(image: RgbImage): Float64Array {
  const pixels = image.width * image.height;
  const out = new Float64Array(pixels);
  for (let p = 0, s = 0; p < pixels; p++, s += 3) {
    out[p] =
      16 + (65.481 * image.data[s]! + 128.553 * image.data[s + 1]! + 24.966 * image.data[s + 2]!) / 255;
  }
  return out;
}

/** Full-range grey `0.299 R + 0.587 G + 0.114 B` (MATLAB's `rgb2gray` weights), 0-255. */
export function greyRec601(image: RgbImage): Float64Array {
  const pixels = image.width * image.height;
  const out = new Float64Array(pixels);
  for (let p = 0, s = 0; p < pixels; p++, s += 3) {
    out[p] = 0.299 * image.data[s]! + 0.587 * image.data[s + 1]! + 0.114 * image.data[s + 2]!;
  }
  return out;
}

/** Write an RGB8 image into a model tensor `[B, 3, S, S]` at image `index` (x / 127.5 - 1). */
export function rgbIntoTensor(image: RgbImage, tensor: Float32Array, index: number): void {
  const pixels = image.width * image.height;
  const offset = index * 3 * pixels;
  for (let p = 0, s = 0; p < pixels; p++, s += 3) {
    tensor[offset + p] = image.data[s]! / 127.5 - 1;
    tensor[offset + pixels + p] = image.data[s + 1]! / 127.5 - 1;
    tensor[offset + 2 * pixels + p] = image.data[s + 2]! / 127.5 - 1;
  }
}
