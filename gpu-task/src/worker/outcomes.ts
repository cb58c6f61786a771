/**
 * Outcomes: how a claimed job ends on this worker. Each is an ownership-checked write (see
 * ownership.ts); a job found canceled or taken over meanwhile is settled as such instead.
 *
 * - Succeeded: outputs uploaded (restored image, DR2 output when kept, face crops), job marked
 *   `succeeded` with its faces, warnings and usage, then completed (usage, webhook, messages).
 * - A non-retryable engine error (bad image, bad parameters) fails the job at once with the
 *   engine's code (`image_decode_failed`, `unsupported_image_format`, ...); a missing input
 *   fails it with `input_missing`. A photo past the engine cap fails with `engine_timeout` and
 *   the model time it took (billed, as a run canceled midway is).
 * - A retryable error (model failure, storage hiccup) puts the job back to `queued` (error
 *   recorded, `retryable: true`) and hides its message for a backoff; the next receive retries.
 *   On the delivery whose receive count reaches `maxReceives` the job is marked `failed` with
 *   `retries_exhausted` and the message deleted instead, so the job never waits on the DLQ.
 * - Shutdown: running jobs go back to `queued` (`worker_shutdown`), messages visible at once.
 */
import type { ImageRestoration } from '../engine/index.js';
import {
  blobKeys,
  faceCropKeys,
  OUTPUT_CONTENT_TYPES,
  transitionJob,
  type BlobStore,
  type Clock,
  type JobError,
  type JobMetrics,
  type JobUsage,
  type JobStore,
  errorFields,
} from '../../../shared/src/index.js';
import { backoffDelayMs } from './backoff.js';
import type { Completion } from './completion.js';
import { faceOutput, storeFaces, usageOf } from './face-results.js';
import type { Held, Leases } from './leases.js';
import { writeOwned, type ActiveJob, type OwnedWrite } from './ownership.js';
import type { WorkerSettings } from './settings.js';
import { transcodePng } from './transcode.js';

const SHUTDOWN_ERROR: JobError = {
  code: 'worker_shutdown',
  message: 'the worker stopped before finishing; the job will run again',
  retryable: true,
};

/**
 * The attempt (claims of one job, `job.attempts`) from which a shutdown releases a running
 * job's message as it is (the delivery counts) instead of handing back a fresh copy. Spot
 * interruptions and scale-ins rarely hit one job four times; a job that is running whenever its
 * worker gets stopped may be what stops it.
 */
export const FRESH_HAND_BACKS_BELOW_ATTEMPT = 4;
export interface OutcomesOptions {
  jobs: Pick<JobStore, 'get' | 'update'>;
  blobs: BlobStore;
  clock: Clock;
  settings: Pick<WorkerSettings, 'maxReceives' | 'retryBackoff'>;
  /** Randomness of backoff jitter. */
  random: () => number;
  leases: Leases;
  completion: Completion;
  /** Claimed jobs by id; a settled job leaves it. */
  active: Map<string, ActiveJob>;
  /** Told of each job this worker made succeeded or failed. */
  metrics: JobMetrics;
  /** The engine's model name, recorded in each output (`output.model`); absent: not recorded. */
  modelName?: string;
}

export class Outcomes {
  constructor(private readonly options: OutcomesOptions) {}

  async succeed(active: ActiveJob, result: Extract<ImageRestoration, { ok: true }>): Promise<void> {
    const { blobs, jobs, clock } = this.options;
    const { job } = active;
    const { format, keepDr2 } = job.params.output;
    let written: OwnedWrite;
    try {
      const restoredKey = blobKeys.restored(job.tenantId, job.id, format);
      const restored = await transcodePng(result.restored, format);
      await blobs.put(restoredKey, restored, { contentType: OUTPUT_CONTENT_TYPES[format] });
      let dr2Key: string | undefined;
      if (keepDr2 && result.dr2) {
        dr2Key = blobKeys.dr2(job.tenantId, job.id);
        await blobs.put(dr2Key, result.dr2, { contentType: 'image/png' });
      }
      const faces = await storeFaces(blobs, job, result);
      const usage = usageOf(result);
      written = await writeOwned(jobs, active, (current) =>
        transitionJob(current, {
          to: 'succeeded',
          at: clock.now(),
          output: {
            restoredKey,
            ...(dr2Key ? { dr2Key } : {}),
            format,
            width: result.width,
            height: result.height,
            upscale: result.upscale,
            ...faceOutput(faces, result),
            ...(this.options.modelName ? { model: this.options.modelName } : {}),
          },
          usage,
        }),
      );
    } catch (error) {
      await this.retryLater(active, error);
      return;
    }
    if (!written.ok) {
      if (written.dropped === 'canceled') {
        // Canceled while encoding or uploading: the client asked not to have the result.
        await blobs
          .deleteMany([
            blobKeys.restored(job.tenantId, job.id, format),
            blobKeys.dr2(job.tenantId, job.id),
            ...faceCropKeys(job),
          ])
          .catch(() => undefined);
      }
      await this.settleDropped(active);
      return;
    }
    const stored = written.job;
    active.log.info('job succeeded', {
      modelSeconds: stored.usage?.modelSeconds,
      faces: result.faces.length,
      skippedFaces: result.skippedFaces.length,
      warnings: result.warnings,
      width: result.width,
      height: result.height,
      seed: result.seed,
    });
    this.options.metrics.jobFinished(stored);
    this.options.completion.complete(stored, active.log, active);
  }

