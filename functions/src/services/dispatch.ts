/**
 * The dispatcher: turns an uploaded input into a queued job, exactly once per job.
 *
 * Triggers: an S3 `ObjectCreated` event (AWS, `lambda-s3-events.ts`), the local upload route
 * (local mode has no bucket events), and `POST /v1/jobs/{id}/start`. All three call the same
 * code, and any number of calls in any order queue the job once.
 *
 * One input per job. Every upload form has its own key (`blobKeys.upload`); the dispatcher
 * copies the upload it accepts to a key no form can write (`blobKeys.acceptedInput`), checks
 * THAT copy, and records it as `job.input.key`: the worker reads exactly the bytes that were
 * checked. An upload that arrives once the job left `created` (a second upload through a form
 * that is still valid, or one for a finished, canceled or deleted job) is deleted on arrival.
 *
 * Steps for a job in `created` (or `uploaded`):
 * 0. a job that waited longer than the `created` time limit expires instead (see expiry.ts).
 * 1. `head` the upload: missing -> nothing happens (`not_uploaded`); size 0 or over the limit ->
 *    the job fails (`empty_upload`, `upload_too_large`) without reading the bytes.
 * 2. copy it to a fresh accepted key, read the copy's first bytes and sniff the magic bytes:
 *    not an image -> the job fails (`not_an_image`, `unsupported_image_format`). Width and
 *    height from the header: a shorter side under 32 px, over 50 megapixels or, for an `aligned`
 *    face crop, an aspect ratio beyond 4:1 -> the job fails (`image_too_small`, `image_too_large`,
 *    `image_aspect_ratio_unsupported`) before any GPU time is spent or billed. A truncated PNG
 *    passes here and fails in the worker (`image_decode_failed`).
 * 3. compare-and-set `created -> uploaded -> queued` in ONE conditional write that also records
 *    the accepted key. Only the caller whose write wins goes on; a loser deletes its copy.
 * 4. the winner deletes the form's upload and sends the queue message
 *    `{ jobId, tenantId, batchKey }`, retrying briefly.
 *
 * Delivery guarantees. Step 3 before step 4 means a message always finds its job `queued`, and
 * a second event / a `/start` after the event never enqueues again. If every send attempt
 * fails, the job stays `queued` with `error.code = 'enqueue_failed'` (a marker; the dispatch
 * throws so the S3 event is retried by Lambda, and `/start` retries too): the next dispatch
 * claims the marker with another compare-and-set and sends again. A send that failed on our
 * side but reached SQS can thus produce a second message: the queue is at-least-once anyway,
 * and the worker ignores messages for jobs that are not `queued` (its own compare-and-set
 * `queued -> running` admits one). The remaining gap is a crash between steps 3 and 4 (no
 * marker written): such a job stays `queued` until an operator re-sends it.
 *
 * Rejected uploads notify the tenant through the {@link JobNotifier} (webhook `job.failed`),
 * because the dispatcher made the job terminal (shared/src/webhook-delivery.ts queues it).
 */
import {
  sleep,
  type Clock,
  blobKeys,
  newBlobToken,
  parseUploadKey,
  transitionJob,
  batchKeyFor,
  mutateJob,
  isTerminalStatus,
  type BlobStore,
  type JobQueue,
  type JobStore,
  type Job,
  type JobError,
  DomainError,
  errorFields,
  silentLogger,
  type Logger,
  noopNotifier,
  type JobNotifier,
  resolvePhotoOptions,
} from '../../../shared/src/index.js';
import { isDeletedJob } from './job-views.js';
import type { CreatedJobExpiry } from './expiry.js';
import { readImageSize } from './image-size.js';
import {
  checkImageGeometry,
  checkUploadSize,
  DEFAULT_IMAGE_GEOMETRY_LIMITS,
  inspectUploadBytes,
  type ImageGeometryLimits,
} from './uploads.js';

/**
 * Bytes read from an upload to sniff its format and read its size: a JPEG's frame header comes
 * after its EXIF block (thumbnail included, up to 64 KiB), a HEIC's `meta` box is near the start.
 */
export const UPLOAD_HEADER_BYTES = 256 * 1024;

/** Marker error of a queued job whose message could not be sent (see the module comment). */
export const ENQUEUE_FAILED_CODE = 'enqueue_failed';

/** What a dispatch did. */
export type DispatchOutcome =
  /** This call queued the job and sent its message. */
  | { outcome: 'queued'; job: Job; messageId: string }
  /** The job was already queued (or further); nothing sent. */
  | { outcome: 'already_dispatched'; job: Job }
  /** The upload was refused; the job is now `failed` with `error`. */
  | { outcome: 'rejected'; job: Job; error: JobError }
  /** No input object yet. */
  | { outcome: 'not_uploaded'; job: Job }
  /** Nothing to do: not an input key, no such job, or the job is finished. */
  | {
      outcome: 'ignored';
      /** `upload_closed`: the job already accepted an input (or finished); the upload was deleted. */
      reason: 'not_an_input_key' | 'job_not_found' | 'job_finished' | 'upload_closed' | 'job_expired';
      jobId?: string;
    };

