/**
 * One input per job (issue 12, item 3) and refusals of what can never run (item 5): per-form
 * upload keys, the dispatcher's own checked copy as the worker's input, late and stray uploads
 * deleted, new forms while `created`, expiry of jobs never uploaded; impossible schedules
 * refused at creation and degenerate images refused at dispatch, before any GPU time.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobKeys, ManualClock, newJob, newJobId, type UploadForm } from '../../shared/src/index.js';
import { createExpiry, createDispatcher } from '../../functions/src/app.js';
import { readImageSize } from '../../functions/src/services/image-size.js';
import { createJobWebhooks } from '../../functions/src/app.js';
import { json, KEY_A, localHarness, pngBytes, uploadFormData, type LocalHarness } from './helpers.js';

let h: LocalHarness;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.now());
  h = await localHarness({
    overrides: { clock },
    // Forms outlive the job's wait here, so a late upload meets the expired job, not an expired form.
    env: { DR2E_CREATED_JOB_TTL_SECONDS: '3600', DR2E_UPLOAD_URL_TTL_SECONDS: '7200' },
  });
});

afterEach(async () => {
  await h.close();
});

interface Created {
  id: string;
  status: string;
  upload: UploadForm;
}

async function createJob(body: unknown = {}): Promise<Created> {
  const response = await h.call('POST', '/v1/jobs', { json: body });
  expect(response.status).toBe(201);
  return (await json(response)) as Created;
}

async function solidPng(width: number, height: number, red = 120): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width, height, channels: 3, background: { r: red, g: 90, b: 80 } } })
      .png()
      .toBuffer(),
  );
}

function post(form: UploadForm, bytes: Uint8Array): Promise<Response> {
  return Promise.resolve(
    h.app.request(form.url, { method: 'POST', body: uploadFormData(form, bytes, 'image/png') }),
  );
}

/** Every stored file (blob keys) of a job. */
async function storedKeys(tenantId: string, jobId: string): Promise<string[]> {
  const root = path.join(h.dir, 'blobs', 'tenants', tenantId, 'jobs', jobId);
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((name) => name.endsWith('~blob')).map((name) => name.replace(/~blob$/, ''));
}

async function tenantA(): Promise<string> {
  return (await h.services.tenants.authenticate(KEY_A))?.id ?? '';
}

