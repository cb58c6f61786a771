import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InvalidTransitionError,
  NotFoundError,
  PreconditionFailedError,
} from '../../shared/src/errors.js';
import {
  ALLOWED_TRANSITIONS,
  batchKeyFor,
  canTransition,
  fingerprintCreateJobRequest,
  isTerminalStatus,
  mutateJob,
  recordProgress,
  recordWebhookDelivery,
  resolveJobParams,
  toJobView,
  transitionJob,
  webhookEventFor,
  webhookMessageId,
  type JobTransition,
} from '../../shared/src/job.js';
import type { JobStore } from '../../shared/src/ports/job-store.js';
import {
  CreateJobRequestSchema,
  JOB_STATUSES,
  JobSchema,
  JobViewSchema,
  WebhookEventSchema,
  type Job,
  type JobParams,
  type JobStatus,
} from '../../shared/src/schemas.js';
import { sampleJob } from './helpers/jobs.js';

const at = new Date(Date.UTC(2025, 0, 1, 13, 0, 0));

/** A job brought to `status` through allowed transitions. */
function jobIn(status: JobStatus): Job {
  const path: Record<JobStatus, JobTransition[]> = {
    created: [],
    uploaded: [{ to: 'uploaded', at }],
    queued: [
      { to: 'uploaded', at },
      { to: 'queued', at },
    ],
    running: [
      { to: 'uploaded', at },
      { to: 'queued', at },
      { to: 'running', at },
    ],
    succeeded: [
      { to: 'uploaded', at },
      { to: 'queued', at },
      { to: 'running', at },
      {
        to: 'succeeded',
        at,
        output: { restoredKey: 'r.png', format: 'png' },
        usage: { images: 1, modelSeconds: 3 },
      },
    ],
    failed: [
      { to: 'uploaded', at },
      { to: 'queued', at },
      { to: 'running', at },
      { to: 'failed', at, error: { code: 'image_decode_failed', message: 'not an image' } },
    ],
    canceled: [{ to: 'canceled', at }],
  };
  return path[status].reduce(transitionJob, sampleJob());
}

function changeTo(to: JobStatus): JobTransition {
  switch (to) {
    case 'succeeded':
      return {
        to,
        at,
        output: { restoredKey: 'r.png', format: 'png' },
        usage: { images: 1, modelSeconds: 1 },
      };
    case 'failed':
      return { to, at, error: { code: 'x', message: 'y' } };
    default:
      return { to, at } as JobTransition;
  }
}

