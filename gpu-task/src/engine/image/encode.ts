/**
 * Encoding model outputs (or any RGB8 image) to files, and putting a framed result back at the
 * source's geometry.
 */
import sharp, { type Sharp } from 'sharp';
import type { OutputFormat } from '../../../../shared/src/index.js';
import { InvalidParametersError } from '../errors.js';
import { resizeKernelFor } from './decode.js';
import { rgbFromSharp, sharpFromRgb } from './raw.js';
import type { Framing } from './framing.js';
import { tensorToRgb8 } from './tensor.js';
import type { RgbImage } from './tensor.js';

export type { OutputFormat };

export interface EncodeOptions {
  /**
   * Quality 1-100 for JPEG and WebP; ignored for PNG, which is lossless. Default 92: restored
   * faces are the product, and above ~90 JPEG artefacts stop being visible on skin and hair.
   */
  quality?: number;
}

export const DEFAULT_ENCODE_QUALITY = 92;

function checkQuality(quality: number): number {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidParametersError(`quality must be an integer 1-100, got ${String(quality)}`);
  }
  return quality;
}

/**
 * Encode an 8-bit RGB image as PNG, JPEG or WebP (sRGB, no metadata).
 * JPEG keeps full-resolution chroma (4:4:4) so that restored colour edges (lips, eyes) stay sharp.
 *
 * @example
 * ```ts
 * const png = await encodeRgbImage({ data, width: 512, height: 512 }, 'png');
 * ```
 */
export async function encodeRgbImage(
  image: RgbImage,
  format: OutputFormat,
  options: EncodeOptions = {},
): Promise<Uint8Array> {
  const { data, width, height } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new InvalidParametersError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new InvalidParametersError(
      `RGB buffer holds ${data.length} bytes, ${width}x${height} needs ${width * height * 3}`,
    );
  }
  const quality = checkQuality(options.quality ?? DEFAULT_ENCODE_QUALITY);
  return encodeSharp(
    sharp(data, { raw: { width, height, channels: 3 }, limitInputPixels: false }),
    format,
    quality,
  );
}

/**
 * The one place that maps an output format to sharp's encoder settings, so every encoder of the
 * engine and the photo stage agrees:
 * - PNG: zlib level 1 with adaptive (per-row) filtering. On 48 MP outputs of real photos
 *   (bench:photo, ../shared whole photos enlarged) it is as fast as level 6 without filtering
 *   and writes files 27-39% smaller; higher levels cost 20-30% more time for 5-10% less.
 * - JPEG: no chroma subsampling (restored colour edges stay sharp), and no Huffman
 *   optimisation: with sharp's mozjpeg it multiplies the encoding time by 10-20 (3.5 s of CPU
 *   on a 48 MP photo) for files 4-12% smaller.
 * - WebP: the quality, at effort 3 (libwebp's default is 4). On photos enlarged x2 (the
 *   ../shared whole photos) the two write files of the same size within 0.15 dB in 5-7 % less
 *   time at 3; on smooth content rounded to the level (bench:photo's 12 MP photo enlarged x2
 *   by the photo stage) effort 4 took 14 s against 4.9 s, for a file 12 % larger and 0.14 dB
 *   worse.
 */
export function encodeSharp(pipeline: Sharp, format: OutputFormat, quality: number): Promise<Buffer> {
  switch (format) {
    case 'png':
      return pipeline.png({ compressionLevel: 1, adaptiveFiltering: true }).toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality, chromaSubsampling: '4:4:4', optimiseCoding: false }).toBuffer();
    case 'webp':
      return pipeline.webp({ quality, effort: 3 }).toBuffer();
    default:
      throw new InvalidParametersError(`output format must be png, jpeg or webp, got '${String(format)}'`);
  }
}

/**
 * Encode a model output tensor: NCHW [3, H, W] or [1, 3, H, W] (same memory layout), RGB in
 * [-1, 1]. Values are clamped and rounded to 8 bits (NaN becomes 0).
 *
 * @throws InvalidParametersError when `data` is not exactly 3 x width x height floats, or for a bad
 *   format or quality.
 *
 * @example
 * ```ts
 * const jpeg = await encodeImage(output, 512, 512, 'jpeg', { quality: 95 });
 * await writeFile('restored.jpg', jpeg);
 * ```
 */
export async function encodeImage(
  data: Float32Array,
  width: number,
  height: number,
  format: OutputFormat,
  options: EncodeOptions = {},
): Promise<Uint8Array> {
  if (data.length !== 3 * width * height) {
    throw new InvalidParametersError(
      `tensor holds ${data.length} floats; [1, 3, ${height}, ${width}] needs ${3 * width * height}`,
    );
  }
  return encodeRgbImage({ data: tensorToRgb8(data, width, height), width, height }, format, options);
}

/**
 * Undo the framing of decodeImage: cut `framing.modelRect` out of the S x S result and resize it
 * to `framing.sourceRect`'s size. For `fit: 'pad'` the result is the whole source image restored
 * at its original size; for `fit: 'crop'` it is the restored square, to be placed at
 * `sourceRect.left/top` over the original.
 *
 * @example
 * ```ts
 * const decoded = await decodeImage(bytes, { size: 512 });
 * const restored = tensorToRgb8(output, 512, 512);
 * const back = await unframeImage({ data: restored, width: 512, height: 512 }, decoded.framing);
 * // back.width === decoded.source.width, back.height === decoded.source.height (pad)
 * ```
 */
export async function unframeImage(frame: RgbImage, framing: Framing): Promise<RgbImage> {
  const { size, modelRect, sourceRect } = framing;
  if (frame.width !== size || frame.height !== size || frame.data.length !== size * size * 3) {
    throw new InvalidParametersError(
      `frame must be ${size}x${size} RGB (${size * size * 3} bytes), got ${frame.width}x${frame.height} (${frame.data.length} bytes)`,
    );
  }
  let pipeline = sharpFromRgb(frame);
  if (modelRect.width !== size || modelRect.height !== size) pipeline = pipeline.extract(modelRect);
  return rgbFromSharp(
    pipeline.resize(sourceRect.width, sourceRect.height, {
      fit: 'fill',
      kernel: resizeKernelFor(sourceRect.width / modelRect.width),
    }),
  );
}
