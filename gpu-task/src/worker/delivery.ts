/**
 * What a worker does with a delivery, decided from the job record alone (pure functions; the
 * claimer and the dead-letter sweeper carry the decisions out).
 *
 * ## Ownership and duplicate deliveries
 * The queue is at least once: a message may arrive twice, or a second message for the same job
 * may exist. A worker only works on a job it moved to `running` itself, and remembers the job's
 * `attempts` after its claim as a fencing token (see ownership.ts). A delivery for a job that is:
 * - `queued`: claimed (the compare-and-set lets exactly one claimer win; a loser re-reads);
 * - `running` under this worker: attached to the running job and deleted with it (the claimer
 *   sees that before it reads the job);
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
 * ## Dead letters
 * When a worker dies on a message's last delivery, the queue dead-letters it. The sweeper marks
 * its job `failed` (`retries_exhausted`, the last error in the message; `queued -> failed` or
 * `running -> failed` once no live worker touches it), queues the webhook and deletes the dead
 * letter; a finished job only gets its missing side effects.
 */
import {
  isTerminalStatus,
  transitionJob,
  webhookNotQueued,
  type Job,
  type JobError,
} from '../../../shared/src/index.js';

/** The error a job taken over from a dead worker records for the attempt it lost. */
export const WORKER_LOST_ERROR: JobError = {
  code: 'worker_lost',
  message: 'the worker running this job stopped answering; another worker took it over',
  retryable: true,
};

/** Milliseconds since the job was last written (a live worker touches its jobs). */
export function ageMs(job: Job, now: Date): number {
  return now.getTime() - Date.parse(job.updatedAt);
}

/** True when the job was written within `staleAfterMs`: someone is (or was just) working on it. */
export function isFresh(job: Job, now: Date, staleAfterMs: number): boolean {
  return ageMs(job, now) < staleAfterMs;
}

/**
 * Whether a finished job's usage goes to the ledger when it completes: a succeeded job's, and a
 * failed one's that carries usage (a photo past the engine cap is billed the model time it
 * took). A run canceled midway is billed by its worker alone (Completion.recordCanceledRun):
 * only it knows the seconds.
 *
 * @example
 * ```ts
 * ledgerUsage(succeededJob); // true
 * ```
 */
export function ledgerUsage(job: Pick<Job, 'status' | 'usage'>): boolean {
  return job.status === 'succeeded' || (job.status === 'failed' && job.usage !== undefined);
}

/**
 * True when a worker owes the job's webhook: `job.succeeded` and `job.failed` not queued yet.
 * Whoever cancels a job queues `job.canceled` (the API), so a worker never does.
 */
export function webhookToQueue(job: Job): boolean {
  return job.status !== 'canceled' && webhookNotQueued(job);
}

/** What the message's sender and the worker's lease say about a delivery. */
export interface DeliveryContext {
  /** The tenant the message names; a job of another tenant is not this message's. */
  tenantId: string;
  /** See `staleAfterMs` in settings.ts. */
  staleAfterMs: number;
}

/** What to do with a delivery of a job this worker is not already running. */
export type DeliveryDecision =
  /** Not a job to run, and nobody else needs the message. */
  | { action: 'delete'; reason: 'job_missing' | 'tenant_mismatch' | 'not_dispatched' }
  /** A live worker runs it: hide the message one lease. */
  | { action: 'leave'; reason: 'left_to_live_worker' }
  /** Write `next` (compare-and-set on the version read) and run the job. */
  | { action: 'claim'; next: Job }
  /** Its worker died: write `next` (attempt + 1) and run the job. */
  | { action: 'take_over'; next: Job; idleMs: number }
  /**
   * A finished job: record its usage first when `recordUsage`, then `complete` (queue the
   * owed webhook, delete the message), `wait` (its finisher is probably queueing the webhook
   * now: hide the message one lease) or `delete`.
   */
  | { action: 'finished'; then: 'complete' | 'wait' | 'delete'; recordUsage: boolean };

