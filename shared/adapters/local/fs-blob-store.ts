/**
 * {@link BlobStore} on a local directory, for `npm start` on one machine.
 *
 * Upload forms and download URLs point at routes of the local API (configured base URLs) and
 * carry HMAC-SHA256 signatures under a local signing secret. The local API route calls
 * {@link verifyLocalUploadForm} / {@link verifyLocalDownloadUrl} (or the store's methods of the
 * same name) to enforce signature, expiry, size and content type, as S3 would.
 *
 * On disk, key `a/b` is the file `<root>/a/b~blob` with metadata in `<root>/a/b~meta`; `~` is
 * not allowed in keys, so key `a` and key `a/b` never collide as file and directory.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  assertSafeBlobKey,
  assertUploadFormOptions,
  parseUploadKey,
  uploadContentTypeAllowed,
  uploadContentTypeRule,
} from '../../src/blob-keys.js';
import { systemClock, unixSeconds, type Clock } from '../../src/clock.js';
import { constantTimeEqual, hmacSha256, toBase64Url, utf8Encode } from '../../src/encoding.js';
import {
  ExpiredError,
  InvalidSignatureError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../src/errors.js';
import type {
  BlobInfo,
  BlobStore,
  CreateUploadFormOptions,
  DownloadUrl,
  GetBlobOptions,
  PutBlobOptions,
  StoredBlob,
  UploadForm,
} from '../../src/ports/blob-store.js';
import {
  atomicWriteFile,
  copyFileAtomic,
  encodePathSegment,
  readFileIfExists,
  readFileStart,
  readJsonIfExists,
  statIfExists,
  tryClaimMarker,
} from './fs-util.js';

/** Names of the signed form fields (besides `key` and `Content-Type`). */
export const LOCAL_UPLOAD_FIELDS = {
  maxBytes: 'x-dr2e-max-bytes',
  contentTypes: 'x-dr2e-content-types',
  expires: 'x-dr2e-expires',
  signature: 'x-dr2e-signature',
} as const;

export interface FilesystemBlobStoreOptions {
  /** Directory holding the objects (created on first write). */
  rootDir: string;
  /** HMAC key for upload forms and download URLs; keep it out of logs. */
  signingSecret: string;
  /** Absolute URL of the local API's upload route, e.g. `http://127.0.0.1:8787/local-upload`. */
  uploadUrl: string;
  /** Absolute URL of the local API's download route, e.g. `http://127.0.0.1:8787/local-download`. */
  downloadUrl: string;
  clock?: Clock;
}

interface StoredMeta {
  size: number;
  contentType?: string;
  etag: string;
  lastModified: string;
}

/** The file a verified upload form says to store. */
export interface VerifiedUpload {
  key: string;
  contentType: string;
  maxBytes: number;
}

/** What the upload route knows about the received file part. */
export interface UploadedFileMeta {
  size: number;
}

function uploadSigningText(key: string, maxBytes: number, contentTypes: string, expires: number): string {
  return ['dr2e-local-upload-v1', key, String(maxBytes), contentTypes, String(expires)].join('\n');
}

function downloadSigningText(key: string, expires: number): string {
  return ['dr2e-local-download-v1', key, String(expires)].join('\n');
}

async function sign(secret: string, text: string): Promise<string> {
  return toBase64Url(await hmacSha256(utf8Encode(secret), text));
}

/**
 * Only the canonical encoding verifies (unpadded base64url, exactly as issued): a decoder that
 * also took padding, `+/` or stray characters would accept many spellings of one signature.
 */
async function signatureMatches(secret: string, text: string, presented: string): Promise<boolean> {
  const expected = utf8Encode(await sign(secret, text));
  return constantTimeEqual(expected, utf8Encode(presented));
}