describe('job lifecycle', () => {
  const allowed: [JobStatus, JobStatus][] = [
    ['created', 'uploaded'],
    ['created', 'canceled'],
    ['uploaded', 'queued'],
    ['uploaded', 'failed'],
    ['uploaded', 'canceled'],
    ['queued', 'running'],
    ['queued', 'failed'],
    ['queued', 'canceled'],
    ['running', 'succeeded'],
    ['running', 'failed'],
    ['running', 'canceled'],
    ['running', 'queued'],
  ];

  it.each(allowed)('allows %s -> %s and records when it happened', (from, to) => {
    const next = transitionJob(jobIn(from), changeTo(to));
    expect(next.status).toBe(to);
    expect(next.timestamps[to]).toBe(at.toISOString());
    expect(next.updatedAt).toBe(at.toISOString());
    expect(JobSchema.parse(next)).toEqual(next);
  });

  it('allows exactly the documented transitions and nothing else', () => {
    for (const from of JOB_STATUSES) {
      for (const to of JOB_STATUSES) {
        const expected = allowed.some(([a, b]) => a === from && b === to);
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(expected);
      }
    }
    expect(Object.values(ALLOWED_TRANSITIONS).flat()).toHaveLength(allowed.length);
  });

  it.each([
    ['created', 'running'],
    ['created', 'queued'],
    ['uploaded', 'succeeded'],
    ['created', 'failed'],
    ['succeeded', 'running'],
    ['failed', 'queued'],
    ['canceled', 'uploaded'],
    ['succeeded', 'canceled'],
    ['running', 'running'],
  ] as [JobStatus, JobStatus][])('refuses %s -> %s with InvalidTransitionError', (from, to) => {
    const job = jobIn(from);
    const act = () => transitionJob(job, changeTo(to));
    expect(act).toThrow(InvalidTransitionError);
    try {
      act();
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_transition', httpStatus: 409, from, to });
    }
  });

  it('counts attempts and clears the previous attempt’s progress on a retry', () => {
    const running = recordProgress(jobIn('running'), { step: 40, total: 65 }, at);
    const lost = { code: 'inference_failed', message: 'device lost', retryable: true };
    const released = transitionJob(running, { to: 'queued', at, error: lost });
    const retried = transitionJob(released, { to: 'running', at });
    expect(released.error).toEqual(lost);
    expect(retried.error).toBeUndefined();
    expect(running.attempts).toBe(1);
    expect(retried.attempts).toBe(2);
    expect(retried.progress).toBeUndefined();
  });

  it('keeps the failure reason, the outputs and the usage', () => {
    expect(jobIn('failed').error).toEqual({ code: 'image_decode_failed', message: 'not an image' });
    expect(jobIn('succeeded')).toMatchObject({
      output: { restoredKey: 'r.png', format: 'png' },
      usage: { images: 1, modelSeconds: 3 },
    });
    expect(jobIn('canceled').error?.code).toBe('canceled');
  });

  it('is pure: the input job is unchanged and the version is left to the store', () => {
    const job = jobIn('queued');
    const copy = structuredClone(job);
    const next = transitionJob(job, { to: 'running', at });
    expect(job).toEqual(copy);
    expect(next.version).toBe(job.version);
  });

  it('marks succeeded, failed and canceled as terminal', () => {
    expect(JOB_STATUSES.filter(isTerminalStatus)).toEqual(['succeeded', 'failed', 'canceled']);
  });

  it('records progress only while running', () => {
    expect(recordProgress(jobIn('running'), { step: 3, total: 65 }, at).progress).toEqual({
      step: 3,
      total: 65,
    });
    expect(() => recordProgress(jobIn('canceled'), { step: 3, total: 65 }, at)).toThrow(ConflictError);
  });

  it('touches a running job without inventing progress before the first step', () => {
    // Prepare
    const later = new Date(at.getTime() + 5000);
    const stepped = recordProgress(jobIn('running'), { step: 2, total: 21 }, at);
    // Act
    const fresh = recordProgress(jobIn('running'), undefined, later);
    const kept = recordProgress(stepped, undefined, later);
    // Assess
    expect(fresh).not.toHaveProperty('progress');
    expect(fresh.updatedAt).toBe(later.toISOString());
    expect(kept.progress).toEqual({ step: 2, total: 21 });
    expect(kept.updatedAt).toBe(later.toISOString());
  });

  it('appends webhook deliveries', () => {
    const job = recordWebhookDelivery(jobIn('succeeded'), {
      at: at.toISOString(),
      event: 'job.succeeded',
      attempt: 1,
      messageId: 'msg_1',
      status: 500,
      ok: false,
    });
    expect(job.webhookDeliveries).toHaveLength(1);
    expect(JobSchema.parse(job)).toEqual(job);
  });
});