/**
 * The claim decision for a delivered message, from the job as read (`undefined`: no such job).
 * Pure: the caller carries it out.
 *
 * @example
 * ```ts
 * decideDelivery(queuedJob, now, { tenantId, staleAfterMs: 60_000 }); // { action: 'claim', next: <running, attempts + 1> }
 * decideDelivery(undefined, now, { tenantId, staleAfterMs: 60_000 }); // { action: 'delete', reason: 'job_missing' }
 * ```
 */
export function decideDelivery(job: Job | undefined, now: Date, context: DeliveryContext): DeliveryDecision {
  if (!job) return { action: 'delete', reason: 'job_missing' };
  if (job.tenantId !== context.tenantId) return { action: 'delete', reason: 'tenant_mismatch' };
  switch (job.status) {
    case 'created':
    case 'uploaded':
      // The dispatcher queues the job before it sends the message; this one is stray.
      return { action: 'delete', reason: 'not_dispatched' };
    case 'queued':
      return { action: 'claim', next: transitionJob(job, { to: 'running', at: now }) };
    case 'running': {
      if (isFresh(job, now, context.staleAfterMs)) return { action: 'leave', reason: 'left_to_live_worker' };
      const released = transitionJob(job, { to: 'queued', at: now, error: WORKER_LOST_ERROR });
      return {
        action: 'take_over',
        next: transitionJob(released, { to: 'running', at: now }),
        idleMs: ageMs(job, now),
      };
    }
    default:
      return {
        action: 'finished',
        then: !webhookToQueue(job) ? 'delete' : isFresh(job, now, context.staleAfterMs) ? 'wait' : 'complete',
        recordUsage: ledgerUsage(job),
      };
  }
}

/** What the dead-letter sweeper does with one dead letter. */
export type DeadLetterDecision =
  /** Nothing left to do: delete the dead letter (after recording usage when `recordUsage`). */
  | { action: 'delete'; recordUsage: boolean }
  /** A live worker runs the job, or its finisher is queueing the webhook: look again next sweep. */
  | { action: 'keep'; recordUsage: boolean }
  /** Finished with its webhook owed: queue it, then delete the dead letter. */
  | { action: 'queue_webhook'; recordUsage: boolean }
  /** Write `next` (failed, compare-and-set on the version read), queue its webhook, delete. */
  | { action: 'fail'; next: Job; error: JobError };

/**
 * The sweeper's decision for a dead letter, from its job as read (`undefined`: no such job).
 * Pure: the caller carries it out.
 *
 * @example
 * ```ts
 * decideDeadLetter(queuedJob, now, { tenantId, staleAfterMs, maxReceives: 3 });
 * // { action: 'fail', next: <failed, retries_exhausted>, error }
 * ```
 */
export function decideDeadLetter(
  job: Job | undefined,
  now: Date,
  context: DeliveryContext & { maxReceives: number },
): DeadLetterDecision {
  if (!job || job.tenantId !== context.tenantId) return { action: 'delete', recordUsage: false };
  if (isTerminalStatus(job.status) || job.status === 'created' || job.status === 'uploaded') {
    const recordUsage = ledgerUsage(job);
    if (!webhookToQueue(job)) return { action: 'delete', recordUsage };
    if (isFresh(job, now, context.staleAfterMs)) return { action: 'keep', recordUsage };
    return { action: 'queue_webhook', recordUsage };
  }
  if (job.status === 'running' && isFresh(job, now, context.staleAfterMs)) {
    return { action: 'keep', recordUsage: false };
  }
  const lastError = job.error ? `; last error: ${job.error.code}: ${job.error.message}` : '';
  const error: JobError = {
    code: 'retries_exhausted',
    message: `gave up after ${context.maxReceives} deliveries${lastError}`,
  };
  // queued -> failed (dead-lettered before a worker ran it) or running -> failed.
  return { action: 'fail', next: transitionJob(job, { to: 'failed', at: now, error }), error };
}
