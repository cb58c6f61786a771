/**
 * The worker's pure decisions: what a delivery or a dead letter leads to (delivery.ts), whether
 * a claimed job is still ours (ownership.ts), settings and error codes.
 */
import { describe, expect, it } from 'vitest';
import {
  decideDeadLetter,
  decideDelivery,
  webhookToQueue,
  WORKER_LOST_ERROR,
} from '../../gpu-task/src/worker/delivery.js';
import { errorCode } from '../../gpu-task/src/worker/outcomes.js';
import { ownershipOf, writeOwned, type ActiveJob } from '../../gpu-task/src/worker/ownership.js';
import { resolveWorkerSettings, staleAfterMs } from '../../gpu-task/src/worker/settings.js';
import {
  checkJobWrite,
  PreconditionFailedError,
  recordProgress,
  transitionJob,
  type Job,
  type JobStatus,
  type JobStore,
  type JobTransition,
  silentLogger,
} from '../../shared/src/index.js';
import { sampleJob } from '../shared/helpers/jobs.js';

const TENANT = 'tenant-a';
const STALE_MS = 60_000;
const context = { tenantId: TENANT, staleAfterMs: STALE_MS };
/** When the sample jobs were last written; decisions are made `idleMs` later. */
const written = new Date(Date.UTC(2025, 0, 1, 13, 0, 0));
const after = (idleMs: number) => new Date(written.getTime() + idleMs);

const done: Record<'succeeded' | 'failed', JobTransition> = {
  succeeded: {
    to: 'succeeded',
    at: written,
    output: { restoredKey: 'r.png', format: 'png' },
    usage: { images: 1, modelSeconds: 2 },
  },
  failed: { to: 'failed', at: written, error: { code: 'image_decode_failed', message: 'x' } },
};

/** A job of {@link TENANT} brought to `status` through the lifecycle, last written at `written`. */
function jobIn(status: JobStatus, webhook = false): Job {
  const paths: Record<JobStatus, JobTransition[]> = {
    created: [],
    uploaded: [{ to: 'uploaded', at: written }],
    queued: [
      { to: 'uploaded', at: written },
      { to: 'queued', at: written },
    ],
    running: [
      { to: 'uploaded', at: written },
      { to: 'queued', at: written },
      { to: 'running', at: written },
    ],
    succeeded: [
      { to: 'uploaded', at: written },
      { to: 'queued', at: written },
      { to: 'running', at: written },
      done.succeeded,
    ],
    failed: [
      { to: 'uploaded', at: written },
      { to: 'queued', at: written },
      { to: 'running', at: written },
      done.failed,
    ],
    canceled: [{ to: 'canceled', at: written }],
  };
  const path = paths[status];
  const start = sampleJob(
    TENANT,
    0,
    webhook
      ? {
          webhook: {
            url: 'https://example.com/hook',
            events: ['job.succeeded', 'job.failed', 'job.canceled'],
          },
        }
      : {},
  );
  return path.reduce(transitionJob, start);
}