/** Sending the queue message failed after retries; the job keeps the `enqueue_failed` marker. */
export class DispatchFailedError extends DomainError {
  readonly code = 'dispatch_failed';
  readonly httpStatus = 503;
}

export interface DispatcherOptions {
  blobs: BlobStore;
  jobs: JobStore;
  queue: JobQueue;
  clock: Clock;
  /** Largest accepted input (`DR2E_UPLOAD_MAX_BYTES`). */
  maxUploadBytes: number;
  /** Sides, pixels and aspect ratio refused at dispatch (default {@link DEFAULT_IMAGE_GEOMETRY_LIMITS}). */
  imageGeometry?: ImageGeometryLimits;
  /** Expires jobs left in `created` too long (none: they never expire here). */
  expiry?: CreatedJobExpiry;
  notifier?: JobNotifier;
  logger?: Logger;
  /** Pauses before send retries (default [100, 500] ms: three attempts). */
  sendRetryDelaysMs?: readonly number[];
  sleep?: (milliseconds: number) => Promise<unknown>;
}

/** An upload key (`blobKeys.upload`, or the legacy `blobKeys.input`) -> its job, else undefined. */
export const parseInputKey = parseUploadKey;

/**
 * A failed job for a refused upload: the input facts as `uploaded` records them, then
 * `uploaded -> failed` with the error (an input that is not an image is final).
 */
export function rejectUploadedJob(
  job: Job,
  error: JobError,
  at: Date,
  input: { bytes?: number; contentType?: string },
): Job {
  const uploaded = job.status === 'created' ? transitionJob(job, { to: 'uploaded', at, input }) : job;
  return transitionJob(uploaded, { to: 'failed', at, error });
}

/**
 * @example
 * ```ts
 * const dispatcher = new Dispatcher({ blobs, jobs, queue, clock, maxUploadBytes: 25 << 20, notifier });
 * await dispatcher.handleObjectCreated('tenants/acme/jobs/job_01J.../input'); // { outcome: 'queued', ... }
 * await dispatcher.handleObjectCreated('tenants/acme/jobs/job_01J.../input'); // { outcome: 'already_dispatched', ... }
 * ```
 */
export class Dispatcher {
  private readonly options: DispatcherOptions;
  private readonly notifier: JobNotifier;
  private readonly logger: Logger;
  private readonly sleep: (milliseconds: number) => Promise<unknown>;

  constructor(options: DispatcherOptions) {
    this.options = options;
    this.notifier = options.notifier ?? noopNotifier;
    this.logger = options.logger ?? silentLogger;
    this.sleep = options.sleep ?? sleep;
  }

  /** For a stored object (bucket event or local upload): dispatches its job if it is an upload. */
  async handleObjectCreated(key: string): Promise<DispatchOutcome> {
    const parsed = parseUploadKey(key);
    if (!parsed) return { outcome: 'ignored', reason: 'not_an_input_key' };
    const job = await this.options.jobs.get(parsed.jobId);
    if (!job || job.tenantId !== parsed.tenantId) {
      // Only a signed form writes here, so the bytes are ours to remove: nothing will read them.
      await this.options.blobs.delete(key);
      this.logger.warn('upload for an unknown job removed', { jobId: parsed.jobId, key });
      return { outcome: 'ignored', reason: 'job_not_found', jobId: parsed.jobId };
    }
    if (job.status === 'created' || job.status === 'uploaded') return this.dispatch(job, key);
    if (job.status === 'queued' && job.error?.code === ENQUEUE_FAILED_CODE) {
      // Lambda retrying the event of an accepted upload whose message was not sent: send it.
      if (key !== job.input.key) await this.options.blobs.delete(key);
      return this.dispatch(job);
    }
    const legacyInput =
      key === job.input.key && job.input.uploadKey === undefined && job.timestamps.uploaded !== undefined;
    if (legacyInput && !isDeletedJob(job)) {
      // A job accepted before per-form keys, whose upload key is also its input: keep it.
      return this.dispatch(job);
    }
    // The job accepted an input already, finished, or was deleted: this upload cannot become
    // its input, and the data must not stay.
    await this.options.blobs.delete(key);
    this.logger.info('late upload removed', { jobId: job.id, status: job.status, key });
    return { outcome: 'ignored', reason: 'upload_closed', jobId: job.id };
  }