/**
 * Checks a local upload form as S3 checks a presigned POST: the signature over key, size
 * limit, allowed types and expiry, then expiry, size and content type of the file.
 * The content type is the form's `Content-Type` field, which must be there: S3 checks a POST
 * policy's conditions against form fields only, so an upload that gives its type only on the
 * file part fails there (`starts-with $Content-Type`); refused here too, an app tested locally
 * meets the same answer in production.
 *
 * @throws {InvalidSignatureError} missing fields or a signature that does not verify.
 * @throws {ExpiredError} the form's expiry has passed.
 * @throws {PayloadTooLargeError} the file is over the signed limit.
 * @throws {UnsupportedMediaTypeError} the content type is not among the signed ones.
 * @example In the local upload route (Hono)
 * ```ts
 * const form = await c.req.parseBody();
 * const file = form.file as File;
 * const fields = Object.fromEntries(Object.entries(form).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
 * const { key, contentType } = await verifyLocalUploadForm({ fields, file: { size: file.size }, now: new Date(), secret });
 * await blobs.put(key, new Uint8Array(await file.arrayBuffer()), { contentType });
 * ```
 */
export async function verifyLocalUploadForm(input: {
  fields: Record<string, string | undefined>;
  file: UploadedFileMeta;
  now: Date;
  secret: string;
}): Promise<VerifiedUpload> {
  const { fields } = input;
  const key = fields.key;
  const maxBytesText = fields[LOCAL_UPLOAD_FIELDS.maxBytes];
  const contentTypes = fields[LOCAL_UPLOAD_FIELDS.contentTypes];
  const expiresText = fields[LOCAL_UPLOAD_FIELDS.expires];
  const signature = fields[LOCAL_UPLOAD_FIELDS.signature];
  if (!key || !maxBytesText || contentTypes === undefined || !expiresText || !signature) {
    throw new InvalidSignatureError('upload form is missing signed fields');
  }
  if (!/^\d+$/.test(maxBytesText) || !/^\d+$/.test(expiresText)) {
    throw new InvalidSignatureError('upload form fields are malformed');
  }
  const maxBytes = Number(maxBytesText);
  const expires = Number(expiresText);
  const text = uploadSigningText(key, maxBytes, contentTypes, expires);
  if (!(await signatureMatches(input.secret, text, signature))) {
    throw new InvalidSignatureError('upload form signature does not verify');
  }
  if (unixSeconds(input.now) >= expires)
    throw new ExpiredError(
      'upload form has expired: POST /v1/jobs/{id}/upload gives a new one while the job waits for its input',
    );
  if (input.file.size > maxBytes) {
    throw new PayloadTooLargeError(`file is ${input.file.size} bytes; the limit is ${maxBytes}`);
  }
  if (input.file.size === 0) throw new PayloadTooLargeError('file is empty');
  const allowed = contentTypes.split(',').filter((type) => type.length > 0);
  // What the form really accepts (uploadContentTypeRule: S3's policy cannot list types).
  const rule = uploadContentTypeRule(allowed);
  const details = { allowed, accepts: 'exact' in rule ? rule.exact : `${rule.prefix}*` };
  if (fields['Content-Type'] === undefined) {
    throw new UnsupportedMediaTypeError(
      "the upload form has no Content-Type field: send the photo's type (e.g. image/jpeg) as a form field, as S3 requires (the file part's own type is not read)",
      { details },
    );
  }
  const contentType = fields['Content-Type'].toLowerCase();
  // The rule S3's POST policy applies (uploadContentTypeRule), so local answers match AWS.
  if (allowed.length === 0 || !uploadContentTypeAllowed(allowed, contentType)) {
    throw new UnsupportedMediaTypeError(`content type "${contentType}" is not allowed`, { details });
  }
  assertSafeBlobKey(key);
  return { key, contentType, maxBytes };
}

/**
 * Checks a local download URL's signature and expiry and returns the key it grants.
 *
 * @throws {InvalidSignatureError} missing parameters or a bad signature.
 * @throws {ExpiredError} the URL has expired.
 */
export async function verifyLocalDownloadUrl(input: {
  url: string | URL;
  now: Date;
  secret: string;
}): Promise<{ key: string }> {
  const url = typeof input.url === 'string' ? new URL(input.url, 'http://localhost') : input.url;
  const key = url.searchParams.get('key');
  const expiresText = url.searchParams.get('expires');
  const signature = url.searchParams.get('signature');
  if (!key || !expiresText || !signature || !/^\d+$/.test(expiresText)) {
    throw new InvalidSignatureError('download URL is missing signed parameters');
  }
  const expires = Number(expiresText);
  if (!(await signatureMatches(input.secret, downloadSigningText(key, expires), signature))) {
    throw new InvalidSignatureError('download URL signature does not verify');
  }
  if (unixSeconds(input.now) >= expires)
    throw new ExpiredError('download URL has expired: GET /v1/jobs/{id} gives fresh links');
  assertSafeBlobKey(key);
  return { key };
}