  /**
   * Marks the job `failed` with `error`; `usage`, where given, is billed with it (the model time
   * of a photo past the engine cap: Completion records it as a succeeded job's).
   */
  async fail(active: ActiveJob, error: JobError, usage?: JobUsage): Promise<void> {
    let written: OwnedWrite;
    try {
      written = await writeOwned(this.options.jobs, active, (current) =>
        transitionJob(current, {
          to: 'failed',
          at: this.options.clock.now(),
          error,
          ...(usage ? { usage } : {}),
        }),
      );
    } catch (writeError) {
      active.log.error('job fail write failed', errorFields(writeError));
      await this.releaseActive(active, this.retryDelaySeconds(active.held), 'write_failed');
      return;
    }
    if (!written.ok) {
      await this.settleDropped(active);
      return;
    }
    active.log.warn('job failed', { errorCode: error.code, errorMessage: error.message });
    this.options.metrics.jobFinished(written.job);
    this.options.completion.complete(written.job, active.log, active);
  }

  /**
   * A transient failure: back to `queued` for another delivery, or `failed` on the last one.
   * The tenant sees the error's code and a sentence (transientFailure); its own message (an S3
   * key, a driver's words) goes to the log only.
   */
  async retryLater(active: ActiveJob, cause: unknown): Promise<void> {
    const code = errorCode(cause);
    const message = cause instanceof Error ? cause.message : String(cause);
    const receiveCount = active.held.message.receiveCount;
    if (receiveCount >= this.options.settings.maxReceives) {
      active.log.warn('job retries exhausted', { errorCode: code, errorMessage: message, receiveCount });
      await this.fail(active, {
        code: 'retries_exhausted',
        message: `gave up after ${receiveCount} attempts; last error: ${code} (${transientFailure(code)})`,
      });
      return;
    }
    try {
      const written = await writeOwned(this.options.jobs, active, (current) =>
        transitionJob(current, {
          to: 'queued',
          at: this.options.clock.now(),
          error: { code, message: `${transientFailure(code)}; the job will run again`, retryable: true },
        }),
      );
      if (!written.ok) {
        await this.settleDropped(active);
        return;
      }
    } catch (error) {
      // The job stays `running` without a touch: the next delivery takes it over once stale.
      active.log.error('job release write failed', errorFields(error));
    }
    const seconds = this.retryDelaySeconds(active.held);
    active.log.warn('job retry later', { errorCode: code, errorMessage: message, retryInSeconds: seconds });
    await this.releaseActive(active, seconds, 'transient_error');
  }

  /** Seconds to hide a message released after a failure: the backoff for its receive count. */
  retryDelaySeconds(held: Held): number {
    const { retryBackoff } = this.options.settings;
    return Math.ceil(backoffDelayMs(held.message.receiveCount, retryBackoff, this.options.random) / 1000);
  }

  /** Settles the job here and releases its messages (visible again in `seconds`). */
  async releaseActive(active: ActiveJob, seconds: number, why: string): Promise<void> {
    active.state = 'done';
    this.options.active.delete(active.job.id);
    await this.options.leases.release([active.held, ...active.duplicates], seconds, why);
  }

  /**
   * At the shutdown deadline: the jobs go back to `queued` and their messages are handed back
   * (a fresh copy each, so the shutdown spends none of their deliveries), up to the
   * FRESH_HAND_BACKS_BELOW_ATTEMPT-th attempt of a job; from there they are released as after a
   * failure.
   */
  async releaseForShutdown(runnable: readonly ActiveJob[]): Promise<void> {
    await Promise.all(
      runnable.map(async (active) => {
        try {
          const written = await writeOwned(this.options.jobs, active, (current) =>
            transitionJob(current, { to: 'queued', at: this.options.clock.now(), error: SHUTDOWN_ERROR }),
          );
          if (!written.ok) return;
        } catch (error) {
          active.log.error('job release write failed', errorFields(error));
        }
        if (active.attempt >= FRESH_HAND_BACKS_BELOW_ATTEMPT) {
          // Stopped this often while running it: perhaps the job itself stops its workers (a
          // photo that hangs the engine until the health check fails). Its deliveries count
          // again, so such a job ends in the dead-letter queue instead of looping for ever.
          await this.releaseActive(active, 0, 'shutdown');
          return;
        }
        active.state = 'done';
        this.options.active.delete(active.job.id);
        await this.options.leases.handBack([active.held, ...active.duplicates], 'shutdown');
      }),
    );
  }

  /** Settles a job that was canceled or taken over while this worker ran it (others: nothing). */
  async settleDropped(active: ActiveJob): Promise<void> {
    if (active.state === 'canceled') {
      active.log.info('job canceled', { while: 'running' });
      this.options.completion.complete(active.job, active.log, active);
    } else if (active.state === 'lost') {
      // Its new owner (or the finished job's next delivery) deals with the message.
      active.log.warn('job lost', { status: active.job.status });
      active.state = 'done';
      this.options.active.delete(active.job.id);
      this.options.leases.forget([active.held, ...active.duplicates]);
    }
  }
}

/**
 * What a tenant is told of a transient failure on the service's side: the code's meaning, never
 * the underlying message (which can name storage keys, hosts or driver internals).
 *
 * @example transientFailure('inference_failed') // 'a model call failed on the service\'s side'
 */
export function transientFailure(code: string): string {
  switch (code) {
    case 'inference_failed':
      return "a model call failed on the service's side";
    case 'internal_error':
      return "an unexpected error on the service's side";
    default:
      return "a temporary failure on the service's side";
  }
}

/** The error's `code` when it is a snake_case identifier, else `internal_error`. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'internal_error';
}
