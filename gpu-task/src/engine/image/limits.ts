/**
 * Input limits for decoding untrusted images. All three are checked before any pixel is
 * decoded: the byte count first, then the width and height read from the file header.
 */
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
 * Default limits.
 *
 * - `maxFileBytes` = 25 MiB: a 48-megapixel phone photo is 10-20 MB as high-quality JPEG and
 *   3-8 MB as HEIC, so 25 MiB accepts every camera original while keeping one upload's buffer small.
 * - `maxInputPixels` = 50 megapixels: covers 48 MP phone sensors (8064 x 6048 = 48.8 MP) and
 *   bounds a decode to about 150 MB of 8-bit RGB (200 MB RGBA plus a ~400 MB WebAssembly heap
 *   for HEIC). It also defeats decompression bombs: a 20000 x 20000 PNG compresses to ~50 KB.
 * - `minSide` = 32 px: DR2 is evaluated on faces down-sampled up to 16x from 512 px, i.e. 32 px;
 *   below that there is too little signal to restore and the input is more likely a mistake.
 */
export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxFileBytes: 25 * MIB,
  maxInputPixels: 50_000_000,
  minSide: 32,
});

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

/** "25 MiB", "512 KiB", "900 bytes": sizes in messages that a person reads. */
export function describeBytes(bytes: number): string {
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}

/** "50 megapixels", "3072 pixels" (small counts in pixels, so they never read as "0 megapixels"). */
export function describePixels(pixels: number): string {
  if (pixels < 100_000) return `${pixels} pixels`;
  return `${(pixels / 1_000_000).toFixed(1).replace(/\.0$/, '')} megapixels`;
}
