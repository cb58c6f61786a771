/**
 * Photo mode through `app.request` on the local adapters: photo parameters on create, the face
 * list, skipped faces, warnings and signed crop links in job views, `no_face_detected`, usage by
 * faces and model seconds, crop deletion, and the OpenAPI document of every new field.
 * The worker's side is simulated here (as a worker writes it); test/e2e runs the real one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobKeys, mutateJob, transitionJob, type JobOutput, type JobUsage } from '../../shared/src/index.js';
import {
  expectValidationFailure,
  json,
  KEY_A,
  localHarness,
  pngBytes,
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

async function createJob(body: unknown = {}): Promise<{ id: string }> {
  const response = await h.call('POST', '/v1/jobs', { json: body });
  expect(response.status).toBe(201);
  return json(response);
}

const FACE = {
  box: [120.5, 80.25, 96, 96] as [number, number, number, number],
  score: 0.97,
  landmarks: [
    [150, 115],
    [186, 114],
    [168, 135],
    [168, 155],
  ] as [number, number][],
};

/**
 * What the worker does for a finished photo: store the restored photo (and crops of the faces
 * listed in `withCrops`), move the job to succeeded with `faces`, record usage.
 */
async function completeJob(
  jobId: string,
  result: Pick<JobOutput, 'skippedFaces' | 'warnings'> & { faces: (typeof FACE)[]; withCrops?: boolean },
  usage: JobUsage,
): Promise<{ crops: { input: Uint8Array; restored: Uint8Array }[] }> {
  const restoredKey = blobKeys.restored(tenantA, jobId, 'png');
  await h.services.blobs.put(restoredKey, await pngBytes(64), { contentType: 'image/png' });
  const crops = await Promise.all(
    result.faces.map(async (_face, index) => ({
      input: await pngBytes(8 + index),
      restored: await pngBytes(16 + index),
    })),
  );
  const faces = await Promise.all(
    result.faces.map(async (face, index) => {
      if (!result.withCrops) return face;
      const keys = {
        inputKey: blobKeys.faceInput(tenantA, jobId, index),
        restoredKey: blobKeys.faceRestored(tenantA, jobId, index),
      };
      const crop = crops[index];
      if (!crop) throw new Error('no crop');
      await h.services.blobs.put(keys.inputKey, crop.input, { contentType: 'image/png' });
      await h.services.blobs.put(keys.restoredKey, crop.restored, { contentType: 'image/png' });
      return { ...face, crops: keys };
    }),
  );
  await mutateJob(h.services.jobs, jobId, (job) =>
    transitionJob(
      transitionJob(transitionJob(job, { to: 'uploaded', at: new Date() }), { to: 'queued', at: new Date() }),
      { to: 'running', at: new Date() },
    ),
  );
  const done = await mutateJob(h.services.jobs, jobId, (job) =>
    transitionJob(job, {
      to: 'succeeded',
      at: new Date(),
      output: {
        restoredKey,
        format: 'png',
        width: 64,
        height: 64,
        faces,
        skippedFaces: result.skippedFaces ?? [],
        warnings: result.warnings ?? [],
      },
      usage,
    }),
  );
  await h.services.usage.record({
    tenantId: tenantA,
    jobId,
    at: new Date(done.timestamps.succeeded ?? done.updatedAt),
    images: usage.images,
    ...(usage.faces === undefined ? {} : { faces: usage.faces }),
    modelSeconds: usage.modelSeconds,
  });
  return { crops };
}

/** GET of a signed URL through the app (local download route). */
async function download(url: string): Promise<Uint8Array> {
  const response = await h.app.request(url);
  expect(response.status).toBe(200);
  return new Uint8Array(await response.arrayBuffer());
}