/**
 * @example
 * ```ts
 * const blobs = new FilesystemBlobStore({
 *   rootDir: '.data/blobs', signingSecret: process.env.DR2E_LOCAL_SECRET!,
 *   uploadUrl: 'http://127.0.0.1:8787/local-upload', downloadUrl: 'http://127.0.0.1:8787/local-download',
 * });
 * ```
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly rootDir: string;
  private readonly clock: Clock;

  constructor(private readonly options: FilesystemBlobStoreOptions) {
    if (options.signingSecret.length < 16) {
      throw new ValidationError('signingSecret must be at least 16 characters');
    }
    this.rootDir = path.resolve(options.rootDir);
    this.clock = options.clock ?? systemClock;
  }

  private paths(key: string): { blob: string; meta: string } {
    assertSafeBlobKey(key);
    const base = path.join(this.rootDir, ...key.split('/'));
    return { blob: `${base}~blob`, meta: `${base}~meta` };
  }

  async put(key: string, body: Uint8Array, options: PutBlobOptions = {}): Promise<void> {
    const paths = this.paths(key);
    const meta: StoredMeta = {
      size: body.byteLength,
      etag: createHash('md5').update(body).digest('hex'),
      lastModified: this.clock.now().toISOString(),
    };
    if (options.contentType) meta.contentType = options.contentType;
    // Metadata first would describe bytes not yet there; bytes first leaves at worst stale metadata,
    // which head() tolerates by trusting the blob's existence and size.
    await atomicWriteFile(paths.blob, body);
    await atomicWriteFile(paths.meta, JSON.stringify(meta));
  }

  async get(key: string, options: GetBlobOptions = {}): Promise<StoredBlob | undefined> {
    const paths = this.paths(key);
    if (options.maxBytes !== undefined) {
      const start = await readFileStart(paths.blob, options.maxBytes);
      if (start === undefined) return undefined;
      return { ...(await this.readInfo(key, paths.meta, start.size)), body: start.body };
    }
    const body = await readFileIfExists(paths.blob);
    if (body === undefined) return undefined;
    const info = await this.readInfo(key, paths.meta, body.byteLength);
    return { ...info, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
  }

  async copy(fromKey: string, toKey: string): Promise<boolean> {
    const from = this.paths(fromKey);
    const to = this.paths(toKey);
    // Copy to a temp name then rename, so a reader never sees half a file; the kernel copies
    // the bytes (no buffer here). Metadata is copied the same way after the bytes.
    if (!(await copyFileAtomic(from.blob, to.blob))) return false;
    const meta = await readFileIfExists(from.meta);
    if (meta) await atomicWriteFile(to.meta, meta);
    else await rm(to.meta, { force: true });
    return true;
  }

  /**
   * Local upload route: stores a file already written to disk (`tempPath`, same filesystem)
   * under `key` by renaming it, so an upload is never held in memory. `md5Hex` and `size` were
   * computed while streaming it.
   */
  async importFile(
    key: string,
    tempPath: string,
    facts: { size: number; md5Hex: string; contentType?: string },
  ): Promise<void> {
    const paths = this.paths(key);
    const meta: StoredMeta = {
      size: facts.size,
      etag: facts.md5Hex,
      lastModified: this.clock.now().toISOString(),
      ...(facts.contentType ? { contentType: facts.contentType } : {}),
    };
    await mkdir(path.dirname(paths.blob), { recursive: true });
    await rename(tempPath, paths.blob);
    await atomicWriteFile(paths.meta, JSON.stringify(meta));
  }

  /**
   * Local upload route: claims the right to upload to the job of `uploadKey` (every form of one
   * job shares the claim), or `undefined` while another upload to that job holds it.
   *
   * Why: S3 answers a presigned POST by itself, but locally the route decides, and a check of
   * the job's status before streaming let overlapping uploads all pass it: each got 204, the
   * job took one and the others were deleted unseen. The claim is an exclusive file create,
   * taken before the file is read and held until the job has been dispatched; `release` gives
   * it back whatever happened (refused, cut off, or accepted: the job then no longer waits
   * for an upload), so a retry after a failed upload works. A key that names no job is
   * claimed by itself.
   *
   * @example
   * ```ts
   * const claim = await blobs.claimUpload(verified.key);
   * if (!claim) throw new ApiError('upload_closed', 409, 'another upload to this job is in progress');
   * try { ...stream, import, dispatch... } finally { await claim.release(); }
   * ```
   */
  async claimUpload(uploadKey: string): Promise<{ release(): Promise<void> } | undefined> {
    assertSafeBlobKey(uploadKey);
    const job = parseUploadKey(uploadKey);
    const name = job ? [job.tenantId, job.jobId] : [uploadKey];
    const marker = path.join(this.rootDir, '.claims', ...name.map(encodePathSegment));
    const release = await tryClaimMarker(marker);
    return release ? { release } : undefined;
  }

  /** Directory for upload temp files (inside the root, so `importFile` is a rename). */
  get uploadTempDir(): string {
    return path.join(this.rootDir, '.incoming');
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const paths = this.paths(key);
    const stats = await statIfExists(paths.blob);
    return stats ? this.readInfo(key, paths.meta, stats.size) : undefined;
  }

  private async readInfo(key: string, metaPath: string, size: number): Promise<BlobInfo> {
    const meta = (await readJsonIfExists(metaPath)) as StoredMeta | undefined;
    const info: BlobInfo = { key, size };
    if (meta?.size === size) {
      if (meta.contentType) info.contentType = meta.contentType;
      info.etag = meta.etag;
      info.lastModified = new Date(meta.lastModified);
    }
    return info;
  }

  async delete(key: string): Promise<void> {
    const paths = this.paths(key);
    await rm(paths.blob, { force: true });
    await rm(paths.meta, { force: true });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  async createUploadForm(options: CreateUploadFormOptions): Promise<UploadForm> {
    assertSafeBlobKey(options.key);
    assertUploadFormOptions(options);
    const expires = unixSeconds(this.clock.now()) + options.expiresInSeconds;
    const contentTypes = options.contentTypes.map((type) => type.toLowerCase()).join(',');
    const signature = await sign(
      this.options.signingSecret,
      uploadSigningText(options.key, options.maxBytes, contentTypes, expires),
    );
    const fields: Record<string, string> = {
      key: options.key,
      [LOCAL_UPLOAD_FIELDS.maxBytes]: String(options.maxBytes),
      [LOCAL_UPLOAD_FIELDS.contentTypes]: contentTypes,
      [LOCAL_UPLOAD_FIELDS.expires]: String(expires),
      [LOCAL_UPLOAD_FIELDS.signature]: signature,
    };
    // Same convention as the S3 form: a single allowed type is fixed in the form.
    if (options.contentTypes.length === 1) fields['Content-Type'] = contentTypes;
    return {
      url: this.options.uploadUrl,
      fields,
      maxBytes: options.maxBytes,
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  async createDownloadUrl(key: string, expiresInSeconds: number): Promise<DownloadUrl> {
    assertSafeBlobKey(key);
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1) {
      throw new ValidationError('expiresInSeconds must be a positive integer');
    }
    const expires = unixSeconds(this.clock.now()) + expiresInSeconds;
    const url = new URL(this.options.downloadUrl);
    url.searchParams.set('key', key);
    url.searchParams.set('expires', String(expires));
    url.searchParams.set(
      'signature',
      await sign(this.options.signingSecret, downloadSigningText(key, expires)),
    );
    return { url: url.toString(), expiresAt: new Date(expires * 1000).toISOString() };
  }

  /** {@link verifyLocalUploadForm} with this store's secret and clock. */
  verifyUploadForm(
    fields: Record<string, string | undefined>,
    file: UploadedFileMeta,
  ): Promise<VerifiedUpload> {
    return verifyLocalUploadForm({ fields, file, now: this.clock.now(), secret: this.options.signingSecret });
  }

  /** {@link verifyLocalDownloadUrl} with this store's secret and clock. */
  verifyDownloadUrl(url: string | URL): Promise<{ key: string }> {
    return verifyLocalDownloadUrl({ url, now: this.clock.now(), secret: this.options.signingSecret });
  }
}
