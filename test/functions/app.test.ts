/**
 * The API through `app.request` with the local adapters in a temp dir: auth and tenancy,
 * create/validation/idempotency, webhook URL checks, reads with signed links, pagination,
 * start, cancel (with its webhook), delete, usage, OpenAPI, and JSON errors everywhere.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeWebhookTargetChecker } from '../../shared/adapters/node/index.js';
import {
  blobKeys,
  CreateJobRequestSchema,
  legacyFingerprintCreateJobRequest,
  mutateJob,
  newJob,
  newJobId,
  transitionJob,
  type JobStore,
  verifyWebhook,
  webhookMessageId,
  silentLogger,
} from '../../shared/src/index.js';
import { createWebhookDeliveryLoop } from '../../shared/runtime/index.js';
import {
  expectValidationFailure,
  json,
  KEY_A,
  KEY_B,
  localHarness,
  pngBytes,
  uploadFormData,
  type LocalHarness,
} from './helpers.js';

let h: LocalHarness;
let tenantA: string;

beforeEach(async () => {
  h = await localHarness();
  tenantA = (await h.services.tenants.authenticate(KEY_A))?.id ?? '';
});

afterEach(async () => {
  await h.close();
});

async function createJob(body: unknown = {}, key = KEY_A) {
  const response = await h.call('POST', '/v1/jobs', { json: body, key });
  expect(response.status).toBe(201);
  return json(response);
}

/** Uploads a PNG through the local upload route; the job is then queued. */
async function uploadPng(upload: { url: string; fields: Record<string, string> } & Record<string, unknown>) {
  const response = await h.app.request(upload.url, {
    method: 'POST',
    body: uploadFormData(upload as never, await pngBytes(), 'image/png'),
  });
  expect(response.status).toBe(204);
}

/** What a worker does: run the job and store its outputs. */
async function completeJob(jobs: JobStore, jobId: string, keepDr2 = false) {
  const restoredKey = blobKeys.restored(tenantA, jobId, 'png');
  const dr2Key = blobKeys.dr2(tenantA, jobId);
  await h.services.blobs.put(restoredKey, await pngBytes(32), { contentType: 'image/png' });
  if (keepDr2) await h.services.blobs.put(dr2Key, await pngBytes(32), { contentType: 'image/png' });
  await mutateJob(jobs, jobId, (job) => transitionJob(job, { to: 'running', at: new Date() }));
  await mutateJob(jobs, jobId, (job) =>
    transitionJob(job, {
      to: 'succeeded',
      at: new Date(),
      output: { restoredKey, ...(keepDr2 ? { dr2Key } : {}), format: 'png', width: 32, height: 32 },
      usage: { images: 1, modelSeconds: 2.5 },
    }),
  );
}

describe('authentication and tenancy', () => {
  it('answers /healthz without a key', async () => {
    // Act
    const response = await h.call('GET', '/healthz', { key: null });
    // Assess
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ status: 'ok', mode: 'local' });
  });

  it.each([
    ['no key', null],
    ['an unknown key', 'dr2e_sk_not_a_key'],
  ])('answers 401 with WWW-Authenticate for %s', async (_what, key) => {
    // Act
    const response = await h.call('GET', '/v1/jobs', { key });
    // Assess
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await json(response)).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it("answers 404 for another tenant's job on every route", async () => {
    // Prepare
    const job = await createJob();
    // Act
    const answers = await Promise.all([
      h.call('GET', `/v1/jobs/${job.id}`, { key: KEY_B }),
      h.call('POST', `/v1/jobs/${job.id}/start`, { key: KEY_B }),
      h.call('POST', `/v1/jobs/${job.id}/cancel`, { key: KEY_B }),
      h.call('DELETE', `/v1/jobs/${job.id}`, { key: KEY_B }),
    ]);
    // Assess
    for (const response of answers) {
      expect(response.status).toBe(404);
      expect(await json(response)).toMatchObject({ error: { code: 'not_found' } });
    }
    expect((await h.call('GET', `/v1/jobs/${job.id}`)).status).toBe(200);
    expect((await json(await h.call('GET', '/v1/jobs', { key: KEY_B }))).jobs).toEqual([]);
  });

  it('answers 405 with Allow for a path that takes other methods, and 404 for a path that does not exist', async () => {
    // Act
    const put = await h.call('PUT', '/v1/jobs', { json: {} });
    const patch = await h.call('PATCH', '/v1/jobs/job_01JABCDEFGHJKMNPQRSTVWXYZ0');
    const unknown = await h.call('GET', '/v1/photos');
    const slashed = await h.call('GET', '/v1/jobs/');
    // Assess
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST, GET, HEAD');
    expect(await json(put)).toMatchObject({
      error: { code: 'method_not_allowed', details: { allowed: ['POST', 'GET', 'HEAD'] } },
    });
    expect(patch.status).toBe(405);
    expect(patch.headers.get('allow')).toBe('GET, DELETE, HEAD');
    expect(unknown.status).toBe(404);
    expect(await json(unknown)).toMatchObject({ error: { code: 'not_found' } });
    // Routes match exactly; a trailing slash is a 404 that says so, not a 405 for its own method.
    expect(slashed.status).toBe(404);
    expect((await json(slashed)).error.message).toContain('(without the trailing slash: /v1/jobs)');
  });

  it('tells a tenant its id and webhook secret', async () => {
    // Act
    const body = await json(await h.call('GET', '/v1/tenant'));
    // Assess
    expect(body).toEqual({
      id: tenantA,
      name: expect.any(String),
      webhookSecret: (await h.services.tenants.get(tenantA))?.webhookSecret,
    });
  });
});

