/**
 * The local upload route (issue 12, item 6): signed fields checked before the file is read,
 * the file streamed to disk under the signed size cap, a cap on concurrent uploads, only the
 * canonical signature encoding, and memory: 10 parallel 25 MB uploads keep a separately
 * started server process under 300 MB of peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJsonLogger, type UploadForm } from '../../shared/src/index.js';
import { json, KEY_A, localHarness, pngBytes, type LocalHarness } from './helpers.js';

const BOUNDARY = 'dr2e-test-boundary-4f1c';

/**
 * The multipart text of `fields` (with a `Content-Type` field of `fileType` unless the form
 * fixes one, as clients must send) and the header of a file part (the file bytes follow).
 */
function formHead(fields: Record<string, string>, fileType = 'image/png'): string {
  let text = '';
  for (const [name, value] of Object.entries({ 'Content-Type': fileType, ...fields })) {
    text += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  return `${text}--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\nContent-Type: ${fileType}\r\n\r\n`;
}

/** A request body that sends `head` and `firstBytes`, then stalls until `finish` is called. */
function stalledBody(head: string, firstBytes: Uint8Array) {
  let finish!: () => void;
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      pulled++;
      if (pulled === 1) controller.enqueue(new TextEncoder().encode(head));
      else if (pulled === 2) controller.enqueue(firstBytes);
      else {
        await new Promise<void>((resolve) => (finish = resolve));
        controller.enqueue(new TextEncoder().encode(`\r\n--${BOUNDARY}--\r\n`));
        controller.close();
      }
    },
  });
  return { stream, finish: () => finish?.() };
}

function postStream(h: LocalHarness, url: string, body: ReadableStream<Uint8Array>): Promise<Response> {
  return Promise.resolve(
    h.app.request(url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body,
      duplex: 'half',
    } as RequestInit),
  );
}

