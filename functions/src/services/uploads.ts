/**
 * What an uploaded input must be before a job is queued: not empty, within the size limit, and
 * an image format the engine decodes (JPEG, PNG, WebP, AVIF, HEIC/HEIF, TIFF) judged by its
 * magic bytes, never by its name or declared type.
 *
 * The sniffer is the one the engine decodes with (`shared/src/image/formats.ts`, pure byte
 * checks), so the API and the worker agree on formats; it imports nothing native, so the Lambda
 * bundle stays free of sharp and onnxruntime (test/functions/bundle.test.ts checks this).
 */
import {
  sniffImageFormat,
  ACCEPTED_INPUT_CONTENT_TYPES,
  DEFAULT_MAX_ASPECT_RATIO,
  INPUT_LIMITS,
  MAX_OUTPUT_SIDE,
  outputFormatsFitting,
  type JobError,
  type OutputFormat,
} from '../../../shared/src/index.js';

/**
 * Content types an upload form accepts: the shared list plus AVIF and TIFF, which the engine
 * also decodes. The bytes are sniffed anyway; the declared type only filters obvious mistakes.
 */
export const UPLOAD_CONTENT_TYPES: readonly string[] = [
  ...ACCEPTED_INPUT_CONTENT_TYPES,
  'image/avif',
  'image/tiff',
];

/** Stable codes of uploads refused before queueing (the job fails with one of these). */
export const UPLOAD_ERROR_CODES = {
  empty: 'empty_upload',
  tooLarge: 'upload_too_large',
  notAnImage: 'not_an_image',
  unsupported: 'unsupported_image_format',
  /** The engine's codes for sides and pixel counts it refuses, so clients see one code either way. */
  imageTooSmall: 'image_too_small',
  imageTooLarge: 'image_too_large',
  aspectRatio: 'image_aspect_ratio_unsupported',
} as const;

/** What the dispatcher refuses by image geometry, before a GPU sees the job (never billed). */
export interface ImageGeometryLimits {
  /** Shorter side below this is refused (by default the engine's own minimum, INPUT_LIMITS). */
  minSide: number;
  /** Width x height above this is refused (by default the engine's own maximum, INPUT_LIMITS). */
  maxPixels: number;
  /**
   * Longer side / shorter side above this is refused for an aligned face crop (`aligned`; why 4
   * by default: DEFAULT_MAX_ASPECT_RATIO). A whole photo of any shape is restored (a panorama
   * comes back at its own size x upscale), so it is judged by its sides and pixels alone.
   */
  maxAspectRatio: number;
}

export const DEFAULT_IMAGE_GEOMETRY_LIMITS: Readonly<ImageGeometryLimits> = Object.freeze({
  minSide: INPUT_LIMITS.minSide,
  maxPixels: INPUT_LIMITS.maxInputPixels,
  maxAspectRatio: DEFAULT_MAX_ASPECT_RATIO,
});

/**
 * Judges an input's width and height (from its header) against {@link ImageGeometryLimits}:
 * its shorter side and pixel count always, its aspect ratio only when it is an `aligned` face
 * crop, and its longer side against the longest the job's output `format` holds (the output is
 * at least the input's size, so a longer input fails in the worker otherwise: a 17000 px
 * panorama asking for WebP, at most 16383).
 *
 * @example
 * ```ts
 * checkImageGeometry({ width: 4096, height: 64 }, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: true });
 * // { ok: false, error: { code: 'image_aspect_ratio_unsupported', message: 'the image is 4096x64 (64:1) ...' } }
 * checkImageGeometry({ width: 4096, height: 64 }, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: false });
 * // { ok: true }: a whole photo, restored at its own shape
 * ```
 */