describe('POST /v1/jobs', () => {
  it('creates a job with a presigned upload form', async () => {
    // Act
    const response = await h.call('POST', '/v1/jobs', {
      json: { preset: 'medium', output: { format: 'webp', keepDr2: true } },
    });
    // Assess
    expect(response.status).toBe(201);
    const body = await json(response);
    expect(body).toEqual({
      id: expect.stringMatching(/^job_/),
      status: 'created',
      upload: {
        url: 'http://dr2e.test/local-upload',
        fields: expect.objectContaining({
          key: expect.stringMatching(
            new RegExp(`^tenants/${tenantA}/jobs/${body.id}/uploads/[0-9A-Z]{26}/input$`),
          ),
        }),
        maxBytes: h.config.DR2E_UPLOAD_MAX_BYTES,
        expiresAt: expect.any(String),
      },
    });
    expect(response.headers.get('location')).toBe(`/v1/jobs/${body.id}`);
    const stored = await h.services.jobs.get(body.id);
    expect(stored?.params).toMatchObject({ preset: 'medium', output: { format: 'webp', keepDr2: true } });
    expect(stored?.params.seed).toEqual(expect.any(Number));
  });

  it('accepts an empty body (all defaults)', async () => {
    // Act
    const response = await h.call('POST', '/v1/jobs');
    // Assess
    expect(response.status).toBe(201);
  });

  it.each([
    [{ n: 3, tau: 10 }, 'n'],
    [{ preset: 'medium', n: 8, tau: 10 }, 'preset'],
    [{ Tau: 10 }, ''],
    [{ output: { format: 'gif' } }, 'output.format'],
  ])('refuses %j with 400 validation_failed', async (body, path) => {
    // Act
    const response = await h.call('POST', '/v1/jobs', { json: body });
    // Assess
    await expectValidationFailure(response, path);
  });

  it('refuses malformed JSON, non-JSON bodies and oversized bodies', async () => {
    // Act
    const malformed = await h.call('POST', '/v1/jobs', {
      body: '{"preset":',
      headers: { 'content-type': 'application/json' },
    });
    const text = await h.call('POST', '/v1/jobs', {
      body: 'preset=medium',
      headers: { 'content-type': 'text/plain' },
    });
    const huge = await h.call('POST', '/v1/jobs', { json: { preset: 'medium', pad: 'x'.repeat(70 * 1024) } });
    const chunked = await h.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 100; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    // Assess
    expect([malformed.status, (await json(malformed)).error.code]).toEqual([400, 'invalid_json']);
    expect([text.status, (await json(text)).error.code]).toEqual([415, 'unsupported_media_type']);
    expect([huge.status, (await json(huge)).error.code]).toEqual([413, 'payload_too_large']);
    expect([chunked.status, (await json(chunked)).error.code]).toEqual([413, 'payload_too_large']);
  });

  it('replays the same job for the same Idempotency-Key and body, and refuses another body', async () => {
    // Prepare
    const headers = { 'idempotency-key': 'order-42' };
    const first = await h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers });
    // Act
    const again = await h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers });
    const otherBody = await h.call('POST', '/v1/jobs', { json: { preset: 'severe' }, headers });
    const otherTenant = await h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers, key: KEY_B });
    // Assess
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const [firstBody, againBody] = [await json(first), await json(again)];
    expect(againBody.id).toBe(firstBody.id);
    // A replay while the job waits gets a fresh form with its own key.
    expect(againBody.upload.fields.key).not.toBe(firstBody.upload.fields.key);
    expect(againBody.upload.fields.key).toContain(`/jobs/${firstBody.id}/uploads/`);
    expect(otherBody.status).toBe(422);
    expect((await json(otherBody)).error.code).toBe('idempotency_key_reused');
    expect(otherTenant.status).toBe(201);
    expect((await json(otherTenant)).id).not.toBe(firstBody.id);
  });

  it('compares Idempotency-Key bodies after defaults: events as a set, fidelity 0.5 beside auto', async () => {
    // Prepare
    const url = 'http://127.0.0.1:9999/hook';
    const post = (key: string, body: unknown) =>
      h.call('POST', '/v1/jobs', { json: body, headers: { 'idempotency-key': key } });
    const events = await post('events', { webhook: { url, events: ['job.succeeded', 'job.failed'] } });
    const auto = await post('auto', { preset: 'auto' });
    const bare = await post('bare', {});
    // Act
    const answers = [
      await post('events', { webhook: { url, events: ['job.failed', 'job.succeeded'] } }),
      await post('auto', { preset: 'auto', fidelity: 0.5 }),
      // without a preset the model's default runs, which may ignore fidelity: another request
      await post('bare', { fidelity: 0.5 }),
      await post('bare', { preset: 'auto' }),
    ];
    // Assess
    expect([events.status, auto.status, bare.status]).toEqual([201, 201, 201]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 422, 422]);
    expect([(await json(answers[0] as Response)).id, (await json(answers[1] as Response)).id]).toEqual([
      (await json(events)).id,
      (await json(auto)).id,
    ]);
  });

  it('names the limit a refused field is over: a long webhook URL, a seed beyond 32 bits, a huge tau or omega', async () => {
    // Prepare
    const longUrl = `https://hooks.example.com/${'x'.repeat(2048)}`;
    // Act
    const url = await h.call('POST', '/v1/jobs', { json: { webhook: { url: longUrl } } });
    const seed = await h.call('POST', '/v1/jobs', { json: { seed: 1e30 } });
    const tau = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 1e30, omega: 50 } });
    const omega = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 20, omega: 1e30 } });
    // Assess
    const [urlError, seedError] = [(await json(url)).error, (await json(seed)).error];
    const [tauError, omegaError] = [(await json(tau)).error, (await json(omega)).error];
    expect([url.status, seed.status, tau.status, omega.status]).toEqual([400, 400, 400, 400]);
    expect(urlError.message).toContain('too long: at most 2048 characters');
    expect(seedError.message).toContain('4294967295');
    // tau and omega count steps of a schedule of at most 1000 steps
    expect(tauError.message).toContain('999');
    expect(omegaError.message).toContain('999');
    for (const error of [seedError, tauError, omegaError]) {
      expect(JSON.stringify(error)).not.toContain('9007199254740991');
    }
  });

  it('still replays a key stored under the earlier fingerprint for the very same body', async () => {
    // Prepare: a job whose key was stored before the comparison applied fidelity's default
    const body = { preset: 'auto', fidelity: 0.5 };
    const first = await json(
      await h.call('POST', '/v1/jobs', { json: body, headers: { 'idempotency-key': 'before-deploy' } }),
    );
    const earlier = await legacyFingerprintCreateJobRequest(CreateJobRequestSchema.parse(body));
    await mutateJob(h.services.jobs, first.id, (job) => ({ ...job, requestFingerprint: earlier }));
    // Act
    const again = await h.call('POST', '/v1/jobs', {
      json: body,
      headers: { 'idempotency-key': 'before-deploy' },
    });
    // Assess
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe(first.id);
  });

  it('creates one job for concurrent requests with the same Idempotency-Key', async () => {
    // Act
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers: { 'idempotency-key': 'burst' } }),
      ),
    );
    // Assess
    const ids = new Set(await Promise.all(answers.map(async (response) => (await json(response)).id)));
    expect(ids.size).toBe(1);
    expect(answers.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 201]);
  });

  it('answers every retry of a burst with the same Idempotency-Key with the job and an upload form', async () => {
    // Prepare: the job exists and waits for its photo; each replay renews its upload key
    await h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers: { 'idempotency-key': 'storm' } });
    // Act
    const answers = await Promise.all(
      Array.from({ length: 24 }, () =>
        h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, headers: { 'idempotency-key': 'storm' } }),
      ),
    );
    // Assess: all replays, none a 412 from the writes racing each other
    expect(answers.map((response) => response.status)).toEqual(answers.map(() => 200));
    const bodies = await Promise.all(answers.map((response) => json(response)));
    expect(bodies.every((body) => body.upload !== undefined)).toBe(true);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    // Act
    const response = await h.call('POST', '/v1/jobs', { headers: { 'idempotency-key': 'has space' } });
    // Assess
    expect(response.status).toBe(400);
  });

  it('accepts a loopback http webhook in local mode', async () => {
    // Act
    const response = await h.call('POST', '/v1/jobs', {
      json: { webhook: { url: 'http://127.0.0.1:9999/hook' } },
    });
    // Assess
    expect(response.status).toBe(201);
  });
});

