/**
 * The worker on the local adapters with the tiny model (10 steps): batching, results, bad
 * inputs, duplicate deliveries, cancel, transient failures and the dead-letter path, webhooks,
 * shutdown. Webhooks go to a recording sender; the real HTTP path is covered in test/e2e.
 */
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Dr2eEngine, InferenceError, ModelContractError } from '../../gpu-task/src/engine/index.js';
import {
  batchKeyFor,
  mutateJob,
  transitionJob,
  verifyWebhook,
  WebhookEventSchema,
  type Job,
} from '../../shared/src/index.js';
import { EMPTY_FILE, isJpeg, isPng, patternPng, TEXT_FILE, truncatedPng } from './helpers/images.js';
import {
  createWorkerEnv,
  gate,
  RecordingTaskProtection,
  ScriptedEngine,
  TINY_MODEL,
  waitFor,
  WEBHOOK,
  type WorkerEnv,
} from './helpers/worker-env.js';

let tiny: Dr2eEngine;
let env: WorkerEnv;
let engine: ScriptedEngine;

beforeAll(async () => {
  tiny = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await tiny.dispose();
});
beforeEach(async () => {
  env = await createWorkerEnv();
  engine = new ScriptedEngine(tiny);
});
afterEach(async () => {
  await env.close();
});

const isTerminal = (job: Job) => ['succeeded', 'failed', 'canceled'].includes(job.status);

async function untilTerminal(jobIds: readonly string[]): Promise<Job[]> {
  const jobs = await waitFor<Job[] | undefined>(
    async () => {
      const current = await Promise.all(jobIds.map((id) => env.job(id)));
      return current.every(isTerminal) ? current : undefined;
    },
    30_000,
    `jobs ${jobIds.join(', ')} to finish`,
  );
  return jobs ?? [];
}

/**
 * Waits until the job queue holds nothing (all messages deleted), then runs the webhook delivery
 * consumer over what the worker queued.
 */
async function untilQueueEmpty(): Promise<void> {
  await waitFor(
    async () => {
      const stats = await env.queue.stats();
      return stats.visible + stats.inFlight + stats.delayed === 0;
    },
    15_000,
    'the queue to empty',
  );
  await env.deliverWebhooks();
}