  /**
   * Whether an upload to `key` could still become its job's input (the job exists and waits in
   * `created`). The local upload route asks before reading the file; S3 cannot ask, so the
   * event handler deletes late uploads instead.
   */
  async uploadOpen(key: string): Promise<boolean> {
    const parsed = parseUploadKey(key);
    if (!parsed) return false;
    const job = await this.options.jobs.get(parsed.jobId);
    if (!job || job.tenantId !== parsed.tenantId) return false;
    return (job.status === 'created' || job.status === 'uploaded') && !this.options.expiry?.isStale(job);
  }

  /**
   * `POST /v1/jobs/{id}/start` and other explicit triggers (the caller checked the tenant).
   * `uploadKey` is the upload to accept (default: the key of the job's latest form).
   */
  async dispatch(job: Job, uploadKey: string = job.input.key): Promise<DispatchOutcome> {
    const log = this.logger.child({ jobId: job.id, tenantId: job.tenantId });
    if (isTerminalStatus(job.status)) return { outcome: 'ignored', reason: 'job_finished', jobId: job.id };
    if (job.status === 'queued' && job.error?.code === ENQUEUE_FAILED_CODE) return this.resend(job, log);
    if (job.status !== 'created' && job.status !== 'uploaded') return { outcome: 'already_dispatched', job };
    const { blobs, maxUploadBytes, expiry } = this.options;
    if (expiry?.isStale(job)) {
      await expiry.expireIfStale(job);
      await blobs.delete(uploadKey);
      return { outcome: 'ignored', reason: 'job_expired', jobId: job.id };
    }

    const info = await blobs.head(uploadKey);
    if (!info) return { outcome: 'not_uploaded', job };
    const declared = { bytes: info.size, ...(info.contentType ? { contentType: info.contentType } : {}) };
    const sized = checkUploadSize(info.size, maxUploadBytes);
    if (!sized.ok) return this.reject(job, sized.error, declared, log, [uploadKey]);

    // Check the copy, not the upload: the copy is what the worker reads and no form can write
    // it, so a second upload through the same form cannot swap the bytes after the check.
    const acceptedKey = blobKeys.acceptedInput(job.tenantId, job.id, newBlobToken());
    if (!(await blobs.copy(uploadKey, acceptedKey))) return { outcome: 'not_uploaded', job };
    const head = await blobs.get(acceptedKey, { maxBytes: UPLOAD_HEADER_BYTES });
    if (!head) return { outcome: 'not_uploaded', job };
    const input = { bytes: head.size, ...(head.contentType ? { contentType: head.contentType } : {}) };
    const both = [uploadKey, acceptedKey];
    const copied = checkUploadSize(head.size, maxUploadBytes);
    if (!copied.ok) return this.reject(job, copied.error, input, log, both);
    const inspection = inspectUploadBytes(head.body);
    if (!inspection.ok) return this.reject(job, inspection.error, input, log, both);
    const size = readImageSize(head.body);
    if (size) {
      const geometry = checkImageGeometry(size, this.options.imageGeometry ?? DEFAULT_IMAGE_GEOMETRY_LIMITS, {
        aligned: resolvePhotoOptions(job.params).aligned,
        format: job.params.output.format,
      });
      if (!geometry.ok) return this.reject(job, geometry.error, input, log, both);
    }

    let won = false;
    const queued = await mutateJob(this.options.jobs, job.id, (current) => {
      won = false;
      if (current.status !== 'created' && current.status !== 'uploaded') return undefined;
      const at = this.options.clock.now();
      // The accepted copy becomes the input before the transitions: the store takes a status
      // change only as the record transitionJob returns.
      const accepted: Job = { ...current, input: { ...current.input, key: acceptedKey, uploadKey } };
      const uploaded =
        accepted.status === 'created' ? transitionJob(accepted, { to: 'uploaded', at, input }) : accepted;
      won = true;
      return transitionJob(uploaded, { to: 'queued', at });
    });
    if (!won) {
      await blobs.delete(acceptedKey);
      if (!isInputOf(queued, uploadKey)) await blobs.delete(uploadKey);
      return queued.status === 'queued' || queued.status === 'running'
        ? { outcome: 'already_dispatched', job: queued }
        : this.afterLostRace(queued);
    }
    // The form's copy is no longer needed; uploads through it from now on are deleted on arrival.
    if (uploadKey !== acceptedKey) await blobs.delete(uploadKey);
    log.info('job queued', { format: inspection.format, bytes: head.size, ...(size ?? {}) });
    return this.send(queued, log);
  }

  /** The job moved on while we inspected it (canceled, or failed by a concurrent rejection). */
  private afterLostRace(job: Job): DispatchOutcome {
    return isTerminalStatus(job.status)
      ? { outcome: 'ignored', reason: 'job_finished', jobId: job.id }
      : { outcome: 'already_dispatched', job };
  }