describe('photo parameters', () => {
  it('stores the parameters given, with defaults for the rest, and shows them in the job', async () => {
    // Act
    const explicit = await createJob({
      upscale: 4,
      maxFaces: 5,
      minFace: 24,
      background: 'keep',
      output: { faces: true },
    });
    const defaults = await createJob({});
    const explicitView = await json(await h.call('GET', `/v1/jobs/${explicit.id}`));
    const defaultView = await json(await h.call('GET', `/v1/jobs/${defaults.id}`));
    // Assess
    expect(explicitView.params).toMatchObject({
      upscale: 4,
      aligned: false,
      maxFaces: 5,
      minFace: 24,
      background: 'keep',
      output: { format: 'png', keepDr2: false, faces: true },
    });
    expect(defaultView.params).toMatchObject({
      upscale: 2,
      aligned: false,
      maxFaces: 20,
      background: 'denoise',
      output: { faces: false },
    });
    expect(defaultView.params).not.toHaveProperty('minFace');
  });

  it.each([
    [{ upscale: 3 }, 'upscale'],
    [{ upscale: 2.0001 }, 'upscale'],
    [{ aligned: 1 }, 'aligned'],
    [{ maxFaces: 0 }, 'maxFaces'],
    [{ maxFaces: 1000 }, 'maxFaces'],
    [{ minFace: -4 }, 'minFace'],
    [{ background: 'blur' }, 'background'],
    [{ output: { faces: 'yes' } }, 'output.faces'],
  ])('refuses %j with 400 validation_failed at %s', async (body, path) => {
    // Act
    const response = await h.call('POST', '/v1/jobs', { json: body });
    // Assess
    await expectValidationFailure(response, path);
  });

  it('treats the same request with and without explicit defaults as one idempotent request', async () => {
    // Act
    const first = await h.call('POST', '/v1/jobs', { json: {}, headers: { 'idempotency-key': 'photo-1' } });
    const again = await h.call('POST', '/v1/jobs', {
      json: { upscale: 2, aligned: false, maxFaces: 20, output: { faces: false } },
      headers: { 'idempotency-key': 'photo-1' },
    });
    // Assess
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe((await json(first)).id);
  });
});

describe('faces in the job view', () => {
  it('lists restored and skipped faces, warnings, and signed links to each face crop', async () => {
    // Prepare: a group photo, two faces restored with crops, one too small.
    const job = await createJob({ minFace: 20, output: { faces: true } });
    const second = { ...FACE, box: [300, 90, 64, 64] as [number, number, number, number] };
    const skipped = {
      ...FACE,
      box: [10, 10, 12, 12] as [number, number, number, number],
      reason: 'min_face' as const,
    };
    const { crops } = await completeJob(
      job.id,
      { faces: [FACE, second], skippedFaces: [skipped], warnings: [], withCrops: true },
      { images: 1, faces: 2, modelSeconds: 3.2 },
    );
    // Act
    const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    const listed = (await json(await h.call('GET', '/v1/jobs'))).jobs[0];
    // Assess
    expect(view.status).toBe('succeeded');
    expect(view.output.faces).toHaveLength(2);
    expect(view.output.faces[0]).toMatchObject({
      box: FACE.box,
      score: FACE.score,
      landmarks: FACE.landmarks,
    });
    expect(view.output.faces[1].box).toEqual([300, 90, 64, 64]);
    expect(view.output.skippedFaces).toEqual([skipped]);
    expect(view.output.warnings).toEqual([]);
    expect(view.usage).toEqual({ images: 1, faces: 2, modelSeconds: 3.2 });
    expect(JSON.stringify(view)).not.toMatch(/inputKey|restoredKey/);
    for (const [index, face] of (
      view.output.faces as { crops: Record<string, { url: string }> }[]
    ).entries()) {
      expect(await download(face.crops.input?.url ?? '')).toEqual(crops[index]?.input);
      expect(await download(face.crops.restored?.url ?? '')).toEqual(crops[index]?.restored);
    }
    expect(listed.output.faces).toHaveLength(2);
    expect(listed.output.faces[0].crops.restored.url).toEqual(expect.stringContaining('/local-download'));
  });

  it('shows faces without crop links when the job did not ask for crops', async () => {
    // Prepare
    const job = await createJob({});
    await completeJob(job.id, { faces: [FACE] }, { images: 1, faces: 1, modelSeconds: 1 });
    // Act
    const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    // Assess
    expect(view.output.faces).toEqual([FACE]);
  });

  it('shows a photo without faces as a success with faces [] and warning no_face_detected', async () => {
    // Prepare
    const job = await createJob({ output: { faces: true } });
    await completeJob(
      job.id,
      { faces: [], skippedFaces: [], warnings: ['no_face_detected'] },
      { images: 1, faces: 0, modelSeconds: 0.04 },
    );
    // Act
    const view = await json(await h.call('GET', `/v1/jobs/${job.id}`));
    // Assess
    expect(view.status).toBe('succeeded');
    expect(view).not.toHaveProperty('error');
    expect(view.output).toMatchObject({ faces: [], skippedFaces: [], warnings: ['no_face_detected'] });
    expect(view.output.restored.url).toEqual(expect.any(String));
  });

  it('deletes the face crops with the job', async () => {
    // Prepare
    const job = await createJob({ output: { faces: true } });
    await completeJob(job.id, { faces: [FACE], withCrops: true }, { images: 1, faces: 1, modelSeconds: 1 });
    // Act
    const response = await h.call('DELETE', `/v1/jobs/${job.id}`);
    // Assess
    expect(response.status).toBe(204);
    expect(await h.services.blobs.get(blobKeys.faceInput(tenantA, job.id, 0))).toBeUndefined();
    expect(await h.services.blobs.get(blobKeys.faceRestored(tenantA, job.id, 0))).toBeUndefined();
  });
});