describe('happy path', () => {
  it('restores jobs of one schedule in one engine call, stores outputs, records usage and sends signed webhooks', async () => {
    // Prepare: three jobs with the same schedule, queued before the worker starts.
    const jobs = [];
    for (let i = 0; i < 3; i++)
      jobs.push(await env.queueJob({ bytes: await patternPng(i + 1), webhook: WEBHOOK }));
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    await untilTerminal(jobs.map((job) => job.id));
    await untilQueueEmpty();
    await worker.stop();
    await running;
    const finished = await Promise.all(jobs.map((job) => env.job(job.id)));

    // Assess: one call for the three, every job succeeded with a PNG output and usage.
    expect(engine.calls).toHaveLength(1);
    expect([...(engine.calls[0] ?? [])].sort()).toEqual(jobs.map((job) => job.id).sort());
    for (const job of finished) {
      expect(job.status).toBe('succeeded');
      expect(job.attempts).toBe(1);
      expect(job.progress).toEqual({ step: 3, total: 3 });
      expect(job.usage?.images).toBe(1);
      expect(job.usage?.modelSeconds).toBeGreaterThan(0);
      const output = await env.blobs.get(job.output?.restoredKey ?? '');
      expect(output && isPng(output.body)).toBe(true);
      // Aligned crops come back at input size x upscale (96 x 2), by the model that ran.
      expect(job.output).toMatchObject({ format: 'png', width: 192, height: 192, model: tiny.name });
      const delivered = env.webhooks.forJob(job.id);
      expect(delivered).toHaveLength(1);
      const sent = delivered[0]!;
      await expect(
        verifyWebhook({ secret: env.tenant.webhookSecret, headers: sent.headers, body: sent.body }),
      ).resolves.toMatchObject({ id: sent.request.messageId });
      const event = WebhookEventSchema.parse(JSON.parse(sent.body));
      expect(event.type).toBe('job.succeeded');
      // The webhook (and the job view) name the model that restored.
      expect(event.data.model).toBe(tiny.name);
      expect(event.data.output?.restored?.url).toContain('/local-download');
      expect(job.webhookDeliveries).toEqual([
        expect.objectContaining({ ok: true, attempt: 1, event: 'job.succeeded' }),
      ]);
    }
    const usage = await env.usage.sum(env.tenant.id, {
      from: new Date(0),
      to: new Date(Date.now() + 60_000),
    });
    expect(usage).toMatchObject({ jobs: 3, images: 3 });
  });

  it('runs jobs of different schedules in separate calls, oldest schedule first', async () => {
    // Prepare: schedule A, then B, then A again.
    const a1 = await env.queueJob({ bytes: await patternPng(1) });
    const b1 = await env.queueJob({ bytes: await patternPng(2), params: { steps: 12 } });
    const a2 = await env.queueJob({ bytes: await patternPng(3) });
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    await untilTerminal([a1.id, b1.id, a2.id]);
    await worker.stop();
    await running;

    // Assess: A's two jobs shared the first call, B ran alone.
    expect(engine.calls.map((ids) => [...ids].sort())).toEqual([[a1.id, a2.id].sort(), [b1.id]]);
  });

  it('encodes the format each job asked for and keeps the DR2 output on request', async () => {
    // Prepare: a JPEG job with keepDr2 and a PNG job, same schedule (one call).
    const jpegJob = await env.queueJob({
      bytes: await patternPng(4),
      params: { output: { format: 'jpeg', keepDr2: true } },
    });
    const pngJob = await env.queueJob({ bytes: await patternPng(5) });
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    const [jpegDone, pngDone] = await untilTerminal([jpegJob.id, pngJob.id]);
    await worker.stop();
    await running;

    // Assess
    expect(engine.calls).toHaveLength(1);
    expect(jpegDone?.output?.restoredKey).toMatch(/restored\.jpg$/);
    const jpeg = await env.blobs.get(jpegDone?.output?.restoredKey ?? '');
    expect(jpeg && isJpeg(jpeg.body)).toBe(true);
    expect(jpeg?.contentType).toBe('image/jpeg');
    const dr2 = await env.blobs.get(jpegDone?.output?.dr2Key ?? '');
    expect(dr2 && (await sharp(dr2.body).metadata()).width).toBe(64);
    expect(pngDone?.output?.dr2Key).toBeUndefined();
  });
});

describe('progress', () => {
  it('writes the last step even while an earlier progress write is still in flight', async () => {
    // Prepare: the job store takes until the last step to write step 1 (a slow store), so
    // step 2 and the last step come while that write is in flight.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const lastStep = gate();
    const written: { status: string; step?: number; total?: number }[] = [];
    const update = env.jobs.update.bind(env.jobs);
    const spy = vi.spyOn(env.jobs, 'update').mockImplementation(async (next, version) => {
      if (next.status === 'running' && next.progress?.step === 1) await lastStep.promise;
      const stored = await update(next, version);
      written.push({ status: stored.status, ...stored.progress });
      return stored;
    });
    engine.onStep = async (step) => {
      if (step === 3) lastStep.open();
    };
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    const [done] = await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await running;
    spy.mockRestore();

    // Assess: 3 of 3 was written while the job was still running (then paste-back and upload),
    // after step 1, not lost behind it.
    expect(done?.status).toBe('succeeded');
    const running3 = written.findIndex((w) => w.status === 'running' && w.step === 3 && w.total === 3);
    const running1 = written.findIndex((w) => w.status === 'running' && w.step === 1);
    expect(running3).toBeGreaterThan(running1);
    expect(running1).toBeGreaterThanOrEqual(0);
  });
});

