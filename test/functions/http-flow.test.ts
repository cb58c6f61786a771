/**
 * The upload flow over real HTTP on 127.0.0.1: the Node server entry (port 0) with the local
 * adapters; a client creates a job, posts the signed multipart form, and the job is queued.
 * Oversize and wrong types are refused by the signed form; empty, text and truncated files are
 * handled with clear codes, and the server stays up throughout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type UploadForm, silentLogger } from '../../shared/src/index.js';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { startApiServer, type ApiServer } from '../../functions/src/entry/node-server.js';
import { json, pngBytes, uploadFormData } from './helpers.js';

const MAX_BYTES = 64 * 1024;
let dir: string;
let server: ApiServer;
let key: string;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-http-'));
  server = await startApiServer({
    config: loadRuntimeConfig({
      DR2E_DATA_DIR: dir,
      PORT: '0',
      HOST: '127.0.0.1',
      DR2E_UPLOAD_MAX_BYTES: String(MAX_BYTES),
    }),
    overrides: { clock },
    logger: silentLogger,
  });
  key = server.services.generatedApiKey ?? '';
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function createJob(): Promise<{ id: string; upload: UploadForm }> {
  const response = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ preset: 'mild' }),
  });
  expect(response.status).toBe(201);
  return json(response);
}

async function getJob(id: string) {
  return json(await fetch(`${server.url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } }));
}

async function upload(form: UploadForm, bytes: Uint8Array, contentType: string): Promise<Response> {
  return fetch(form.url, { method: 'POST', body: uploadFormData(form, bytes, contentType) });
}

describe('upload flow over HTTP', () => {
  it('generates and keeps an API key when none is configured', () => {
    // Assess
    expect(key).toMatch(/^dr2e_sk_/);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('create -> signed upload -> queued', async () => {
    // Prepare
    const job = await createJob();
    expect(job.upload.url).toBe(`${server.url}/local-upload`);
    // Act
    const response = await upload(job.upload, await pngBytes(), 'image/png');
    // Assess
    expect(response.status).toBe(204);
    const view = await getJob(job.id);
    expect(view.status).toBe('queued');
    expect(view).not.toHaveProperty('input');
    const messages = await server.services.queue.receive({
      maxMessages: 10,
      waitSeconds: 0,
      visibilityTimeoutSeconds: 0,
    });
    expect(messages.map((m) => m.body.jobId)).toContain(job.id);
  });

  it('refuses a file over the limit with 413 and leaves the job waiting', async () => {
    // Prepare
    const job = await createJob();
    // Act: a little over (caught by the signed limit) and far over (caught before parsing).
    const slightly = await upload(job.upload, new Uint8Array(MAX_BYTES + 1).fill(0xff), 'image/jpeg');
    const far = await upload(job.upload, new Uint8Array(MAX_BYTES * 8).fill(0xff), 'image/jpeg');
    // Assess
    expect([slightly.status, (await json(slightly)).error.code]).toEqual([413, 'payload_too_large']);
    expect([far.status, (await json(far)).error.code]).toEqual([413, 'payload_too_large']);
    expect((await getJob(job.id)).status).toBe('created');
  });

  it('refuses a body that lies about its length before reading it all', async () => {
    // Prepare: a declared length over the cap; the server must answer without the body.
    const job = await createJob();
    const url = new URL(job.upload.url);
    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'content-type': 'multipart/form-data; boundary=x',
            'content-length': String(MAX_BYTES * 100),
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('--x\r\n'); // a few bytes, then nothing: only the declared length can trigger the answer
    });
    // Assess
    expect(status).toBe(413);
  });

  it('refuses a content type outside the signed list with 415', async () => {
    // Prepare
    const job = await createJob();
    // Act
    const response = await upload(job.upload, new TextEncoder().encode('hello'), 'text/plain');
    // Assess
    expect(response.status).toBe(415);
    expect((await json(response)).error.code).toBe('unsupported_media_type');
    expect((await getJob(job.id)).status).toBe('created');
  });

  it('lets through what the S3 policy lets through: any image/ type, and nothing else', async () => {
    // Prepare: phones declare image/jpg and image/heic-sequence, which S3's starts-with rule accepts
    const jpg = await createJob();
    const generic = await createJob();
    // Act
    const asJpg = await upload(jpg.upload, await pngBytes(), 'image/jpg');
    const asBinary = await upload(generic.upload, await pngBytes(), 'application/octet-stream');
    // Assess
    expect(asJpg.status).toBeLessThan(300);
    expect(asBinary.status).toBe(415);
    expect((await getJob(generic.id)).status).toBe('created');
  });

  it('refuses a zero-byte upload with empty_upload and leaves the job open for the real one, as S3 does', async () => {
    // Prepare
    const job = await createJob();
    // Act
    const response = await upload(job.upload, new Uint8Array(), 'image/png');
    const again = await upload(job.upload, await pngBytes(), 'image/png');
    // Assess
    expect([response.status, (await json(response)).error.code]).toEqual([400, 'empty_upload']);
    expect(again.status).toBe(204);
    expect((await getJob(job.id)).status).not.toBe('failed');
  });

  it('fails the job of a text file declared as an image with not_an_image', async () => {
    // Prepare
    const job = await createJob();
    // Act
    const response = await upload(job.upload, new TextEncoder().encode('just some text\n'), 'image/jpeg');
    // Assess
    expect(response.status).toBe(204);
    expect(await getJob(job.id)).toMatchObject({ status: 'failed', error: { code: 'not_an_image' } });
  });

  it('queues a truncated PNG (it fails later, in the worker, with image_decode_failed)', async () => {
    // Prepare
    const job = await createJob();
    const png = await pngBytes(64);
    // Act
    const response = await upload(job.upload, png.subarray(0, png.length - 20), 'image/png');
    // Assess
    expect(response.status).toBe(204);
    expect((await getJob(job.id)).status).toBe('queued');
  });

  it('refuses a tampered form (403 invalid_signature) and an expired one (403 expired)', async () => {
    // Prepare
    const job = await createJob();
    const other = await createJob();
    const tampered = { ...job.upload, fields: { ...job.upload.fields, key: other.upload.fields.key ?? '' } };
    // Act
    const forged = await upload(tampered, await pngBytes(), 'image/png');
    clock.advance(3600_000);
    const late = await upload(job.upload, await pngBytes(), 'image/png');
    clock.advance(-3600_000);
    // Assess
    expect([forged.status, (await json(forged)).error.code]).toEqual([403, 'invalid_signature']);
    expect([late.status, (await json(late)).error.code]).toEqual([403, 'expired']);
    expect((await getJob(other.id)).status).toBe('created');
  });

  it('refuses a non-multipart upload and a form without a file', async () => {
    // Prepare
    const job = await createJob();
    const noFile = new FormData();
    for (const [name, value] of Object.entries(job.upload.fields)) noFile.append(name, value);
    // Act
    const plain = await fetch(job.upload.url, { method: 'POST', body: 'hello' });
    const missing = await fetch(job.upload.url, { method: 'POST', body: noFile });
    // Assess
    expect(plain.status).toBe(415);
    expect(missing.status).toBe(400);
  });

  it('is still up and answering after all of the above', async () => {
    // Act
    const response = await fetch(`${server.url}/healthz`);
    // Assess
    expect(response.status).toBe(200);
  });
});

describe('the scheduled expiry sweep of the node server', () => {
  it('expires a job nobody uploaded to or reads, on its own schedule', async () => {
    // Prepare: a server of its own sweeping every 50 ms, on a clock the test moves
    const ownDir = await mkdtemp(path.join(tmpdir(), 'dr2e-sweep-'));
    const ownClock = new ManualClock(Date.now());
    const own = await startApiServer({
      config: loadRuntimeConfig({ DR2E_DATA_DIR: ownDir, PORT: '0', HOST: '127.0.0.1' }),
      overrides: { clock: ownClock },
      logger: silentLogger,
      expirySweepIntervalMs: 50,
    });
    try {
      const created = await fetch(`${own.url}/v1/jobs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${own.services.generatedApiKey ?? ''}`,
          'content-type': 'application/json',
        },
        body: '{}',
      });
      const { id } = (await json(created)) as { id: string };
      // Act: a day and a minute pass; nobody reads the job
      ownClock.advance((24 * 3600 + 60) * 1000);
      // Assess: the store (not a read through the API, which would expire it itself) has it canceled
      await expect
        .poll(async () => (await own.services.jobs.get(id))?.error?.code, { timeout: 5000 })
        .toBe('upload_expired');
    } finally {
      await own.close();
      await rm(ownDir, { recursive: true, force: true });
    }
  });
});