describe('webhook URL checks at creation (production policy)', () => {
  let production: LocalHarness;

  beforeEach(async () => {
    production = await localHarness({
      overrides: {
        webhookTargets: new NodeWebhookTargetChecker({ mode: 'aws', allowHosts: [] }, async (host) =>
          host === 'hooks.example.com' ? ['93.184.216.34'] : ['10.1.2.3'],
        ),
      },
    });
  });

  afterEach(async () => {
    await production.close();
  });

  it.each([
    ['http://127.0.0.1/hook', 'scheme_not_allowed'],
    ['https://127.0.0.1/hook', 'forbidden_address'],
    ['https://169.254.169.254/latest/meta-data', 'forbidden_address'],
    ['https://10.0.0.1/hook', 'forbidden_address'],
    ['https://[::1]/hook', 'forbidden_address'],
    ['https://[::ffff:127.0.0.1]/hook', 'forbidden_address'],
    ['https://internal.example.com/hook', 'forbidden_address'],
  ])('refuses %s with 400 naming %s', async (url, reason) => {
    // Act
    const response = await production.call('POST', '/v1/jobs', { json: { webhook: { url } } });
    // Assess
    expect(response.status).toBe(400);
    const error = (await json(response)).error;
    expect(error).toMatchObject({ code: 'webhook_target_refused', details: { reason } });
    expect(error.message).toContain(reason);
  });

  it('accepts https to a public host', async () => {
    // Act
    const response = await production.call('POST', '/v1/jobs', {
      json: { webhook: { url: 'https://hooks.example.com/dr2e', events: ['job.succeeded'] } },
    });
    // Assess
    expect(response.status).toBe(201);
  });
});

