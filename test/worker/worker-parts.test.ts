/** Pure parts of the worker: batch choice, backoff, webhook bookkeeping, ECS task protection. */
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../gpu-task/src/worker/backoff.js';
import { takeBatch } from '../../gpu-task/src/worker/batching.js';
import { EcsTaskProtection } from '../../gpu-task/src/worker/task-protection.js';
import {
  isFinalWebhookFailure,
  newJob,
  sleep,
  subscribedWebhookEvent,
  transitionJob,
  webhookNotQueued,
  type Job,
  createJsonLogger,
  silentLogger,
} from '../../shared/src/index.js';

describe('takeBatch', () => {
  it('takes the oldest item and later ones with its key, up to the batch size, keeping the rest in order', () => {
    // Prepare
    const held = ['a1', 'b1', 'a2', 'c1', 'a3', 'a4'].map((name) => ({ name, batchKey: name[0] as string }));

    // Act
    const batch = takeBatch(held, 3);

    // Assess
    expect(batch.map((item) => item.name)).toEqual(['a1', 'a2', 'a3']);
    expect(held.map((item) => item.name)).toEqual(['b1', 'c1', 'a4']);
  });

  it('serves a rare schedule once it is the oldest, however many popular ones arrive', () => {
    // Prepare: one 'b' behind a stream of 'a's.
    const held = [{ batchKey: 'a' }, { batchKey: 'b' }, { batchKey: 'a' }];

    // Act: the first batch takes the 'a's, new 'a's arrive, the next batch starts with 'b'.
    takeBatch(held, 4);
    held.push({ batchKey: 'a' }, { batchKey: 'a' });
    const second = takeBatch(held, 4);

    // Assess
    expect(second).toEqual([{ batchKey: 'b' }]);
  });

  it("runs a message on its last delivery alone, and leaves it out of others' batches", () => {
    // Prepare: a2 and a4 came back (their last batch may have died with them)
    const held = [
      { name: 'a1', batchKey: 'a' },
      { name: 'a2', batchKey: 'a', solo: true },
      { name: 'a3', batchKey: 'a' },
      { name: 'a4', batchKey: 'a', solo: true },
    ];

    // Act
    const batches = [takeBatch(held, 4), takeBatch(held, 4), takeBatch(held, 4)];

    // Assess
    expect(batches.map((batch) => batch.map((item) => item.name))).toEqual([['a1', 'a3'], ['a2'], ['a4']]);
    expect(held).toEqual([]);
  });

  it('returns nothing for nothing', () => {
    expect(takeBatch([], 4)).toEqual([]);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from the base up to the cap without jitter', () => {
    const policy = { baseMs: 1000, maxMs: 5000, jitter: 0 };
    expect([1, 2, 3, 4].map((retry) => backoffDelayMs(retry, policy))).toEqual([1000, 2000, 4000, 5000]);
  });

  it('draws the jittered share at random', () => {
    const policy = { baseMs: 1000, maxMs: 8000, jitter: 0.5 };
    expect(backoffDelayMs(3, policy, () => 0)).toBe(2000);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(4000);
  });

  it('sleep ends early when aborted', async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBe(false);
  });
});