export function checkImageGeometry(
  size: { width: number; height: number },
  limits: ImageGeometryLimits,
  { aligned, format }: { aligned: boolean; format?: OutputFormat },
): { ok: true } | { ok: false; error: JobError } {
  const { width, height } = size;
  const refuse = (code: string, message: string) =>
    ({ ok: false, error: { code, message, retryable: false } }) as const;
  if (Math.min(width, height) < limits.minSide) {
    return refuse(
      UPLOAD_ERROR_CODES.imageTooSmall,
      `the image is ${width}x${height} px; its shorter side must be at least ${limits.minSide} px`,
    );
  }
  if (width * height > limits.maxPixels) {
    return refuse(
      UPLOAD_ERROR_CODES.imageTooLarge,
      `the image is ${width}x${height} (${Math.round((width * height) / 1e5) / 10} megapixels); the limit is ${limits.maxPixels / 1e6} megapixels`,
    );
  }
  const longer = Math.max(width, height);
  if (format && longer > MAX_OUTPUT_SIDE[format]) {
    return refuse(
      UPLOAD_ERROR_CODES.imageTooLarge,
      `the image is ${width}x${height}; a ${format.toUpperCase()} output is at most ${MAX_OUTPUT_SIDE[format]} px a side, even at upscale 1: ask for ${outputFormatsFitting(longer)} (output.format)`,
    );
  }
  const ratio = longer / Math.min(width, height);
  if (aligned && ratio > limits.maxAspectRatio) {
    return refuse(
      UPLOAD_ERROR_CODES.aspectRatio,
      `the image is ${width}x${height} (${Math.round(ratio * 10) / 10}:1); an aligned face crop may be at most ${limits.maxAspectRatio}:1, since the result would be a thin strip. Crop it around the face and upload again, or send it as a whole photo (without \`aligned\`)`,
    );
  }
  return { ok: true };
}

/** Verdict on an uploaded object. */
export type UploadInspection = { ok: true; format: string } | { ok: false; error: JobError };

/**
 * Judges the size (from the store's metadata) before the bytes are fetched.
 *
 * @example checkUploadSize(0, 1024) // { ok: false, error: { code: 'empty_upload', ... } }
 */
export function checkUploadSize(
  size: number,
  maxBytes: number,
): { ok: true } | { ok: false; error: JobError } {
  if (size <= 0) {
    return {
      ok: false,
      error: { code: UPLOAD_ERROR_CODES.empty, message: 'the uploaded file is empty', retryable: false },
    };
  }
  if (size > maxBytes) {
    return {
      ok: false,
      error: {
        code: UPLOAD_ERROR_CODES.tooLarge,
        message: `the uploaded file is ${size} bytes; the limit is ${maxBytes}`,
        retryable: false,
      },
    };
  }
  return { ok: true };
}

/**
 * Judges the first bytes of an upload.
 *
 * @example
 * ```ts
 * inspectUploadBytes(new TextEncoder().encode('hello'));
 * // { ok: false, error: { code: 'not_an_image', message: 'the uploaded file is text, not an image' } }
 * ```
 */
export function inspectUploadBytes(bytes: Uint8Array): UploadInspection {
  const sniffed = sniffImageFormat(bytes);
  switch (sniffed.kind) {
    case 'image':
      return { ok: true, format: sniffed.format };
    case 'empty':
      return {
        ok: false,
        error: { code: UPLOAD_ERROR_CODES.empty, message: 'the uploaded file is empty', retryable: false },
      };
    case 'text':
      return {
        ok: false,
        error: {
          code: UPLOAD_ERROR_CODES.notAnImage,
          message: 'the uploaded file is text, not an image',
          retryable: false,
        },
      };
    case 'unknown':
      return {
        ok: false,
        error: {
          code: UPLOAD_ERROR_CODES.notAnImage,
          message: 'the uploaded file is not an image in a known format (JPEG, PNG, WebP, AVIF, HEIC, TIFF)',
          retryable: false,
        },
      };
    case 'unsupported':
      return {
        ok: false,
        error: {
          code: UPLOAD_ERROR_CODES.unsupported,
          message: `${sniffed.name} is not supported; upload JPEG, PNG, WebP, AVIF, HEIC or TIFF`,
          retryable: false,
        },
      };
  }
}
