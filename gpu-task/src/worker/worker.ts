/**
 * The GPU worker: consumes the job queue and restores images in engine batches.
 *
 * ## Loop
 * Long-poll the queue; hold at most one batch of messages beyond the one running; pick the
 * next batch with {@link takeBatch} (the oldest message's schedule, up to `batchSize` jobs);
 * for each job: claim it (`queued -> running`, compare-and-set), download the input, run
 * `engine.restoreImages` once for the batch (one model call per step; every face of every photo
 * in one sampler batch, with the photo options the batch key fixes), upload the outputs (and the
 * face crops of jobs with `output.faces`), mark it `succeeded` with its faces, warnings and
 * usage (faces restored, model seconds), record usage, queue the webhook, delete the message.
 * While messages are held, a heartbeat every `visibility / 3` extends their visibility and
 * touches the running jobs (`updatedAt`), which is how other workers tell a live holder from a
 * dead one.
 *
 * ## Ownership and duplicate deliveries
 * The queue is at least once: a message may arrive twice, or a second message for the same job
 * may exist. A worker only works on a job it moved to `running` itself, and remembers the job's
 * `attempts` after its claim as a fencing token: every later write (progress, result, release)
 * is a compare-and-set that first checks the job is still `running` with that `attempts`. A
 * delivery for a job that is:
 * - `queued`: claimed (the compare-and-set lets exactly one claimer win; a loser re-reads);
 * - `running` under this worker: attached to the running job and deleted with it;
 * - `running` and touched within `visibility / 2` (a live worker holds it): left alone (hidden
 *   again for one visibility timeout, not deleted: on SQS the same message may be the one the
 *   other worker holds, and deleting it would strand the job if that worker dies);
 * - `running` and not touched for `visibility / 2` (its worker died; a live worker touches it
 *   every `visibility / 3`): taken over (`running -> queued -> running`, attempts + 1); the old
 *   worker, if it was only slow, loses the fencing check at its next write and drops the job;
 * - finished (`succeeded | failed | canceled`): nothing changes; side effects a crashed worker
 *   may have left undone are completed (usage record, a webhook not yet queued once the job has
 *   been quiet for `visibility / 2`), then the message is deleted;
 * - missing (deleted through the API) or `created | uploaded` (never dispatched): deleted.
 *
 * ## Cancel inside a batch
 * Jobs of a batch share every model call, and the engine runs a batch under one abort signal,
 * so an image cannot leave a running call alone. When a progress write (or the heartbeat)
 * finds a job `canceled` (or taken over), the worker aborts the engine call at the next step
 * boundary, settles that job (canceled: message deleted, the API that canceled it sends
 * `job.canceled`; taken over: message left to its new owner) and immediately runs the batch
 * again with the remaining jobs,
 * still holding their messages (no extra receive, no requeue). Their results are identical
 * because each image's noise comes from its job's seed. Each restart removes at least one job,
 * so this ends.
 *
 * ## Failures
 * - A non-retryable engine error (bad image, bad parameters) fails the job at once with the
 *   engine's code (`image_decode_failed`, `unsupported_image_format`, ...); a missing input fails
 *   it with `input_missing`.
 * - A retryable error (model failure, storage hiccup) puts the job back to `queued` (error
 *   recorded, `retryable: true`) and hides its message for a backoff; the next receive retries.
 *   On the delivery whose receive count reaches `maxReceives` the worker marks the job `failed`
 *   with `retries_exhausted` and deletes the message instead, so the job never waits on the DLQ.
 * - When a worker dies on that last delivery, the queue dead-letters the message; the
 *   dead-letter sweeper ({@link Dr2eWorker.sweepDeadLetters}, every `deadLetterSweepIntervalMs`)
 *   marks its job `failed` (`retries_exhausted`, the last error in the message), sends the
 *   webhook and deletes the dead letter.
 * - The worker never waits on a tenant's endpoint: it puts the terminal event on the webhook
 *   queue (shared/src/webhook-delivery.ts), whose consumer makes the attempts and retries them
 *   for about a day. A queue that is down releases the job's message, so the next delivery
 *   of it queues the event again.
 *
 * ## Shutdown
 * {@link Dr2eWorker.stop}: stop receiving, release held-but-not-started messages (visibility 0),
 * let the running batch and background completions finish. At `shutdownDeadlineSeconds` minus a margin
 * for the releases, abort: running jobs go back to `queued` (`worker_shutdown`) and their
 * messages are released (visibility 0). {@link Dr2eWorker.run} then resolves.
 */
import { EngineError } from '../engine/errors.js';
import type { Dr2eEngine, ImageRestoration } from '../engine/dr2e-engine.js';
import type { Dr2ParamsRequest } from '../engine/sampler/dr2-params.js';
import {
  batchKeyFor,
  blobKeys,
  faceCropKeys,
  isTerminalStatus,
  MessageNotInFlightError,
  mutateJob,
  OUTPUT_CONTENT_TYPES,
  PreconditionFailedError,
  recordProgress,
  systemClock,
  transitionJob,
  type BlobStore,
  type Clock,
  type Job,
  type JobError,
  type JobParams,
  type JobProgress,
  type JobQueue,
  type JobQueueMessage,
  type JobStore,
  type ReceivedMessage,
  type TenantDirectory,
  type UsageLedger,
} from '../../../shared/src/index.js';
import { JobWebhooks, webhookNotQueued } from '../../../shared/src/webhook-delivery.js';
import type { WebhookQueue } from '../../../shared/src/ports/webhook-queue.js';
import { backoffDelayMs, sleep, type BackoffPolicy } from './backoff.js';
import { groupBy, takeBatch } from './batching.js';
import { touchHeartbeatFile } from './heartbeat-file.js';
import { faceOutput, photoEngineOptions, storeFaces, usageOf } from './face-results.js';
import { errorFields, silentLogger, type Logger } from './log.js';
import { noTaskProtection, type TaskProtection } from './task-protection.js';
import { transcodePng } from './transcode.js';