describe('GET /v1/jobs/{id}', () => {
  it('shows status, timings, and signed links to the outputs that download', async () => {
    // Prepare
    const job = await createJob({ output: { format: 'png', keepDr2: true } });
    await uploadPng(job.upload);
    await completeJob(h.services.jobs, job.id, true);
    // Act
    const response = await h.call('GET', `/v1/jobs/${job.id}`);
    // Assess
    expect(response.status).toBe(200);
    const view = await json(response);
    expect(view).toMatchObject({
      id: job.id,
      status: 'succeeded',
      attempts: 1,
      usage: { images: 1, modelSeconds: 2.5 },
      timestamps: {
        created: expect.any(String),
        uploaded: expect.any(String),
        queued: expect.any(String),
        succeeded: expect.any(String),
      },
      output: {
        format: 'png',
        restored: { url: expect.stringContaining('/local-download?'), expiresAt: expect.any(String) },
        dr2: { url: expect.stringContaining('/local-download?'), expiresAt: expect.any(String) },
      },
      webhookDeliveries: [],
    });
    expect(JSON.stringify(view)).not.toContain('restoredKey');
    const download = await h.app.request(view.output.restored.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await download.arrayBuffer()).subarray(0, 4)).toEqual(
      new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
    );
  });

  it('refuses a tampered download link with 403', async () => {
    // Prepare
    const job = await createJob();
    await uploadPng(job.upload);
    await completeJob(h.services.jobs, job.id);
    const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    const tampered = view.output.restored.url.replace(
      /key=[^&]+/,
      `key=${encodeURIComponent(blobKeys.input(tenantA, job.id))}`,
    );
    // Act
    const response = await h.app.request(tampered);
    // Assess
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe('invalid_signature');
  });

  it('answers 404 for an id that is not a job id', async () => {
    // Act
    const response = await h.call('GET', '/v1/jobs/not-a-job');
    // Assess
    expect(response.status).toBe(404);
  });
});