describe('one input per job', () => {
  it('gives every form its own key and keeps the worker input unchanged after a second upload', async () => {
    // Prepare
    const job = await createJob();
    const first = await solidPng(64, 64, 10);
    const second = await solidPng(64, 64, 250);
    expect((await post(job.upload, first)).status).toBe(204);
    const queued = await h.services.jobs.get(job.id);
    // Act: the same form again (still valid), straight to storage as S3 would take it
    await h.services.blobs.put(job.upload.fields.key ?? '', second, { contentType: 'image/png' });
    const dispatcher = createDispatcher(h.services);
    const late = await dispatcher.handleObjectCreated(job.upload.fields.key ?? '');
    const viaRoute = await post(job.upload, second);
    // Assess
    expect(queued?.status).toBe('queued');
    expect(queued?.input.key).toMatch(new RegExp(`/jobs/${job.id}/accepted-[0-9A-Z]{26}$`));
    expect(queued?.input.uploadKey).toBe(job.upload.fields.key);
    expect(late).toMatchObject({ outcome: 'ignored', reason: 'upload_closed' });
    expect(viaRoute.status).toBe(409);
    expect((await json(viaRoute)).error.code).toBe('upload_closed');
    const input = await h.services.blobs.get(queued?.input.key ?? '');
    expect(Buffer.from(input?.body ?? []).equals(Buffer.from(first))).toBe(true);
    expect(await storedKeys(await tenantA(), job.id)).toEqual([path.basename(queued?.input.key ?? '')]);
    expect((await h.services.queue.stats()).visible).toBe(1);
  });

  it('accepts exactly one of two uploads racing through two forms and deletes the other', async () => {
    // Prepare
    const job = await createJob();
    const renewed = await h.call('POST', `/v1/jobs/${job.id}/upload`);
    const second = (await json(renewed)) as Created;
    const a = await solidPng(64, 64, 10);
    const b = await solidPng(64, 64, 250);
    // Act
    const [ra, rb] = await Promise.all([post(job.upload, a), post(second.upload, b)]);
    // Assess
    expect(renewed.status).toBe(200);
    expect(second.upload.fields.key).not.toBe(job.upload.fields.key);
    expect([ra.status, rb.status].sort()).toContain(204);
    const stored = await h.services.jobs.get(job.id);
    expect(stored?.status).toBe('queued');
    const accepted = Buffer.from((await h.services.blobs.get(stored?.input.key ?? ''))?.body ?? []);
    const winner = stored?.input.uploadKey === job.upload.fields.key ? a : b;
    expect(accepted.equals(Buffer.from(winner))).toBe(true);
    expect(await storedKeys(await tenantA(), job.id)).toHaveLength(1);
    expect((await h.services.queue.stats()).visible).toBe(1);
  });

  it('issues a new form only while the job waits for its input', async () => {
    // Prepare
    const job = await createJob();
    // Act
    const renewed = await h.call('POST', `/v1/jobs/${job.id}/upload`);
    const body = (await json(renewed)) as Created;
    await post(body.upload, await pngBytes());
    const closed = await h.call('POST', `/v1/jobs/${job.id}/upload`);
    const unknown = await h.call('POST', '/v1/jobs/job_01J00000000000000000000000/upload');
    // Assess
    expect(renewed.status).toBe(200);
    expect(body).toMatchObject({ id: job.id, status: 'created', upload: { url: job.upload.url } });
    expect(closed.status).toBe(409);
    expect(await json(closed)).toMatchObject({
      error: { code: 'upload_closed', details: { status: 'queued' } },
    });
    expect(unknown.status).toBe(404);
  });

  it('deletes uploads for unknown, canceled or deleted jobs on arrival', async () => {
    // Prepare
    const canceled = await createJob();
    await h.call('POST', `/v1/jobs/${canceled.id}/cancel`);
    const tenant = await tenantA();
    const strayKey = `tenants/${tenant}/jobs/job_01J00000000000000000000000/uploads/01J00000000000000000000000/input`;
    await h.services.blobs.put(canceled.upload.fields.key ?? '', await pngBytes());
    await h.services.blobs.put(strayKey, await pngBytes());
    const dispatcher = createDispatcher(h.services);
    // Act
    const outcomes = [
      await dispatcher.handleObjectCreated(canceled.upload.fields.key ?? ''),
      await dispatcher.handleObjectCreated(strayKey),
    ];
    // Assess
    expect(outcomes).toMatchObject([
      { outcome: 'ignored', reason: 'upload_closed' },
      { outcome: 'ignored', reason: 'job_not_found' },
    ]);
    expect(await h.services.blobs.head(canceled.upload.fields.key ?? '')).toBeUndefined();
    expect(await h.services.blobs.head(strayKey)).toBeUndefined();
  });
});

