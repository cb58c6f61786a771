/**
 * The whole pipeline over real HTTP on 127.0.0.1, API and worker in one process (the
 * `npm start` stack) with the tiny model at 10 steps: create, signed upload, dispatch, restore,
 * signed webhook, download through the signed link; bad uploads; duplicate delivery; cancel;
 * transient failures up to the maximum receives.
 */
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Dr2eEngine, InferenceError } from '../../gpu-task/src/engine/index.js';
import { Dr2eClient, type LocalStack, type WebhookReceiver } from '../../gpu-task/src/local/index.js';
import { batchKeyFor } from '../../shared/src/index.js';
import { isPng, patternPng, TEXT_FILE, truncatedPng } from '../worker/helpers/images.js';
import { gate, ScriptedEngine, TINY_MODEL, waitFor } from '../worker/helpers/worker-env.js';
import { API_KEY, connect, LogLines, startApi, startStack, submit, tempDataDir } from './helpers/stack.js';

let tiny: Dr2eEngine;
let engine: ScriptedEngine;
let data: Awaited<ReturnType<typeof tempDataDir>>;
let logs: LogLines;
let stack: LocalStack | undefined;
let client: Dr2eClient;
let receiver: WebhookReceiver;

beforeAll(async () => {
  tiny = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await tiny.dispose();
});
beforeEach(async () => {
  data = await tempDataDir();
  logs = new LogLines();
  engine = new ScriptedEngine(tiny);
});
afterEach(async () => {
  await receiver?.close();
  await stack?.close();
  stack = undefined;
  await data.remove();
});

async function start(options: Parameters<typeof startStack>[2] = {}, env: Record<string, string> = {}) {
  stack = await startStack(data.dir, logs, { engine, ...options, env });
  ({ client, receiver } = await connect(stack.url));
}