describe('GET /v1/jobs', () => {
  it('pages through all jobs newest first with the cursor', async () => {
    // Prepare
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push((await createJob()).id);
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct creation milliseconds
    }
    // Act
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const page = await json(await h.call('GET', `/v1/jobs${query}`));
      seen.push(...page.jobs.map((job: { id: string }) => job.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    // Assess
    expect(seen).toEqual([...created].reverse());
    expect(pages).toBe(3);
  });

  it('filters by status', async () => {
    // Prepare
    const queued = await createJob();
    await uploadPng(queued.upload);
    await createJob();
    // Act
    const page = await json(await h.call('GET', '/v1/jobs?status=queued'));
    // Assess
    expect(page.jobs.map((job: { id: string }) => job.id)).toEqual([queued.id]);
  });

  it('reads at most 200 job records for one filtered page, and goes on by the cursor', async () => {
    // Prepare: 250 waiting jobs and one queued job, the oldest; the store counts what it hands out.
    const queued = await createJob();
    await uploadPng(queued.upload);
    for (let i = 0; i < 250; i++) {
      const at = new Date(Date.now() + 1000 + i);
      const id = newJobId(at);
      const params = { steps: 100, seed: i, output: { format: 'png' as const, keepDr2: false } };
      await h.services.jobs.create(
        newJob({ id, tenantId: tenantA, model: 'm', params, inputKey: blobKeys.input(tenantA, id), at }),
      );
    }
    let read = 0;
    const listByTenant = h.services.jobs.listByTenant.bind(h.services.jobs);
    h.services.jobs.listByTenant = async (...args) => {
      const page = await listByTenant(...args);
      read += page.jobs.length;
      return page;
    };
    // Act
    const first = await json(await h.call('GET', '/v1/jobs?status=queued&limit=100'));
    const readByFirst = read;
    const second = await json(
      await h.call('GET', `/v1/jobs?status=queued&limit=100&cursor=${encodeURIComponent(first.nextCursor)}`),
    );
    // Assess
    expect(readByFirst).toBe(200);
    expect(first.jobs).toEqual([]);
    expect(second.jobs.map((job: { id: string }) => job.id)).toEqual([queued.id]);
    expect(second.nextCursor).toBeUndefined();
  });

  it.each(['?limit=0', '?limit=101', '?cursor=garbage', '?status=weird', '?colour=blue'])(
    'refuses %s with 400',
    async (query) => {
      // Act
      const response = await h.call('GET', `/v1/jobs${query}`);
      // Assess
      expect(response.status).toBe(400);
      expect((await json(response)).error.code).toBe('validation_failed');
    },
  );
});

describe('POST /v1/jobs/{id}/start', () => {
  it('answers 409 upload_missing before the upload, then queues once', async () => {
    // Prepare
    const job = await createJob();
    // Act
    const early = await h.call('POST', `/v1/jobs/${job.id}/start`);
    await h.services.blobs.put(job.upload.fields.key, await pngBytes(), {
      contentType: 'image/png',
    });
    const started = await h.call('POST', `/v1/jobs/${job.id}/start`);
    const again = await h.call('POST', `/v1/jobs/${job.id}/start`);
    // Assess
    expect([early.status, (await json(early)).error.code]).toEqual([409, 'upload_missing']);
    expect([started.status, (await json(started)).status]).toEqual([202, 'queued']);
    expect([again.status, (await json(again)).status]).toEqual([200, 'queued']);
    expect((await h.services.queue.stats()).visible).toBe(1);
  });
});

describe('POST /v1/jobs/{id}/cancel', () => {
  let receiver: Server;
  let deliveries: { headers: Record<string, string>; body: string }[];

  beforeEach(async () => {
    deliveries = [];
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        deliveries.push({ headers: request.headers as Record<string, string>, body });
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  });

  afterEach(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('cancels a queued job, queues a signed job.canceled webhook and records the delivery', async () => {
    // Prepare
    const port = (receiver.address() as AddressInfo).port;
    const job = await createJob({ webhook: { url: `http://127.0.0.1:${port}/hook` } });
    await uploadPng(job.upload);
    // Act: cancel, then the delivery consumer runs.
    const response = await h.call('POST', `/v1/jobs/${job.id}/cancel`);
    const sentBeforeConsumer = deliveries.length;
    await createWebhookDeliveryLoop(h.services, { logger: silentLogger }).drain();
    // Assess
    expect(sentBeforeConsumer).toBe(0);
    expect(response.status).toBe(200);
    const view = await json(response);
    expect(view).toMatchObject({ status: 'canceled', error: { code: 'canceled' } });
    // The answer already says the event is on its way.
    expect(view.webhookStatus).toMatchObject({ event: 'job.canceled', state: 'pending', attempts: 0 });
    expect(deliveries).toHaveLength(1);
    const secret = (await h.services.tenants.get(tenantA))?.webhookSecret ?? '';
    await expect(
      verifyWebhook({ secret, headers: deliveries[0]?.headers ?? {}, body: deliveries[0]?.body ?? '' }),
    ).resolves.toEqual({ id: webhookMessageId(job.id, 'job.canceled'), timestamp: expect.any(Date) });
    expect(JSON.parse(deliveries[0]?.body ?? '{}')).toMatchObject({
      type: 'job.canceled',
      data: { id: job.id },
    });
    const after = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    expect(after.webhookDeliveries).toEqual([
      expect.objectContaining({ event: 'job.canceled', attempt: 1, ok: true, status: 200 }),
    ]);
    expect(after.webhookStatus).toMatchObject({
      event: 'job.canceled',
      state: 'delivered',
      round: 1,
      attempts: 1,
      messageId: deliveries[0]?.headers['webhook-id'],
    });
  });

  it('is idempotent for a canceled job and refuses a succeeded one with 409', async () => {
    // Prepare
    const canceled = await createJob();
    await h.call('POST', `/v1/jobs/${canceled.id}/cancel`);
    const done = await createJob();
    await uploadPng(done.upload);
    await completeJob(h.services.jobs, done.id);
    // Act
    const again = await h.call('POST', `/v1/jobs/${canceled.id}/cancel`);
    const refused = await h.call('POST', `/v1/jobs/${done.id}/cancel`);
    // Assess
    expect([again.status, (await json(again)).status]).toEqual([200, 'canceled']);
    expect([refused.status, (await json(refused)).error.code]).toEqual([409, 'invalid_transition']);
  });
});

describe('DELETE /v1/jobs/{id}', () => {
  it('removes input and outputs; the job then reads as 404 and leaves the list', async () => {
    // Prepare
    const job = await createJob({ output: { format: 'png', keepDr2: true } });
    await uploadPng(job.upload);
    await completeJob(h.services.jobs, job.id, true);
    // Act
    const response = await h.call('DELETE', `/v1/jobs/${job.id}`);
    // Assess
    expect(response.status).toBe(204);
    expect((await h.call('GET', `/v1/jobs/${job.id}`)).status).toBe(404);
    expect((await h.call('DELETE', `/v1/jobs/${job.id}`)).status).toBe(404);
    expect((await json(await h.call('GET', '/v1/jobs'))).jobs).toEqual([]);
    for (const key of [
      blobKeys.input(tenantA, job.id),
      blobKeys.restored(tenantA, job.id, 'png'),
      blobKeys.dr2(tenantA, job.id),
    ]) {
      expect(await h.services.blobs.head(key)).toBeUndefined();
    }
  });

  it('finishes removing the files when a DELETE that failed half-way is retried', async () => {
    // Prepare: the store fails the first removal, after the tombstone is written
    const job = await createJob();
    await uploadPng(job.upload);
    const inputKey = (await h.services.jobs.get(job.id))?.input.key ?? '';
    expect(await h.services.blobs.head(inputKey)).toBeDefined();
    const deleteMany = h.services.blobs.deleteMany.bind(h.services.blobs);
    let failures = 1;
    h.services.blobs.deleteMany = async (keys) => {
      if (failures-- > 0) throw new Error('SlowDown: please reduce your request rate');
      return deleteMany(keys);
    };
    // Act
    const first = await h.call('DELETE', `/v1/jobs/${job.id}`);
    const retry = await h.call('DELETE', `/v1/jobs/${job.id}`);
    // Assess
    expect(first.status).toBe(500);
    expect(retry.status).toBe(404);
    expect(await h.services.blobs.head(inputKey)).toBeUndefined();
  });

  it('refuses an upload through the old form after the delete and stores nothing', async () => {
    // Prepare
    const job = await createJob();
    await h.call('DELETE', `/v1/jobs/${job.id}`);
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      body: uploadFormData(job.upload, await pngBytes(), 'image/png'),
    });
    // Assess
    expect(response.status).toBe(409);
    expect((await json(response)).error.code).toBe('upload_closed');
    expect(await h.services.blobs.head(job.upload.fields.key)).toBeUndefined();
    expect((await h.services.queue.stats()).visible).toBe(0);
  });

  it('cancels a queued job before deleting it, so a worker will not run it', async () => {
    // Prepare
    const job = await createJob();
    await uploadPng(job.upload);
    // Act
    await h.call('DELETE', `/v1/jobs/${job.id}`);
    // Assess
    expect(await h.services.jobs.get(job.id)).toMatchObject({
      status: 'canceled',
      error: { code: 'deleted' },
    });
  });
});

