/**
 * The storage routes of local mode, standing in for S3's presigned POST and GET:
 *
 * - `POST /local-upload`: the multipart form an upload form describes (`fields`, then `file`
 *   last). Streamed: the signed fields come first and are verified (signature in its canonical
 *   encoding, expiry, content type: 403/415 like S3) BEFORE any byte of the file is read; an
 *   upload to a job that no longer waits for one is refused (409 `upload_closed`) at that point
 *   too, and so is one that overlaps another upload to the same job (the first to claim the
 *   job streams; the claim is given back once it is dispatched or refused, so a retry works). The file then streams to a temp file under the blob root with the signed size cap
 *   (413 as soon as it is exceeded) and is renamed into place, so memory per upload stays at a
 *   few chunks. At most `maxConcurrentUploads` run at once; more answer 503 `too_many_uploads`
 *   with `Retry-After` (S3 answers 503 SlowDown the same way). 204 on success, then the job is
 *   dispatched as an S3 event would. An empty file is refused (`400 empty_upload`, as S3's
 *   `content-length-range` starting at 1 refuses it) and its job fails with `empty_upload`.
 * - `GET /local-download?key&expires&signature`: a signed, expiring link to a stored object.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import type { FilesystemBlobStore, VerifiedUpload } from '../../../shared/adapters/local/index.js';
import {
  toHex,
  randomBytes,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
  type BlobStore,
  type Logger,
} from '../../../shared/src/index.js';
import { boundaryOf, MultipartStream } from '../http/multipart-stream.js';
import { ApiError, RefusalError, WrongContentTypeError } from '../http/errors.js';
import { parseInputKey, type Dispatcher } from '../services/dispatch.js';
import { UPLOAD_ERROR_CODES } from '../services/uploads.js';

/** Room for the form fields and multipart boundaries on top of the file itself. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
/** Largest single text field (the signed fields are well under 1 KiB). */
const MAX_FIELD_BYTES = 8 * 1024;

/** Most fields a form may send before its file (a signed form has 6; S3's take up to about 10). */
const MAX_FIELDS = 20;
/** Default cap of uploads streaming at once. */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 16;

export interface LocalBlobRoutesOptions {
  /** Verifies forms and links (the local store's secret) and takes streamed files. */
  signer: Pick<
    FilesystemBlobStore,
    'verifyUploadForm' | 'verifyDownloadUrl' | 'importFile' | 'uploadTempDir' | 'claimUpload'
  >;
  blobs: BlobStore;
  dispatcher: Dispatcher;
  uploadMaxBytes: number;
  /** Uploads streaming at once before new ones get 503 (default 16). */
  maxConcurrentUploads?: number;
  logger: Logger;
}

