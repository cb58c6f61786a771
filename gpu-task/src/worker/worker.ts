/**
 * The GPU worker: consumes the job queue and restores images in engine batches.
 *
 * ## Loop
 * Long-poll the queue; hold at most one batch of messages beyond the one running; pick the
 * next batch with {@link takeBatch} (the oldest message's schedule, up to `batchSize` jobs) and
 * run it. While messages are held, a heartbeat every `visibility / 3` extends their leases and
 * touches the running jobs (`updatedAt`), which is how other workers tell a live holder from a
 * dead one. A dead-letter sweep runs every `deadLetterSweepIntervalMs`.
 *
 * ## Parts
 * - leases.ts: the messages held, their visibility (extend, release, leave, delete);
 * - delivery.ts: what to do with a delivery or a dead letter, decided from the job (pure);
 * - claims.ts: claiming a job for a delivery (`queued -> running`, compare-and-set);
 * - ownership.ts: fencing: every later write checks the job is still ours;
 * - batch-runner.ts: downloads, one engine call per schedule, restarts after a cancel;
 * - outcomes.ts: succeeded, failed, retried later, released at shutdown;
 * - completion.ts: usage, the webhook the worker owes, message deletion (in the background);
 * - dead-letters.ts: the dead-letter sweeper.
 *
 * ## Shutdown
 * {@link Dr2eWorker.stop}: stop receiving, release held-but-not-started messages (visibility 0),
 * let the running batch and background completions finish. At `shutdownDeadlineSeconds` minus a
 * margin for the releases, abort: running jobs go back to `queued` (`worker_shutdown`) and their
 * messages are released (visibility 0). {@link Dr2eWorker.run} then resolves.
 */
import {
  JobWebhooks,
  sleep,
  systemClock,
  type Clock,
  type JobQueueMessage,
  type ReceivedMessage,
  errorFields,
  noJobMetrics,
  silentLogger,
  type Logger,
} from '../../../shared/src/index.js';
import { BatchRunner } from './batch-runner.js';
import { takeBatch } from './batching.js';
import { Claims } from './claims.js';
import { Completion } from './completion.js';
import { DeadLetterSweeper } from './dead-letters.js';
import { touchHeartbeatFile } from './heartbeat-file.js';
import { Leases, type Held } from './leases.js';
import { Outcomes } from './outcomes.js';
import { startProgressWrite, type ActiveJob } from './ownership.js';
import {
  resolveWorkerSettings,
  staleAfterMs,
  type RestoreEngine,
  type WorkerServices,
  type WorkerSettings,
} from './settings.js';
import { noTaskProtection, type TaskProtection } from './task-protection.js';

export {
  DEFAULT_WORKER_SETTINGS,
  type RestoreEngine,
  type WorkerServices,
  type WorkerSettings,
} from './settings.js';

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
  private readonly settings: WorkerSettings;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly protection: TaskProtection;

  private readonly leases: Leases;
  /** Held messages not yet claimed, in arrival order. */
  private readonly buffer: Held[] = [];
  /** Claimed jobs (running or finishing), by job id. */
  private readonly active = new Map<string, ActiveJob>();
  private readonly completion: Completion;
  private readonly batches: BatchRunner;
  private readonly sweeper: DeadLetterSweeper;

  private stopping = false;
  private stopRequested!: () => void;
  private readonly stopSignal = new Promise<void>((resolve) => (this.stopRequested = resolve));
  /** Aborted at the shutdown deadline: engine calls end early. */
  private readonly deadline = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private receiving: Promise<ReceivedMessage<JobQueueMessage>[]> | undefined;
  private runPromise: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    this.services = options.services;
    this.settings = resolveWorkerSettings(options.settings);
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.protection = options.taskProtection ?? noTaskProtection;
    const { services, settings, clock, log, active } = this;
    const { jobs, blobs } = services;
    const { visibilityTimeoutSeconds, maxReceives } = settings;
    this.leases = new Leases(services.queue, visibilityTimeoutSeconds, log, maxReceives);
    const leases = this.leases;
    this.completion = new Completion({
      usage: services.usage,
      jobs,
      webhooks: new JobWebhooks({ jobs, queue: services.webhookQueue, clock, logger: log }),
      leases,
      active,
      visibilityTimeoutSeconds,
    });
    const completion = this.completion;
    const random = options.random ?? Math.random;
    const metrics = services.metrics ?? noJobMetrics;
    const outcomes = new Outcomes({
      jobs,
      blobs,
      clock,
      settings,
      random,
      leases,
      completion,
      active,
      metrics,
      ...(options.engine.name ? { modelName: options.engine.name } : {}),
    });
    const stale = staleAfterMs(settings);
    const claims = new Claims({ jobs, clock, leases, completion, active, staleAfterMs: stale, log });
    const deadline = this.deadline.signal;
    const engine = options.engine;
    this.batches = new BatchRunner({
      engine,
      jobs,
      blobs,
      clock,
      settings,
      claims,
      outcomes,
      leases,
      deadline,
      log,
    });
    this.sweeper = new DeadLetterSweeper({
      deadLetters: services.queue.deadLetters,
      jobs,
      clock,
      completion,
      visibilityTimeoutSeconds,
      maxReceives,
      log,
      staleAfterMs: stale,
      stopping: () => this.stopping,
      metrics,
    });
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
      this.log.info('shutdown started', { reason, deadlineSeconds, held: this.leases.size });
      this.deadlineTimer = setTimeout(() => this.onDeadline(), (deadlineSeconds - margin) * 1000);
      this.deadlineTimer.unref();
      this.stopRequested();
      await this.leases.handBack(this.buffer.splice(0), 'not_started');
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
          if (this.leases.size === 0) await this.protection.disable();
          continue;
        }
        await this.protection.enable();
        try {
          await this.batches.run(batch);
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
        await this.leases.handBack(
          late.map((message) => this.leases.hold(message)),
          'not_started',
        );
    }
    await this.leases.handBack(this.buffer.splice(0), 'not_started');
    await this.completion.drain();
    await this.sweeper.idle();
  }

  private deadlineReached(): Promise<undefined> {
    const signal = this.deadline.signal;
    return new Promise((resolve) => {
      if (signal.aborted) resolve(undefined);
      else signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
  }

  // ---------------------------------------------------------------- receiving

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
    const received = messages.map((message) => this.leases.hold(message));
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

  /** Extends every held message's lease and touches every running job. */
  private async heartbeat(): Promise<void> {
    if (this.leases.size > 0) await this.protection.enable();
    await this.leases.extendAll();
    for (const active of this.active.values()) {
      if (active.state === 'running' && !active.writing) {
        startProgressWrite(this.services.jobs, this.clock, active, active.job.progress);
      }
    }
  }

  /**
   * Marks the jobs of dead-lettered messages `failed` (`retries_exhausted`), queues their
   * webhooks and deletes the dead letters (see dead-letters.ts). Returns how many dead letters
   * it deleted. Runs one sweep at a time.
   *
   * @example `await worker.sweepDeadLetters(); // 1: the job is failed now`
   */
  sweepDeadLetters(): Promise<number> {
    return this.sweeper.sweep();
  }
}