describe('GET /v1/usage', () => {
  it("sums the tenant's usage in the period", async () => {
    // Prepare
    const ids = [(await createJob()).id, (await createJob()).id, (await createJob()).id];
    const record = (jobId: string, tenantId: string, at: string, images: number, modelSeconds: number) =>
      h.services.usage.record({ tenantId, jobId, at: new Date(at), images, modelSeconds });
    await record(ids[0] ?? '', tenantA, '2025-01-10T00:00:00Z', 1, 2.5);
    await record(ids[1] ?? '', tenantA, '2025-01-31T23:00:00Z', 1, 1.25);
    await record(ids[2] ?? '', tenantA, '2025-02-01T00:00:00Z', 1, 9);
    await record(
      ids[2] ?? '',
      (await h.services.tenants.authenticate(KEY_B))?.id ?? '',
      '2025-01-15T00:00:00Z',
      4,
      4,
    );
    // Act
    const response = await h.call('GET', '/v1/usage?from=2025-01-01&to=2025-02-01');
    // Assess
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-02-01T00:00:00.000Z',
      jobs: 2,
      images: 2,
      faces: 2,
      modelSeconds: 3.75,
    });
  });

  it('takes one bound alone as a period that holds it: to from its month, from for a month', async () => {
    // Prepare: two jobs in January 2025 (long before this month)
    const ids = [(await createJob()).id, (await createJob()).id];
    for (const [index, day] of ['2025-01-10', '2025-01-25'].entries()) {
      await h.services.usage.record({
        tenantId: tenantA,
        jobId: ids[index] ?? '',
        at: new Date(day),
        images: 1,
        modelSeconds: 1,
      });
    }
    // Act
    const queries = ['?to=2025-01-20', '?to=2025-02-01', '?from=2999-03-01'];
    const answers = await Promise.all(queries.map((query) => h.call('GET', `/v1/usage${query}`)));
    const bodies = await Promise.all(answers.map((answer) => json(answer)));
    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(bodies.map(({ from, to, jobs }) => ({ from, to, jobs }))).toEqual([
      { from: '2025-01-01T00:00:00.000Z', to: '2025-01-20T00:00:00.000Z', jobs: 1 },
      { from: '2025-01-01T00:00:00.000Z', to: '2025-02-01T00:00:00.000Z', jobs: 2 },
      { from: '2999-03-01T00:00:00.000Z', to: '2999-04-01T00:00:00.000Z', jobs: 0 },
    ]);
  });

  it.each(['?from=yesterday', '?from=2025-02-01&to=2025-01-01', '?from=2020-01-01&to=2025-01-01'])(
    'refuses %s with 400',
    async (query) => {
      // Act
      const response = await h.call('GET', `/v1/usage${query}`);
      // Assess
      expect(response.status).toBe(400);
    },
  );
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document with every route and resolvable schema references', async () => {
    // Act
    const response = await h.call('GET', '/openapi.json', { key: null });
    // Assess
    expect(response.status).toBe(200);
    const doc = await json(response);
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/openapi.json',
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/cancel',
        '/v1/jobs/{id}/events',
        '/v1/jobs/{id}/webhook/redeliver',
        '/v1/jobs/{id}/start',
        '/v1/jobs/{id}/upload',
        '/v1/tenant',
        '/v1/usage',
      ].sort(),
    );
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty(ref ?? '');
    expect(doc.components.schemas.CreateJobRequest.properties).toHaveProperty('preset');
    expect(doc.components.schemas.Job.properties).toHaveProperty('webhookDeliveries');
  });

  it('documents the webhook a job sends: its signed headers and its body, the job without its webhook fields', async () => {
    // Act
    const doc = await json(await h.call('GET', '/openapi.json', { key: null }));
    // Assess
    const post = doc.webhooks.jobFinished.post;
    expect(post.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual([
      'header:webhook-id',
      'header:webhook-timestamp',
      'header:webhook-signature',
    ]);
    expect(post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/WebhookEvent',
    });
    const event = doc.components.schemas.WebhookEvent;
    expect(event.required).toEqual(['type', 'timestamp', 'data']);
    expect(event.properties.type.enum).toEqual(['job.succeeded', 'job.failed', 'job.canceled']);
    const data = event.properties.data.$ref
      ? doc.components.schemas[String(event.properties.data.$ref).split('/').pop()!]
      : event.properties.data;
    expect(data.required).toEqual(expect.arrayContaining(['id', 'status']));
    expect(Object.keys(data.properties)).not.toContain('webhookDeliveries');
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['2XX', '410']));
  });

  it('states what the request schemas check beyond their types: integer upscale, unique webhook events', async () => {
    // Act
    const doc = await json(await h.call('GET', '/openapi.json', { key: null }));
    // Assess
    const request = doc.components.schemas.CreateJobRequest.properties;
    expect(request.upscale).toMatchObject({ type: 'integer', enum: [1, 2, 4] });
    expect(request.webhook.properties.events).toMatchObject({ type: 'array', uniqueItems: true });
    expect(doc.components.schemas.Job.properties.output.properties.upscale).toMatchObject({
      type: 'integer',
    });
  });
});