describe('webhook bookkeeping', () => {
  const base = newJob({
    id: 'job_01JAAAAAAAAAAAAAAAAAAAAAAA',
    tenantId: 't',
    model: 'tiny',
    params: { steps: 10, seed: 1, output: { format: 'png', keepDr2: false } },
    inputKey: 'tenants/t/jobs/job_01JAAAAAAAAAAAAAAAAAAAAAAA/input',
    at: new Date(0),
    webhook: { url: 'https://example.com/h', events: ['job.succeeded', 'job.failed'] },
  });
  const at = new Date(1000);
  const running = transitionJob(
    transitionJob(transitionJob(base, { to: 'uploaded', at }), { to: 'queued', at }),
    { to: 'running', at },
  );
  const failed: Job = transitionJob(running, {
    to: 'failed',
    at,
    error: { code: 'image_decode_failed', message: 'bad' },
  });

  it('needs queueing for a subscribed terminal event until its status records that event', () => {
    // Assess
    expect(subscribedWebhookEvent(failed)).toBe('job.failed');
    expect(webhookNotQueued(failed)).toBe(true);
    const queued: Job = {
      ...failed,
      webhookStatus: {
        event: 'job.failed',
        messageId: 'msg_x_failed',
        state: 'pending',
        round: 1,
        attempts: 0,
        queuedAt: at.toISOString(),
      },
    };
    expect(webhookNotQueued(queued)).toBe(false);
    expect(webhookNotQueued(running)).toBe(false);
    // Not subscribed to job.canceled: nothing to queue.
    expect(webhookNotQueued(transitionJob(running, { to: 'canceled', at }))).toBe(false);
  });

  it('treats guard refusals and 410 Gone as final; other 4xx, 5xx and network errors are retried', () => {
    expect(isFinalWebhookFailure({ ok: false, error: 'refused (forbidden_address): 10.0.0.1' })).toBe(true);
    expect(isFinalWebhookFailure({ ok: false, status: 410 })).toBe(true);
    expect(isFinalWebhookFailure({ ok: false, status: 400 })).toBe(false);
    expect(isFinalWebhookFailure({ ok: false, status: 429 })).toBe(false);
    expect(isFinalWebhookFailure({ ok: false, status: 502 })).toBe(false);
    expect(isFinalWebhookFailure({ ok: false, error: 'TimeoutError: timed out' })).toBe(false);
    expect(isFinalWebhookFailure({ ok: true, status: 200 })).toBe(false);
  });
});

describe('EcsTaskProtection', () => {
  function fakeAgent(answer = '{"protection":{"ProtectionEnabled":true}}') {
    const requests: { url: string; method: string; body: unknown }[] = [];
    const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
      requests.push({
        url: String(input),
        method: init?.method ?? 'GET',
        body: JSON.parse(String(init?.body)),
      });
      return new Response(answer, { status: 200 });
    }) as typeof fetch;
    return { requests, fetchImpl };
  }

  it('enables with an expiry, renews only when half of it has passed, and disables', async () => {
    // Prepare
    const agent = fakeAgent();
    let now = 0;
    const protection = new EcsTaskProtection({
      agentUri: 'http://169.254.170.2/v3/abc/',
      expiresInMinutes: 10,
      log: silentLogger,
      fetch: agent.fetchImpl,
      now: () => now,
    });

    // Act
    await protection.enable();
    await protection.enable(); // too early to renew
    now += 6 * 60_000;
    await protection.enable(); // renews
    await protection.disable();
    await protection.disable(); // already off

    // Assess
    expect(agent.requests).toEqual([
      {
        url: 'http://169.254.170.2/v3/abc/task-protection/v1/state',
        method: 'PUT',
        body: { ProtectionEnabled: true, ExpiresInMinutes: 10 },
      },
      {
        url: 'http://169.254.170.2/v3/abc/task-protection/v1/state',
        method: 'PUT',
        body: { ProtectionEnabled: true, ExpiresInMinutes: 10 },
      },
      {
        url: 'http://169.254.170.2/v3/abc/task-protection/v1/state',
        method: 'PUT',
        body: { ProtectionEnabled: false },
      },
    ]);
  });

  it('logs an agent failure instead of throwing, and tries again next time', async () => {
    // Prepare
    const agent = fakeAgent('{"failure":{"Reason":"TASK_NOT_FOUND"}}');
    const lines: string[] = [];
    const protection = new EcsTaskProtection({
      agentUri: 'http://agent',
      log: createJsonLogger({ write: (line) => lines.push(line) }),
      fetch: agent.fetchImpl,
    });

    // Act
    await protection.enable();
    await protection.enable();

    // Assess
    expect(agent.requests).toHaveLength(2);
    expect(lines.some((line) => line.includes('task protection failed'))).toBe(true);
  });
});
