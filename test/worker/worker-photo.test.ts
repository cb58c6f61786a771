/**
 * The worker's photo-mode wiring, against an engine that answers with scripted face reports:
 * photo options reach the engine (and split batches), face lists, skipped faces and warnings
 * land on the job, face crops are stored for jobs that asked, usage counts faces and model
 * seconds, and the webhook carries the faces with signed crop links. The real photo stage runs
 * in test/e2e.
 */
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  EngineImageInput,
  FaceReport,
  ImageRestoration,
  PhotoWarning,
  RestoreImagesOptions,
} from '../../gpu-task/src/engine/index.js';
import type { RestoreEngine } from '../../gpu-task/src/worker/worker.js';
import { blobKeys, WebhookEventSchema, type Job } from '../../shared/src/index.js';
import { patternPng } from './helpers/images.js';
import { createWorkerEnv, waitFor, WEBHOOK, type WorkerEnv } from './helpers/worker-env.js';

/** What the scripted engine reports for one input. */
interface PhotoScript {
  faces: FaceReport[];
  skippedFaces?: FaceReport[];
  warnings?: PhotoWarning[];
  /** Model milliseconds of this image (its share of the batch). */
  modelMs?: number;
  /** Upscale applied, when less than the one asked for (capped). */
  upscale?: 1 | 2 | 4;
}

const face = (x: number, size: number, extra: Partial<FaceReport> = {}): FaceReport => ({
  box: [x, 40, size, size],
  score: 0.95,
  landmarks: [
    [x + size * 0.3, 40 + size * 0.4],
    [x + size * 0.7, 40 + size * 0.4],
    [x + size * 0.5, 40 + size * 0.6],
    [x + size * 0.5, 40 + size * 0.8],
  ],
  ...extra,
});

/** Answers each input with its script (by input bytes' first seed pixel: see {@link photo}). */
class ScriptedPhotoEngine implements RestoreEngine {
  readonly calls: { ids: string[]; options: RestoreImagesOptions }[] = [];
  readonly scripts = new Map<string, PhotoScript>();

  async restoreImages(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions = {},
  ): Promise<ImageRestoration[]> {
    this.calls.push({ ids: inputs.map((input) => input.id), options });
    const restored = new Uint8Array(await sharp(inputs[0]?.bytes).png().toBuffer());
    return Promise.all(
      inputs.map(async (input): Promise<ImageRestoration> => {
        const script = this.scripts.get(input.id) ?? { faces: [] };
        const crops = options.saveFaces
          ? await Promise.all(
              script.faces.map(async (_face, index) => ({
                index,
                input: await patternPng(index + 1, 16),
                restored: await patternPng(index + 1, 32),
              })),
            )
          : undefined;
        const modelMs = script.modelMs ?? 0;
        const upscale = script.upscale ?? options.upscale ?? 2;
        return {
          id: input.id,
          ok: true,
          restored,
          width: 96 * upscale,
          height: 96 * upscale,
          seed: input.seed ?? 0,
          upscale,
          params: { n: 4, tau: 5, omega: 8, steps: 10 },
          timings: {
            decodeMs: 1,
            detectMs: modelMs * 0.1,
            dr2Ms: modelMs * 0.7,
            modelMs: modelMs * 0.7,
            enhanceMs: modelMs * 0.2,
            encodeMs: 1,
          },
          faces: script.faces,
          skippedFaces: script.skippedFaces ?? [],
          warnings: script.warnings ?? (script.faces.length === 0 ? ['no_face_detected'] : []),
          ...(crops ? { faceCrops: crops } : {}),
        };
      }),
    );
  }
}

let env: WorkerEnv;
let engine: ScriptedPhotoEngine;

beforeEach(async () => {
  env = await createWorkerEnv();
  engine = new ScriptedPhotoEngine();
});
afterEach(async () => {
  await env.close();
});