export function localBlobRoutes(options: LocalBlobRoutesOptions): Hono {
  const { signer, blobs, dispatcher, logger } = options;
  const maxConcurrent = options.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  const maxBodyBytes = options.uploadMaxBytes + MULTIPART_OVERHEAD_BYTES;
  let active = 0;
  const routes = new Hono();

  routes.post('/local-upload', async (c) => {
    const contentType = c.req.header('content-type') ?? '';
    const boundary = boundaryOf(contentType);
    if (!/^multipart\/form-data\s*;/i.test(contentType) || !boundary) {
      throw new WrongContentTypeError('upload with Content-Type multipart/form-data (see the upload form)');
    }
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      throw new PayloadTooLargeError(
        `upload body is ${declared} bytes; an image may have up to ${options.uploadMaxBytes} (the form's own fields aside)`,
      );
    }
    if (!c.req.raw.body) throw new ValidationError('the form has no file in the field "file"');
    const parts = new MultipartStream(c.req.raw.body, boundary, { maxBodyBytes });
    try {
      return await receive(parts);
    } finally {
      await parts.cancel();
    }

    async function receive(parts: MultipartStream): Promise<Response> {
      const fields: Record<string, string> = {};
      let part = await parts.next();
      while (part && part.name !== 'file') {
        // A signed form has a handful of fields: more is no upload of ours, and would be held
        // in memory before the signature could refuse it.
        if (Object.keys(fields).length >= MAX_FIELDS) {
          throw new ValidationError(`the form has more than ${MAX_FIELDS} fields before its file`);
        }
        // Named in the error: "the file is over the limit" for a field misled clients.
        fields[part.name] = await parts.readText(
          MAX_FIELD_BYTES,
          `the form field ${JSON.stringify(part.name.slice(0, 100))}`,
        );
        part = await parts.next();
      }
      if (!part) throw new ValidationError('the form has no file in the field "file"');
      if (Object.keys(fields).length === 0) {
        // Fields after the file are never read (as on S3): say so, not "missing signed fields".
        throw new ValidationError(
          'the form has no fields before its file: send every field of upload.fields first and the file last',
        );
      }
      // Signature, expiry and type from the fields alone (as a 1-byte file): nothing of the
      // file is read for a forged, expired or wrong-type form. The type is the form's
      // `Content-Type` field, never the file part's (S3 reads fields only).
      const verified = await signer.verifyUploadForm(fields, { size: 1 });
      // Only a signed upload takes a place: connections that never send a valid form cannot
      // keep the stack's real uploads out.
      if (active >= maxConcurrent) {
        c.header('Retry-After', '1');
        throw new RefusalError(
          'too_many_uploads',
          503,
          `more than ${maxConcurrent} uploads at once; retry shortly`,
        );
      }
      active++;
      try {
        return await claimAndStore(verified);
      } finally {
        active--;
      }
    }

    async function claimAndStore(verified: VerifiedUpload): Promise<Response> {
      // The claim comes before the status check and is held until the job is dispatched: with
      // the check alone, overlapping uploads all passed it while the job still waited, each got
      // 204, and all but one were deleted unseen (S3 answers its POSTs itself; see the README).
      const claim = await signer.claimUpload(verified.key);
      if (!claim) {
        throw new ApiError(
          'upload_closed',
          409,
          'another upload to this job is in progress; a job takes one input',
          { reason: 'upload_in_progress' },
        );
      }
      try {
        return await store(verified);
      } finally {
        await claim.release();
      }
    }

    async function store(verified: VerifiedUpload): Promise<Response> {
      if (!(await dispatcher.uploadOpen(verified.key))) {
        throw new ApiError(
          'upload_closed',
          409,
          'this job takes no (other) upload: it accepted an input already, or was canceled, finished or expired (GET /v1/jobs/{id} says which)',
        );
      }
      const limit = Math.min(verified.maxBytes, options.uploadMaxBytes);
      const temp = path.join(signer.uploadTempDir, `${toHex(randomBytes(12))}.part`);
      await mkdir(signer.uploadTempDir, { recursive: true });
      const md5 = createHash('md5');
      let size: number;
      const file = await open(temp, 'w');
      try {
        size = await parts.pipe(async (chunk) => {
          md5.update(chunk);
          await file.write(chunk);
        }, limit);
      } catch (error) {
        await file.close();
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();

      if (size === 0) {
        // Refused by storage, the job untouched: as S3 answers an empty file (its POST policy
        // has content-length-range 1..maxBytes), so the app can upload again with the same form.
        await rm(temp, { force: true });
        logger.info('empty upload refused', { jobId: parseInputKey(verified.key)?.jobId, key: verified.key });
        throw new ApiError(
          UPLOAD_ERROR_CODES.empty,
          400,
          'the uploaded file is empty; upload the photo again',
        );
      }
      await signer.importFile(verified.key, temp, {
        size,
        md5Hex: md5.digest('hex'),
        contentType: verified.contentType,
      });
      // Like an S3 event; a queue outage answers 503 `dispatch_failed` (the file is stored, and
      // POST /v1/jobs/{id}/start or a new upload retries the dispatch).
      const outcome = await dispatcher.handleObjectCreated(verified.key);
      logger.debug('upload dispatched', {
        jobId: parseInputKey(verified.key)?.jobId,
        key: verified.key,
        outcome: outcome.outcome,
      });
      return c.body(null, 204);
    }
  });

  routes.get('/local-download', async (c) => {
    const { key } = await signer.verifyDownloadUrl(c.req.url);
    const blob = await blobs.get(key);
    if (!blob) throw new NotFoundError('no such object');
    return c.body(new Uint8Array(blob.body), 200, {
      'content-type': blob.contentType ?? 'application/octet-stream',
      'content-length': String(blob.size),
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    });
  });

  return routes;
}