describe('GET /v1/usage by faces and model seconds', () => {
  it('counts faces restored: a photo without faces adds none, a group photo one per face', async () => {
    // Prepare
    const empty = await createJob({});
    const group = await createJob({});
    const portrait = await createJob({});
    await completeJob(
      empty.id,
      { faces: [], warnings: ['no_face_detected'] },
      { images: 1, faces: 0, modelSeconds: 0.05 },
    );
    await completeJob(
      group.id,
      { faces: [FACE, FACE, FACE, FACE, FACE, FACE] },
      { images: 1, faces: 6, modelSeconds: 12.3 },
    );
    await completeJob(portrait.id, { faces: [FACE] }, { images: 1, faces: 1, modelSeconds: 2.1 });
    // Act
    const usage = await json(await h.call('GET', '/v1/usage'));
    // Assess
    expect(usage).toMatchObject({ jobs: 3, images: 3, faces: 7, modelSeconds: 14.45 });
  });
});

describe('OpenAPI', () => {
  it('documents every photo parameter and result field', async () => {
    // Act
    const doc = await json(await h.call('GET', '/openapi.json', { key: null }));
    // Assess
    const schemas = doc.components.schemas;
    const request = schemas.CreateJobRequest.properties;
    expect(request.upscale).toMatchObject({ enum: [1, 2, 4], default: 2, description: expect.any(String) });
    expect(request.aligned).toMatchObject({
      type: 'boolean',
      default: false,
      description: expect.any(String),
    });
    expect(request.maxFaces).toMatchObject({ type: 'integer', default: 20, minimum: 1, maximum: 100 });
    expect(request.minFace).toMatchObject({ type: 'integer', minimum: 0, description: expect.any(String) });
    expect(request.background).toMatchObject({
      enum: ['denoise', 'keep'],
      default: 'denoise',
      description: expect.any(String),
    });
    expect(request.output.properties.faces).toMatchObject({ type: 'boolean', default: false });
    const output = schemas.Job.properties.output.properties;
    for (const field of ['faces', 'skippedFaces', 'warnings']) {
      expect(output[field]).toMatchObject({ type: 'array' });
    }
    expect(Object.keys(output.background.properties)).toEqual(['noise', 'denoised', 'enlargement']);
    expect(output.background.required).toEqual(['noise', 'denoised']);
    expect(output.background.properties.enlargement).toMatchObject({ type: 'integer', minimum: 2 });
    const face = output.faces.items.properties;
    expect(Object.keys(face)).toEqual(expect.arrayContaining(['box', 'score', 'landmarks', 'crops']));
    expect(face.crops.properties.restored.properties).toHaveProperty('url');
    expect(output.skippedFaces.items.properties.reason).toMatchObject({ enum: ['max_faces', 'min_face'] });
    expect(schemas.Job.properties.usage.properties).toHaveProperty('faces');
    expect(schemas.Usage.properties.faces).toMatchObject({
      type: 'integer',
      description: expect.any(String),
    });
    expect(schemas.Usage.required).toEqual(expect.arrayContaining(['faces', 'modelSeconds']));
  });
});