/** Runs the worker until every job is terminal and its messages are gone, then delivers the queued webhooks. */
async function runUntilDone(jobIds: readonly string[]): Promise<Job[]> {
  const worker = env.worker(engine);
  const running = worker.run();
  const done = await waitFor(
    async () => {
      const jobs = await Promise.all(jobIds.map((id) => env.job(id)));
      const stats = await env.queue.stats();
      const settled = jobs.every((job) => ['succeeded', 'failed', 'canceled'].includes(job.status));
      return settled && stats.visible + stats.inFlight === 0 ? jobs : undefined;
    },
    20_000,
    'jobs to finish',
  );
  await worker.stop();
  await running;
  await env.deliverWebhooks();
  return done ?? [];
}

describe('photo options', () => {
  it('passes each job group’s photo options to the engine, and runs different options in separate calls', async () => {
    // Prepare: two jobs with equal photo options (one keeps crops), one with another upscale.
    const a = await env.queueJob({
      bytes: await patternPng(1),
      params: {
        aligned: false,
        upscale: 4,
        maxFaces: 3,
        minFace: 30,
        output: { format: 'png', keepDr2: false, faces: true },
      },
    });
    const b = await env.queueJob({
      bytes: await patternPng(2),
      params: { aligned: false, upscale: 4, maxFaces: 3, minFace: 30 },
    });
    const c = await env.queueJob({ bytes: await patternPng(3), params: { upscale: 1, aligned: true } });
    // Act
    await runUntilDone([a.id, b.id, c.id]);
    // Assess
    const byJob = (id: string) => engine.calls.find((call) => call.ids.includes(id));
    expect(byJob(a.id)?.ids.sort()).toEqual([a.id, b.id].sort());
    expect(byJob(a.id)?.options).toMatchObject({
      upscale: 4,
      aligned: false,
      maxFaces: 3,
      minFace: 30,
      saveFaces: true,
      batchSize: 32, // faces per sampler run, all photos of the call together
    });
    expect(byJob(c.id)?.ids).toEqual([c.id]);
    expect(byJob(c.id)?.options).toMatchObject({ upscale: 1, aligned: true, saveFaces: false, batchSize: 4 });
  });

  it('runs a job stored before photo mode with the defaults', async () => {
    // Prepare: params as the previous version stored them (no photo fields).
    const legacy = await env.queueJob({ bytes: await patternPng(4), params: { aligned: undefined } });
    expect(legacy.params.aligned).toBeUndefined();
    // Act
    await runUntilDone([legacy.id]);
    // Assess
    expect(engine.calls[0]?.options).toMatchObject({
      upscale: 2,
      aligned: false,
      maxFaces: 20,
      saveFaces: false,
    });
    expect(engine.calls[0]?.options).not.toHaveProperty('minFace');
  });
});