describe('job helpers', () => {
  it('fixes a random seed when the request has none, and keeps a given one', () => {
    const request = CreateJobRequestSchema.parse({ preset: 'mild' });
    expect(resolveJobParams(request, () => 1234).seed).toBe(1234);
    expect(resolveJobParams(CreateJobRequestSchema.parse({ preset: 'mild', seed: 9 })).seed).toBe(9);
    const random = resolveJobParams(request).seed;
    expect(Number.isInteger(random) && random >= 0 && random <= 0xffffffff).toBe(true);
  });

  it('fingerprints equal requests equally, whatever the key order', async () => {
    const a = CreateJobRequestSchema.parse({ n: 8, tau: 35, output: { format: 'webp' } });
    const b = CreateJobRequestSchema.parse({ output: { format: 'webp' }, tau: 35, n: 8 });
    const c = CreateJobRequestSchema.parse({ n: 8, tau: 36 });
    expect(await fingerprintCreateJobRequest(a)).toBe(await fingerprintCreateJobRequest(b));
    expect(await fingerprintCreateJobRequest(a)).not.toBe(await fingerprintCreateJobRequest(c));
  });

  it('keeps the fingerprint requests had before `background` existed, at its default', async () => {
    // The fingerprint of `{}` as 3ef01c0 (before the parameter) computed it: a retry across the
    // deploy, under the same Idempotency-Key, is still the same request.
    const before = 'c11c39021135ced72e88f2f02350aaea2e9be4fc557ce4150c8199a12dec0e57';
    expect(await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({}))).toBe(before);
    expect(await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({ background: 'denoise' }))).toBe(
      before,
    );
    expect(await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({ background: 'keep' }))).not.toBe(
      before,
    );
  });

  it('fingerprints minFace 0 as no minFace: both keep every face', async () => {
    const none = await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({}));
    expect(await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({ minFace: 0 }))).toBe(none);
    expect(await fingerprintCreateJobRequest(CreateJobRequestSchema.parse({ minFace: 24 }))).not.toBe(none);
  });

  it('groups jobs by schedule and model, not by seed or output format', () => {
    const base: JobParams = { n: 8, tau: 35, steps: 100, seed: 1, output: { format: 'png', keepDr2: false } };
    const key = batchKeyFor(base, 'dr2e');
    const otherSeedAndFormat: JobParams = { ...base, seed: 2, output: { format: 'jpeg', keepDr2: true } };
    expect(batchKeyFor(otherSeedAndFormat, 'dr2e')).toBe(key);
    expect(batchKeyFor({ ...base, tau: 36 }, 'dr2e')).not.toBe(key);
    expect(batchKeyFor({ ...base, omega: 60 }, 'dr2e')).not.toBe(key);
    expect(batchKeyFor(base, 'other-model')).not.toBe(key);
    expect(batchKeyFor({ preset: 'medium', steps: 100 }, 'dr2e')).not.toBe(
      batchKeyFor({ preset: 'mild', steps: 100 }, 'dr2e'),
    );
  });

  it('shows jobs without blob keys or tenant internals, with signed links', () => {
    const links = { restored: { url: 'https://x/restored', expiresAt: at.toISOString() } };
    const view = toJobView(jobIn('succeeded'), links);
    expect(JobViewSchema.parse(view)).toEqual(view);
    expect(view.output).toEqual({ format: 'png', restored: links.restored });
    expect(JSON.stringify(view)).not.toContain('tenants/');
    expect(view).not.toHaveProperty('tenantId');
  });

  it("names the model that restored the job once a worker recorded it, the job's own before", () => {
    // Prepare
    const queued = { ...jobIn('queued'), model: 'dr2e-default' };
    const done = jobIn('succeeded');
    const restored = { ...done, model: 'dr2e-default', output: { ...done.output!, model: 'utkface-64' } };
    // Act
    const [before, after] = [toJobView(queued), toJobView(restored)];
    // Assess: the view names the model, and never carries output.model twice
    expect(before.model).toBe('dr2e-default');
    expect(after.model).toBe('utkface-64');
    expect(JobViewSchema.parse(after)).toEqual(after);
    expect(after.output).not.toHaveProperty('model');
  });

  it('builds a webhook event only for subscribed terminal statuses', () => {
    const subscribed = { url: 'https://hooks.example/dr2e', events: ['job.failed' as const] };
    const failed = { ...jobIn('failed'), webhook: subscribed };
    const succeeded = { ...jobIn('succeeded'), webhook: subscribed };
    const event = webhookEventFor(failed, at);
    expect(WebhookEventSchema.parse(event)).toEqual(event);
    expect(event).toMatchObject({ type: 'job.failed', timestamp: at.toISOString(), data: { id: failed.id } });
    expect(webhookEventFor(succeeded, at)).toBeUndefined();
    expect(webhookEventFor({ ...jobIn('running'), webhook: subscribed }, at)).toBeUndefined();
    expect(webhookEventFor(jobIn('failed'), at)).toBeUndefined();
  });

  it('gives one stable webhook message id per job and event', () => {
    const job = sampleJob();
    expect(webhookMessageId(job.id, 'job.succeeded')).toBe(webhookMessageId(job.id, 'job.succeeded'));
    expect(webhookMessageId(job.id, 'job.succeeded')).not.toBe(webhookMessageId(job.id, 'job.failed'));
  });
});

describe('mutateJob', () => {
  /** A store whose first `conflicts` updates lose to a concurrent writer. */
  function flakyStore(job: Job, conflicts: number): Pick<JobStore, 'get' | 'update'> & { reads: number } {
    let stored = job;
    let remaining = conflicts;
    const store = {
      reads: 0,
      async get() {
        store.reads += 1;
        return stored;
      },
      async update(next: Job, expectedVersion: number) {
        if (remaining-- > 0) {
          stored = { ...stored, version: stored.version + 1 };
          throw new PreconditionFailedError('lost the race');
        }
        if (expectedVersion !== stored.version) throw new PreconditionFailedError('stale');
        stored = { ...next, version: expectedVersion + 1 };
        return stored;
      },
    };
    return store;
  }

  it('re-reads and retries after losing a race', async () => {
    const store = flakyStore(jobIn('queued'), 2);
    const result = await mutateJob(store, 'job', (job) => transitionJob(job, { to: 'running', at }));
    expect(result.status).toBe('running');
    expect(store.reads).toBe(3);
  });

  it('gives up after maxAttempts', async () => {
    const store = flakyStore(jobIn('queued'), 10);
    await expect(mutateJob(store, 'job', (job) => job, 3)).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('does not retry a refused transition, and reports a missing job', async () => {
    const store = flakyStore(jobIn('succeeded'), 0);
    await expect(
      mutateJob(store, 'job', (job) => transitionJob(job, { to: 'running', at })),
    ).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(store.reads).toBe(1);
    const empty = { get: async () => undefined, update: async (job: Job) => job };
    await expect(mutateJob(empty, 'job_x', (job) => job)).rejects.toBeInstanceOf(NotFoundError);
  });
});
