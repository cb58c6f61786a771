/**
 * Port: object storage for job inputs and results (S3 in AWS, a directory locally).
 *
 * Keys are `/`-separated relative paths checked by `assertSafeBlobKey`; see `blobKeys` for the
 * layout. Bodies are whole byte arrays: photos are a few MB, and sharp/onnxruntime want
 * buffers anyway.
 */

/** Metadata of a stored object. */
export interface BlobInfo {
  key: string;
  size: number;
  contentType?: string;
  /** Opaque version tag (S3 ETag, local content hash); changes when the bytes change. */
  etag?: string;
  lastModified?: Date;
}

/** A stored object with its bytes. */
export interface StoredBlob extends BlobInfo {
  /** The bytes; only the first `maxBytes` when {@link GetBlobOptions.maxBytes} was given. */
  body: Uint8Array;
}

export interface GetBlobOptions {
  /**
   * Read at most this many bytes from the start (a ranged GET): enough to sniff a format and
   * read an image header without holding a 25 MB upload in memory. `size` stays the object's.
   */
  maxBytes?: number;
}

export interface PutBlobOptions {
  contentType?: string;
}

export interface CreateUploadFormOptions {
  /** Where the upload will be stored. */
  key: string;
  /** Largest accepted file, in bytes (the store refuses bigger uploads). */
  maxBytes: number;
  /** Accepted MIME types, e.g. `['image/jpeg', 'image/png']`. */
  contentTypes: readonly string[];
  /** Lifetime of the form. */
  expiresInSeconds: number;
}

/**
 * A presigned browser-style POST upload. The client sends `multipart/form-data` to `url` with
 * every entry of `fields` as a form field, then a `Content-Type` field with the file's MIME
 * type when `fields` has none, and the file itself LAST, in the field named `file`.
 *
 * @example Uploading from a mobile backend
 * ```ts
 * const form = new FormData();
 * for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
 * if (!('Content-Type' in upload.fields)) form.append('Content-Type', 'image/jpeg');
 * form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'photo.jpg');
 * await fetch(upload.url, { method: 'POST', body: form }); // 204 on success
 * ```
 */
export interface UploadForm {
  url: string;
  fields: Record<string, string>;
  maxBytes: number;
  /** ISO-8601 instant after which the store refuses the form. */
  expiresAt: string;
}

/** A time-limited GET link. */
export interface DownloadUrl {
  url: string;
  /** ISO-8601 instant after which the link stops working. */
  expiresAt: string;
}

export interface BlobStore {
  /** Stores bytes under `key`, replacing any previous object. */
  put(key: string, body: Uint8Array, options?: PutBlobOptions): Promise<void>;
  /** The object (or its first `options.maxBytes` bytes), or `undefined` when there is none. */
  get(key: string, options?: GetBlobOptions): Promise<StoredBlob | undefined>;
  /** Metadata only, or `undefined` when there is no object. */
  head(key: string): Promise<BlobInfo | undefined>;
  /**
   * Copies an object with its content type (server-side in S3: the bytes do not pass through
   * the caller). `false` when `fromKey` does not exist.
   *
   * @example `await blobs.copy(uploadKey, acceptedKey)`
   */
  copy(fromKey: string, toKey: string): Promise<boolean>;
  /** Deletes the object; deleting a missing key succeeds (idempotent). */
  delete(key: string): Promise<void>;
  /** Deletes several objects (missing ones are ignored). */
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * A presigned POST that lets a client upload one file to `key` directly, bounded in size and
   * content type, without credentials.
   *
   * @example
   * ```ts
   * const upload = await blobs.createUploadForm({
   *   key: blobKeys.input(tenantId, jobId), maxBytes: 20 * 1024 * 1024,
   *   contentTypes: ['image/jpeg', 'image/png'], expiresInSeconds: 900,
   * });
   * ```
   */
  createUploadForm(options: CreateUploadFormOptions): Promise<UploadForm>;
  /**
   * A GET URL for `key` valid for `expiresInSeconds`. Does not check that the object exists.
   *
   * @example `const { url } = await blobs.createDownloadUrl(job.output.restoredKey, 3600);`
   */
  createDownloadUrl(key: string, expiresInSeconds: number): Promise<DownloadUrl>;
}