/** One POST on its own connection (no idle keep-alive socket to race with the server closing it). */
function postOverHttp(form: UploadForm, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(form.url);
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
          'content-length': body.length,
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function wholeBody(
  fields: Record<string, string>,
  bytes: Uint8Array,
  fileType = 'image/png',
): Uint8Array<ArrayBuffer> {
  return new Uint8Array(
    Buffer.concat([
      Buffer.from(formHead(fields, fileType)),
      Buffer.from(bytes),
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]),
  );
}

describe('POST /local-upload', () => {
  let h: LocalHarness;

  beforeEach(async () => {
    h = await localHarness({ app: { maxConcurrentUploads: 2 }, env: { DR2E_UPLOAD_MAX_BYTES: '100000' } });
  });

  afterEach(async () => {
    await h.close();
  });

  async function createJob(): Promise<{ id: string; upload: UploadForm }> {
    return json(await h.call('POST', '/v1/jobs', { json: {} }));
  }

  it('refuses a forged form before reading the file', async () => {
    // Prepare
    const job = await createJob();
    const forged = { ...job.upload.fields, 'x-dr2e-max-bytes': '999999999' };
    const body = stalledBody(formHead(forged), new Uint8Array(1000));
    // Act: the body never ends unless we let it; the answer must come anyway
    const response = await postStream(h, job.upload.url, body.stream);
    // Assess
    expect(response.status).toBe(403);
    expect((await json(response)).error.code).toBe('invalid_signature');
    body.finish();
  });

  it('accepts only the canonical signature encoding', async () => {
    // Prepare
    const job = await createJob();
    const signature = job.upload.fields['x-dr2e-signature'] ?? '';
    const standard = Buffer.from(signature, 'base64url').toString('base64'); // padded, +/ alphabet
    const png = await pngBytes();
    // Act
    const variants = [`${signature}=`, standard, ` ${signature}`];
    const statuses = [];
    for (const variant of variants) {
      const fields = { ...job.upload.fields, 'x-dr2e-signature': variant };
      const response = await h.app.request(job.upload.url, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        body: wholeBody(fields, png),
      });
      statuses.push(response.status);
    }
    const canonical = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(job.upload.fields, png),
    });
    // Assess
    expect(statuses).toEqual([403, 403, 403]);
    expect(canonical.status).toBe(204);
  });

  it('stops a file over the signed limit with 413 and keeps nothing of it', async () => {
    // Prepare
    const job = await createJob();
    const big = new Uint8Array(100_001);
    big.set(await pngBytes());
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(job.upload.fields, big),
    });
    // Assess
    expect(response.status).toBe(413);
    expect(await h.services.blobs.head(job.upload.fields.key ?? '')).toBeUndefined();
    expect(await readdir(path.join(h.dir, 'blobs', '.incoming'))).toEqual([]);
    expect((await h.services.jobs.get(job.id))?.status).toBe('created');
  });

  it('refuses a body far over the limit by its length, naming the limit an image has (not the form overhead)', async () => {
    // Prepare: a body whose declared length passes the image limit plus the form's own allowance
    const job = await createJob();
    const big = new Uint8Array(400_000);
    big.set(await pngBytes());
    const body = wholeBody(job.upload.fields, big);
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        'content-length': String(body.byteLength),
      },
      body,
    });
    // Assess
    expect(response.status).toBe(413);
    expect((await json(response)).error.message).toMatch(
      /an image may have up to 100000 \(the form's own fields aside\)/,
    );
  });

  it('answers 503 with Retry-After beyond the concurrent upload cap, then accepts again', async () => {
    // Prepare: two uploads hold the two places
    const [a, b, c] = [await createJob(), await createJob(), await createJob()];
    const png = await pngBytes();
    const first = stalledBody(formHead(a.upload.fields), png);
    const second = stalledBody(formHead(b.upload.fields), png);
    const pending = [postStream(h, a.upload.url, first.stream), postStream(h, b.upload.url, second.stream)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Act
    const third = await h.app.request(c.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(c.upload.fields, png),
    });
    first.finish();
    second.finish();
    const done = await Promise.all(pending);
    const retried = await h.app.request(c.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(c.upload.fields, png),
    });
    // Assess
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('1');
    expect((await json(third)).error.code).toBe('too_many_uploads');
    expect(done.map((r) => r.status)).toEqual([204, 204]);
    expect(retried.status).toBe(204);
    expect((await h.services.jobs.get(c.id))?.status).toBe('queued');
  });

  it('keeps the upload places for signed forms: connections that stall before a valid form take none', async () => {
    // Prepare: one place; a connection that sends half a field and stops.
    const tight = await localHarness({ app: { maxConcurrentUploads: 1 } });
    try {
      const job = (await json(await tight.call('POST', '/v1/jobs', { json: {} }))) as {
        id: string;
        upload: UploadForm;
      };
      const stalled = stalledBody(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\ntenants/`,
        new Uint8Array(),
      );
      const pending = postStream(tight, job.upload.url, stalled.stream);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Act
      const real = await tight.app.request(job.upload.url, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        body: wholeBody(job.upload.fields, await pngBytes()),
      });
      stalled.finish();
      await pending.catch(() => undefined);
      // Assess
      expect(real.status).toBe(204);
    } finally {
      await tight.close();
    }
  });

  it('says "file last" for a form whose file comes before its fields, and refuses a flood of fields', async () => {
    // Prepare
    const job = await createJob();
    const png = await pngBytes();
    const fileFirst = Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      Buffer.from(png),
      Buffer.from(
        `\r\n${formHead(job.upload.fields).split(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"`)[0]}--${BOUNDARY}--\r\n`,
      ),
    ]);
    const flood: Record<string, string> = {};
    for (let i = 0; i < 30; i++) flood[`x-junk-${i}`] = 'y'.repeat(100);
    // Act
    const post = (body: Uint8Array) =>
      h.app.request(job.upload.url, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        body: new Uint8Array(body),
      });
    const first = await post(fileFirst);
    const flooded = await post(wholeBody({ ...flood, ...job.upload.fields }, png));
    const proper = await post(wholeBody(job.upload.fields, png));
    // Assess
    expect(first.status).toBe(400);
    expect((await json(first)).error.message).toContain('the file last');
    expect(flooded.status).toBe(400);
    expect((await json(flooded)).error.message).toContain('more than 20 fields');
    expect(proper.status).toBe(204);
  });

  it('lets one of two overlapping uploads to a job in and refuses the other with 409', async () => {
    // Prepare: the first upload (the job's form) streams and is held open mid-file; the second
    // comes through a fresh form of the same job
    const job = await createJob();
    const second = (await json(await h.call('POST', `/v1/jobs/${job.id}/upload`))).upload as UploadForm;
    const [firstPng, secondPng] = [await pngBytes(40), await pngBytes(48)];
    const held = stalledBody(formHead(job.upload.fields), firstPng);
    const pending = postStream(h, job.upload.url, held.stream);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Act
    const overlapping = await h.app.request(second.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(second.fields, secondPng),
    });
    held.finish();
    const first = await pending;
    // Assess: the held upload is the job's input; the other was told, not silently dropped
    expect(overlapping.status).toBe(409);
    expect((await json(overlapping)).error).toMatchObject({
      code: 'upload_closed',
      details: { reason: 'upload_in_progress' },
    });
    expect(first.status).toBe(204);
    const stored = await h.services.jobs.get(job.id);
    expect(stored?.status).toBe('queued');
    const input = await h.services.blobs.get(stored?.input.key ?? '');
    expect(Buffer.from(input?.body ?? []).equals(Buffer.from(firstPng))).toBe(true);
  });

  it('gives the job back when the upload holding it is cut off, so the refused one can retry', async () => {
    // Prepare: an upload held open mid-file, an overlapping one refused meanwhile
    const job = await createJob();
    const png = await pngBytes();
    let cutOff!: () => void;
    let pulled = 0;
    const held = new ReadableStream<Uint8Array>({
      async pull(controller) {
        pulled++;
        if (pulled === 1) controller.enqueue(new TextEncoder().encode(formHead(job.upload.fields)));
        else if (pulled === 2) controller.enqueue(png.subarray(0, 10));
        else {
          await new Promise<void>((resolve) => (cutOff = resolve));
          controller.error(new Error('connection reset'));
        }
      },
    });
    const pending = postStream(h, job.upload.url, held);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const send = () =>
      h.app.request(job.upload.url, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        body: wholeBody(job.upload.fields, png),
      });
    const refused = await send();
    cutOff();
    const failed = await pending;
    // Act
    const retried = await send();
    // Assess
    expect(refused.status).toBe(409);
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(retried.status).toBe(204);
    expect((await h.services.jobs.get(job.id))?.status).toBe('queued');
  });

  it('tells an upload to a canceled job that the job was canceled, among the reasons', async () => {
    // Prepare
    const job = await createJob();
    expect((await h.call('POST', `/v1/jobs/${job.id}/cancel`)).status).toBe(200);
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(job.upload.fields, await pngBytes()),
    });
    // Assess
    expect(response.status).toBe(409);
    expect((await json(response)).error).toMatchObject({
      code: 'upload_closed',
      message: expect.stringMatching(
        /was canceled, finished or expired \(GET \/v1\/jobs\/\{id\} says which\)/,
      ),
    });
  });

  it('names the form field that is over the 8 KiB limit', async () => {
    // Prepare
    const job = await createJob();
    const fields = { ...job.upload.fields, note: 'x'.repeat(8193) };
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(fields, await pngBytes()),
    });
    // Assess
    expect(response.status).toBe(413);
    expect((await json(response)).error.message).toBe(
      'the form field "note" is over the limit of 8192 bytes',
    );
  });

  it('logs a 503 too_many_uploads at info, without an error line', async () => {
    // Prepare: an app that takes no upload at once, writing its log lines here
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
    const busy = await localHarness({ app: { maxConcurrentUploads: 0, logger } });
    const job = (await json(await busy.call('POST', '/v1/jobs', { json: {} }))) as { upload: UploadForm };
    // Act
    const response = await busy.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(job.upload.fields, await pngBytes()),
    });
    await busy.close();
    // Assess
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(response.status).toBe(503);
    expect(records.filter((r) => r.level === 'error')).toEqual([]);
    expect(records).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'request refused',
        status: 503,
        code: 'too_many_uploads',
      }),
    );
  });

  it('stores the streamed bytes exactly, with their MD5 as etag', async () => {
    // Prepare
    const job = await createJob();
    const png = await pngBytes(48);
    // Act
    const response = await h.app.request(job.upload.url, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: wholeBody(job.upload.fields, png),
    });
    const stored = await h.services.jobs.get(job.id);
    const input = await h.services.blobs.get(stored?.input.key ?? '');
    // Assess
    expect(response.status).toBe(204);
    expect(Buffer.from(input?.body ?? []).equals(Buffer.from(png))).toBe(true);
    expect(input?.etag).toBe((await import('node:crypto')).createHash('md5').update(png).digest('hex'));
  });
});

