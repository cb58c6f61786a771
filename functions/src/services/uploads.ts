/**
 * What an uploaded input must be before a job is queued: not empty, within the size limit, and
 * an image format the engine decodes (JPEG, PNG, WebP, AVIF, HEIC/HEIF, TIFF) judged by its
 * magic bytes, never by its name or declared type.
 *
 * The sniffer is the engine's own (`gpu-task/src/engine/image/formats.ts`, pure byte checks),
 * so the API and the worker agree on formats; it imports nothing native, so the Lambda bundle
 * stays free of sharp and onnxruntime (test/functions/bundle.test.ts checks this).
 */
import { sniffImageFormat } from '../../../gpu-task/src/engine/image/formats.js';
import { ACCEPTED_INPUT_CONTENT_TYPES, type JobError } from '../../../shared/src/schemas.js';

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
} as const;

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
