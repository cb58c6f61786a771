/**
 * Raw RGB8 images through sharp: the one place that opens an {@link RgbImage} as a sharp
 * pipeline and reads a pipeline's raw output back as one, so every resize, extract or paste
 * step shares the same buffer handling (no copy of sharp's output buffer).
 */
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from './tensor.js';

/**
 * A sharp pipeline over a raw RGB8 image.
 *
 * @example
 * ```ts
 * const half = await rgbFromSharp(sharpFromRgb(image).resize(image.width / 2, image.height / 2));
 * ```
 */
export function sharpFromRgb(image: RgbImage): Sharp {
  // The buffer exists already, within the configured pixel limit (`--max-megapixels` goes to
  // 1000 MP): sharp's own default (268 MP) would refuse a large photo's enlargement.
  return sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
    limitInputPixels: false,
  });
}

/**
 * Runs a pipeline whose output is RGB (three channels: an RGB input without alpha steps) and
 * returns the result as an RGB8 image viewing sharp's buffer.
 */
export async function rgbFromSharp(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}
