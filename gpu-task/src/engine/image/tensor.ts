/**
 * Conversions between interleaved 8-bit RGB (what sharp reads and writes) and the planar float
 * layout the models take: NCHW, channels R, G, B, values in [-1, 1] with x / 127.5 - 1.
 *
 * Both directions run once per image per batch, so they work on typed arrays only, write into a
 * caller-provided buffer at an offset (one image of a batch tensor) and allocate nothing per pixel.
 */
import { InvalidParametersError } from '../errors.js';

/** An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B (no padding, no alpha). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

function checkSize(width: number, height: number): number {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new InvalidParametersError(`image size must be positive integers, got ${width}x${height}`);
  }
  return width * height;
}

/**
 * Interleaved RGB8 -> planar float [3, H, W] in [-1, 1], written into `out` at `offset`
 * (an element index), so a batch tensor [B, 3, H, W] is filled with `offset = b * 3 * H * W`.
 *
 * @returns `out` (a new `Float32Array(3 * W * H)` when none is given).
 * @throws InvalidParametersError when the buffers are too short for the given size.
 *
 * @example
 * ```ts
 * const batch = new Float32Array(images.length * 3 * 512 * 512);
 * images.forEach((img, b) => rgb8ToTensor(img.data, 512, 512, batch, b * 3 * 512 * 512));
 * ```
 */
export function rgb8ToTensor(
  rgb: Uint8Array,
  width: number,
  height: number,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const pixels = checkSize(width, height);
  const target = out ?? new Float32Array(3 * pixels);
  if (rgb.length < 3 * pixels) {
    throw new InvalidParametersError(
      `RGB buffer holds ${rgb.length} bytes, ${width}x${height} needs ${3 * pixels}`,
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || target.length < offset + 3 * pixels) {
    throw new InvalidParametersError(
      `tensor of ${target.length} floats cannot hold 3x${height}x${width} at offset ${offset}`,
    );
  }
  // Precomputed byte -> float table: one lookup per sample instead of a multiply-add, and the
  // values are exactly x / 127.5 - 1 as the models were trained with.
  const table = BYTE_TO_UNIT;
  const red = offset;
  const green = offset + pixels;
  const blue = offset + 2 * pixels;
  for (let pixel = 0, source = 0; pixel < pixels; pixel++, source += 3) {
    target[red + pixel] = table[rgb[source]!]!;
    target[green + pixel] = table[rgb[source + 1]!]!;
    target[blue + pixel] = table[rgb[source + 2]!]!;
  }
  return target;
}

const BYTE_TO_UNIT = (() => {
  const table = new Float32Array(256);
  for (let value = 0; value < 256; value++) table[value] = value / 127.5 - 1;
  return table;
})();

/**
 * Planar float [3, H, W] (or one image of [B, 3, H, W] at `offset`) in [-1, 1] -> interleaved RGB8.
 * Values are clamped to [0, 255] and rounded to nearest (ties to even); NaN becomes 0, so a model
 * glitch shows up as black pixels rather than an exception mid-batch.
 *
 * @returns `out` (a new `Uint8Array(3 * W * H)` when none is given).
 * @throws InvalidParametersError when the buffers are too short for the given size.
 *
 * @example
 * ```ts
 * const rgb = tensorToRgb8(outputTensor, 512, 512); // Uint8Array of 512*512*3
 * ```
 */
export function tensorToRgb8(
  tensor: Float32Array,
  width: number,
  height: number,
  out?: Uint8Array,
  offset = 0,
): Uint8Array {
  const pixels = checkSize(width, height);
  const target = out ?? new Uint8Array(3 * pixels);
  if (target.length < 3 * pixels) {
    throw new InvalidParametersError(
      `RGB buffer holds ${target.length} bytes, ${width}x${height} needs ${3 * pixels}`,
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || tensor.length < offset + 3 * pixels) {
    throw new InvalidParametersError(
      `tensor of ${tensor.length} floats does not hold 3x${height}x${width} at offset ${offset}`,
    );
  }
  // A clamped view does the clamp, the rounding and NaN -> 0 natively on assignment.
  const clamped = new Uint8ClampedArray(target.buffer, target.byteOffset, 3 * pixels);
  const red = offset;
  const green = offset + pixels;
  const blue = offset + 2 * pixels;
  for (let pixel = 0, dest = 0; pixel < pixels; pixel++, dest += 3) {
    clamped[dest] = (tensor[red + pixel]! + 1) * 127.5;
    clamped[dest + 1] = (tensor[green + pixel]! + 1) * 127.5;
    clamped[dest + 2] = (tensor[blue + pixel]! + 1) * 127.5;
  }
  return target;
}

/**
 * Image `index` of a batch tensor `[B, 3, side, side]` in [-1, 1] as RGB8.
 *
 * @example
 * ```ts
 * const second = tensorToRgbImage(restored, 1, 128); // { data, width: 128, height: 128 }
 * ```
 */
export function tensorToRgbImage(tensor: Float32Array, index: number, side: number): RgbImage {
  const n = 3 * side * side;
  return { data: tensorToRgb8(tensor, side, side, undefined, index * n), width: side, height: side };
}
