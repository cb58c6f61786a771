/**
 * The dispatcher: turns an uploaded input into a queued job, exactly once per job.
 *
 * Triggers: an S3 `ObjectCreated` event (AWS, `lambda-s3-events.ts`), the local upload route
 * (local mode has no bucket events), and `POST /v1/jobs/{id}/start`. All three call the same
 * code, and any number of calls in any order queue the job once.
 *
 * Steps for a job in `created` (or `uploaded`):
 * 1. `head` the input: missing -> nothing happens (`not_uploaded`); size 0 or over the limit ->
 *    the job fails (`empty_upload`, `upload_too_large`) without reading the bytes.
 * 2. read the bytes and sniff the magic bytes: not an image -> the job fails (`not_an_image`,
 *    `unsupported_image_format`). A truncated PNG passes here and fails in the worker
 *    (`image_decode_failed`).
 * 3. compare-and-set `created -> uploaded -> queued` in ONE conditional write. Only the caller
 *    whose write wins goes on; everyone else sees `queued` (or later) and sends nothing.
 * 4. the winner sends the queue message `{ jobId, tenantId, batchKey }`, retrying briefly.
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
import type { Clock } from '../../../shared/src/clock.js';
import { transitionJob, batchKeyFor, mutateJob, isTerminalStatus } from '../../../shared/src/job.js';
import type { BlobStore } from '../../../shared/src/ports/blob-store.js';
import type { JobQueue } from '../../../shared/src/ports/job-queue.js';
import type { JobStore } from '../../../shared/src/ports/job-store.js';
import type { Job, JobError } from '../../../shared/src/schemas.js';
import { DomainError } from '../../../shared/src/errors.js';
import { isJobId } from '../../../shared/src/ids.js';
import { errorFields, silentLogger, type Logger } from '../log.js';
import { isDeletedJob } from './job-views.js';
import { noopNotifier, type JobNotifier } from '../../../shared/src/webhook-delivery.js';
import { checkUploadSize, inspectUploadBytes } from './uploads.js';

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
  | { outcome: 'ignored'; reason: 'not_an_input_key' | 'job_not_found' | 'job_finished'; jobId?: string };

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
  notifier?: JobNotifier;
  logger?: Logger;
  /** Pauses before send retries (default [100, 500] ms: three attempts). */
  sendRetryDelaysMs?: readonly number[];
  sleep?: (milliseconds: number) => Promise<void>;
}

/** `tenants/<tenant>/jobs/<jobId>/input` -> its parts (see `blobKeys.input`), else undefined. */
export function parseInputKey(key: string): { tenantId: string; jobId: string } | undefined {
  const match = /^tenants\/([^/]+)\/jobs\/([^/]+)\/input$/.exec(key);
  if (!match?.[1] || !match[2] || !isJobId(match[2])) return undefined;
  return { tenantId: match[1], jobId: match[2] };
}

/**
 * A failed job for a refused upload. The lifecycle table has no `uploaded -> failed` edge
 * (failure is otherwise a worker outcome), but an input that is not an image is final all the
 * same, so the record is written directly: the input facts as `uploaded` would record them,
 * then `failed` with the error.
 */
export function rejectUploadedJob(
  job: Job,
  error: JobError,
  at: Date,
  input: { bytes?: number; contentType?: string },
): Job {
  const uploaded = job.status === 'created' ? transitionJob(job, { to: 'uploaded', at, input }) : job;
  const iso = at.toISOString();
  return {
    ...uploaded,
    status: 'failed',
    error,
    updatedAt: iso,
    timestamps: { ...uploaded.timestamps, failed: iso },
  };
}

const defaultSleep = (milliseconds: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

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
  private readonly sleep: (milliseconds: number) => Promise<void>;

  constructor(options: DispatcherOptions) {
    this.options = options;
    this.notifier = options.notifier ?? noopNotifier;
    this.logger = options.logger ?? silentLogger;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** For a stored object (bucket event or local upload): dispatches its job if it is an input. */
  async handleObjectCreated(key: string): Promise<DispatchOutcome> {
    const parsed = parseInputKey(key);
    if (!parsed) return { outcome: 'ignored', reason: 'not_an_input_key' };
    const job = await this.options.jobs.get(parsed.jobId);
    if (!job || job.tenantId !== parsed.tenantId || job.input.key !== key) {
      this.logger.warn('object for an unknown job', { jobId: parsed.jobId, key });
      return { outcome: 'ignored', reason: 'job_not_found', jobId: parsed.jobId };
    }
    if (isDeletedJob(job)) {
      // Uploaded through a form issued before the job was deleted: the data must not stay.
      await this.options.blobs.delete(key);
      this.logger.info('input of a deleted job removed', { jobId: job.id });
      return { outcome: 'ignored', reason: 'job_finished', jobId: job.id };
    }
    return this.dispatch(job);
  }

  /** `POST /v1/jobs/{id}/start` and other explicit triggers (the caller checked the tenant). */
  async dispatch(job: Job): Promise<DispatchOutcome> {
    const log = this.logger.child({ jobId: job.id, tenantId: job.tenantId });
    if (isTerminalStatus(job.status)) return { outcome: 'ignored', reason: 'job_finished', jobId: job.id };
    if (job.status === 'queued' && job.error?.code === ENQUEUE_FAILED_CODE) return this.resend(job, log);
    if (job.status !== 'created' && job.status !== 'uploaded') return { outcome: 'already_dispatched', job };

    const { blobs, maxUploadBytes } = this.options;
    const info = await blobs.head(job.input.key);
    if (!info) return { outcome: 'not_uploaded', job };
    const input = { bytes: info.size, ...(info.contentType ? { contentType: info.contentType } : {}) };
    const sized = checkUploadSize(info.size, maxUploadBytes);
    if (!sized.ok) return this.reject(job, sized.error, input, log);
    const blob = await blobs.get(job.input.key);
    if (!blob) return { outcome: 'not_uploaded', job };
    const inspection = inspectUploadBytes(blob.body);
    if (!inspection.ok) return this.reject(job, inspection.error, { ...input, bytes: blob.size }, log);

    let won = false;
    const queued = await mutateJob(this.options.jobs, job.id, (current) => {
      won = false;
      if (current.status !== 'created' && current.status !== 'uploaded') return undefined;
      const at = this.options.clock.now();
      const uploaded =
        current.status === 'created' ? transitionJob(current, { to: 'uploaded', at, input }) : current;
      won = true;
      return transitionJob(uploaded, { to: 'queued', at });
    });
    if (!won)
      return queued.status === 'queued' || queued.status === 'running'
        ? { outcome: 'already_dispatched', job: queued }
        : this.afterLostRace(queued);
    log.info('job queued', { format: inspection.format, bytes: blob.size });
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
  ): Promise<DispatchOutcome> {
    let won = false;
    const failed = await mutateJob(this.options.jobs, job.id, (current) => {
      won = false;
      if (current.status !== 'created' && current.status !== 'uploaded') return undefined;
      won = true;
      return rejectUploadedJob(current, error, this.options.clock.now(), input);
    });
    if (!won) return this.afterLostRace(failed);
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
    const parsed = parseInputKey(key);
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
