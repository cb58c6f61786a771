/**
 * Blob key rules and layout. Every adapter checks keys with {@link assertSafeBlobKey}, so a key
 * built from user data can never escape the store's root (`../`) or hit odd S3 corners.
 */
import { ValidationError } from './errors.js';
import type { CreateUploadFormOptions } from './ports/blob-store.js';
import type { OutputFormat } from './schemas.js';

/** Characters S3 documents as safe, plus `=`; segments separated by single `/`. */
const SAFE_KEY = /^[A-Za-z0-9!_.*'()=-]+(\/[A-Za-z0-9!_.*'()=-]+)*$/;

/**
 * @throws {ValidationError} for empty or over-long keys, leading `/`, empty, `.` or `..`
 * segments, and characters outside `A-Z a-z 0-9 ! _ . * ' ( ) = -`.
 */
export function assertSafeBlobKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || !SAFE_KEY.test(key)) {
    throw new ValidationError(`unsafe blob key: ${JSON.stringify(key.slice(0, 100))}`);
  }
  if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new ValidationError(`unsafe blob key: ${JSON.stringify(key.slice(0, 100))}`);
  }
}

/** Tenant ids become key segments; they must be safe on their own. */
function segment(value: string): string {
  assertSafeBlobKey(value);
  if (value.includes('/')) throw new ValidationError(`not a single key segment: ${value}`);
  return value;
}

/**
 * Where each file of a job lives. All of a job's files share the prefix `jobPrefix`, so
 * deleting a job's data is one prefix.
 *
 * @example blobKeys.input('acme', 'job_01J...') === 'tenants/acme/jobs/job_01J.../input'
 */
export const blobKeys = {
  jobPrefix: (tenantId: string, jobId: string): string =>
    `tenants/${segment(tenantId)}/jobs/${segment(jobId)}/`,
  input: (tenantId: string, jobId: string): string => `${blobKeys.jobPrefix(tenantId, jobId)}input`,
  restored: (tenantId: string, jobId: string, format: OutputFormat): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}restored.${format === 'jpeg' ? 'jpg' : format}`,
  dr2: (tenantId: string, jobId: string): string => `${blobKeys.jobPrefix(tenantId, jobId)}dr2.png`,
};

/**
 * Argument checks of `BlobStore.createUploadForm`, shared by every adapter.
 *
 * @throws {ValidationError} for a non-positive size limit or lifetime, or an empty or
 * malformed content-type list.
 */
export function assertUploadFormOptions(options: CreateUploadFormOptions): void {
  assertSafeBlobKey(options.key);
  if (!Number.isInteger(options.maxBytes) || options.maxBytes < 1) {
    throw new ValidationError('maxBytes must be a positive integer');
  }
  if (!Number.isInteger(options.expiresInSeconds) || options.expiresInSeconds < 1) {
    throw new ValidationError('expiresInSeconds must be a positive integer');
  }
  const mimeType = /^[\w.+-]+\/[\w.+-]+$/;
  if (options.contentTypes.length === 0 || options.contentTypes.some((type) => !mimeType.test(type))) {
    throw new ValidationError('contentTypes must be a non-empty list of MIME types');
  }
}