/** What the worker needs of the engine (tests wrap or fake it). */
export type RestoreEngine = Pick<Dr2eEngine, 'restoreImages'>;

/** The ports the worker runs on (built by `createServices` from the runtime configuration). */
export interface WorkerServices {
  queue: JobQueue;
  jobs: JobStore;
  blobs: BlobStore;
  usage: UsageLedger;
  tenants: TenantDirectory;
  /** Where terminal events go; a delivery consumer (not the worker) sends them. */
  webhookQueue: WebhookQueue;
}

export interface WorkerSettings {
  /** Photos (jobs) per engine call (`DR2E_BATCH_SIZE`); aligned crops: also images per sampler run. */
  batchSize: number;
  /**
   * Faces per sampler run (`DR2E_FACES_PER_RUN`): all faces of all photos of an engine call
   * share runs of this size, so a group photo of six is one run at batch 6.
   */
  facesPerRun: number;
  /** Message lease (`DR2E_VISIBILITY_TIMEOUT_SECONDS`), extended every third of it. */
  visibilityTimeoutSeconds: number;
  /** Deliveries per message before it dead-letters (`DR2E_MAX_RECEIVES`; equal to the queue's). */
  maxReceives: number;
  /** Time to finish or release held work after {@link Dr2eWorker.stop} (`DR2E_SHUTDOWN_DEADLINE_SECONDS`). */
  shutdownDeadlineSeconds: number;
  /** Long-poll wait per receive, 0 to 20 s (`DR2E_POLL_WAIT_SECONDS`). */
  pollWaitSeconds: number;
  /** After a receive that filled less than a batch, wait this long and top up once. */
  batchWindowMs: number;
  /** Least time between progress writes of a job during sampling. */
  progressIntervalMs: number;
  /** Delay before a job released for a transient error is delivered again. */
  retryBackoff: BackoffPolicy;
  /** How often the dead-letter queue is swept (0 = never; tests call the sweep directly). */
  deadLetterSweepIntervalMs: number;
  /**
   * Liveness file for the container health check, touched every poll loop and, while a batch
   * runs, at sampler steps (at most every 5 s): it goes stale when the loop or the model hangs.
   * Undefined for none.
   */
  heartbeatFile: string | undefined;
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  batchSize: 4,
  facesPerRun: 32,
  visibilityTimeoutSeconds: 120,
  maxReceives: 3,
  shutdownDeadlineSeconds: 100,
  pollWaitSeconds: 20,
  batchWindowMs: 250,
  progressIntervalMs: 1000,
  retryBackoff: { baseMs: 5000, maxMs: 300_000, jitter: 0.5 },
  deadLetterSweepIntervalMs: 30_000,
  heartbeatFile: undefined,
};

export interface WorkerOptions {
  services: WorkerServices;
  engine: RestoreEngine;
  settings?: Partial<WorkerSettings>;
  clock?: Clock;
  log?: Logger;
  taskProtection?: TaskProtection;
  /** Randomness of backoff jitter (tests pin it). */
  random?: () => number;
}

/** A message this worker holds (its visibility is extended until deleted or released). */
interface Held {
  readonly message: ReceivedMessage<JobQueueMessage>;
  readonly batchKey: string;
}

/** A job this worker claimed, from its claim until its message is deleted or released. */
interface ActiveJob {
  /** The job as last read or written. */
  job: Job;
  /** `job.attempts` right after this worker's claim: the fencing token of every later write. */
  readonly attempt: number;
  readonly held: Held;
  /** Further deliveries of the same job that arrived meanwhile; deleted or released with it. */
  readonly duplicates: Held[];
  readonly log: Logger;
  /** running: ours; canceled / lost: someone else ended or took it; done: settled. */
  state: 'running' | 'canceled' | 'lost' | 'done';
  input?: Uint8Array;
  /** Aborts the engine call the job is in. */
  abort?: AbortController;
  /** The job write in flight (progress or heartbeat touch), so writes never overlap. */
  writing?: Promise<void>;
}

/** Thrown inside an ownership-checked write: the job was canceled meanwhile. */
class JobCanceledSignal extends Error {
  constructor(readonly job: Job) {
    super(`job ${job.id} was canceled`);
  }
}

/** Thrown inside an ownership-checked write: another worker took the job, or it finished. */
class OwnershipLostSignal extends Error {
  constructor(readonly job: Job) {
    super(`job ${job.id} is ${job.status} (attempt ${job.attempts}), no longer ours`);
  }
}

const SHUTDOWN_ERROR: JobError = {
  code: 'worker_shutdown',
  message: 'the worker stopped before finishing; the job will run again',
  retryable: true,
};

const WORKER_LOST_ERROR: JobError = {
  code: 'worker_lost',
  message: 'the worker running this job stopped answering; another worker took it over',
  retryable: true,
};

/**
 * @example
 * ```ts
 * const worker = new Dr2eWorker({ services, engine, settings: { batchSize: 4 }, log });
 * process.once('SIGTERM', () => void worker.stop('SIGTERM'));
 * await worker.run(); // resolves once stopped and drained
 * ```
 */