describe('errors', () => {
  it('answers unknown routes with a JSON 404', async () => {
    // Act
    const response = await h.call('GET', '/nowhere');
    // Assess
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('hides internals of unexpected errors behind a JSON 500', async () => {
    // Prepare
    const broken = await localHarness({
      overrides: {
        jobs: {
          ...h.services.jobs,
          get: async () => {
            throw new Error('disk on fire at /secret/path');
          },
        } as JobStore,
      },
    });
    // Act
    const response = await broken.call('GET', '/v1/jobs/job_01JGFJJZ000000000000000000');
    const text = await response.text();
    await broken.close();
    // Assess
    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect(text).not.toContain('secret');
  });
});

describe('job metrics', () => {
  it('counts the jobs the API and the dispatcher finish, once each: a refused upload, a cancel, a deletion in flight', async () => {
    // Prepare: a harness whose metrics record what they are told.
    const finished: string[] = [];
    const metered = await localHarness({
      overrides: {
        jobMetrics: { jobFinished: (job) => finished.push(`${job.id} ${job.status} ${job.error?.code}`) },
      },
    });
    try {
      const create = async () => json(await metered.call('POST', '/v1/jobs', { json: {} }));
      const text = await create();
      const queued = await create();
      const deleted = await create();
      // Act: a text file declared as an image; a job canceled twice.
      await metered.app.request(text.upload.url, {
        method: 'POST',
        body: uploadFormData(text.upload, new TextEncoder().encode('not an image\n'), 'image/jpeg'),
      });
      await metered.app.request(queued.upload.url, {
        method: 'POST',
        body: uploadFormData(queued.upload, await pngBytes(), 'image/png'),
      });
      await metered.call('POST', `/v1/jobs/${queued.id}/cancel`);
      await metered.call('POST', `/v1/jobs/${queued.id}/cancel`);
      await metered.call('DELETE', `/v1/jobs/${deleted.id}`);
      await metered.call('DELETE', `/v1/jobs/${queued.id}`); // finished before: not again
      // Assess
      expect(finished).toEqual([
        `${text.id} failed not_an_image`,
        `${queued.id} canceled canceled`,
        `${deleted.id} canceled deleted`,
      ]);
    } finally {
      await metered.close();
    }
  });
});
