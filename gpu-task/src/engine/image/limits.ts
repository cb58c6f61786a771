/**
 * Input limits for decoding untrusted images. All three are checked before any pixel is
 * decoded: the byte count first, then the width and height read from the file header.
 */
import { INPUT_LIMITS } from '../../../../shared/src/index.js';
import { InvalidParametersError } from '../errors.js';

export interface ImageLimits {
  /** Largest accepted file, in bytes. */
  maxFileBytes: number;
  /** Largest accepted width x height (after EXIF orientation, which does not change the count). */
  maxInputPixels: number;
  /** Smallest accepted shorter side, in pixels. */
  minSide: number;
}

/** 1 MiB in bytes. */
const MIB = 1024 * 1024;

/**
 * Default limits: the domain's {@link INPUT_LIMITS} (25 MiB, 50 megapixels, a 32-px shorter
 * side; the reasons are given there), which the API's upload form and dispatcher apply too.
 */
export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = INPUT_LIMITS;

/**
 * Merge caller overrides into the defaults and check they make sense.
 *
 * @throws InvalidParametersError when a limit is not a positive integer.
 */
export function resolveImageLimits(overrides: Partial<ImageLimits> = {}): ImageLimits {
  const limits: ImageLimits = { ...DEFAULT_IMAGE_LIMITS };
  for (const key of ['maxFileBytes', 'maxInputPixels', 'minSide'] as const) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidParametersError(`image limit ${key} must be a positive integer, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}

/**
 * What to do with a photo file over the byte limit: its pixels usually fit, its encoding does not
 * (an uncompressed TIFF, a 16-bit PNG, a camera's maximum-quality JPEG).
 */
export const RESAVE_SMALLER = 're-save it as a JPEG (quality 90 keeps a photo as it is) or an 8-bit PNG';

/** "25 MiB", "512 KiB", "900 bytes": sizes in messages that a person reads. */
export function describeBytes(bytes: number): string {
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}

/** "50 megapixels", "3072 pixels" (small counts in pixels, so they never read as "0 megapixels"). */
export function describePixels(pixels: number): string {
  if (pixels < 100_000) return `${pixels} pixels`;
  const megapixels = (pixels / 1_000_000).toFixed(1).replace(/\.0$/, '');
  return `${megapixels} ${megapixels === '1' ? 'megapixel' : 'megapixels'}`;
}

/**
 * A value over a limit and the limit, as a person reads them: rounded where that still tells
 * them apart, exact where rounding would make them read the same (a value just over the limit
 * must not read as "1 megapixel; the limit is 1 megapixel").
 *
 * @example
 * ```ts
 * describeOverLimit(3_000_000, 1_000_000, describePixels, 'pixels'); // ['3 megapixels', '1 megapixel']
 * describeOverLimit(1_001_000, 1_000_000, describePixels, 'pixels');
 * // ['1001000 pixels', '1000000 pixels (1 megapixel)']
 * ```
 */
export function describeOverLimit(
  value: number,
  limit: number,
  describe: (amount: number) => string,
  unit: string,
): [value: string, limit: string] {
  const [rounded, roundedLimit] = [describe(value), describe(limit)];
  if (rounded !== roundedLimit) return [rounded, roundedLimit];
  const exactLimit = `${limit} ${unit}`;
  return [`${value} ${unit}`, roundedLimit === exactLimit ? exactLimit : `${exactLimit} (${roundedLimit})`];
}