describe('decideDelivery', () => {
  it('claims a queued job: running, one more attempt, from the version read', () => {
    const job = jobIn('queued');
    const decision = decideDelivery(job, after(5), context);
    expect(decision.action).toBe('claim');
    if (decision.action !== 'claim') return;
    expect(decision.next).toMatchObject({ status: 'running', attempts: 1, version: job.version });
    expect(() => checkJobWrite(job, decision.next)).not.toThrow();
  });

  it('leaves a running job touched within the stale time to its live worker', () => {
    expect(decideDelivery(jobIn('running'), after(STALE_MS - 1), context)).toEqual({
      action: 'leave',
      reason: 'left_to_live_worker',
    });
  });

  it('takes over a running job untouched for the stale time: running again at the next attempt', () => {
    const job = jobIn('running');
    const decision = decideDelivery(job, after(STALE_MS), context);
    expect(decision).toMatchObject({ action: 'take_over', idleMs: STALE_MS });
    if (decision.action !== 'take_over') return;
    expect(decision.next).toMatchObject({ status: 'running', attempts: job.attempts + 1 });
    // The attempt it lost is on record until the new one clears it; the store takes the write.
    expect(decision.next.timestamps.queued).toBe(after(STALE_MS).toISOString());
    expect(() => checkJobWrite(job, decision.next)).not.toThrow();
    expect(WORKER_LOST_ERROR.retryable).toBe(true);
  });

  it.each([
    ['a missing job', undefined, 'job_missing'],
    ['a job that was never dispatched (created)', jobIn('created'), 'not_dispatched'],
    ['a job that was never dispatched (uploaded)', jobIn('uploaded'), 'not_dispatched'],
  ] as const)('deletes the message of %s', (_name, job, reason) => {
    expect(decideDelivery(job, after(5), context)).toEqual({ action: 'delete', reason });
  });

  it('deletes a message whose tenant is not the job’s, whatever the job’s status', () => {
    expect(decideDelivery(jobIn('queued'), after(5), { ...context, tenantId: 'tenant-b' })).toEqual({
      action: 'delete',
      reason: 'tenant_mismatch',
    });
  });

  it('completes a quiet finished job whose webhook is owed, waits on a fresh one, deletes otherwise', () => {
    const succeeded = jobIn('succeeded', true);
    expect(decideDelivery(succeeded, after(STALE_MS), context)).toEqual({
      action: 'finished',
      then: 'complete',
      recordUsage: true,
    });
    expect(decideDelivery(succeeded, after(5), context)).toEqual({
      action: 'finished',
      then: 'wait',
      recordUsage: true,
    });
    expect(decideDelivery(jobIn('failed', true), after(STALE_MS), context)).toMatchObject({
      then: 'complete',
      recordUsage: false,
    });
    // A photo failed at the engine cap carries the model time it is billed: a worker that died
    // before its ledger write leaves it to this delivery
    const capped = { ...jobIn('failed', true), usage: { images: 0, faces: 0, modelSeconds: 12 } } as Job;
    expect(decideDelivery(capped, after(STALE_MS), context)).toMatchObject({ recordUsage: true });
    expect(decideDeadLetter(capped, after(STALE_MS), { ...context, maxReceives: 3 })).toMatchObject({
      recordUsage: true,
    });
    // No webhook, or one already queued: nothing owed.
    expect(decideDelivery(jobIn('succeeded'), after(5), context)).toMatchObject({ then: 'delete' });
    const queued = { ...succeeded, webhookStatus: { event: 'job.succeeded' } } as Job;
    expect(decideDelivery(queued, after(STALE_MS), context)).toMatchObject({ then: 'delete' });
  });

  it('never owes the webhook of a canceled job (the canceller queues it)', () => {
    const canceled = jobIn('canceled', true);
    expect(webhookToQueue(canceled)).toBe(false);
    expect(decideDelivery(canceled, after(STALE_MS), context)).toEqual({
      action: 'finished',
      then: 'delete',
      recordUsage: false,
    });
  });
});

describe('decideDeadLetter', () => {
  const letter = { ...context, maxReceives: 3 };

  it('fails a queued job in one lifecycle edge, with the last error in the message', () => {
    const lastError = { code: 'inference_failed', message: 'device lost', retryable: true };
    const job = transitionJob(jobIn('running'), { to: 'queued', at: written, error: lastError });
    const decision = decideDeadLetter(job, after(5), letter);
    expect(decision.action).toBe('fail');
    if (decision.action !== 'fail') return;
    expect(decision.next).toMatchObject({
      status: 'failed',
      attempts: job.attempts,
      error: {
        code: 'retries_exhausted',
        message: 'gave up after 3 deliveries; last error: inference_failed: device lost',
      },
    });
    expect(decision.next.timestamps.running).toBe(job.timestamps.running);
    expect(() => checkJobWrite(job, decision.next)).not.toThrow();
  });

  it('keeps the dead letter of a job a live worker runs, fails one whose worker died', () => {
    const running = jobIn('running');
    expect(decideDeadLetter(running, after(STALE_MS - 1), letter)).toEqual({
      action: 'keep',
      recordUsage: false,
    });
    expect(decideDeadLetter(running, after(STALE_MS), letter)).toMatchObject({
      action: 'fail',
      error: { code: 'retries_exhausted', message: 'gave up after 3 deliveries' },
    });
  });

  it('finishes what a finished job still owes before the dead letter goes', () => {
    const succeeded = jobIn('succeeded', true);
    expect(decideDeadLetter(succeeded, after(STALE_MS), letter)).toEqual({
      action: 'queue_webhook',
      recordUsage: true,
    });
    expect(decideDeadLetter(succeeded, after(5), letter)).toEqual({ action: 'keep', recordUsage: true });
    expect(decideDeadLetter(jobIn('succeeded'), after(5), letter)).toEqual({
      action: 'delete',
      recordUsage: true,
    });
    expect(decideDeadLetter(jobIn('canceled', true), after(5), letter)).toEqual({
      action: 'delete',
      recordUsage: false,
    });
  });

  it('deletes the dead letter of a missing job, another tenant’s job or one never dispatched', () => {
    expect(decideDeadLetter(undefined, after(5), letter)).toEqual({ action: 'delete', recordUsage: false });
    expect(decideDeadLetter(jobIn('succeeded'), after(5), { ...letter, tenantId: 'x' })).toEqual({
      action: 'delete',
      recordUsage: false,
    });
    expect(decideDeadLetter(jobIn('uploaded'), after(5), letter)).toEqual({
      action: 'delete',
      recordUsage: false,
    });
  });
});

