/**
 * {@link BlobStore} on an S3 bucket (AWS SDK v3; the client is injected so tests can point it
 * at a stand-in).
 *
 * Upload forms are presigned POSTs whose policy pins the key and bounds the size
 * (`content-length-range`) and the content type: S3 itself refuses an upload outside them.
 * A POST policy cannot list alternatives, so with one allowed type the form fixes
 * `Content-Type` exactly; with several it requires `Content-Type` to start with their common
 * prefix (`image/` for the usual list). The worker sniffs the bytes anyway.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertSafeBlobKey, assertUploadFormOptions, uploadContentTypeRule } from '../../src/blob-keys.js';
import { fromBase64, utf8Decode } from '../../src/encoding.js';
import { ValidationError } from '../../src/errors.js';
import { dropUndefined } from '../../src/objects.js';
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
import { hasErrorName, httpStatusOf, isNotFound, readError } from './s3-errors.js';

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
}

/** A POST policy condition (see the S3 docs "Creating a POST policy"). */
export type PostPolicyCondition =
  Record<string, string> | [string, string, string] | ['content-length-range', number, number];

/**
 * The conditions of an upload form's policy, apart from bucket, key and signing fields that
 * the presigner adds.
 */
export function uploadPolicyConditions(options: CreateUploadFormOptions): {
  conditions: PostPolicyCondition[];
  fields: Record<string, string>;
} {
  const rule = uploadContentTypeRule(options.contentTypes);
  const conditions: PostPolicyCondition[] = [['content-length-range', 1, options.maxBytes]];
  const fields: Record<string, string> = {};
  if ('exact' in rule) {
    conditions.push({ 'Content-Type': rule.exact });
    fields['Content-Type'] = rule.exact;
  } else {
    conditions.push(['starts-with', '$Content-Type', rule.prefix]);
  }
  return { conditions, fields };
}

/**
 * @example
 * ```ts
 * const blobs = new S3BlobStore({ client: new S3Client({}), bucket: process.env.DR2E_BUCKET! });
 * ```
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
  }

  async put(key: string, body: Uint8Array, options: PutBlobOptions = {}): Promise<void> {
    assertSafeBlobKey(key);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType }),
    );
  }

  async get(key: string, options: GetBlobOptions = {}): Promise<StoredBlob | undefined> {
    assertSafeBlobKey(key);
    const range = options.maxBytes === undefined ? undefined : `bytes=0-${Math.max(0, options.maxBytes - 1)}`;
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: range } : {}) }),
      );
      const body = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      // A ranged answer says the object's size after the slash of `Content-Range: bytes 0-99/1000`.
      const total = /\/(\d+)$/.exec(response.ContentRange ?? '')?.[1];
      return dropUndefined({
        key,
        body: options.maxBytes === undefined ? body : body.subarray(0, options.maxBytes),
        size: total === undefined ? body.byteLength : Number(total),
        contentType: response.ContentType,
        etag: response.ETag,
        lastModified: response.LastModified,
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      // A range on an empty object is "unsatisfiable": the object exists and has no bytes.
      if (range && (hasErrorName(error, 'InvalidRange') || httpStatusOf(error) === 416)) {
        return { key, body: new Uint8Array(), size: 0 };
      }
      throw readError(error, key);
    }
  }

  async copy(fromKey: string, toKey: string): Promise<boolean> {
    assertSafeBlobKey(fromKey);
    assertSafeBlobKey(toKey);
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          // Keys are checked safe (no characters that need escaping besides `/`, kept as is).
          CopySource: `${this.bucket}/${fromKey}`,
          MetadataDirective: 'COPY',
        }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertSafeBlobKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return dropUndefined({
        key,
        size: response.ContentLength ?? 0,
        contentType: response.ContentType,
        etag: response.ETag,
        lastModified: response.LastModified,
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw readError(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeBlobKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    keys.forEach(assertSafeBlobKey);
    // DeleteObjects takes at most 1000 keys per call.
    for (let offset = 0; offset < keys.length; offset += 1000) {
      const chunk = keys.slice(offset, offset + 1000);
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = response.Errors ?? [];
      if (failed.length > 0) {
        throw new Error(
          `could not delete ${failed.length} objects, e.g. ${failed[0]?.Key}: ${failed[0]?.Code}`,
        );
      }
    }
  }

  async createUploadForm(options: CreateUploadFormOptions): Promise<UploadForm> {
    assertUploadFormOptions(options);
    if (options.expiresInSeconds > MAX_PRESIGN_SECONDS) {
      throw new ValidationError(`expiresInSeconds must be at most ${MAX_PRESIGN_SECONDS}`);
    }
    const { conditions, fields } = uploadPolicyConditions(options);
    const post = await createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: options.key,
      Conditions: conditions as NonNullable<Parameters<typeof createPresignedPost>[1]['Conditions']>,
      Fields: fields,
      Expires: options.expiresInSeconds,
    });
    return {
      url: post.url,
      fields: post.fields,
      maxBytes: options.maxBytes,
      expiresAt: policyExpiration(post.fields),
    };
  }

  async createDownloadUrl(key: string, expiresInSeconds: number): Promise<DownloadUrl> {
    assertSafeBlobKey(key);
    if (
      !Number.isInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > MAX_PRESIGN_SECONDS
    ) {
      throw new ValidationError(`expiresInSeconds must be an integer from 1 to ${MAX_PRESIGN_SECONDS}`);
    }
    const issuedAt = Date.now();
    const url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
    return { url, expiresAt: new Date(issuedAt + expiresInSeconds * 1000).toISOString() };
  }
}

/** The decoded policy document of a presigned POST's fields. */
export function decodePostPolicy(fields: Record<string, string>): {
  expiration: string;
  conditions: unknown[];
} {
  const policy = fields.Policy;
  if (!policy) throw new ValidationError('presigned POST has no Policy field');
  return JSON.parse(utf8Decode(fromBase64(policy))) as { expiration: string; conditions: unknown[] };
}

function policyExpiration(fields: Record<string, string>): string {
  return new Date(decodePostPolicy(fields).expiration).toISOString();
}