describe('face results', () => {
  it('records faces, skipped faces and warnings, stores crops, meters faces, and sends them in the webhook', async () => {
    // Prepare: a group photo with 3 faces restored and one beyond the cap; crops asked for.
    const job = await env.queueJob({
      bytes: await patternPng(5),
      params: { aligned: false, maxFaces: 3, output: { format: 'png', keepDr2: false, faces: true } },
      webhook: WEBHOOK,
    });
    engine.scripts.set(job.id, {
      faces: [face(10, 60), face(100, 50), face(200, 40)],
      skippedFaces: [face(300, 30, { reason: 'max_faces' })],
      warnings: [],
      modelMs: 4500,
    });
    // Act
    const [done] = await runUntilDone([job.id]);
    // Assess: the job
    expect(done?.status).toBe('succeeded');
    expect(done?.output?.faces).toHaveLength(3);
    expect(done?.output?.faces?.[0]).toEqual({
      ...face(10, 60),
      crops: {
        inputKey: blobKeys.faceInput(env.tenant.id, job.id, 0),
        restoredKey: blobKeys.faceRestored(env.tenant.id, job.id, 0),
      },
    });
    expect(done?.output?.skippedFaces).toEqual([face(300, 30, { reason: 'max_faces' })]);
    expect(done?.output?.warnings).toEqual([]);
    expect(done?.usage).toEqual({ images: 1, faces: 3, modelSeconds: 4.5 });
    // the crops
    for (let index = 0; index < 3; index++) {
      const input = await env.blobs.get(blobKeys.faceInput(env.tenant.id, job.id, index));
      const restored = await env.blobs.get(blobKeys.faceRestored(env.tenant.id, job.id, index));
      expect(input?.body).toEqual(await patternPng(index + 1, 16));
      expect(restored?.body).toEqual(await patternPng(index + 1, 32));
      expect(restored?.contentType).toBe('image/png');
    }
    // the usage ledger
    const usage = await env.usage.sum(env.tenant.id, {
      from: new Date(0),
      to: new Date(Date.now() + 60_000),
    });
    expect(usage).toMatchObject({ jobs: 1, images: 1, faces: 3, modelSeconds: 4.5 });
    // the webhook
    const sent = env.webhooks.forJob(job.id);
    expect(sent).toHaveLength(1);
    const event = WebhookEventSchema.parse(JSON.parse(sent[0]?.body ?? '{}'));
    expect(event.data.output?.faces?.map((f) => f.box)).toEqual([
      face(10, 60).box,
      face(100, 50).box,
      face(200, 40).box,
    ]);
    expect(event.data.output?.faces?.[2]?.crops?.restored.url).toContain('/local-download');
    expect(event.data.output?.skippedFaces?.[0]?.reason).toBe('max_faces');
    expect(sent[0]?.body).not.toMatch(/inputKey|restoredKey/);
  });

  it('records the upscale applied, less than the one asked for where it was capped, on the job and in the webhook', async () => {
    // Prepare: 4x asked for, the engine capped it to 2x.
    const job = await env.queueJob({
      bytes: await patternPng(5),
      params: { aligned: false, upscale: 4 },
      webhook: WEBHOOK,
    });
    engine.scripts.set(job.id, { faces: [face(10, 60)], warnings: ['upscale_capped'], upscale: 2 });
    // Act
    const [done] = await runUntilDone([job.id]);
    // Assess: clients place the face boxes (input pixels) on the output by it
    expect(done?.output).toMatchObject({ width: 192, height: 192, upscale: 2, warnings: ['upscale_capped'] });
    const event = WebhookEventSchema.parse(JSON.parse(env.webhooks.forJob(job.id)[0]?.body ?? '{}'));
    expect(event.data.params.upscale).toBe(4);
    expect(event.data.output?.upscale).toBe(2);
  });

  it('keeps crops only for the jobs that asked for them in a shared call', async () => {
    // Prepare
    const keeps = await env.queueJob({
      bytes: await patternPng(6),
      params: { aligned: false, output: { format: 'png', keepDr2: false, faces: true } },
    });
    const plain = await env.queueJob({ bytes: await patternPng(7), params: { aligned: false } });
    engine.scripts.set(keeps.id, { faces: [face(10, 60)] });
    engine.scripts.set(plain.id, { faces: [face(10, 60)] });
    // Act
    const [keptJob, plainJob] = await runUntilDone([keeps.id, plain.id]);
    // Assess
    expect(engine.calls).toHaveLength(1);
    expect(keptJob?.output?.faces?.[0]?.crops).toEqual({
      inputKey: blobKeys.faceInput(env.tenant.id, keeps.id, 0),
      restoredKey: blobKeys.faceRestored(env.tenant.id, keeps.id, 0),
    });
    expect(plainJob?.output?.faces?.[0]).toEqual(face(10, 60));
    expect(await env.blobs.get(blobKeys.faceInput(env.tenant.id, plain.id, 0))).toBeUndefined();
  });

  it('succeeds on a photo without faces: faces [], no_face_detected, no face billed', async () => {
    // Prepare
    const job = await env.queueJob({
      bytes: await patternPng(8),
      params: { aligned: false },
      webhook: WEBHOOK,
    });
    engine.scripts.set(job.id, { faces: [], warnings: ['no_face_detected'], modelMs: 40 });
    // Act
    const [done] = await runUntilDone([job.id]);
    // Assess
    expect(done?.status).toBe('succeeded');
    expect(done?.output).toMatchObject({ faces: [], skippedFaces: [], warnings: ['no_face_detected'] });
    expect(done?.usage).toEqual({ images: 1, faces: 0, modelSeconds: 0.04 });
    const event = WebhookEventSchema.parse(JSON.parse(env.webhooks.forJob(job.id)[0]?.body ?? '{}'));
    expect(event.type).toBe('job.succeeded');
    expect(event.data.output?.warnings).toEqual(['no_face_detected']);
  });

  it("carries each face's estimated degradation and auto's settings for it to the job view and the webhook", async () => {
    // Prepare: one face restored with its own setting, one kept as it was
    const job = await env.queueJob({
      bytes: await patternPng(10),
      params: { aligned: false, output: { format: 'png', keepDr2: false, faces: false } },
      webhook: WEBHOOK,
    });
    const estimate = {
      noise: 0.74,
      blur: 0,
      jpeg: 0.562,
      coarseNoise: 7.76,
      acZeros: 0.812,
      colourNoise: 0.41,
      faceSize: 64,
    };
    const restored = face(10, 60, {
      settings: { n: 2, tau: 15, omega: 25, fidelity: 0.5, inputWeight: 0.75, detailWeight: 0.5 },
      estimate,
    });
    const kept = face(90, 50, {
      settings: { n: 1, tau: 0, omega: 1, fidelity: 0.5, inputWeight: 1, detailWeight: 1, kept: true },
      estimate: { ...estimate, faceSize: 50 },
    });
    engine.scripts.set(job.id, { faces: [restored, kept] });
    // Act
    const [done] = await runUntilDone([job.id]);
    // Assess: the view and the event hold both faces' estimates and settings as reported
    expect(done?.status).toBe('succeeded');
    const expected = [
      { settings: restored.settings, estimate: restored.estimate },
      { settings: kept.settings, estimate: kept.estimate },
    ];
    expect(done?.output?.faces).toMatchObject(expected);
    const event = WebhookEventSchema.parse(JSON.parse(env.webhooks.forJob(job.id)[0]?.body ?? '{}'));
    expect(event.data.output?.faces).toMatchObject(expected);
    // A kept face is not billed: the model did not run on it
    expect(done?.usage?.faces).toBe(1);
  });

  it('stores odd engine reports in the job schema instead of failing the photo', async () => {
    // Prepare: non-finite numbers, a score above 1, an unknown skip reason, a malformed quality
    // estimate, an extra field, and a crop index the engine did not report.
    const job = await env.queueJob({
      bytes: await patternPng(9),
      params: { aligned: false, output: { format: 'png', keepDr2: false, faces: true } },
    });
    const odd = {
      ...face(10.123456, 60),
      score: 1.2,
      landmarks: [[Number.NaN, 5] as [number, number]],
      estimate: { noise: 'high' } as unknown as FaceReport['estimate'],
      extra: 'field',
    } as FaceReport;
    engine.scripts.set(job.id, {
      faces: [odd],
      skippedFaces: [face(1, 5, { reason: 'blurry' as FaceReport['reason'] })],
    });
    // Act
    const [done] = await runUntilDone([job.id]);
    // Assess
    expect(done?.status).toBe('succeeded');
    expect(done?.output?.faces?.[0]).toMatchObject({
      box: [10.12, 40, 60, 60],
      score: 1,
      landmarks: [[0, 5]],
    });
    expect(done?.output?.faces?.[0]).not.toHaveProperty('estimate');
    expect(done?.output?.faces?.[0]).not.toHaveProperty('extra');
    expect(done?.output?.skippedFaces?.[0]?.reason).toBe('max_faces');
  });
});