describe('bad inputs', () => {
  it('fails a zero-byte file, a truncated PNG and a text file at once with image_decode_failed, without retry', async () => {
    // Prepare: three bad uploads and one good one in the same batch.
    const empty = await env.queueJob({ bytes: EMPTY_FILE, webhook: WEBHOOK });
    const truncated = await env.queueJob({ bytes: await truncatedPng() });
    const text = await env.queueJob({ bytes: TEXT_FILE, contentType: 'text/plain' });
    const good = await env.queueJob({ bytes: await patternPng(7) });
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    const [emptyDone, truncatedDone, textDone, goodDone] = await untilTerminal([
      empty.id,
      truncated.id,
      text.id,
      good.id,
    ]);
    await untilQueueEmpty();
    await worker.stop();
    await running;

    // Assess
    for (const bad of [emptyDone, truncatedDone, textDone]) {
      expect(bad?.status).toBe('failed');
      expect(bad?.error?.code).toBe('image_decode_failed');
      expect(bad?.attempts).toBe(1);
    }
    expect(goodDone?.status).toBe('succeeded');
    expect(env.webhooks.forJob(empty.id).map((sent) => sent.request.payload.type)).toEqual(['job.failed']);
    // The operator's metrics count the bad files as refused inputs, not as service failures.
    expect([...env.finished].sort()).toEqual(
      [
        `${empty.id} rejected`,
        `${truncated.id} rejected`,
        `${text.id} rejected`,
        `${good.id} succeeded`,
      ].sort(),
    );
  });

  it('fails a job whose input has vanished with input_missing', async () => {
    // Prepare
    const job = await env.queueJob({ bytes: await patternPng(1) });
    await env.blobs.delete(job.input.key);
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    const [done] = await untilTerminal([job.id]);
    await worker.stop();
    await running;

    // Assess
    expect(done?.status).toBe('failed');
    expect(done?.error?.code).toBe('input_missing');
    expect(engine.calls).toHaveLength(0);
  });
});

describe('duplicate deliveries', () => {
  it('runs a job once when its message is sent twice', async () => {
    // Prepare: the same message body twice.
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    await env.queue.send({
      jobId: job.id,
      tenantId: job.tenantId,
      batchKey: batchKeyFor(job.params, job.model),
    });
    const worker = env.worker(engine);

    // Act
    const running = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await running;

    // Assess: one engine result, one attempt, one webhook; both messages gone.
    expect(engine.restored.get(job.id)).toBe(1);
    expect((await env.job(job.id)).attempts).toBe(1);
    expect(env.webhooks.forJob(job.id)).toHaveLength(1);
    expect(env.finished).toEqual([`${job.id} succeeded`]);
  });

  it('deletes a message for a finished job without changing the job', async () => {
    // Prepare: run a job to the end, then deliver its message again.
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    const worker = env.worker(engine);
    const running = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    const done = await env.job(job.id);
    const sentBefore = env.webhooks.sent.length;

    // Act
    await env.queue.send({
      jobId: job.id,
      tenantId: job.tenantId,
      batchKey: batchKeyFor(job.params, job.model),
    });
    await untilQueueEmpty();
    await worker.stop();
    await running;

    // Assess
    expect(await env.job(job.id)).toEqual(done);
    expect(engine.calls).toHaveLength(1);
    expect(env.webhooks.sent.length).toBe(sentBefore);
  });

  it('leaves a message alone while another live worker runs the job', async () => {
    // Prepare: the job is running and was touched just now (by "another worker").
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const running = await env.jobs.update(transitionJob(job, { to: 'running', at: new Date() }), job.version);
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await waitFor(() => env.logLines.some((line) => line.handling === 'left_to_live_worker'), 10_000, 'left');
    await worker.stop();
    await loop;

    // Assess: job untouched, message still there (hidden, not deleted), engine idle.
    expect(await env.job(job.id)).toEqual(running);
    const stats = await env.queue.stats();
    expect(stats.visible + stats.inFlight).toBe(1);
    expect(engine.calls).toHaveLength(0);
  });

  it('takes over a running job whose worker stopped touching it', async () => {
    // Prepare: running, last touched long ago (its worker died).
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const longAgo = new Date(Date.now() - 60_000);
    await env.jobs.update(transitionJob(job, { to: 'running', at: longAgo }), job.version);
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    const [done] = await untilTerminal([job.id]);
    await worker.stop();
    await loop;

    // Assess
    expect(done?.status).toBe('succeeded');
    expect(done?.attempts).toBe(2);
  });
});

