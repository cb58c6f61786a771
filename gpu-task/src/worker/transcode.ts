/**
 * Re-encoding the engine's PNG output into a job's requested format.
 *
 * The worker runs one engine call for a whole batch, and the engine encodes every image of a
 * call in one format. Jobs of a batch share a schedule but may ask for different formats, so
 * the worker asks for lossless PNG and re-encodes per job (a few ms per image, no quality lost).
 */
import sharp from 'sharp';
import { encodeRgbImage } from '../engine/index.js';
import type { OutputFormat } from '../../../shared/src/index.js';

/**
 * `png` bytes as `format` (returned unchanged for `png`), with the engine's default quality.
 *
 * @example `const jpeg = await transcodePng(png, 'jpeg');`
 */
export async function transcodePng(png: Uint8Array, format: OutputFormat): Promise<Uint8Array> {
  if (format === 'png') return png;
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return encodeRgbImage({ data: new Uint8Array(data), width: info.width, height: info.height }, format);
}
