/**
 * Webhook delivery off the request path (issue 12, items 1 and 2): the API answers without
 * waiting on the tenant's endpoint, the delivery consumer retries on a Svix-like schedule over
 * more than a day (driven here with a manual clock), marks the delivery failed when it runs out,
 * and `POST /v1/jobs/{id}/webhook/redeliver` sends the event again with the same webhook-id.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliverWebhookRecords } from '../../functions/src/entry/lambda-webhooks.js';
import {
  silentLogger,
  blobKeys,
  ManualClock,
  mutateJob,
  transitionJob,
  type WebhookDeliveryResult,
  type WebhookSendRequest,
  type WebhookSender,
  WebhookEventSchema,
  type WebhookDeliveryMessage,
  DEFAULT_WEBHOOK_SCHEDULE,
  JobWebhooks,
  maxWebhookAttempts,
  WebhookDeliverer,
  webhookRetryDelayMs,
  WebhookDeliveryLoop,
} from '../../shared/src/index.js';
import { createWebhookDeliveryLoop } from '../../shared/runtime/index.js';
import { json, localHarness, pngBytes, type LocalHarness } from './helpers.js';

const HOUR = 3_600_000;

/** A deliverer over the harness's stores and webhook queue, sending with `sender` at `clock`'s time. */
function delivererOver(
  h: LocalHarness,
  sender: WebhookSender,
  clock: ManualClock,
  extra: { random?: () => number } = {},
): WebhookDeliverer {
  return new WebhookDeliverer({
    jobs: h.services.jobs,
    blobs: h.services.blobs,
    tenants: h.services.tenants,
    sender,
    queue: h.services.webhookQueue,
    clock,
    downloadUrlTtlSeconds: 3600,
    ...extra,
  });
}

/** A sender that answers like a receiver that is down (503) until `upAt`, then 200. */
class OutageSender implements WebhookSender {
  readonly attempts: { at: Date; request: WebhookSendRequest }[] = [];
  constructor(
    private readonly clock: ManualClock,
    public upAt: number,
  ) {}
  async send(request: WebhookSendRequest): Promise<WebhookDeliveryResult> {
    const at = this.clock.now();
    this.attempts.push({ at, request });
    return at.getTime() >= this.upAt
      ? { ok: true, status: 200, durationMs: 1 }
      : { ok: false, status: 503, durationMs: 1 };
  }
}

describe('the retry schedule', () => {
  it('spans more than 24 hours even with the shortest jitter, in seconds, then minutes, then hours', () => {
    // Act
    const shortest = DEFAULT_WEBHOOK_SCHEDULE.delaysMs.map((_, i) =>
      webhookRetryDelayMs(i + 1, DEFAULT_WEBHOOK_SCHEDULE, () => 0),
    );
    const longest = DEFAULT_WEBHOOK_SCHEDULE.delaysMs.map((_, i) =>
      webhookRetryDelayMs(i + 1, DEFAULT_WEBHOOK_SCHEDULE, () => 1),
    );
    // Assess
    const total = (delays: (number | undefined)[]) => delays.reduce<number>((sum, d) => sum + (d ?? 0), 0);
    expect(total(shortest)).toBeGreaterThan(24 * HOUR);
    expect(total(longest)).toBeLessThan(31 * HOUR);
    expect(shortest[0]).toBeLessThan(10_000);
    expect(shortest[1]).toBeGreaterThan(60_000);
    expect(shortest.at(-1)).toBeGreaterThan(HOUR);
    expect(webhookRetryDelayMs(maxWebhookAttempts(), DEFAULT_WEBHOOK_SCHEDULE)).toBeUndefined();
  });
});

