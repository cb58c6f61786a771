/**
 * The dead-letter sweeper: when a worker dies on a message's last delivery, the queue
 * dead-letters it; the sweeper (every `deadLetterSweepIntervalMs`) carries out
 * {@link decideDeadLetter} for each dead letter: marks its job `failed` (`retries_exhausted`,
 * the last error in the message), queues the webhook and deletes the dead letter. A dead letter
 * whose job is finished is deleted once the finished job's side effects are done; one whose job
 * a live worker runs is left for a later sweep.
 */
import {
  PreconditionFailedError,
  type Clock,
  type JobQueue,
  type JobMetrics,
  type JobQueueMessage,
  type JobStore,
  type ReceivedMessage,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';
import type { Completion } from './completion.js';
import { decideDeadLetter } from './delivery.js';

export interface DeadLetterSweeperOptions {
  deadLetters: JobQueue['deadLetters'];
  jobs: Pick<JobStore, 'get' | 'update'>;
  clock: Clock;
  completion: Pick<Completion, 'recordUsage' | 'queueWebhook'>;
  /** Dead letters stay hidden this long while one sweep handles them. */
  visibilityTimeoutSeconds: number;
  /** For the failure message: how many deliveries the queue made. */
  maxReceives: number;
  /** See `staleAfterMs` in settings.ts. */
  staleAfterMs: number;
  /** A sweep stops between rounds once this says so. */
  stopping: () => boolean;
  log: Logger;
  /** Told of each job a dead letter made failed. */
  metrics: JobMetrics;
}

/** Dead letters per receive; a sweep takes at most this many rounds. */
const LETTERS_PER_ROUND = 10;
const MAX_ROUNDS = 10;
/** Decisions are retried on a fresh read this often when other writers keep winning. */
const MAX_SETTLE_ROUNDS = 5;

export class DeadLetterSweeper {
  private sweeping: Promise<number> | undefined;

  constructor(private readonly options: DeadLetterSweeperOptions) {}

  /**
   * One sweep (or the one in progress): returns how many dead letters it deleted.
   *
   * @example `await sweeper.sweep(); // 1: the job is failed now`
   */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Resolves when the sweep in progress (if any) has ended, however it ended. */
  async idle(): Promise<void> {
    await this.sweeping?.catch(() => undefined);
  }

  private async sweepOnce(): Promise<number> {
    const { deadLetters, visibilityTimeoutSeconds, stopping, log } = this.options;
    let deleted = 0;
    for (let round = 0; round < MAX_ROUNDS && !stopping(); round++) {
      const letters = await deadLetters.receive({
        maxMessages: LETTERS_PER_ROUND,
        waitSeconds: 0,
        visibilityTimeoutSeconds,
      });
      for (const letter of letters) {
        try {
          if (await this.settle(letter)) {
            await deadLetters.delete(letter.receiptHandle);
            deleted += 1;
          }
        } catch (error) {
          log.error('dead letter failed', { jobId: letter.body.jobId, ...errorFields(error) });
        }
      }
      if (letters.length < LETTERS_PER_ROUND) break;
    }
    return deleted;
  }

  /** True when the dead letter can go. */
  private async settle(letter: ReceivedMessage<JobQueueMessage>): Promise<boolean> {
    const { jobs, clock, completion, maxReceives, staleAfterMs } = this.options;
    const log = this.options.log.child({
      jobId: letter.body.jobId,
      messageId: letter.messageId,
      deadLetter: true,
    });
    for (let round = 1; round <= MAX_SETTLE_ROUNDS; round++) {
      const job = await jobs.get(letter.body.jobId);
      const context = { tenantId: letter.body.tenantId, staleAfterMs, maxReceives };
      const decision = decideDeadLetter(job, clock.now(), context);
      if (decision.action !== 'fail') {
        if (decision.recordUsage && job) await completion.recordUsage(job);
        if (decision.action === 'delete') return true;
        if (decision.action === 'keep') return false;
        return job !== undefined && (await completion.queueWebhook(job)) !== 'queue_failed';
      }
      try {
        // Compare-and-set on the version read (transitions keep it).
        const failed = await jobs.update(decision.next, decision.next.version);
        log.warn('job failed', { errorCode: decision.error.code, errorMessage: decision.error.message });
        this.options.metrics.jobFinished(failed);
        return (await completion.queueWebhook(failed)) !== 'queue_failed';
      } catch (updateError) {
        if (!(updateError instanceof PreconditionFailedError)) throw updateError;
      }
    }
    return false;
  }
}