export class Dr2eWorker {
  private readonly services: WorkerServices;
  private readonly engine: RestoreEngine;
  private readonly settings: WorkerSettings;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly protection: TaskProtection;
  private readonly random: () => number;

  /** Every message held, by receipt handle. */
  private readonly held = new Map<string, Held>();
  /** Held messages not yet claimed, in arrival order. */
  private readonly buffer: Held[] = [];
  /** Claimed jobs (running or finishing), by job id. */
  private readonly active = new Map<string, ActiveJob>();
  /** Background completions (usage, webhook queued, then message delete). */
  private readonly finishing = new Set<Promise<void>>();

  private stopping = false;
  private stopRequested!: () => void;
  private readonly stopSignal = new Promise<void>((resolve) => (this.stopRequested = resolve));
  /** Aborted at the shutdown deadline: engine calls end early. */
  private readonly deadline = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private receiving: Promise<ReceivedMessage<JobQueueMessage>[]> | undefined;
  private sweeping: Promise<number> | undefined;
  private runPromise: Promise<void> | undefined;
  private readonly webhooks: JobWebhooks;

  constructor(options: WorkerOptions) {
    this.services = options.services;
    this.engine = options.engine;
    this.settings = { ...DEFAULT_WORKER_SETTINGS, ...stripUndefined(options.settings ?? {}) };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.protection = options.taskProtection ?? noTaskProtection;
    this.random = options.random ?? Math.random;
    this.webhooks = new JobWebhooks({
      jobs: this.services.jobs,
      queue: this.services.webhookQueue,
      clock: this.clock,
      logger: this.log,
    });
    const { batchSize, visibilityTimeoutSeconds, maxReceives } = this.settings;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be >= 1');
    if (!Number.isInteger(this.settings.facesPerRun) || this.settings.facesPerRun < 1) {
      throw new RangeError('facesPerRun must be >= 1');
    }
    if (!Number.isInteger(visibilityTimeoutSeconds) || visibilityTimeoutSeconds < 3) {
      throw new RangeError('visibilityTimeoutSeconds must be an integer >= 3');
    }
    if (!Number.isInteger(maxReceives) || maxReceives < 1) throw new RangeError('maxReceives must be >= 1');
  }

  /** A job untouched for this long has no live worker (live ones touch it every third of the lease). */
  private get staleAfterMs(): number {
    return (this.settings.visibilityTimeoutSeconds * 1000) / 2;
  }

  /**
   * Runs until {@link stop} and drains; resolves when no message is held any more. Calling it
   * again returns the same promise.
   */
  run(): Promise<void> {
    this.runPromise ??= this.loop();
    return this.runPromise;
  }