  private async reject(
    job: Job,
    error: JobError,
    input: { bytes?: number; contentType?: string },
    log: Logger,
    /** The refused bytes: deleted, since no job will ever read them. */
    keys: readonly string[] = [],
  ): Promise<DispatchOutcome> {
    let won = false;
    const failed = await mutateJob(this.options.jobs, job.id, (current) => {
      won = false;
      if (current.status !== 'created' && current.status !== 'uploaded') return undefined;
      won = true;
      return rejectUploadedJob(current, error, this.options.clock.now(), input);
    });
    if (!won) {
      const ours = keys.filter((key) => !isInputOf(failed, key));
      if (ours.length > 0) await this.options.blobs.deleteMany(ours);
      return this.afterLostRace(failed);
    }
    if (keys.length > 0) await this.options.blobs.deleteMany(keys);
    log.warn('upload rejected', { code: error.code, bytes: input.bytes, contentType: input.contentType });
    await this.notifier.jobFinished(failed);
    return { outcome: 'rejected', job: failed, error };
  }

  /**
   * For an upload the storage policy refused before storing it (the local upload route: an
   * empty file), so no object event will come: fails the job with `error` right away.
   */
  async rejectUpload(
    key: string,
    error: JobError,
    input: { bytes?: number; contentType?: string } = {},
  ): Promise<DispatchOutcome> {
    const parsed = parseUploadKey(key);
    if (!parsed) return { outcome: 'ignored', reason: 'not_an_input_key' };
    const job = await this.options.jobs.get(parsed.jobId);
    if (!job || job.tenantId !== parsed.tenantId)
      return { outcome: 'ignored', reason: 'job_not_found', jobId: parsed.jobId };
    if (isTerminalStatus(job.status)) return { outcome: 'ignored', reason: 'job_finished', jobId: job.id };
    if (job.status !== 'created' && job.status !== 'uploaded') return { outcome: 'already_dispatched', job };
    return this.reject(job, error, input, this.logger.child({ jobId: job.id, tenantId: job.tenantId }));
  }

  /** Claims the `enqueue_failed` marker (compare-and-set) and sends again. */
  private async resend(job: Job, log: Logger): Promise<DispatchOutcome> {
    let won = false;
    const claimed = await mutateJob(this.options.jobs, job.id, (current) => {
      won = false;
      if (current.status !== 'queued' || current.error?.code !== ENQUEUE_FAILED_CODE) return undefined;
      won = true;
      const { error: _marker, ...rest } = current;
      return { ...rest, updatedAt: this.options.clock.now().toISOString() };
    });
    if (!won) return this.afterLostRace(claimed);
    log.info('re-sending queue message after a failed send');
    return this.send(claimed, log);
  }

  /** Sends the job's message with retries; on failure sets the marker and throws. */
  private async send(job: Job, log: Logger): Promise<DispatchOutcome> {
    const message = { jobId: job.id, tenantId: job.tenantId, batchKey: batchKeyFor(job.params, job.model) };
    const delays = this.options.sendRetryDelaysMs ?? [100, 500];
    let lastError: unknown;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      try {
        const { messageId } = await this.options.queue.send(message);
        log.info('queue message sent', { messageId, batchKey: message.batchKey });
        return { outcome: 'queued', job, messageId };
      } catch (error) {
        lastError = error;
        log.warn('queue send failed', { attempt: attempt + 1, ...errorFields(error) });
        const delay = delays[attempt];
        if (delay !== undefined) await this.sleep(delay);
      }
    }
    await mutateJob(this.options.jobs, job.id, (current) =>
      current.status === 'queued'
        ? {
            ...current,
            updatedAt: this.options.clock.now().toISOString(),
            error: {
              code: ENQUEUE_FAILED_CODE,
              message: 'the job could not be queued yet; it is retried',
              retryable: true,
            },
          }
        : undefined,
    ).catch((error: unknown) => log.error('could not mark enqueue_failed', errorFields(error)));
    log.error('job not queued: queue send failed', errorFields(lastError, true));
    throw new DispatchFailedError('the job could not be queued; retry with POST /v1/jobs/{id}/start', {
      cause: lastError,
      details: { jobId: job.id },
    });
  }
}

/**
 * Whether `key` holds bytes that `job` may still read: its input, while the job is not finished.
 * A job canceled while still waiting for its photo keeps the form's key as its input key, but
 * nothing reads a finished job's input, and an upload that lands as the cancel is written must
 * not stay (uploads of canceled jobs are deleted).
 */
function isInputOf(job: Job, key: string): boolean {
  return key === job.input.key && !isTerminalStatus(job.status);
}
