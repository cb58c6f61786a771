/**
 * Re-encoding the engine's PNG output into a job's requested format.
 *
 * The worker runs one engine call for a whole batch, and the engine encodes every image of a
 * call in one format. Jobs of a batch share a schedule but may ask for different formats, so
 * the worker asks for lossless PNG and re-encodes per job (a few ms per image, no quality lost),
 * as the engine would have written it: alpha kept in WebP and flattened onto white in JPEG,
 * greyscale kept grey, sRGB profile embedded.
 */
import { reencodePhoto } from '../photo/index.js';
import type { OutputFormat } from '../../../shared/src/index.js';

/**
 * `png` bytes as `format` (returned unchanged for `png`), with the engine's default quality.
 *
 * @example `const jpeg = await transcodePng(png, 'jpeg');`
 */
export function transcodePng(png: Uint8Array, format: OutputFormat): Promise<Uint8Array> {
  return reencodePhoto(png, format);
}
