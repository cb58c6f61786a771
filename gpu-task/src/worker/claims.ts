/**
 * Claiming: turns a held delivery into a job this worker runs, or settles it, carrying out
 * {@link decideDelivery} (see delivery.ts for the rules). A second delivery of a job this worker
 * already runs is attached to it and deleted or released with it.
 */
import {
  PreconditionFailedError,
  type Clock,
  type Job,
  type JobStore,
  type Logger,
} from '../../../shared/src/index.js';
import type { Completion } from './completion.js';
import { decideDelivery, type DeliveryDecision } from './delivery.js';
import type { Held, Leases } from './leases.js';
import type { ActiveJob } from './ownership.js';

export interface ClaimsOptions {
  jobs: Pick<JobStore, 'get' | 'update'>;
  clock: Clock;
  leases: Leases;
  completion: Completion;
  /** Claimed jobs by id; a claim adds one. */
  active: Map<string, ActiveJob>;
  /** See `staleAfterMs` in settings.ts. */
  staleAfterMs: number;
  log: Logger;
}

/** Decisions are retried on a fresh read this often when other writers keep winning. */
const MAX_CLAIM_ROUNDS = 5;

export class Claims {
  constructor(private readonly options: ClaimsOptions) {}

  /** The job this worker now runs for the delivery, or undefined when it is not ours to run. */
  async claim(held: Held): Promise<ActiveJob | undefined> {
    const { jobs, clock, leases, active: activeJobs, staleAfterMs } = this.options;
    const { message } = held;
    const jobId = message.body.jobId;
    const log = this.options.log.child({
      jobId,
      messageId: message.messageId,
      receiveCount: message.receiveCount,
    });
    const mine = activeJobs.get(jobId);
    if (mine) {
      // A second delivery of a job this worker is already on: finish it with the first.
      log.info('duplicate delivery', { handling: 'attached' });
      mine.duplicates.push(held);
      return undefined;
    }
    for (let round = 1; round <= MAX_CLAIM_ROUNDS; round++) {
      const job = await jobs.get(jobId);
      const decision = decideDelivery(job, clock.now(), { tenantId: message.body.tenantId, staleAfterMs });
      if (decision.action !== 'claim' && decision.action !== 'take_over') {
        await this.settle(held, job, decision, log);
        return undefined;
      }
      if (decision.action === 'take_over') {
        log.warn('job taken over', { previousAttempt: job?.attempts, idleMs: decision.idleMs });
      }
      try {
        // Compare-and-set on the version read (transitions keep it).
        const stored = await jobs.update(decision.next, decision.next.version);
        const active: ActiveJob = {
          job: stored,
          attempt: stored.attempts,
          held,
          duplicates: [],
          log: log.child({ attempt: stored.attempts }),
          state: 'running',
        };
        activeJobs.set(jobId, active);
        active.log.info('job claimed', { batchKey: held.batchKey });
        return active;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        // Someone wrote first (a cancel, another claimer): decide again on the fresh record.
      }
    }
    log.warn('claim contended');
    await leases.leave(held);
    return undefined;
  }

  /**
   * Carries out a decision other than a claim. A delivery for a finished job changes nothing; it
   * completes what a crashed worker may have left undone (usage, a webhook not queued) and
   * deletes the message.
   */
  private async settle(
    held: Held,
    job: Job | undefined,
    decision: Exclude<DeliveryDecision, { action: 'claim' | 'take_over' }>,
    log: Logger,
  ): Promise<void> {
    const { leases, completion } = this.options;
    if (decision.action === 'delete') {
      if (decision.reason === 'job_missing') log.warn('job missing');
      else if (decision.reason === 'tenant_mismatch') {
        log.error('message tenant mismatch', { tenantId: held.message.body.tenantId });
      } else log.warn('job not dispatched', { status: job?.status });
      await leases.delete(held);
      return;
    }
    if (decision.action === 'leave') {
      log.info('duplicate delivery', { handling: decision.reason, attempt: job?.attempts });
      await leases.leave(held);
      return;
    }
    if (!job) return;
    if (decision.recordUsage) await completion.recordUsage(job);
    switch (decision.then) {
      case 'wait':
        // The worker that finished it is probably queueing it now: look again in one lease.
        log.info('duplicate delivery', { handling: 'webhook_in_progress', status: job.status });
        await leases.leave(held);
        return;
      case 'complete':
        log.info('webhook resumed', { status: job.status });
        completion.complete(job, log, held);
        return;
      case 'delete':
        log.info('duplicate delivery', { handling: 'deleted', status: job.status });
        await leases.delete(held);
    }
  }
}
