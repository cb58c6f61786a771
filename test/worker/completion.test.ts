/** Completion of a finished job (completion.ts): usage, the webhook the worker owes, messages. */
import { describe, expect, it } from 'vitest';
import { Completion } from '../../gpu-task/src/worker/completion.js';
import { ledgerUsage } from '../../gpu-task/src/worker/delivery.js';
import { Leases, type Held } from '../../gpu-task/src/worker/leases.js';
import type { ActiveJob } from '../../gpu-task/src/worker/ownership.js';
import {
  silentLogger,
  transitionJob,
  PreconditionFailedError,
  type Job,
  type JobStore,
  type JobQueue,
  type QueueWebhookOutcome,
  type UsageRecord,
} from '../../shared/src/index.js';
import { sampleJob } from '../shared/helpers/jobs.js';

const LEASE_SECONDS = 120;
const at = new Date(Date.UTC(2025, 0, 1, 13, 0, 0));
const WEBHOOK = {
  url: 'https://example.com/hook',
  events: ['job.succeeded', 'job.failed', 'job.canceled'],
} as const;

function finished(status: 'succeeded' | 'canceled' | 'failed', errorCode = 'engine_timeout'): Job {
  const running = [
    { to: 'uploaded', at },
    { to: 'queued', at },
    { to: 'running', at },
  ].reduce(
    (job, change) => transitionJob(job, change as { to: 'running'; at: Date }),
    sampleJob('tenant-a', 0, { webhook: { ...WEBHOOK, events: [...WEBHOOK.events] } }),
  );
  return status === 'succeeded'
    ? transitionJob(running, {
        to: 'succeeded',
        at,
        output: { restoredKey: 'r.png', format: 'png' },
        usage: { images: 1, faces: 2, modelSeconds: 3 },
      })
    : status === 'failed'
      ? transitionJob(running, { to: 'failed', at, error: { code: errorCode, message: 'it failed' } })
      : transitionJob(running, { to: 'canceled', at });
}

/** A completion over a queue and a webhook queue that record what happens to them. */
function setup(
  webhookOutcome: QueueWebhookOutcome = 'queued',
  ledger: (entry: UsageRecord, usage: UsageRecord[]) => Promise<void> = async (entry, usage) =>
    void usage.push(entry),
) {
  const calls: string[] = [];
  const usage: UsageRecord[] = [];
  const webhooks: string[] = [];
  const queue: Pick<JobQueue, 'delete' | 'changeVisibility' | 'send'> = {
    send: async (body) => {
      calls.push(`send ${body.jobId}`);
      return { messageId: `copy-of-${body.jobId}` };
    },
    delete: async (receipt) => void calls.push(`delete ${receipt}`),
    changeVisibility: async (receipt, seconds) => void calls.push(`visibility ${receipt} ${seconds}`),
  };
  const leases = new Leases(queue, LEASE_SECONDS, silentLogger);
  const active = new Map<string, ActiveJob>();
  // The job records, by id (compare-and-set on the version, as the stores do).
  const records = new Map<string, Job>();
  const jobs: Pick<JobStore, 'get' | 'update'> = {
    get: async (jobId) => records.get(jobId),
    update: async (next, expectedVersion) => {
      if (records.get(next.id)?.version !== expectedVersion)
        throw new PreconditionFailedError('version moved');
      const stored = { ...next, version: expectedVersion + 1 };
      records.set(next.id, stored);
      return stored;
    },
  };
  const completion = new Completion({
    usage: { record: (entry) => ledger(entry, usage) },
    jobs,
    webhooks: {
      jobFinished: async (job) => {
        webhooks.push(`${job.id} ${job.status}`);
        return webhookOutcome;
      },
    },
    leases,
    active,
    visibilityTimeoutSeconds: LEASE_SECONDS,
  });
  const hold = (n: number): Held =>
    leases.hold({
      receiptHandle: `receipt-${n}`,
      messageId: `message-${n}`,
      receiveCount: 1,
      sentAt: at,
      body: { jobId: 'j', tenantId: 'tenant-a', batchKey: 'k' },
    });
  const claim = (job: Job): ActiveJob => {
    const claimed: ActiveJob = {
      job,
      attempt: job.attempts,
      held: hold(1),
      duplicates: [hold(2)],
      log: silentLogger,
      state: 'running',
    };
    active.set(job.id, claimed);
    return claimed;
  };
  return { completion, leases, active, calls, usage, webhooks, claim, hold, records };
}