describe('API: webhooks leave the request path', () => {
  let h: LocalHarness;
  let hanging: Server;
  let hits = 0;

  beforeEach(async () => {
    // The attempt timeout is far above what a request that does not wait takes, even on a loaded
    // machine, so the timing below separates "queued" from "waited for the receiver" robustly.
    h = await localHarness({ env: { DR2E_WEBHOOK_TIMEOUT_MS: '3000' } });
    hits = 0;
    // A receiver that accepts the connection and never answers.
    hanging = createServer(() => void (hits += 1));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', () => resolve()));
  });

  afterEach(async () => {
    hanging.closeAllConnections();
    await new Promise((resolve) => hanging.close(resolve));
    await h.close();
  });

  async function createJob(
    body: unknown,
  ): Promise<{ id: string; upload: { url: string; fields: Record<string, string> } }> {
    const response = await h.call('POST', '/v1/jobs', { json: body });
    expect(response.status).toBe(201);
    return json(response);
  }

  it('answers a cancel without waiting for a hanging receiver, and the consumer records the timeout', async () => {
    // Prepare
    const port = (hanging.address() as AddressInfo).port;
    const job = await createJob({ webhook: { url: `http://127.0.0.1:${port}/hook` } });

    // A first cancel warms up the code path (module loading, JIT), so the timing is the steady one.
    const warmUp = await createJob({});
    await h.call('POST', `/v1/jobs/${warmUp.id}/cancel`);

    // Act
    const started = performance.now();
    const response = await h.call('POST', `/v1/jobs/${job.id}/cancel`);
    const elapsedMs = performance.now() - started;
    const hitsDuringRequest = hits;
    const queuedView = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    await createWebhookDeliveryLoop(h.services, { logger: silentLogger }).drain();
    const afterAttempt = await json(await h.call('GET', `/v1/jobs/${job.id}`));

    // Assess: the answer did not wait; the event was queued, then attempted once and rescheduled.
    expect(response.status).toBe(200);
    expect((await json(response)).status).toBe('canceled');
    expect(hitsDuringRequest).toBe(0);
    expect(elapsedMs).toBeLessThan(1500);
    expect(queuedView.webhookStatus).toMatchObject({ event: 'job.canceled', state: 'pending', attempts: 0 });
    expect(hits).toBe(1);
    expect(afterAttempt.webhookStatus).toMatchObject({ state: 'pending', attempts: 1, round: 1 });
    expect(afterAttempt.webhookStatus.lastError).toMatch(/timed out/);
    expect(Date.parse(afterAttempt.webhookStatus.nextAttemptAt)).toBeGreaterThan(Date.now());
    expect(afterAttempt.webhookDeliveries).toEqual([
      expect.objectContaining({ event: 'job.canceled', attempt: 1, ok: false }),
    ]);
    expect((await h.services.webhookQueue.stats()).delayed).toBe(1);
  });

  it('answers an upload the dispatcher rejects without waiting on the receiver', async () => {
    // Prepare
    const port = (hanging.address() as AddressInfo).port;
    const job = await createJob({ webhook: { url: `http://127.0.0.1:${port}/hook` } });
    const form = new FormData();
    for (const [name, value] of Object.entries(job.upload.fields)) form.append(name, value);
    if (!('Content-Type' in job.upload.fields)) form.append('Content-Type', 'image/png');
    form.append(
      'file',
      new Blob([new TextEncoder().encode('not an image at all')], { type: 'image/png' }),
      'x',
    );

    // Act
    const started = performance.now();
    await h.app.request(job.upload.url, { method: 'POST', body: form });
    const elapsedMs = performance.now() - started;

    // Assess
    const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    expect(view.status).toBe('failed');
    expect(view.webhookStatus).toMatchObject({ event: 'job.failed', state: 'pending' });
    // Nobody contacted the receiver during the request; waiting on it (as before: three attempts
    // of 300 ms plus 2.5 s of pauses) would take seconds. The bound leaves room for a busy machine.
    expect(hits).toBe(0);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('refuses a redelivery for a job that has not finished (409) and for another tenant (404)', async () => {
    // Prepare
    const job = await createJob({ webhook: { url: 'http://127.0.0.1:9/hook' } });
    // Act
    const early = await h.call('POST', `/v1/jobs/${job.id}/webhook/redeliver`);
    const stranger = await h.call('POST', `/v1/jobs/${job.id}/webhook/redeliver`, {
      key: 'dr2e_sk_test_tenant_b_key',
    });
    // Assess
    expect([early.status, (await json(early)).error.code]).toEqual([409, 'webhook_not_redeliverable']);
    expect(stranger.status).toBe(404);
  });

  it('documents the redelivery route and the delivery state in the OpenAPI document', async () => {
    // Act
    const doc = await json(await h.call('GET', '/openapi.json', { key: null }));
    // Assess
    const route = doc.paths['/v1/jobs/{id}/webhook/redeliver'].post;
    expect(Object.keys(route.responses)).toEqual(expect.arrayContaining(['202', '404', '409']));
    expect(doc.components.schemas.Job.properties.webhookStatus).toMatchObject({
      type: 'object',
      properties: { state: { enum: ['pending', 'delivered', 'failed'] } },
      required: expect.arrayContaining(['event', 'messageId', 'state', 'attempts']),
    });
  });
});

describe('delivery across a receiver outage (manual clock)', () => {
  let h: LocalHarness;
  let clock: ManualClock;
  let sender: OutageSender;
  let loop: WebhookDeliveryLoop;
  const start = Date.UTC(2026, 0, 5, 9, 0, 0);

  beforeEach(async () => {
    clock = new ManualClock(start);
    sender = new OutageSender(clock, start + 20 * HOUR);
    h = await localHarness({ overrides: { clock, webhookSender: sender } });
    const deliverer = delivererOver(h, sender, clock, { random: () => 0.5 });
    loop = new WebhookDeliveryLoop({ queue: h.services.webhookQueue, deliverer, logger: silentLogger });
  });

  afterEach(async () => {
    await h.close();
  });

  /** A succeeded job with a webhook, as the worker leaves it; the event queued. */
  async function succeededJob(): Promise<string> {
    const created = await json(
      await h.call('POST', '/v1/jobs', { json: { webhook: { url: 'http://127.0.0.1:9/hook' } } }),
    );
    const tenantId = (await h.services.jobs.get(created.id))!.tenantId;
    const restoredKey = blobKeys.restored(tenantId, created.id, 'png');
    await h.services.blobs.put(restoredKey, await pngBytes(32), { contentType: 'image/png' });
    const at = clock.now();
    const done = await mutateJob(h.services.jobs, created.id, (job) =>
      transitionJob(
        transitionJob(transitionJob(transitionJob(job, { to: 'uploaded', at }), { to: 'queued', at }), {
          to: 'running',
          at,
        }),
        {
          to: 'succeeded',
          at,
          output: { restoredKey, format: 'png', width: 32, height: 32 },
          usage: { images: 1, modelSeconds: 1 },
        },
      ),
    );
    await new JobWebhooks({ jobs: h.services.jobs, queue: h.services.webhookQueue, clock }).jobFinished(done);
    return created.id;
  }

  /** Moves the clock in 10-minute steps, running the consumer at each, until `until` returns true. */
  async function runFor(hours: number, until: () => Promise<boolean>): Promise<void> {
    const end = clock.now().getTime() + hours * HOUR;
    while (clock.now().getTime() < end) {
      await loop.drain();
      if (await until()) return;
      clock.advance(10 * 60_000);
    }
  }

  it('delivers after a 20-hour outage, far beyond the old ~7 s window, with one webhook-id', async () => {
    // Prepare
    const jobId = await succeededJob();

    // Act
    await runFor(30, async () => (await h.services.jobs.get(jobId))?.webhookStatus?.state !== 'pending');

    // Assess: failed attempts during the outage, then one success after it; the same id on all.
    const job = (await h.services.jobs.get(jobId))!;
    expect(job.webhookStatus).toMatchObject({ state: 'delivered', round: 1 });
    const times = sender.attempts.map((attempt) => attempt.at.getTime());
    expect(times.at(-1)).toBeGreaterThanOrEqual(start + 20 * HOUR);
    expect(times.slice(0, -1).every((time) => time < start + 20 * HOUR)).toBe(true);
    expect(sender.attempts.length).toBeGreaterThanOrEqual(6);
    expect(new Set(sender.attempts.map((attempt) => attempt.request.messageId))).toEqual(
      new Set([job.webhookStatus?.messageId]),
    );
    const event = WebhookEventSchema.parse(sender.attempts.at(-1)?.request.payload);
    expect(event).toMatchObject({ type: 'job.succeeded', data: { id: jobId, status: 'succeeded' } });
    expect(event.data.output?.restored?.url).toContain('/local-download');
    expect(job.webhookDeliveries.map((delivery) => delivery.ok)).toEqual([
      ...Array.from({ length: sender.attempts.length - 1 }, () => false),
      true,
    ]);
    expect(job.webhookDeliveries.map((delivery) => delivery.attempt)).toEqual(
      sender.attempts.map((_, i) => i + 1),
    );
    const stats = await h.services.webhookQueue.stats();
    expect(stats.visible + stats.delayed + stats.inFlight).toBe(0);
  });

  it('stops the pending attempts of a job deleted during the outage', async () => {
    // Prepare: the first attempt fails and the next one is queued
    const jobId = await succeededJob();
    await loop.drain();
    expect(sender.attempts).toHaveLength(1);
    // Act
    const deleted = await h.call('DELETE', `/v1/jobs/${jobId}`);
    await runFor(30, async () => false);
    // Assess: no "succeeded" event without its output after the deletion, nothing left queued
    expect(deleted.status).toBe(204);
    expect(sender.attempts).toHaveLength(1);
    const stats = await h.services.webhookQueue.stats();
    expect(stats.visible + stats.delayed + stats.inFlight).toBe(0);
  });

  it('marks the delivery failed when the receiver stays down, and a redelivery sends it again', async () => {
    // Prepare: down for three days.
    sender.upAt = start + 72 * HOUR;
    const jobId = await succeededJob();
    await runFor(40, async () => (await h.services.jobs.get(jobId))?.webhookStatus?.state !== 'pending');
    const failed = await json(await h.call('GET', `/v1/jobs/${jobId}`));
    const attemptsBefore = sender.attempts.length;
    sender.upAt = clock.now().getTime();

    // Act
    const redeliver = await h.call('POST', `/v1/jobs/${jobId}/webhook/redeliver`);
    const accepted = await json(redeliver);
    await loop.drain();

    // Assess
    expect(failed.webhookStatus).toMatchObject({
      state: 'failed',
      attempts: maxWebhookAttempts(),
      lastStatus: 503,
    });
    expect(attemptsBefore).toBe(maxWebhookAttempts());
    const span = sender.attempts[attemptsBefore - 1]!.at.getTime() - sender.attempts[0]!.at.getTime();
    expect(span).toBeGreaterThan(24 * HOUR);
    expect(redeliver.status).toBe(202);
    expect(accepted.webhookStatus).toMatchObject({ state: 'pending', round: 2, attempts: 0 });
    const job = (await h.services.jobs.get(jobId))!;
    expect(job.webhookStatus).toMatchObject({ state: 'delivered', round: 2, attempts: 1 });
    expect(sender.attempts).toHaveLength(attemptsBefore + 1);
    expect(sender.attempts.at(-1)?.request.messageId).toBe(sender.attempts[0]?.request.messageId);
  });

  it('drops the pending chain of an earlier round after a redelivery', async () => {
    // Prepare: the first attempt failed; its retry waits in the queue.
    const jobId = await succeededJob();
    await loop.drain();
    expect((await h.services.webhookQueue.stats()).delayed).toBe(1);
    sender.upAt = clock.now().getTime();

    // Act: redeliver now, then let the old retry come due.
    await h.call('POST', `/v1/jobs/${jobId}/webhook/redeliver`);
    await loop.drain();
    clock.advance(HOUR);
    await loop.drain();

    // Assess: two sends in all (the failed one and the redelivery), nothing left queued.
    expect(sender.attempts).toHaveLength(2);
    const job = (await h.services.jobs.get(jobId))!;
    expect(job.webhookStatus).toMatchObject({ state: 'delivered', round: 2 });
    const stats = await h.services.webhookQueue.stats();
    expect(stats.visible + stats.delayed + stats.inFlight).toBe(0);
  });

  it('Lambda consumer: delivers a record and reports only unreadable or failing records', async () => {
    // Prepare
    sender.upAt = start;
    const jobId = await succeededJob();
    const job = (await h.services.jobs.get(jobId))!;
    const good: WebhookDeliveryMessage = {
      jobId,
      tenantId: job.tenantId,
      event: 'job.succeeded',
      round: 1,
      attempt: 1,
    };
    const record = (messageId: string, body: string) => ({ messageId, body }) as SQSEvent['Records'][number];
    const failing = { handle: async () => Promise.reject(new Error('store unavailable')) };
    const deliverer = delivererOver(h, sender, clock);

    // Act
    const delivered = await deliverWebhookRecords(
      { Records: [record('m1', JSON.stringify(good)), record('m2', '{"nope":1}')] },
      deliverer,
      silentLogger,
    );
    const failed = await deliverWebhookRecords(
      { Records: [record('m3', JSON.stringify(good))] },
      failing,
      silentLogger,
    );

    // Assess
    expect(delivered.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: 'm3' }]);
    expect((await h.services.jobs.get(jobId))?.webhookStatus?.state).toBe('delivered');
    expect(sender.attempts).toHaveLength(1);
  });
});