describe('local server memory under parallel uploads', () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    child?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps peak RSS under 300 MB for 10 parallel 25 MB uploads', { timeout: 120_000 }, async () => {
    // Prepare: the API server in its own process, so its memory is measured alone
    dir = await mkdtemp(path.join(tmpdir(), 'dr2e-rss-'));
    child = spawn(process.execPath, ['--import', 'tsx', 'functions/src/entry/node-server.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        DR2E_DATA_DIR: dir,
        DR2E_API_KEYS: KEY_A,
        DR2E_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child?.stdout as NodeJS.ReadableStream });
      lines.on('line', (line) => {
        const match = /"url":"(http:[^"]+)"/.exec(line);
        if (match?.[1] && line.includes('API listening')) resolve(match[1]);
      });
      child?.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const jobs = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const response = await fetch(`${url}/v1/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
          body: '{}',
        });
        return (await response.json()) as { id: string; upload: UploadForm };
      }),
    );
    const file = new Uint8Array(25_000_000);
    file.set(await pngBytes(64));
    // Act
    const statuses = await Promise.all(
      jobs.map((job) => postOverHttp(job.upload, wholeBody(job.upload.fields, file))),
    );
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    // Assess
    expect(statuses).toEqual(Array(10).fill(204));
    expect(peakKb / 1024).toBeLessThan(300);
    const views = await Promise.all(
      jobs.map(async (job) =>
        (await fetch(`${url}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${KEY_A}` } })).json(),
      ),
    );
    expect(views.map((view) => (view as { status: string }).status)).toEqual(Array(10).fill('queued'));
    expect(views[0]).not.toHaveProperty('input');
    console.info(`local server peak RSS with 10 parallel 25 MB uploads: ${Math.round(peakKb / 1024)} MB`);
  });
});