describe('Completion', () => {
  it('records usage, queues the webhook, then deletes the job’s message and its duplicates', async () => {
    // Prepare
    const h = setup();
    const job = finished('succeeded');
    const claimed = h.claim(job);
    // Act
    h.completion.complete(job, silentLogger, claimed);
    await h.completion.drain();
    // Assess
    expect(h.usage).toEqual([
      { tenantId: 'tenant-a', jobId: job.id, at, images: 1, faces: 2, modelSeconds: 3 },
    ]);
    expect(h.webhooks).toEqual([`${job.id} succeeded`]);
    expect(h.calls.sort()).toEqual(['delete receipt-1', 'delete receipt-2']);
    expect(claimed.state).toBe('done');
    expect(h.active.size).toBe(0);
    expect(h.leases.size).toBe(0);
  });

  it('releases the messages for one lease when the webhook queue is down, so a later delivery queues it', async () => {
    // Prepare
    const h = setup('queue_failed');
    const job = finished('succeeded');
    // Act
    h.completion.complete(job, silentLogger, h.claim(job));
    await h.completion.drain();
    // Assess
    expect(h.calls.sort()).toEqual([
      `visibility receipt-1 ${LEASE_SECONDS}`,
      `visibility receipt-2 ${LEASE_SECONDS}`,
    ]);
    expect(h.leases.size).toBe(0);
  });

  it('meters the model time of a job canceled while it ran, with no image or face, in the ledger and on the job', async () => {
    // Prepare: the job took part in engine calls for 2.5 s before the API canceled it
    const h = setup();
    const job = finished('canceled');
    h.records.set(job.id, job);
    const claimed = h.claim(job);
    claimed.engineSeconds = 2.5;
    // Act
    h.completion.complete(job, silentLogger, claimed);
    await h.completion.drain();
    // Assess
    expect(h.usage).toEqual([
      { tenantId: 'tenant-a', jobId: job.id, at, images: 0, faces: 0, modelSeconds: 2.5 },
    ]);
    // The job view shows what was billed, as GET /v1/usage counts it
    expect(h.records.get(job.id)).toMatchObject({
      status: 'canceled',
      usage: { images: 0, faces: 0, modelSeconds: 2.5 },
    });
    expect(h.webhooks).toEqual([]);
  });

  it('records the usage a failed job carries (the model time of a photo past the engine cap), and none for another failure', async () => {
    // Prepare: the worker failed one photo at the cap with the 4 s it took, another for a model error
    const h = setup();
    const capped = {
      ...finished('failed', 'engine_timeout'),
      usage: { images: 0, faces: 0, modelSeconds: 4 },
    };
    const broken = { ...finished('failed', 'model_contract'), id: 'job-broken' };
    // Act
    for (const job of [capped, broken]) h.completion.complete(job, silentLogger, h.claim(job));
    await h.completion.drain();
    // Assess: billed as the job view shows it, no image
    expect(h.usage).toEqual([
      { tenantId: 'tenant-a', jobId: capped.id, at, images: 0, faces: 0, modelSeconds: 4 },
    ]);
    expect(ledgerUsage(capped)).toBe(true);
    expect(ledgerUsage(broken)).toBe(false);
  });

  it("retries a canceled run's usage write, and completes (messages deleted) when it keeps failing", async () => {
    // Prepare: a ledger that fails twice, then a second completion whose ledger always fails
    let failures = 0;
    const flaky = setup('queued', async (entry, usage) => {
      if (failures++ < 2) throw new Error('ledger down');
      usage.push(entry);
    });
    const down = setup('queued', async () => {
      throw new Error('ledger down');
    });
    const job = finished('canceled');
    // Act
    for (const h of [flaky, down]) {
      const claimed = h.claim(job);
      claimed.engineSeconds = 1.25;
      h.completion.complete(job, silentLogger, claimed);
      await h.completion.drain();
    }
    // Assess
    expect(flaky.usage).toMatchObject([{ jobId: job.id, images: 0, modelSeconds: 1.25 }]);
    expect(down.calls.sort()).toEqual(['delete receipt-1', 'delete receipt-2']);
    expect(down.leases.size).toBe(0);
  });

  it('queues no webhook for a canceled job (the canceller does) and records no usage', async () => {
    // Prepare
    const h = setup();
    const job = finished('canceled');
    const stray = h.hold(3);
    // Act: a stray delivery of the finished job completes on its own message
    h.completion.complete(job, silentLogger, stray);
    await h.completion.drain();
    // Assess
    expect(h.webhooks).toEqual([]);
    expect(h.usage).toEqual([]);
    expect(h.calls).toEqual(['delete receipt-3']);
  });
});