describe('jobs left created expire', () => {
  it('expires a job not uploaded within the configured time, removes its upload, refuses late uploads', async () => {
    // Prepare
    const job = await createJob({ webhook: { url: 'http://127.0.0.1:9/hook' } });
    const fresh = await createJob();
    clock.advance(3600 * 1000 + 1);
    // Act
    const read = await h.call('GET', `/v1/jobs/${job.id}`);
    const view = await json(read);
    const late = await post(job.upload, await pngBytes());
    const renew = await h.call('POST', `/v1/jobs/${job.id}/upload`);
    // Assess
    expect(read.status).toBe(200);
    expect(view).toMatchObject({
      status: 'canceled',
      error: { code: 'upload_expired', message: expect.stringContaining('1 h') },
    });
    // The read that expired the job already shows its job.canceled webhook as queued.
    expect(view.webhookStatus).toMatchObject({ event: 'job.canceled', state: 'pending' });
    expect(late.status).toBe(409);
    expect(renew.status).toBe(409);
    expect(await storedKeys(await tenantA(), job.id)).toEqual([]);
    expect((await h.services.jobs.get(fresh.id))?.status).toBe('created'); // not read yet
  });

  it('says a time limit under an hour in minutes', async () => {
    // Prepare: a deployment that expires jobs after 2 minutes
    const short = await localHarness({ overrides: { clock }, env: { DR2E_CREATED_JOB_TTL_SECONDS: '120' } });
    const job = (await json(await short.call('POST', '/v1/jobs', { json: {} }))) as Created;
    clock.advance(120 * 1000 + 1);
    // Act
    const view = await json(await short.call('GET', `/v1/jobs/${job.id}`));
    await short.close();
    // Assess
    expect(view.error).toMatchObject({ code: 'upload_expired' });
    expect(view.error.message).toContain('within 2 min of creating the job');
  });

  it('expires a stale job when its event stream is opened, as a read does', async () => {
    // Prepare
    const job = await createJob();
    clock.advance(3600 * 1000 + 1);
    // Act
    const stream = await h.call('GET', `/v1/jobs/${job.id}/events`);
    const text = await stream.text();
    // Assess: one terminal event, not `created` forever
    expect(stream.status).toBe(200);
    expect(text).toMatch(/^event: job\.canceled$/m);
    expect(text).toContain('upload_expired');
    expect((await h.services.jobs.get(job.id))?.status).toBe('canceled');
  });

  it('expires on schedule the jobs of every tenant that went stale, sending their job.canceled, unread', async () => {
    // Prepare: two abandoned jobs (one with a webhook), an uploaded one, and one created later
    const stale = await createJob({ webhook: { url: 'http://127.0.0.1:9/hook' } });
    const staleToo = await createJob();
    const uploaded = await createJob();
    await post(uploaded.upload, await pngBytes());
    clock.advance(30 * 60 * 1000);
    const fresh = await createJob();
    clock.advance(30 * 60 * 1000 + 1);
    const { silentLogger } = await import('../../shared/src/index.js');
    const expiry = createExpiry(h.services, { createdJobTtlSeconds: 3600, logger: silentLogger });
    // Act: nobody reads the jobs; the sweep runs
    const count = await expiry.sweepDue();
    const again = await expiry.sweepDue();
    // Assess
    expect([count, again]).toEqual([2, 0]);
    expect((await h.services.jobs.get(stale.id))?.error?.code).toBe('upload_expired');
    expect((await h.services.jobs.get(staleToo.id))?.error?.code).toBe('upload_expired');
    expect((await h.services.jobs.get(stale.id))?.webhookStatus).toMatchObject({ event: 'job.canceled' });
    expect((await h.services.jobs.get(uploaded.id))?.status).toBe('queued');
    expect((await h.services.jobs.get(fresh.id))?.status).toBe('created');
  });

  it('stops the scheduled sweep at its time budget after a page, and the next run goes on', async () => {
    // Prepare: more abandoned jobs than one page (100) holds (stored directly: the API's
    // in-flight cap would refuse so many)
    const tenant = await tenantA();
    for (let i = 0; i < 103; i++) {
      const at = new Date(clock.now().getTime() - 200 + i);
      const id = newJobId(at);
      await h.services.jobs.create(
        newJob({
          id,
          tenantId: tenant,
          model: 'dr2e-test',
          params: { preset: 'mild', steps: 100, seed: 1, output: { format: 'png', keepDr2: false } },
          inputKey: blobKeys.input(tenant, id),
          at,
        }),
      );
    }
    clock.advance(3600 * 1000 + 1);
    const { silentLogger } = await import('../../shared/src/index.js');
    const expiry = createExpiry(h.services, { createdJobTtlSeconds: 3600, logger: silentLogger });
    // Act
    const first = await expiry.sweepDue({ timeBudgetMs: 0 });
    // (the first page's jobs are no longer stale: the next run reads past them cheaply)
    const second = await expiry.sweepDue({ timeBudgetMs: 60_000 });
    // Assess
    expect([first, second]).toEqual([100, 3]);
  });

  it('sweeps a tenant: stale jobs expire, fresh and uploaded ones stay', async () => {
    // Prepare
    const stale = await createJob();
    const uploaded = await createJob();
    await post(uploaded.upload, await pngBytes());
    clock.advance(3600 * 1000 + 1);
    const fresh = await createJob();
    const expiry = createExpiry(h.services, {
      createdJobTtlSeconds: 3600,
      logger: (await import('../../shared/src/index.js')).silentLogger,
      notifier: createJobWebhooks(h.services, {
        logger: (await import('../../shared/src/index.js')).silentLogger,
      }),
    });
    // Act
    const count = await expiry.sweepTenant(await tenantA());
    // Assess
    expect(count).toBe(1);
    expect((await h.services.jobs.get(stale.id))?.error?.code).toBe('upload_expired');
    expect((await h.services.jobs.get(uploaded.id))?.status).toBe('queued');
    expect((await h.services.jobs.get(fresh.id))?.status).toBe('created');
  });
});