  /**
   * Stops receiving and drains within `shutdownDeadlineSeconds`; resolves when {@link run}
   * has finished (at once if it never started).
   */
  async stop(reason = 'stop'): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      const deadlineSeconds = this.settings.shutdownDeadlineSeconds;
      // Keep a margin to write the releases before the platform's hard kill.
      const margin = Math.min(10, deadlineSeconds / 5);
      this.log.info('shutdown started', { reason, deadlineSeconds, held: this.held.size });
      this.deadlineTimer = setTimeout(() => this.onDeadline(), (deadlineSeconds - margin) * 1000);
      this.deadlineTimer.unref();
      this.stopRequested();
      await this.release(this.buffer.splice(0), 0, 'not_started');
    }
    await this.runPromise;
  }

  private onDeadline(): void {
    this.log.warn('shutdown deadline', { running: [...this.active.keys()] });
    this.deadline.abort();
    for (const active of this.active.values()) active.abort?.abort();
  }

  private async loop(): Promise<void> {
    const { visibilityTimeoutSeconds, deadLetterSweepIntervalMs } = this.settings;
    this.log.info('worker started', {
      batchSize: this.settings.batchSize,
      visibilityTimeoutSeconds,
      maxReceives: this.settings.maxReceives,
      shutdownDeadlineSeconds: this.settings.shutdownDeadlineSeconds,
    });
    const heartbeat = setInterval(() => void this.heartbeat(), (visibilityTimeoutSeconds * 1000) / 3);
    const sweeper =
      deadLetterSweepIntervalMs > 0
        ? setInterval(() => void this.sweepDeadLetters().catch(() => undefined), deadLetterSweepIntervalMs)
        : undefined;
    if (deadLetterSweepIntervalMs > 0) void this.sweepDeadLetters().catch(() => undefined);
    try {
      while (!this.stopping) {
        if (this.settings.heartbeatFile) await touchHeartbeatFile(this.settings.heartbeatFile);
        await this.fill();
        if (this.stopping) break;
        const batch = takeBatch(this.buffer, this.settings.batchSize);
        if (batch.length === 0) {
          if (this.held.size === 0) await this.protection.disable();
          continue;
        }
        await this.protection.enable();
        try {
          await this.runBatch(batch);
        } catch (error) {
          // A bug or a store outage; whatever is still held comes back after its lease.
          this.log.error('batch crashed', errorFields(error));
          await sleep(1000, this.deadline.signal);
        }
      }
    } finally {
      await this.drain();
      clearInterval(heartbeat);
      if (sweeper) clearInterval(sweeper);
      if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
      await this.protection.disable();
      this.log.info('shutdown complete', { deadlineReached: this.deadline.signal.aborted });
    }
  }

  /** After the loop: release late receives, wait for completions, wait for a sweep. */
  private async drain(): Promise<void> {
    if (this.receiving) {
      const late = await Promise.race([this.receiving.catch(() => []), this.deadlineReached()]);
      if (late)
        await this.release(
          late.map((message) => this.hold(message)),
          0,
          'not_started',
        );
    }
    await this.release(this.buffer.splice(0), 0, 'not_started');
    await Promise.all([...this.finishing]);
    await this.sweeping?.catch(() => undefined);
  }

  private deadlineReached(): Promise<undefined> {
    const signal = this.deadline.signal;
    return new Promise((resolve) => {
      if (signal.aborted) resolve(undefined);
      else signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
  }

  // ---------------------------------------------------------------- receiving

  private hold(message: ReceivedMessage<JobQueueMessage>): Held {
    const held: Held = { message, batchKey: message.body.batchKey };
    this.held.set(message.receiptHandle, held);
    return held;
  }

  /** Receives up to one batch beyond what is buffered; long-polls only when nothing is buffered. */
  private async fill(): Promise<void> {
    const room = Math.min(10, this.settings.batchSize - this.buffer.length);
    if (room <= 0) return;
    const waitSeconds = this.buffer.length > 0 ? 0 : this.settings.pollWaitSeconds;
    const first = await this.receive(room, waitSeconds);
    if (first === undefined) return;
    if (first.length > 0 && first.length < room && waitSeconds > 0 && this.settings.batchWindowMs > 0) {
      // A burst of uploads arrives over a few hundred ms: wait a moment so they share a batch.
      await sleep(this.settings.batchWindowMs);
      if (!this.stopping) await this.receive(room - first.length, 0);
    }
  }

  /** One receive, interrupted (not cancelled) by stop; returns undefined when stopping. */
  private async receive(maxMessages: number, waitSeconds: number): Promise<Held[] | undefined> {
    const receiving = this.services.queue.receive({
      maxMessages,
      waitSeconds,
      visibilityTimeoutSeconds: this.settings.visibilityTimeoutSeconds,
    });
    this.receiving = receiving;
    let messages: ReceivedMessage<JobQueueMessage>[] | undefined;
    try {
      messages = await Promise.race([receiving, this.stopSignal.then(() => undefined)]);
    } catch (error) {
      this.receiving = undefined;
      this.log.error('receive failed', errorFields(error));
      await sleep(2000, this.deadline.signal);
      return [];
    }
    // Stopped while polling: drain() collects and releases what the poll still returns.
    if (messages === undefined) return undefined;
    this.receiving = undefined;
    const received = messages.map((message) => this.hold(message));
    this.buffer.push(...received);
    for (const held of received) {
      this.log.debug('message received', {
        jobId: held.message.body.jobId,
        messageId: held.message.messageId,
        receiveCount: held.message.receiveCount,
      });
    }
    return received;
  }

  // ---------------------------------------------------------------- message operations

  private async deleteMessage(held: Held): Promise<void> {
    try {
      await this.services.queue.delete(held.message.receiptHandle);
    } finally {
      this.held.delete(held.message.receiptHandle);
    }
  }

  /** Hides the message again for `seconds` and stops holding it (0 = deliver again now). */
  private async setVisibility(held: Held, seconds: number): Promise<void> {
    try {
      await this.services.queue.changeVisibility(held.message.receiptHandle, seconds);
    } catch (error) {
      // Not in flight any more: it is visible again already, or someone else holds it now.
      if (!(error instanceof MessageNotInFlightError)) throw error;
    } finally {
      this.held.delete(held.message.receiptHandle);
    }
  }

  /** Leaves a message to whoever owns its job: hidden one lease, not deleted. */
  private leave(held: Held): Promise<void> {
    return this.setVisibility(held, this.settings.visibilityTimeoutSeconds);
  }

  private async release(helds: readonly Held[], seconds: number, why: string): Promise<void> {
    await Promise.all(
      helds.map(async (held) => {
        try {
          await this.setVisibility(held, seconds);
          this.log.info('message released', {
            jobId: held.message.body.jobId,
            messageId: held.message.messageId,
            why,
            visibleInSeconds: seconds,
          });
        } catch (error) {
          this.log.error('message release failed', {
            jobId: held.message.body.jobId,
            ...errorFields(error),
          });
        }
      }),
    );
  }

  /** Extends every held message's lease and touches every running job. */
  private async heartbeat(): Promise<void> {
    const seconds = this.settings.visibilityTimeoutSeconds;
    if (this.held.size > 0) await this.protection.enable();
    await Promise.all(
      [...this.held.values()].map(async (held) => {
        try {
          await this.services.queue.changeVisibility(held.message.receiptHandle, seconds);
        } catch (error) {
          if (!this.held.has(held.message.receiptHandle)) return; // deleted or released meanwhile
          this.log.warn('lease extend failed', {
            jobId: held.message.body.jobId,
            messageId: held.message.messageId,
            ...errorFields(error),
          });
        }
      }),
    );
    for (const active of this.active.values()) {
      if (active.state === 'running' && !active.writing) this.startWrite(active, active.job.progress);
    }
  }

  // ---------------------------------------------------------------- claiming

  /** Turns a delivery into a job this worker runs, or settles it; undefined when not ours to run. */
  private async claim(held: Held): Promise<ActiveJob | undefined> {
    const { message } = held;
    const jobId = message.body.jobId;
    const log = this.log.child({ jobId, messageId: message.messageId, receiveCount: message.receiveCount });
    const mine = this.active.get(jobId);
    if (mine) {
      // A second delivery of a job this worker is already on: finish it with the first.
      log.info('duplicate delivery', { handling: 'attached' });
      mine.duplicates.push(held);
      return undefined;
    }
    for (let attempt = 1; attempt <= 5; attempt++) {
      const job = await this.services.jobs.get(jobId);
      if (!job) {
        log.warn('job missing');
        await this.deleteMessage(held);
        return undefined;
      }
      if (job.tenantId !== message.body.tenantId) {
        log.error('message tenant mismatch', { tenantId: message.body.tenantId });
        await this.deleteMessage(held);
        return undefined;
      }
      const now = this.clock.now();
      let next: Job;
      switch (job.status) {
        case 'created':
        case 'uploaded':
          // The dispatcher queues the job before it sends the message; this one is stray.
          log.warn('job not dispatched', { status: job.status });
          await this.deleteMessage(held);
          return undefined;
        case 'queued':
          next = transitionJob(job, { to: 'running', at: now });
          break;
        case 'running':
          if (this.isFresh(job, now)) {
            log.info('duplicate delivery', { handling: 'left_to_live_worker', attempt: job.attempts });
            await this.leave(held);
            return undefined;
          }
          log.warn('job taken over', { previousAttempt: job.attempts, idleMs: this.ageMs(job, now) });
          next = transitionJob(transitionJob(job, { to: 'queued', at: now, error: WORKER_LOST_ERROR }), {
            to: 'running',
            at: now,
          });
          break;
        default:
          await this.settleFinishedDelivery(held, job, log);
          return undefined;
      }
      try {
        const stored = await this.services.jobs.update(next, job.version);
        const active: ActiveJob = {
          job: stored,
          attempt: stored.attempts,
          held,
          duplicates: [],
          log: log.child({ attempt: stored.attempts }),
          state: 'running',
        };
        this.active.set(jobId, active);
        active.log.info('job claimed', { batchKey: held.batchKey });
        return active;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        // Someone wrote first (a cancel, another claimer): decide again on the fresh record.
      }
    }
    log.warn('claim contended');
    await this.leave(held);
    return undefined;
  }

  private ageMs(job: Job, now: Date): number {
    return now.getTime() - Date.parse(job.updatedAt);
  }

  private isFresh(job: Job, now: Date): boolean {
    return this.ageMs(job, now) < this.staleAfterMs;
  }

  /**
   * A delivery for a finished job changes nothing; it completes what a crashed worker may have
   * left undone (usage, a webhook not queued) and deletes the message.
   */
  private async settleFinishedDelivery(held: Held, job: Job, log: Logger): Promise<void> {
    if (job.status === 'succeeded') await this.recordUsage(job);
    if (this.webhookToQueue(job)) {
      if (this.isFresh(job, this.clock.now())) {
        // The worker that finished it is probably queueing it now: look again in one lease.
        log.info('duplicate delivery', { handling: 'webhook_in_progress', status: job.status });
        await this.leave(held);
        return;
      }
      log.info('webhook resumed', { status: job.status });
      this.complete(job, log, held);
      return;
    }
    log.info('duplicate delivery', { handling: 'deleted', status: job.status });
    await this.deleteMessage(held);
  }

  // ---------------------------------------------------------------- batches

  private async runBatch(batch: Held[]): Promise<void> {
    this.log.info('batch started', {
      batchKey: batch[0]?.batchKey,
      size: batch.length,
      jobIds: batch.map((held) => held.message.body.jobId),
    });
    const claimed: ActiveJob[] = [];
    // Sequential claims: duplicates inside one batch then see the first claim.
    for (const held of batch) {
      try {
        const active = await this.claim(held);
        if (active) claimed.push(active);
      } catch (error) {
        this.log.error('claim failed', { jobId: held.message.body.jobId, ...errorFields(error) });
        await this.release([held], this.retryDelaySeconds(held), 'claim_failed');
      }
    }
    try {
      await Promise.all(claimed.map((active) => this.download(active)));
      const ready = claimed.filter((active) => active.state === 'running' && active.input);
      for (const group of groupBy(ready, (active) => batchKeyFor(active.job.params, active.job.model))) {
        await this.runGroup(group);
      }
    } finally {
      // Canceled while downloading, or left over by an unexpected error: never keep a lease forever.
      for (const active of claimed) {
        if (active.state === 'canceled' || active.state === 'lost') await this.settleDropped(active);
        else if (active.state === 'running') {
          active.log.error('job abandoned');
          await this.releaseActive(active, this.retryDelaySeconds(active.held), 'abandoned');
        }
      }
    }
  }

  private async download(active: ActiveJob): Promise<void> {
    try {
      const blob = await this.services.blobs.get(active.job.input.key);
      if (!blob) {
        await this.fail(active, { code: 'input_missing', message: 'the uploaded input is gone' });
        return;
      }
      active.input = blob.body;
    } catch (error) {
      await this.retryLater(active, error);
    }
  }

  /** Runs one engine call for jobs of one schedule; re-runs without jobs canceled meanwhile. */
  private async runGroup(group: ActiveJob[]): Promise<void> {
    for (;;) {
      // Jobs the heartbeat found canceled (or taken over) since the last call leave first.
      await Promise.all(group.map((active) => this.settleDropped(active)));
      const runnable = group.filter((active) => active.state === 'running');
      if (runnable.length === 0) return;
      if (this.deadline.signal.aborted) {
        await this.releaseForShutdown(runnable);
        return;
      }
      const controller = new AbortController();
      for (const active of runnable) active.abort = controller;
      const first = runnable[0] as ActiveJob;
      const jobIds = runnable.map((active) => active.job.id);
      const started = performance.now();
      // One batch key: every job of the group has the same photo options.
      const photo = photoEngineOptions(runnable.map((active) => active.job.params));
      let results: ImageRestoration[];
      try {
        this.log.info('engine started', { jobIds, batchKey: first.held.batchKey });
        results = await this.engine.restoreImages(
          runnable.map((active) => ({
            id: active.job.id,
            bytes: active.input as Uint8Array,
            seed: active.job.params.seed,
          })),
          {
            params: engineSchedule(first.job.params),
            ...photo,
            format: 'png',
            keepDr2: runnable.some((active) => active.job.params.output.keepDr2),
            batchSize: photo.aligned ? this.settings.batchSize : this.settings.facesPerRun,
            signal: controller.signal,
            onStep: (progress) => this.onStep(runnable, progress),
          },
        );
      } catch (error) {
        await Promise.all(runnable.map((active) => active.writing));
        if (controller.signal.aborted) {
          if (this.deadline.signal.aborted) {
            await this.releaseForShutdown(runnable.filter((active) => active.state === 'running'));
            await Promise.all(runnable.map((active) => this.settleDropped(active)));
            return;
          }
          await Promise.all(runnable.map((active) => this.settleDropped(active)));
          this.log.info('engine restarted', {
            jobIds: runnable.filter((active) => active.state === 'running').map((active) => active.job.id),
          });
          continue;
        }
        this.log.error('engine failed', { jobIds, ...errorFields(error) });
        await Promise.all(
          runnable.map((active) =>
            error instanceof EngineError && !error.retryable
              ? this.fail(active, { code: error.code, message: error.message })
              : this.retryLater(active, error),
          ),
        );
        return;
      } finally {
        for (const active of runnable) active.abort = undefined;
      }
      await Promise.all(runnable.map((active) => active.writing));
      this.log.info('engine finished', { jobIds, ms: Math.round(performance.now() - started) });
      await Promise.all(
        runnable.map(async (active, index) => {
          const result = results[index];
          if (active.state !== 'running') await this.settleDropped(active);
          else if (!result) await this.retryLater(active, new Error('engine returned no result'));
          else if (result.ok) await this.succeed(active, result);
          else if (!result.error.retryable) {
            await this.fail(active, { code: result.error.code, message: result.error.message });
          } else await this.retryLater(active, result.error);
        }),
      );
      return;
    }
  }

  private lastProgressAt = 0;
  private lastStepTouchAt = 0;

  /** Throttled progress writes during sampling; a write that finds a cancel aborts the call. */
  private onStep(runnable: readonly ActiveJob[], progress: { step: number; total: number }): void {
    const now = Date.now();
    if (this.settings.heartbeatFile && now - this.lastStepTouchAt >= 5000) {
      // A long batch must not look like a hung worker; a hung model call stops these touches.
      this.lastStepTouchAt = now;
      void touchHeartbeatFile(this.settings.heartbeatFile);
    }
    if (progress.step !== progress.total && now - this.lastProgressAt < this.settings.progressIntervalMs)
      return;
    this.lastProgressAt = now;
    for (const active of runnable) {
      if (active.state === 'running' && !active.writing) {
        this.startWrite(active, { step: progress.step, total: progress.total });
      }
    }
  }

  /** Starts an ownership-checked progress write (also the heartbeat's "still alive" touch). */
  private startWrite(active: ActiveJob, progress: JobProgress | undefined): void {
    const write = (async (): Promise<void> => {
      try {
        await this.writeOwned(active, (job) =>
          recordProgress(job, progress ?? job.progress ?? { step: 0, total: 0 }, this.clock.now()),
        );
      } catch (error) {
        if (error instanceof JobCanceledSignal || error instanceof OwnershipLostSignal) {
          active.abort?.abort();
          return;
        }
        active.log.warn('progress write failed', errorFields(error));
      }
    })();
    const tracked: Promise<void> = write.finally(() => {
      if (active.writing === tracked) active.writing = undefined;
    });
    active.writing = tracked;
  }

  /**
   * Compare-and-set of a job this worker owns. Throws {@link JobCanceledSignal} or
   * {@link OwnershipLostSignal} (and records it on `active.state`) when it is not ours any more.
   */
  private async writeOwned(active: ActiveJob, change: (job: Job) => Job): Promise<Job> {
    try {
      const stored = await mutateJob(this.services.jobs, active.job.id, (current) => {
        if (current.status === 'canceled') throw new JobCanceledSignal(current);
        if (current.status !== 'running' || current.attempts !== active.attempt) {
          throw new OwnershipLostSignal(current);
        }
        return change(current);
      });
      active.job = stored;
      return stored;
    } catch (error) {
      if (error instanceof JobCanceledSignal) {
        if (active.state === 'running') active.state = 'canceled';
        active.job = error.job;
      } else if (error instanceof OwnershipLostSignal) {
        if (active.state === 'running') active.state = 'lost';
      }
      throw error;
    }
  }

  // ---------------------------------------------------------------- outcomes

  private async succeed(active: ActiveJob, result: Extract<ImageRestoration, { ok: true }>): Promise<void> {
    const { job } = active;
    const { format, keepDr2 } = job.params.output;
    let stored: Job;
    try {
      const restoredKey = blobKeys.restored(job.tenantId, job.id, format);
      const restored = await transcodePng(result.restored, format);
      await this.services.blobs.put(restoredKey, restored, { contentType: OUTPUT_CONTENT_TYPES[format] });
      let dr2Key: string | undefined;
      if (keepDr2 && result.dr2) {
        dr2Key = blobKeys.dr2(job.tenantId, job.id);
        await this.services.blobs.put(dr2Key, result.dr2, { contentType: 'image/png' });
      }
      const faces = await storeFaces(this.services.blobs, job, result);
      const usage = usageOf(result);
      stored = await this.writeOwned(active, (current) =>
        transitionJob(current, {
          to: 'succeeded',
          at: this.clock.now(),
          output: {
            restoredKey,
            ...(dr2Key ? { dr2Key } : {}),
            format,
            width: result.width,
            height: result.height,
            ...faceOutput(faces, result),
          },
          usage,
        }),
      );
    } catch (error) {
      if (error instanceof JobCanceledSignal) {
        // Canceled while encoding or uploading: the client asked not to have the result.
        await this.services.blobs
          .deleteMany([
            blobKeys.restored(job.tenantId, job.id, format),
            blobKeys.dr2(job.tenantId, job.id),
            ...faceCropKeys(job),
          ])
          .catch(() => undefined);
      }
      if (error instanceof JobCanceledSignal || error instanceof OwnershipLostSignal) {
        await this.settleDropped(active);
        return;
      }
      await this.retryLater(active, error);
      return;
    }
    active.log.info('job succeeded', {
      modelSeconds: stored.usage?.modelSeconds,
      faces: result.faces.length,
      skippedFaces: result.skippedFaces.length,
      warnings: result.warnings,
      width: result.width,
      height: result.height,
      seed: result.seed,
    });
    this.complete(stored, active.log, active);
  }

  private async fail(active: ActiveJob, error: JobError): Promise<void> {
    let stored: Job;
    try {
      stored = await this.writeOwned(active, (current) =>
        transitionJob(current, { to: 'failed', at: this.clock.now(), error }),
      );
    } catch (writeError) {
      if (writeError instanceof JobCanceledSignal || writeError instanceof OwnershipLostSignal) {
        await this.settleDropped(active);
        return;
      }
      active.log.error('job fail write failed', errorFields(writeError));
      await this.releaseActive(active, this.retryDelaySeconds(active.held), 'write_failed');
      return;
    }
    active.log.warn('job failed', { errorCode: error.code, errorMessage: error.message });
    this.complete(stored, active.log, active);
  }

  /** A transient failure: back to `queued` for another delivery, or `failed` on the last one. */
  private async retryLater(active: ActiveJob, cause: unknown): Promise<void> {
    const code = errorCode(cause);
    const message = cause instanceof Error ? cause.message : String(cause);
    const receiveCount = active.held.message.receiveCount;
    if (receiveCount >= this.settings.maxReceives) {
      await this.fail(active, {
        code: 'retries_exhausted',
        message: `gave up after ${receiveCount} attempts; last error: ${code}: ${message}`,
      });
      return;
    }
    try {
      await this.writeOwned(active, (current) =>
        transitionJob(current, {
          to: 'queued',
          at: this.clock.now(),
          error: { code, message, retryable: true },
        }),
      );
    } catch (error) {
      if (error instanceof JobCanceledSignal || error instanceof OwnershipLostSignal) {
        await this.settleDropped(active);
        return;
      }
      // The job stays `running` without a touch: the next delivery takes it over once stale.
      active.log.error('job release write failed', errorFields(error));
    }
    const seconds = this.retryDelaySeconds(active.held);
    active.log.warn('job retry later', { errorCode: code, errorMessage: message, retryInSeconds: seconds });
    await this.releaseActive(active, seconds, 'transient_error');
  }

  private retryDelaySeconds(held: Held): number {
    return Math.ceil(
      backoffDelayMs(held.message.receiveCount, this.settings.retryBackoff, this.random) / 1000,
    );
  }

  private async releaseActive(active: ActiveJob, seconds: number, why: string): Promise<void> {
    active.state = 'done';
    this.active.delete(active.job.id);
    await this.release([active.held, ...active.duplicates], seconds, why);
  }

  private async releaseForShutdown(runnable: readonly ActiveJob[]): Promise<void> {
    await Promise.all(
      runnable.map(async (active) => {
        try {
          await this.writeOwned(active, (current) =>
            transitionJob(current, { to: 'queued', at: this.clock.now(), error: SHUTDOWN_ERROR }),
          );
        } catch (error) {
          if (error instanceof JobCanceledSignal || error instanceof OwnershipLostSignal) return;
          active.log.error('job release write failed', errorFields(error));
        }
        await this.releaseActive(active, 0, 'shutdown');
      }),
    );
  }

  /** A job that was canceled or taken over while this worker ran it. */
  private async settleDropped(active: ActiveJob): Promise<void> {
    if (active.state === 'canceled') {
      active.log.info('job canceled', { while: 'running' });
      this.complete(active.job, active.log, active);
    } else if (active.state === 'lost') {
      // Its new owner (or the finished job's next delivery) deals with the message.
      active.log.warn('job lost', { status: active.job.status });
      active.state = 'done';
      this.active.delete(active.job.id);
      for (const held of [active.held, ...active.duplicates]) this.held.delete(held.message.receiptHandle);
    }
  }

  /**
   * In the background: record usage, queue the webhook, delete the messages (the job's own
   * and duplicates attached meanwhile). Messages stay held (leases extended) until then; when
   * the webhook queue is down they are released, so a later delivery queues the event.
   */
  private complete(job: Job, log: Logger, owner: ActiveJob | Held): void {
    const active = 'attempt' in owner ? owner : undefined;
    if (active) active.state = 'done';
    // Detach from `active` and list the messages in one synchronous step, so a duplicate that
    // arrives later is not attached to a list already handled.
    const detach = (): Held[] => {
      if (!active) return [owner as Held];
      if (this.active.get(job.id) === active) this.active.delete(job.id);
      return [active.held, ...active.duplicates];
    };
    const task = (async (): Promise<void> => {
      let outcome: Awaited<ReturnType<JobWebhooks['jobFinished']>>;
      try {
        if (job.status === 'succeeded') await this.recordUsage(job);
        outcome = await this.queueWebhook(job);
      } catch (error) {
        log.error('completion failed', errorFields(error));
        await this.release(detach(), this.settings.visibilityTimeoutSeconds, 'completion_failed');
        return;
      }
      const helds = detach();
      if (outcome === 'queue_failed') {
        await this.release(helds, this.settings.visibilityTimeoutSeconds, 'webhook_not_queued');
        return;
      }
      try {
        await Promise.all(helds.map((held) => this.deleteMessage(held)));
        log.debug('messages deleted', { count: helds.length });
      } catch (error) {
        log.error('message delete failed', errorFields(error));
      }
    })();
    this.finishing.add(task);
    void task.finally(() => this.finishing.delete(task));
  }

  /**
   * True when this worker owes the job's webhook: `job.succeeded` and `job.failed` not queued
   * yet. Whoever cancels a job queues `job.canceled` (the API), so the worker never does.
   */
  private webhookToQueue(job: Job): boolean {
    return job.status !== 'canceled' && webhookNotQueued(job);
  }

  private async queueWebhook(job: Job): ReturnType<JobWebhooks['jobFinished']> {
    return this.webhookToQueue(job) ? this.webhooks.jobFinished(job) : 'not_subscribed';
  }

  private async recordUsage(job: Job): Promise<void> {
    if (!job.usage) return;
    await this.services.usage.record({
      tenantId: job.tenantId,
      jobId: job.id,
      at: new Date(job.timestamps.succeeded ?? job.updatedAt),
      images: job.usage.images,
      ...(job.usage.faces === undefined ? {} : { faces: job.usage.faces }),
      modelSeconds: job.usage.modelSeconds,
    });
  }

  // ---------------------------------------------------------------- dead letters

  /**
   * Marks the jobs of dead-lettered messages `failed` (`retries_exhausted`), sends their
   * webhooks and deletes the dead letters. A dead letter whose job is finished is deleted; one
   * whose job a live worker runs is left for a later sweep. Returns how many dead letters it
   * deleted. Runs one sweep at a time.
   *
   * @example `await worker.sweepDeadLetters(); // 1: the job is failed now`
   */
  sweepDeadLetters(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    let deleted = 0;
    const dlq = this.services.queue.deadLetters;
    for (let round = 0; round < 10 && !this.stopping; round++) {
      const letters = await dlq.receive({
        maxMessages: 10,
        waitSeconds: 0,
        visibilityTimeoutSeconds: this.settings.visibilityTimeoutSeconds,
      });
      for (const letter of letters) {
        try {
          if (await this.settleDeadLetter(letter)) {
            await dlq.delete(letter.receiptHandle);
            deleted += 1;
          }
        } catch (error) {
          this.log.error('dead letter failed', { jobId: letter.body.jobId, ...errorFields(error) });
        }
      }
      if (letters.length < 10) break;
    }
    return deleted;
  }

  /** True when the dead letter can go. */
  private async settleDeadLetter(letter: ReceivedMessage<JobQueueMessage>): Promise<boolean> {
    const log = this.log.child({ jobId: letter.body.jobId, messageId: letter.messageId, deadLetter: true });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const job = await this.services.jobs.get(letter.body.jobId);
      if (!job || job.tenantId !== letter.body.tenantId) return true;
      const now = this.clock.now();
      if (isTerminalStatus(job.status) || job.status === 'created' || job.status === 'uploaded') {
        if (job.status === 'succeeded') await this.recordUsage(job);
        if (!this.webhookToQueue(job)) return true;
        if (this.isFresh(job, now)) return false;
        return (await this.queueWebhook(job)) !== 'queue_failed';
      }
      if (job.status === 'running' && this.isFresh(job, now)) return false;
      const lastError = job.error ? `; last error: ${job.error.code}: ${job.error.message}` : '';
      const error: JobError = {
        code: 'retries_exhausted',
        message: `gave up after ${this.settings.maxReceives} deliveries${lastError}`,
      };
      try {
        // queued -> failed (dead-lettered before a worker ran it) or running -> failed.
        const failed = await this.services.jobs.update(
          transitionJob(job, { to: 'failed', at: now, error }),
          job.version,
        );
        log.warn('job failed', { errorCode: error.code, errorMessage: error.message });
        return (await this.queueWebhook(failed)) !== 'queue_failed';
      } catch (updateError) {
        if (!(updateError instanceof PreconditionFailedError)) throw updateError;
      }
    }
    return false;
  }
}

/** The engine's schedule request from a job's stored params. */
function engineSchedule(params: JobParams): Dr2ParamsRequest {
  return stripUndefined({
    preset: params.preset,
    fidelity: params.fidelity,
    n: params.n,
    tau: params.tau,
    omega: params.omega,
    steps: params.steps,
  });
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'internal_error';
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