describe('cancel', () => {
  it('skips a job canceled while queued', async () => {
    // Prepare
    const job = await env.queueJob({ bytes: await patternPng(1) });
    await mutateJob(env.jobs, job.id, (current) =>
      transitionJob(current, { to: 'canceled', at: new Date() }),
    );
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess
    expect((await env.job(job.id)).status).toBe('canceled');
    expect(engine.calls).toHaveLength(0);
  });

  it('drops a job canceled while its batch runs and finishes the others', async () => {
    // Prepare: two jobs in one batch; the engine pauses after step 1 until the cancel is written.
    const keep = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    const cancel = await env.queueJob({ bytes: await patternPng(2), webhook: WEBHOOK });
    const paused = gate();
    const resume = gate();
    engine.onStep = async (step, ids, signal) => {
      if (!ids.includes(cancel.id)) return;
      if (step === 1) {
        paused.open();
        await resume.promise;
      }
      // Hold step 2 until the worker has seen the cancel (its progress write), so the abort
      // lands at the step 3 boundary instead of racing the last step.
      if (step === 2) await waitFor(() => signal?.aborted, 5000, 'the abort');
    };
    const worker = env.worker(engine);

    // Act: cancel as the API does, while the batch is at step 1.
    const loop = worker.run();
    await paused.promise;
    await mutateJob(env.jobs, cancel.id, (current) =>
      transitionJob(current, { to: 'canceled', at: new Date() }),
    );
    resume.open();
    const [keepDone, cancelDone] = await untilTerminal([keep.id, cancel.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess: the call was restarted without the canceled job; it has no output and no worker webhook.
    expect(cancelDone?.status).toBe('canceled');
    expect(cancelDone?.output).toBeUndefined();
    expect(keepDone?.status).toBe('succeeded');
    expect(engine.calls.map((ids) => [...ids].sort())).toEqual([[keep.id, cancel.id].sort(), [keep.id]]);
    expect(engine.restored.get(cancel.id)).toBeUndefined();
    expect(env.webhooks.forJob(cancel.id)).toHaveLength(0);
    expect(env.webhooks.forJob(keep.id)).toHaveLength(1);
    // Metered: the kept job's image; the canceled one's share of the call it was aborted in.
    const usage = await env.usage.sum(env.tenant.id, {
      from: new Date(0),
      to: new Date(Date.now() + 60_000),
    });
    expect(usage).toMatchObject({ jobs: 2, images: 1, faces: 1 });
    expect(usage.modelSeconds).toBeGreaterThan(keepDone!.usage!.modelSeconds);
  });
});

describe('transient failures and dead letters', () => {
  it('retries a job after a transient engine failure', async () => {
    // Prepare: the first call fails with a retryable model error.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    let failures = 0;
    engine.failCall = () => (failures++ === 0 ? new InferenceError('device lost') : undefined);
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    const [done] = await untilTerminal([job.id]);
    await worker.stop();
    await loop;

    // Assess
    expect(done?.status).toBe('succeeded');
    expect(done?.attempts).toBe(2);
    expect(engine.calls).toHaveLength(2);
    expect(
      env.logLines.some((line) => line.msg === 'job retry later' && line.errorCode === 'inference_failed'),
    ).toBe(true);
  });

  it('runs the jobs of a failed batch alone, so one photo that crashes the engine fails by itself', async () => {
    // Prepare: three jobs of one schedule; any call holding the first one dies.
    const jobs = [
      await env.queueJob({ bytes: await patternPng(1) }),
      await env.queueJob({ bytes: await patternPng(2) }),
      await env.queueJob({ bytes: await patternPng(3) }),
    ];
    const poison = jobs[0]?.id ?? '';
    engine.failCall = (ids) =>
      ids.includes(poison) ? new InferenceError('engine thread exited') : undefined;
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    const done = await untilTerminal(jobs.map((job) => job.id));
    await worker.stop();
    await loop;

    // Assess
    expect(done.map((job) => job.status)).toEqual(['failed', 'succeeded', 'succeeded']);
    expect(done[0]?.error?.code).toBe('retries_exhausted');
    expect(done.slice(1).map((job) => job.attempts)).toEqual([1, 1]);
    expect(engine.calls[0]).toHaveLength(3);
    expect(engine.calls.slice(1, 4)).toEqual(jobs.map((job) => [job.id]));
  });

  it('runs a batch alone again when a model output was not finite, failing only the photo that caused it', async () => {
    // Prepare: any call holding the first job returns NaN (model_contract, not retryable)
    const jobs = [
      await env.queueJob({ bytes: await patternPng(4) }),
      await env.queueJob({ bytes: await patternPng(5) }),
    ];
    const poison = jobs[0]?.id ?? '';
    engine.failCall = (ids) =>
      ids.includes(poison) ? new ModelContractError('denoiser returned NaN in "out"') : undefined;
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    const done = await untilTerminal(jobs.map((job) => job.id));
    await worker.stop();
    await loop;

    // Assess
    expect(done.map((job) => [job.status, job.error?.code])).toEqual([
      ['failed', 'model_contract'],
      ['succeeded', undefined],
    ]);
  });

  it('fails a photo that outlasts the engine cap alone with engine_timeout, and finishes the others of its batch', async () => {
    // Prepare: two jobs of one schedule; any call holding the first stalls at its first step
    // until aborted (a photo far slower than the others); a 1 s cap.
    const jobs = [
      await env.queueJob({ bytes: await patternPng(6), webhook: WEBHOOK }),
      await env.queueJob({ bytes: await patternPng(7) }),
    ];
    const slow = jobs[0]?.id ?? '';
    engine.onStep = async (step, ids, signal) => {
      if (step === 1 && ids.includes(slow)) await waitFor(() => signal?.aborted, 10_000, 'the cap');
    };
    const worker = env.worker(engine, { maxEngineSeconds: 1 });

    // Act
    const loop = worker.run();
    const done = await untilTerminal(jobs.map((job) => job.id));
    await worker.stop();
    await loop;

    // Assess: the slow photo failed once, for good, naming the cap; the other succeeded in its
    // own call; both messages gone
    expect(done.map((job) => [job.status, job.error?.code])).toEqual([
      ['failed', 'engine_timeout'],
      ['succeeded', undefined],
    ]);
    expect(done[0]?.attempts).toBe(1);
    expect(done[0]?.error?.message).toMatch(/longer than this service allows \(1 s\); a smaller upscale/);
    expect(done[0]?.error?.message).not.toMatch(/DR2E_/);
    expect(engine.calls).toEqual([jobs.map((job) => job.id), [slow], [jobs[1]?.id]]);
    // Billed the model time it took (as a canceled run is), no image; counted as a refused input
    expect(done[0]?.usage).toMatchObject({ images: 0, faces: 0 });
    expect(done[0]?.usage?.modelSeconds).toBeGreaterThan(0);
    expect(env.finished.filter((entry) => entry.startsWith(slow))).toEqual([`${slow} rejected`]);
    const stats = await env.queue.stats();
    expect(stats.visible + stats.inFlight).toBe(0);
    await env.deliverWebhooks();
    expect(env.webhooks.forJob(slow).map((sent) => sent.request.payload.type)).toEqual(['job.failed']);
  });

  it('restarts a capped batch after a cancel as a cancel, then holds the slow photo alone to the cap', async () => {
    // Prepare: two jobs; the second is canceled once the call has started, so the first
    // progress write aborts the call (a cancel, not the cap); the first stalls until aborted.
    const slow = await env.queueJob({ bytes: await patternPng(8) });
    const canceled = await env.queueJob({ bytes: await patternPng(9) });
    engine.beforeCall = async () => {
      const current = await env.job(canceled.id);
      if (current.status === 'running') {
        await mutateJob(env.jobs, canceled.id, (job) =>
          transitionJob(job, { to: 'canceled', at: new Date() }),
        );
      }
    };
    engine.onStep = async (step, ids, signal) => {
      if (step === 1 && ids.includes(slow.id)) await waitFor(() => signal?.aborted, 10_000, 'an abort');
    };
    const worker = env.worker(engine, { maxEngineSeconds: 1 });

    // Act
    const loop = worker.run();
    const [slowDone, canceledDone] = await untilTerminal([slow.id, canceled.id]);
    await worker.stop();
    await loop;

    // Assess: the cancel restarted the call without its job; the slow photo alone met the cap
    expect(canceledDone?.status).toBe('canceled');
    expect([slowDone?.status, slowDone?.error?.code]).toEqual(['failed', 'engine_timeout']);
    expect(engine.calls.map((ids) => [...ids].sort())).toEqual([[slow.id, canceled.id].sort(), [slow.id]]);
  });

  it('marks the job failed with retries_exhausted on the last delivery', async () => {
    // Prepare: every call fails; the queue allows three deliveries.
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    engine.failCall = () => new InferenceError('device lost');
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    const [done] = await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess: three attempts, then failed; nothing left in the dead-letter queue.
    expect(done?.status).toBe('failed');
    expect(done?.error?.code).toBe('retries_exhausted');
    expect(done?.error?.message).toContain('inference_failed');
    // The tenant is told the code, not the failure's own words (they can name keys or hosts).
    expect(done?.error?.message).not.toContain('device lost');
    expect(env.logLines.some((line) => line.errorMessage === 'device lost')).toBe(true);
    expect(done?.attempts).toBe(3);
    expect(env.webhooks.forJob(job.id).map((sent) => sent.request.payload.type)).toEqual(['job.failed']);
    // Counted once, as the service's failure (the retries in between are not outcomes).
    expect(env.finished).toEqual([`${job.id} failed`]);
    const dlq = await env.queue.deadLetters.stats();
    expect(dlq.visible + dlq.inFlight).toBe(0);
  });

  it('fails the job of a dead-lettered message when the sweeper runs', async () => {
    // Prepare: a consumer that died on every delivery; the message is now in the dead-letter queue.
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    for (let i = 0; i < 3; i++) {
      const [message] = await env.queue.receive({
        maxMessages: 1,
        waitSeconds: 0,
        visibilityTimeoutSeconds: 30,
      });
      await env.queue.changeVisibility(message!.receiptHandle, 0);
    }
    await env.queue.receive({ maxMessages: 1, waitSeconds: 0, visibilityTimeoutSeconds: 30 }); // moves it
    expect((await env.queue.deadLetters.stats()).visible).toBe(1);
    const worker = env.worker(engine);

    // Act
    const deleted = await worker.sweepDeadLetters();
    await env.deliverWebhooks();

    // Assess
    expect(deleted).toBe(1);
    const done = await env.job(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('retries_exhausted');
    expect(env.webhooks.forJob(job.id).map((sent) => sent.request.payload.type)).toEqual(['job.failed']);
    expect((await env.queue.deadLetters.stats()).visible).toBe(0);
    expect(env.finished).toEqual([`${job.id} failed`]);
  });
});

describe('webhooks', () => {
  it('retries a failing endpoint, records every attempt and still succeeds the job', async () => {
    // Prepare: the endpoint answers 503 every time.
    env.webhooks.answer = () => ({ ok: false, status: 503, durationMs: 1 });
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess: three attempts with the same webhook-id, recorded; the job is still succeeded.
    const done = await env.job(job.id);
    expect(done.status).toBe('succeeded');
    expect(
      done.webhookDeliveries.map((delivery) => [delivery.attempt, delivery.ok, delivery.status]),
    ).toEqual([
      [1, false, 503],
      [2, false, 503],
      [3, false, 503],
    ]);
    expect(new Set(env.webhooks.forJob(job.id).map((sent) => sent.headers['webhook-id'])).size).toBe(1);
  });

  it('does not retry an answer that says no (410)', async () => {
    // Prepare
    env.webhooks.answer = () => ({ ok: false, status: 410, durationMs: 1 });
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess
    expect((await env.job(job.id)).webhookDeliveries).toHaveLength(1);
  });

  it('sends only the events the job subscribed to', async () => {
    // Prepare: subscribed to failures only.
    const job = await env.queueJob({
      bytes: await patternPng(1),
      webhook: { url: WEBHOOK.url, events: ['job.failed'] },
    });
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess
    expect(env.webhooks.forJob(job.id)).toHaveLength(0);
  });
});

describe('leases and shutdown', () => {
  /** The engine stops at step 1 until its call is aborted (a batch that never ends by itself). */
  function holdUntilAborted(): Promise<void> {
    const paused = gate();
    engine.onStep = async (step, _ids, signal) => {
      if (step === 1) {
        paused.open();
        await waitFor(() => signal?.aborted, 10_000, 'the deadline abort');
      }
    };
    return paused.promise;
  }

  /** Runs a worker with a 2 s shutdown deadline until `reached`, then stops it as ECS does. */
  async function stopWithDeadline(reached: Promise<void>): Promise<void> {
    const worker = env.worker(engine, { shutdownDeadlineSeconds: 2 });
    const loop = worker.run();
    await reached;
    await worker.stop('SIGTERM');
    await loop;
  }

  /** The next messages visible now, hidden for 30 s. */
  const receiveNow = () =>
    env.queue.receive({ maxMessages: 10, waitSeconds: 0, visibilityTimeoutSeconds: 30 });

  it('keeps messages hidden while a batch outlasts the visibility timeout', async () => {
    // Prepare: a 6 s lease (heartbeats every 2 s: a busy machine would have to stall the event
    // loop for 4 s to lose it; a 3 s lease once failed under two concurrent restores); the
    // engine takes about 8 s.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    engine.onStep = async (step) => {
      if (step === 1) await new Promise((resolve) => setTimeout(resolve, 8000));
    };
    const worker = env.worker(engine, { visibilityTimeoutSeconds: 6 });

    // Act: another consumer polls after the first lease would have expired.
    const loop = worker.run();
    await waitFor(async () => (await env.job(job.id)).status === 'running', 10_000, 'running');
    await new Promise((resolve) => setTimeout(resolve, 6500));
    const stolen = await receiveNow();
    const [done] = await untilTerminal([job.id]);
    await worker.stop();
    await loop;

    // Assess
    expect(stolen).toEqual([]);
    expect(done?.status).toBe('succeeded');
    expect(done?.attempts).toBe(1);
  });

  it('touches a running job before its first step without inventing progress', async () => {
    // Prepare: a 6 s lease (heartbeats every 2 s); the call spends 2.5 s before its first
    // model step, as a large photo's detection does.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const touched = gate();
    let before: Job | undefined;
    engine.beforeCall = async () => {
      const running = await env.job(job.id);
      await waitFor(
        async () => (await env.job(job.id)).updatedAt !== running.updatedAt,
        5000,
        'the heartbeat touch',
      );
      before = await env.job(job.id);
      touched.open();
    };
    const worker = env.worker(engine, { visibilityTimeoutSeconds: 6 });

    // Act
    const loop = worker.run();
    await touched.promise;
    const [done] = await untilTerminal([job.id]);
    await worker.stop();
    await loop;

    // Assess: touched (alive) but no progress until a model call is done; then the real count.
    expect(before?.status).toBe('running');
    expect(before).not.toHaveProperty('progress');
    expect(done?.status).toBe('succeeded');
  });

  it('finishes the running batch on stop when it ends before the deadline', async () => {
    // Prepare: the engine pauses at step 1 until the stop has been requested.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const paused = gate();
    const resume = gate();
    engine.onStep = async (step) => {
      if (step === 1) {
        paused.open();
        await resume.promise;
      }
    };
    const protection = new RecordingTaskProtection();
    const worker = env.worker(engine, {}, protection);

    // Act
    const loop = worker.run();
    await paused.promise;
    expect(protection.protected).toBe(true);
    const stopped = worker.stop('SIGTERM');
    resume.open();
    await stopped;
    await loop;

    // Assess: finished, message deleted, protection off.
    expect((await env.job(job.id)).status).toBe('succeeded');
    const stats = await env.queue.stats();
    expect(stats.visible + stats.inFlight).toBe(0);
    expect(protection.protected).toBe(false);
  });

  it('puts the running job back to queued and releases its message at the deadline', async () => {
    // Prepare: a batch that never ends by itself; a 2 s deadline.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const held = holdUntilAborted();

    // Act
    await stopWithDeadline(held);

    // Assess: queued again with the reason, the message visible at once for another worker,
    // as a fresh copy: a shutdown (Spot, scale-in, deploy) spends none of the job's deliveries,
    // so three of them cannot send a job that never failed to the dead-letter queue.
    const released = await env.job(job.id);
    expect(released.status).toBe('queued');
    expect(released.error?.code).toBe('worker_shutdown');
    expect((await env.queue.stats()).visible).toBe(1);
    const [next] = await receiveNow();
    expect(next).toMatchObject({ body: { jobId: job.id }, receiveCount: 1 });
  });

  it('lets a job that was running at four shutdowns spend its deliveries again', async () => {
    // Prepare: a job claimed three times before (each time its worker was stopped)
    const job = await env.queueJob({ bytes: await patternPng(1) });
    await mutateJob(env.jobs, job.id, (current) => ({ ...current, attempts: 3 }));
    const held = holdUntilAborted();

    // Act
    await stopWithDeadline(held);

    // Assess: the same message again, its receive counted (a job that stops its workers ends
    // in the dead-letter queue instead of looping)
    expect((await env.job(job.id)).status).toBe('queued');
    const [next] = await receiveNow();
    expect(next).toMatchObject({ body: { jobId: job.id }, receiveCount: 2 });
  });

  it('releases the running job at the deadline even when the engine call does not return', async () => {
    // Prepare: an engine stuck outside its steps (a hung native call): it ignores the abort.
    const job = await env.queueJob({ bytes: await patternPng(1) });
    const paused = gate();
    const never = gate();
    engine.onStep = async (step) => {
      if (step === 1) {
        paused.open();
        await never.promise;
      }
    };

    // Act
    await stopWithDeadline(paused.promise);

    // Assess: back to queued and its message visible for another worker, before any hard kill
    const released = await env.job(job.id);
    expect(released.status).toBe('queued');
    expect(released.error?.code).toBe('worker_shutdown');
    expect((await env.queue.stats()).visible).toBe(1);
    never.open();
  });

  it('releases messages received but not started when stopping', async () => {
    // Prepare: two jobs with different schedules, received together; the first batch pauses.
    const jobs = [
      await env.queueJob({ bytes: await patternPng(1) }),
      await env.queueJob({ bytes: await patternPng(2), params: { steps: 12 } }),
    ];
    const paused = gate();
    const resume = gate();
    let startedId: string | undefined;
    engine.onStep = async (step, ids) => {
      if (step === 1 && !startedId) {
        startedId = ids[0];
        paused.open();
        await resume.promise;
      }
    };
    const worker = env.worker(engine, { batchSize: 2 });

    // Act
    const loop = worker.run();
    await paused.promise;
    const stopped = worker.stop();
    resume.open();
    await stopped;
    await loop;

    // Assess: the started one finished, the other is still queued and its message visible.
    const started = jobs.find((job) => job.id === startedId);
    const waiting = jobs.find((job) => job.id !== startedId);
    expect((await env.job(started?.id ?? '')).status).toBe('succeeded');
    expect((await env.job(waiting?.id ?? '')).status).toBe('queued');
    expect((await env.queue.stats()).visible).toBe(1);
    const [next] = await receiveNow();
    expect(next).toMatchObject({ body: { jobId: waiting?.id }, receiveCount: 1 });
  });
});

describe('logs', () => {
  it('puts the job id on every line about a job', async () => {
    // Prepare
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    const worker = env.worker(engine);

    // Act
    const loop = worker.run();
    await untilTerminal([job.id]);
    await untilQueueEmpty();
    await worker.stop();
    await loop;

    // Assess
    const aboutJob = env.logLines.filter((line) => JSON.stringify(line).includes(job.id));
    const messages = aboutJob.map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['job claimed', 'job succeeded', 'webhook delivered']));
    for (const line of aboutJob) {
      // One job's lines carry its id; a batch's lines carry all of theirs.
      expect([line.jobId, ...(Array.isArray(line.jobIds) ? line.jobIds : [])]).toContain(job.id);
      expect(typeof line.time).toBe('string');
      expect(typeof line.level).toBe('string');
    }
  });
});