describe('refused before it can run', () => {
  it('refuses at creation a tau that leaves no room for the derived omega', async () => {
    // Act
    const impossible = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 99 } });
    const fewSteps = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 9, steps: 10 } });
    const fine = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 98 } });
    const explicit = await h.call('POST', '/v1/jobs', { json: { n: 4, tau: 90, omega: 99 } });
    // Assess
    expect(impossible.status).toBe(400);
    const body = await json(impossible);
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toContain('omega');
    expect(body.error.message).toContain('tau <= 98');
    expect(fewSteps.status).toBe(400);
    expect(fine.status).toBe(201);
    expect(explicit.status).toBe(201);
  });

  it.each([
    ['an aligned 16:1 strip', 1024, 64, true, 'image_aspect_ratio_unsupported'],
    ['an aligned 1:8 strip', 40, 320, true, 'image_aspect_ratio_unsupported'],
    ['a 20 px side', 20, 40, false, 'image_too_small'],
  ])(
    'fails %s at dispatch with a clear code, unqueued and unbilled',
    async (_name, width, height, aligned, code) => {
      // Prepare
      const job = await createJob(aligned ? { aligned: true } : {});
      // Act
      const response = await post(job.upload, await solidPng(width, height));
      const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
      // Assess
      expect(response.status).toBe(204);
      expect(view).toMatchObject({ status: 'failed', error: { code, retryable: false } });
      expect(view.error.message).toContain(`${width}x${height}`);
      expect(view).not.toHaveProperty('usage');
      expect((await h.services.queue.stats()).visible).toBe(0);
      expect(await storedKeys(await tenantA(), job.id)).toEqual([]);
    },
  );

  it('accepts an aligned 4:1 crop, and a whole-photo panorama of any shape', async () => {
    // Prepare
    const crop = await createJob({ aligned: true });
    const panorama = await createJob();
    // Act
    await post(crop.upload, await solidPng(256, 64));
    await post(panorama.upload, await solidPng(2048, 64));
    // Assess
    expect((await h.services.jobs.get(crop.id))?.status).toBe('queued');
    expect((await h.services.jobs.get(panorama.id))?.status).toBe('queued');
  });
});

describe('readImageSize', () => {
  it.each(['png', 'jpeg', 'webp', 'tiff', 'avif'] as const)(
    'reads width and height of %s',
    async (format) => {
      // Prepare
      const bytes = await sharp({ create: { width: 123, height: 45, channels: 3, background: '#808080' } })
        .toFormat(format)
        .toBuffer();
      // Act / Assess
      expect(readImageSize(new Uint8Array(bytes))).toEqual({ width: 123, height: 45 });
    },
  );

  it('reads a lossless WebP and answers undefined for text', async () => {
    const lossless = await sharp({ create: { width: 77, height: 300, channels: 4, background: '#00000000' } })
      .webp({ lossless: true })
      .toBuffer();
    expect(readImageSize(new Uint8Array(lossless))).toEqual({ width: 77, height: 300 });
    expect(readImageSize(new TextEncoder().encode('hello, not an image'))).toBeUndefined();
  });
});
