/**
 * The storage routes of local mode, standing in for S3's presigned POST and GET:
 *
 * - `POST /local-upload`: the multipart form an upload form describes (`fields`, then `file`
 *   last). The body is capped BEFORE parsing (declared length, then a counting stream) at the
 *   upload limit plus room for the form fields. The signed form is then verified (signature,
 *   expiry, size, content type: 403/413/415 like S3), the file stored, and the job dispatched,
 *   as an S3 event would. 204 on success. An empty file is refused (`400 empty_upload`, as S3's
 *   `content-length-range` starting at 1 refuses it) and, since no object event will follow,
 *   the job fails with `empty_upload` at once. Text or other non-images are stored (the form
 *   cannot see inside the file) and their job fails in the dispatcher (`not_an_image`).
 * - `GET /local-download?key&expires&signature`: a signed, expiring link to a stored object.
 */
import { Hono } from 'hono';
import type { FilesystemBlobStore } from '../../../shared/adapters/local/fs-blob-store.js';
import { NotFoundError, ValidationError } from '../../../shared/src/errors.js';
import type { BlobStore } from '../../../shared/src/ports/blob-store.js';
import { readBodyWithLimit } from '../http/body.js';
import { ApiError, WrongContentTypeError } from '../http/errors.js';
import type { Logger } from '../log.js';
import { parseInputKey, type Dispatcher } from '../services/dispatch.js';
import { UPLOAD_ERROR_CODES } from '../services/uploads.js';

/** Room for the form fields and multipart boundaries on top of the file itself. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

export interface LocalBlobRoutesOptions {
  /** Verifies forms and links (the local store's secret). */
  signer: Pick<FilesystemBlobStore, 'verifyUploadForm' | 'verifyDownloadUrl'>;
  blobs: BlobStore;
  dispatcher: Dispatcher;
  uploadMaxBytes: number;
  logger: Logger;
}

export function localBlobRoutes(options: LocalBlobRoutesOptions): Hono {
  const { signer, blobs, dispatcher, logger } = options;
  const routes = new Hono();

  routes.post('/local-upload', async (c) => {
    const contentType = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\s*;/i.test(contentType)) {
      throw new WrongContentTypeError('upload with Content-Type multipart/form-data (see the upload form)');
    }
    const raw = await readBodyWithLimit(c.req.raw, options.uploadMaxBytes + MULTIPART_OVERHEAD_BYTES);
    let form: FormData;
    try {
      form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    } catch {
      throw new ValidationError('malformed multipart/form-data body');
    }
    const file = form.get('file');
    if (!(file instanceof Blob)) throw new ValidationError('the form has no file in the field "file"');
    const fields: Record<string, string> = {};
    form.forEach((value, name) => {
      if (typeof value === 'string') fields[name] = value;
    });
    const fileType = file.type || undefined;

    if (file.size === 0) {
      // Checked as a one-byte file, so signature, expiry and type are verified before the
      // emptiness is reported; only then is the key trusted to fail its job.
      const { key } = await signer.verifyUploadForm(fields, {
        size: 1,
        ...(fileType ? { contentType: fileType } : {}),
      });
      const outcome = await dispatcher.rejectUpload(key, {
        code: UPLOAD_ERROR_CODES.empty,
        message: 'the uploaded file is empty',
        retryable: false,
      });
      logger.info('empty upload refused', {
        jobId: parseInputKey(key)?.jobId,
        key,
        outcome: outcome.outcome,
      });
      throw new ApiError(UPLOAD_ERROR_CODES.empty, 400, 'the uploaded file is empty');
    }

    const verified = await signer.verifyUploadForm(fields, {
      size: file.size,
      ...(fileType ? { contentType: fileType } : {}),
    });
    await blobs.put(verified.key, new Uint8Array(await file.arrayBuffer()), {
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
