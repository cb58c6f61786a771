/** Page-size and cursor rules shared by every `JobStore` implementation. */
import { fromBase64, toBase64Url, utf8Decode, utf8Encode } from './encoding.js';
import { ValidationError } from './errors.js';
import { isJobId } from './ids.js';
import type { ListJobsOptions } from './ports/job-store.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Validated page size of list options. @throws {ValidationError} outside 1..100. */
export function pageSize(options: ListJobsOptions): number {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return limit;
}

/** Opaque cursor for the page after a job (base64url of its id). */
export function encodeJobCursor(jobId: string): string {
  return toBase64Url(utf8Encode(jobId));
}

/** The job id inside a cursor. @throws {ValidationError} for a cursor no store issued. */
export function decodeJobCursor(cursor: string): string {
  let jobId = '';
  try {
    jobId = utf8Decode(fromBase64(cursor));
  } catch {
    // Reported below.
  }
  if (!isJobId(jobId)) throw new ValidationError('invalid cursor');
  return jobId;
}
