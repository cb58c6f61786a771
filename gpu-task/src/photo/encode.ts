/**
 * Writing a restored photo: sRGB with an embedded sRGB ICC profile, the input's alpha channel
 * kept (PNG and WebP; JPEG has none, so it is flattened onto white), greyscale inputs written
 * back as greyscale (a restored face in a black-and-white scan must not gain a tint).
 */
import sharp from 'sharp';
import {
  InvalidParametersError,
  DEFAULT_ENCODE_QUALITY,
  encodeSharp,
  type OutputFormat,
  type RgbImage,
} from '../engine/core.js';

export interface EncodePhotoOptions {
  format: OutputFormat;
  quality?: number;
  /** Alpha plane at the image's size, or null. */
  alpha?: Uint8Array | null;
  grey?: boolean;
}

/**
 * @example
 * ```ts
 * const png = await encodePhoto(restored, { format: 'png', alpha: decoded.alpha, grey: decoded.grey });
 * ```
 */
export async function encodePhoto(image: RgbImage, options: EncodePhotoOptions): Promise<Uint8Array> {
  const { width, height } = image;
  const quality = options.quality ?? DEFAULT_ENCODE_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidParametersError(`quality must be an integer 1-100, got ${String(quality)}`);
  }
  const alpha = options.alpha ?? null;
  let pipeline;
  if (alpha && options.format !== 'jpeg') {
    const rgba = Buffer.allocUnsafe(width * height * 4);
    for (let i = 0, j = 0; i < width * height; i++, j += 4) {
      rgba[j] = image.data[i * 3]!;
      rgba[j + 1] = image.data[i * 3 + 1]!;
      rgba[j + 2] = image.data[i * 3 + 2]!;
      rgba[j + 3] = alpha[i]!;
    }
    pipeline = sharp(rgba, { raw: { width, height, channels: 4 } });
  } else {
    pipeline = sharp(image.data, { raw: { width, height, channels: 3 } });
  }
  pipeline = options.grey ? pipeline.toColourspace('b-w') : pipeline.withIccProfile('srgb');
  return encodeSharp(pipeline, options.format, quality);
}