describe('ownership', () => {
  it('is ours while running at the claimed attempt; canceled or lost otherwise', () => {
    const running = jobIn('running');
    expect(ownershipOf(running, running.attempts)).toBeUndefined();
    expect(ownershipOf(running, running.attempts - 1)).toBe('lost');
    expect(ownershipOf(transitionJob(running, { to: 'canceled', at: written }), running.attempts)).toBe(
      'canceled',
    );
    expect(ownershipOf(transitionJob(running, done.failed), running.attempts)).toBe('lost');
  });

  /** A one-job store with compare-and-set, for {@link writeOwned}. */
  function oneJobStore(initial: Job): Pick<JobStore, 'get' | 'update'> & { current: Job } {
    const store = {
      current: initial,
      get: async () => store.current,
      update: async (next: Job, expectedVersion: number) => {
        if (store.current.version !== expectedVersion) throw new PreconditionFailedError('stale');
        checkJobWrite(store.current, next);
        store.current = { ...next, version: expectedVersion + 1 };
        return store.current;
      },
    };
    return store;
  }

  function activeFor(job: Job): ActiveJob {
    const message = {
      receiptHandle: 'r',
      messageId: 'm',
      receiveCount: 1,
      sentAt: written,
      body: { jobId: job.id, tenantId: TENANT, batchKey: 'k' },
    };
    return {
      job,
      attempt: job.attempts,
      held: { message, batchKey: 'k', solo: false },
      duplicates: [],
      log: silentLogger,
      state: 'running',
    };
  }

  it('writes while the job is ours and returns it as stored', async () => {
    const running = jobIn('running');
    const store = oneJobStore(running);
    const active = activeFor(running);
    const result = await writeOwned(store, active, (job) =>
      recordProgress(job, { step: 2, total: 3 }, after(1)),
    );
    expect(result).toMatchObject({
      ok: true,
      job: { progress: { step: 2, total: 3 }, version: running.version + 1 },
    });
    expect(active.job).toBe(store.current);
    expect(active.state).toBe('running');
  });

  it('writes nothing to a job canceled meanwhile and says so, keeping the canceled record', async () => {
    const running = jobIn('running');
    const store = oneJobStore(running);
    const active = activeFor(running);
    store.current = transitionJob(running, { to: 'canceled', at: after(1) });
    const result = await writeOwned(store, active, () => {
      throw new Error('change must not run on a job that is not ours');
    });
    expect(result).toMatchObject({ ok: false, dropped: 'canceled', job: { status: 'canceled' } });
    expect(active).toMatchObject({ state: 'canceled', job: { status: 'canceled' } });
  });

  it('writes nothing to a job another worker took over, and marks it lost', async () => {
    const running = jobIn('running');
    const store = oneJobStore(running);
    const active = activeFor(running);
    const takeOver = decideDelivery(running, after(STALE_MS), context);
    if (takeOver.action !== 'take_over') throw new Error('expected a take-over');
    store.current = takeOver.next;
    const result = await writeOwned(store, active, (job) => transitionJob(job, done.succeeded));
    expect(result).toMatchObject({ ok: false, dropped: 'lost' });
    expect(store.current.status).toBe('running');
    expect(active.state).toBe('lost');
    expect(active.job).toBe(running);
  });
});

describe('worker settings and error codes', () => {
  it('fills defaults, ignores undefined overrides and refuses values out of range', () => {
    expect(resolveWorkerSettings({ batchSize: 8, maxReceives: undefined })).toMatchObject({
      batchSize: 8,
      maxReceives: 3,
    });
    expect(staleAfterMs({ visibilityTimeoutSeconds: 120 })).toBe(60_000);
    expect(() => resolveWorkerSettings({ batchSize: 0 })).toThrow(RangeError);
    expect(() => resolveWorkerSettings({ facesPerRun: 1.5 })).toThrow(RangeError);
    expect(() => resolveWorkerSettings({ visibilityTimeoutSeconds: 2 })).toThrow(/visibilityTimeoutSeconds/);
    expect(() => resolveWorkerSettings({ maxReceives: 0 })).toThrow(RangeError);
  });

  it('keeps snake_case error codes and calls anything else internal_error', () => {
    expect(errorCode(Object.assign(new Error('x'), { code: 'inference_failed' }))).toBe('inference_failed');
    expect(errorCode(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('internal_error');
    expect(errorCode(new Error('x'))).toBe('internal_error');
    expect(errorCode(null)).toBe('internal_error');
  });
});
