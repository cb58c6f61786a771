/**
 * Blob key rules and layout. Every adapter checks keys with {@link assertSafeBlobKey}, so a key
 * built from user data can never escape the store's root (`../`) or hit odd S3 corners.
 */
import { randomBytes } from './encoding.js';
import { ValidationError } from './errors.js';
import { isJobId } from './ids.js';
import type { CreateUploadFormOptions } from './ports/blob-store.js';
import type { OutputFormat } from './restore-options.js';

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

/** Form and copy tokens: 26 characters of Crockford base32 (from {@link newBlobToken}). */
const TOKEN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Where each file of a job lives. All of a job's files share the prefix `jobPrefix`, so
 * deleting a job's data is one prefix.
 *
 * One input per job: every upload form gets its own key (`upload`, a fresh token per form),
 * and the dispatcher copies the upload it accepts to a key no form can write (`acceptedInput`),
 * which is what the worker reads. A late or second upload therefore lands on a form key, never
 * on the worker's input; the dispatcher deletes it.
 *
 * @example blobKeys.upload('acme', 'job_01J...', '01J...') === 'tenants/acme/jobs/job_01J.../uploads/01J.../input'
 */
export const blobKeys = {
  jobPrefix: (tenantId: string, jobId: string): string =>
    `tenants/${segment(tenantId)}/jobs/${segment(jobId)}/`,
  /** The single upload key of jobs created before per-form keys (still accepted while `created`). */
  input: (tenantId: string, jobId: string): string => `${blobKeys.jobPrefix(tenantId, jobId)}input`,
  /** Key of one upload form; ends in `/input` so the bucket's upload event filter matches it. */
  upload: (tenantId: string, jobId: string, token: string): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}uploads/${checkedToken(token)}/input`,
  /** The dispatcher's copy of an accepted upload: what the worker reads. No form can write it. */
  acceptedInput: (tenantId: string, jobId: string, token: string): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}accepted-${checkedToken(token)}`,
  restored: (tenantId: string, jobId: string, format: OutputFormat): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}restored.${format === 'jpeg' ? 'jpg' : format}`,
  dr2: (tenantId: string, jobId: string): string => `${blobKeys.jobPrefix(tenantId, jobId)}dr2.png`,
  /** The aligned input crop of restored face `index` (0 = largest), kept with `output.faces`. */
  faceInput: (tenantId: string, jobId: string, index: number): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}faces/${faceIndex(index)}-input.png`,
  /** The restored aligned crop of face `index`. */
  faceRestored: (tenantId: string, jobId: string, index: number): string =>
    `${blobKeys.jobPrefix(tenantId, jobId)}faces/${faceIndex(index)}-restored.png`,
};

function checkedToken(token: string): string {
  if (!TOKEN.test(token)) throw new ValidationError(`not a blob token: ${token.slice(0, 40)}`);
  return token;
}

/** A fresh random token for {@link blobKeys.upload} / {@link blobKeys.acceptedInput}. */
export function newBlobToken(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let token = '';
  for (const byte of randomBytes(26)) token += alphabet[byte & 31];
  return token;
}

/** The job an upload key belongs to (form key or the legacy single key), else undefined. */
export function parseUploadKey(key: string): { tenantId: string; jobId: string } | undefined {
  const match = /^tenants\/([^/]+)\/jobs\/([^/]+)\/(?:uploads\/([^/]+)\/)?input$/.exec(key);
  if (!match?.[1] || !match[2] || !isJobId(match[2])) return undefined;
  if (match[3] !== undefined && !TOKEN.test(match[3])) return undefined;
  return { tenantId: match[1], jobId: match[2] };
}

function faceIndex(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new ValidationError(`not a face index: ${index}`);
  return String(index);
}

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

/**
 * Which declared content types an upload form lets through: exactly the one type of a
 * one-type list, else every type that starts with the list's common prefix (`image/` for a
 * list of image types). That is what an S3 POST policy can express (`eq` or `starts-with` on
 * `$Content-Type`), so every adapter applies this rule and an app tested locally meets the same
 * answers in production (`image/jpg` or `image/heic-sequence`, which phones send, pass both;
 * `application/octet-stream` passes neither). The bytes are sniffed after the upload anyway.
 *
 * @example
 * ```ts
 * uploadContentTypeRule(['image/jpeg', 'image/png']); // { prefix: 'image/' }
 * uploadContentTypeRule(['image/png']); // { exact: 'image/png' }
 * ```
 */
export function uploadContentTypeRule(
  contentTypes: readonly string[],
): { exact: string } | { prefix: string } {
  const types = contentTypes.map((type) => type.toLowerCase());
  if (types.length === 1 && types[0] !== undefined) return { exact: types[0] };
  let prefix = types[0] ?? '';
  for (const type of types) {
    while (!type.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  return { prefix };
}

/** Whether a declared content type passes an upload form's rule (see uploadContentTypeRule). */
export function uploadContentTypeAllowed(contentTypes: readonly string[], declared: string): boolean {
  const rule = uploadContentTypeRule(contentTypes);
  const type = declared.toLowerCase();
  return 'exact' in rule
    ? type === rule.exact
    : type.startsWith(rule.prefix) && type.length > rule.prefix.length;
}