describe('happy path', () => {
  it('creates, uploads through the signed form, restores, delivers a verified webhook and serves the output link', async () => {
    // Prepare
    await start();
    const photo = await patternPng(3);

    // Act
    const { id, uploadStatus } = await submit(client, receiver, photo, { seed: 42 });
    const event = await receiver.waitFor((e) => e.data.id === id && e.type === 'job.succeeded');
    const job = await client.waitForJob(id);
    const restored = await client.download(job.output?.restored?.url ?? '');

    // Assess
    expect(uploadStatus).toBe(204);
    expect(receiver.received.every((entry) => entry.verified)).toBe(true);
    expect(event.data.status).toBe('succeeded');
    expect(job).toMatchObject({ status: 'succeeded', attempts: 1, progress: { step: 3, total: 3 } });
    expect(isPng(restored)).toBe(true);
    // An aligned crop comes back at input size x upscale (96 x 2).
    expect(await sharp(restored).metadata()).toMatchObject({ width: 192, height: 192 });
    const fromWebhook = await client.download(event.data.output?.restored?.url ?? '');
    expect(fromWebhook).toEqual(restored);
    const usageResponse = await fetch(`${stack?.url}/v1/usage`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    const usage = (await usageResponse.json()) as { images: number; jobs: number };
    expect(usage).toMatchObject({ jobs: 1, images: 1 });
  });

  it('refuses a tampered download link', async () => {
    // Prepare
    await start();
    const { id } = await submit(client, receiver, await patternPng(1));
    const job = await client.waitForJob(id);
    const link = new URL(job.output?.restored?.url ?? '');
    link.searchParams.set('key', link.searchParams.get('key')?.replace('restored', 'input') ?? '');

    // Act
    const response = await fetch(link);

    // Assess
    expect(response.status).toBe(403);
  });
});

describe('bad uploads', () => {
  it('refuses a zero-byte file, fails a truncated PNG and a text file with clear codes, and keeps serving', async () => {
    // Prepare
    await start();

    // Act
    const empty = await submit(client, receiver, new Uint8Array(0));
    const truncated = await submit(client, receiver, await truncatedPng());
    const text = await submit(client, receiver, TEXT_FILE); // declared image/png, bytes are text
    const jobs = await Promise.all([truncated, text].map(({ id }) => client.waitForJob(id)));
    const good = await submit(client, receiver, await patternPng(2));
    const goodJob = await client.waitForJob(good.id);

    // Assess: storage refuses the empty file (the job stays open for a real upload, as on S3);
    // the others fail with their codes as signed webhooks; a good job still runs.
    expect(empty.uploadStatus).toBe(400);
    expect((await client.getJob(empty.id)).status).toBe('created');
    expect(jobs.map((job) => [job.status, job.error?.code])).toEqual([
      ['failed', 'image_decode_failed'],
      ['failed', 'not_an_image'],
    ]);
    await receiver.waitFor((e) => e.data.id === truncated.id && e.type === 'job.failed');
    expect(goodJob.status).toBe('succeeded');
    expect((await fetch(`${stack?.url}/healthz`)).status).toBe(200);
  });
});

describe('duplicate delivery', () => {
  it('restores a job once when its queue message is delivered twice', async () => {
    // Prepare: the worker is held on another job, so both copies wait in the queue.
    const blocker = gate();
    let firstId = '';
    engine.onStep = async (step, ids) => {
      if (step === 1 && ids.length > 0 && ids.every((id) => id === firstId)) await blocker.promise;
    };
    await start({ workerSettings: { batchSize: 1 } });
    firstId = (await submit(client, receiver, await patternPng(1))).id;
    await waitFor(async () => (await client.getJob(firstId)).status === 'running', 10_000, 'first running');
    const { id } = await submit(client, receiver, await patternPng(2));
    const job = await client.getJob(id);

    // Act: the same message again, as an at-least-once queue may deliver it.
    await stack?.server.services.queue.send({
      jobId: id,
      tenantId: (await client.tenant()).id,
      batchKey: batchKeyFor(job.params, job.model),
    });
    blocker.open();
    await client.waitForJob(id);
    await waitFor(
      async () => {
        const stats = await stack!.server.services.queue.stats();
        return stats.visible + stats.inFlight === 0;
      },
      15_000,
      'both copies deleted',
    );

    // Webhooks leave through the delivery queue, after the job is written: wait for the one owed.
    await receiver.waitFor((e) => e.data.id === id && e.type === 'job.succeeded');

    // Assess
    expect(engine.restored.get(id)).toBe(1);
    expect((await client.getJob(id)).attempts).toBe(1);
    expect(receiver.eventsFor(id).map((e) => e.type)).toEqual(['job.succeeded']);
    expect(logs.find('duplicate delivery', id).length).toBeGreaterThan(0);
  });
});

describe('cancel', () => {
  it('cancels a queued job (it never runs) and a running one (it stops between steps)', async () => {
    // Prepare: batches of one; the running job pauses at step 1 until released.
    const release = gate();
    const atStep1 = gate();
    engine.onStep = async (step, _ids, signal) => {
      if (step === 1) {
        atStep1.open();
        await release.promise;
      }
      // The tiny run has 3 steps: hold step 2 until the worker has seen the cancel, so it
      // stops at the next step boundary instead of racing the last step.
      if (step === 2) await waitFor(() => signal?.aborted, 5000, 'the abort');
    };
    await start({ workerSettings: { batchSize: 1 } });
    const running = await submit(client, receiver, await patternPng(1));
    await atStep1.promise;
    const queued = await submit(client, receiver, await patternPng(2));
    await waitFor(async () => (await client.getJob(queued.id)).status === 'queued', 5000, 'queued');

    // Act
    const canceledQueued = await client.cancel(queued.id);
    const canceledRunning = await client.cancel(running.id);
    release.open();
    await waitFor(
      () => logs.find('job canceled', running.id).some((line) => line.while === 'running'),
      10_000,
      'worker saw it',
    );
    await waitFor(
      async () => {
        const stats = await stack!.server.services.queue.stats();
        return stats.visible + stats.inFlight === 0;
      },
      10_000,
      'messages deleted',
    );

    // Assess: both canceled, neither restored, no outputs, job.canceled webhooks from the API.
    expect(canceledQueued.status).toBe('canceled');
    expect(canceledRunning.status).toBe('canceled');
    expect(engine.calls.flat()).not.toContain(queued.id);
    expect(engine.restored.get(running.id)).toBeUndefined();
    const final = await client.getJob(running.id);
    expect(final.status).toBe('canceled');
    expect(final.output).toBeUndefined();
    // Webhooks leave through the delivery queue, in no promised order: wait for each one owed.
    await receiver.waitFor((e) => e.data.id === running.id && e.type === 'job.canceled');
    await receiver.waitFor((e) => e.data.id === queued.id && e.type === 'job.canceled');
    expect(receiver.eventsFor(queued.id).map((e) => e.type)).toEqual(['job.canceled']);
  });
});

describe('transient failures', () => {
  it('retries a transient failure and fails the job after the maximum receives', async () => {
    // Prepare: every model call fails with a retryable error; two receives allowed.
    engine.failCall = () => new InferenceError('CUDA error: device lost');
    await start({}, { DR2E_MAX_RECEIVES: '2' });

    // Act
    const { id } = await submit(client, receiver, await patternPng(1));
    const job = await client.waitForJob(id);
    const event = await receiver.waitFor((e) => e.data.id === id);

    // Assess
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('retries_exhausted');
    expect(job.attempts).toBe(2);
    expect(engine.calls).toHaveLength(2);
    expect(event.type).toBe('job.failed');
    const dlq = await stack!.server.services.queue.deadLetters.stats();
    expect(dlq.visible + dlq.inFlight).toBe(0);
  });
});

describe('restart', () => {
  it('keeps queued jobs across a restart of the stack', async () => {
    // Prepare: jobs queued while only the API runs (no worker), then the process goes away.
    const apiOnly = await startApi(data.dir, logs);
    ({ client, receiver } = await connect(apiOnly.url));
    const ids = [
      (await submit(client, receiver, await patternPng(1))).id,
      (await submit(client, receiver, await patternPng(2))).id,
    ];
    for (const id of ids) expect((await client.getJob(id)).status).toBe('queued');
    await apiOnly.close();

    // Act: the full stack on the same data directory.
    stack = await startStack(data.dir, logs, { engine });
    const restarted = new Dr2eClient({ baseUrl: stack.url, apiKey: API_KEY });
    const jobs = await Promise.all(ids.map((id) => restarted.waitForJob(id)));

    // Assess
    expect(jobs.map((job) => job.status)).toEqual(['succeeded', 'succeeded']);
    for (const id of ids) await receiver.waitFor((e) => e.data.id === id && e.type === 'job.succeeded');
  });
});
