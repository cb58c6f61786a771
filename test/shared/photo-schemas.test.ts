/**
 * Photo-mode fields of the job model: request parameters and their defaults, stored results
 * (faces, skipped faces, warnings, crop keys), the public view with signed crop links, batch
 * keys, and jobs stored before photo mode.
 */
import { describe, expect, it } from 'vitest';
import { blobKeys } from '../../shared/src/blob-keys.js';
import { ValidationError } from '../../shared/src/errors.js';
import {
  batchKeyFor,
  resolveJobParams,
  resolvePhotoOptions,
  toJobView,
  transitionJob,
} from '../../shared/src/job.js';
import { faceCropKeys, signJobLinks } from '../../shared/src/job-links.js';
import type { BlobStore } from '../../shared/src/ports/blob-store.js';
import {
  CreateJobRequestSchema,
  JobSchema,
  JobViewSchema,
  parseWith,
  type Job,
  type JobOutput,
} from '../../shared/src/schemas.js';
import { sampleJob } from './helpers/jobs.js';

const at = new Date(Date.UTC(2025, 0, 1, 13, 0, 0));

/** A face as the detector reports it: stored on the job and shown in its view as it is. */
const FOUND_FACE = {
  box: [100, 80, 120, 120] as [number, number, number, number],
  score: 0.98,
  landmarks: [
    [130, 120],
    [190, 120],
    [160, 150],
    [160, 175],
  ] as [number, number][],
};

function refusedPaths(value: unknown): (string | number)[][] {
  try {
    parseWith(CreateJobRequestSchema, value);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((issue) => issue.path);
  }
  throw new Error('expected the request to be refused');
}

/** A succeeded job whose output carries `output` (defaults: two faces, one with crops). */
function succeededJob(job: Job, output: Partial<JobOutput> = {}): Job {
  const steps = [
    { to: 'uploaded', at },
    { to: 'queued', at },
    { to: 'running', at },
  ] as const;
  const running = steps.reduce((current, step) => transitionJob(current, step), job);
  return transitionJob(running, {
    to: 'succeeded',
    at,
    output: {
      restoredKey: blobKeys.restored(job.tenantId, job.id, 'png'),
      format: 'png',
      width: 800,
      height: 600,
      faces: [
        {
          ...FOUND_FACE,
          crops: {
            inputKey: blobKeys.faceInput(job.tenantId, job.id, 0),
            restoredKey: blobKeys.faceRestored(job.tenantId, job.id, 0),
          },
        },
        { box: [400, 90, 60, 60], score: 0.9, landmarks: [] },
      ],
      skippedFaces: [{ box: [700, 10, 12, 12], score: 0.6, landmarks: [], reason: 'min_face' }],
      warnings: [],
      ...output,
    },
    usage: { images: 1, faces: 2, modelSeconds: 1.5 },
  });
}

/** Signs like a store would: the key in the URL, a fixed expiry. */
const fakeBlobs = {
  createDownloadUrl: async (key: string, ttl: number) => ({
    url: `https://blobs.example/${key}?ttl=${ttl}`,
    expiresAt: '2025-01-01T14:00:00.000Z',
  }),
} as Pick<BlobStore, 'createDownloadUrl'> as BlobStore;

describe('photo parameters of a create request', () => {
  it('defaults to a whole photo, x2, at most 20 faces, no crops', () => {
    // Act
    const parsed = parseWith(CreateJobRequestSchema, {});
    // Assess
    expect(parsed).toMatchObject({ upscale: 2, aligned: false, maxFaces: 20, output: { faces: false } });
    expect(parsed).not.toHaveProperty('minFace');
  });

  it.each([
    [{ upscale: 1 }],
    [{ upscale: 4, maxFaces: 100, minFace: 24 }],
    [{ minFace: 0 }],
    [{ aligned: true, upscale: 1, output: { faces: true } }],
    [{ preset: 'medium', maxFaces: 1, output: { format: 'webp', faces: true } }],
  ])('accepts %j', (request) => {
    expect(() => parseWith(CreateJobRequestSchema, request)).not.toThrow();
  });

  it.each([
    [{ upscale: 3 }, ['upscale']],
    [{ upscale: 8 }, ['upscale']],
    [{ upscale: '2' }, ['upscale']],
    [{ aligned: 'yes' }, ['aligned']],
    [{ maxFaces: 0 }, ['maxFaces']],
    [{ maxFaces: 101 }, ['maxFaces']],
    [{ maxFaces: 2.5 }, ['maxFaces']],
    [{ minFace: -1 }, ['minFace']],
    [{ minFace: 5000 }, ['minFace']],
    [{ background: 'smooth' }, ['background']],
    [{ output: { faces: 'true' } }, ['output', 'faces']],
    [{ max_faces: 3 }, []],
  ])('refuses %j at path %j', (request, path) => {
    expect(refusedPaths(request)).toContainEqual(path);
  });

  it('stores the photo parameters on the job as resolved', () => {
    // Prepare
    const request = parseWith(CreateJobRequestSchema, { upscale: 4, minFace: 32, output: { faces: true } });
    // Act
    const params = resolveJobParams(request, () => 5);
    // Assess
    expect(params).toEqual({
      steps: 100,
      seed: 5,
      upscale: 4,
      aligned: false,
      maxFaces: 20,
      minFace: 32,
      background: 'denoise',
      output: { format: 'png', keepDr2: false, faces: true },
    });
  });
});

describe('jobs stored before photo mode', () => {
  // A succeeded job as the previous version wrote it: no photo params, no faces, no face usage.
  const legacy = {
    ...succeededJob(sampleJob('tenant-a', 0)),
    params: { preset: 'medium', steps: 100, seed: 7, output: { format: 'png', keepDr2: false } },
    output: { restoredKey: 'tenants/tenant-a/jobs/x/restored.png', format: 'png', width: 128, height: 128 },
    usage: { images: 1, modelSeconds: 2 },
  };

  it('still parse, and run with the defaults', () => {
    // Act
    const job = parseWith(JobSchema, JSON.parse(JSON.stringify(legacy)), 'stored job');
    // Assess
    expect(resolvePhotoOptions(job.params)).toEqual({
      upscale: 2,
      aligned: false,
      maxFaces: 20,
      background: 'denoise',
    });
    expect(faceCropKeys(job)).toEqual([]);
  });

  it('show no face list (unknown, not "no face") in their view', () => {
    // Act
    const view = toJobView(parseWith(JobSchema, legacy));
    // Assess
    expect(JobViewSchema.parse(view)).toEqual(view);
    expect(view.output).toEqual({ format: 'png', width: 128, height: 128 });
  });

  it('keep their batch key: default photo options add nothing to it', () => {
    // Prepare
    const old = { preset: 'medium' as const, steps: 100 };
    // Act / Assess
    expect(batchKeyFor(old, 'm')).toBe('model=m;preset=medium;steps=100');
    expect(
      batchKeyFor({ ...old, upscale: 2, aligned: false, maxFaces: 20, background: 'denoise' }, 'm'),
    ).toBe('model=m;preset=medium;steps=100');
  });
});

describe('batch keys with photo options', () => {
  const base = { preset: 'mild' as const, steps: 100 };

  it('separate jobs the engine cannot run in one call', () => {
    const keys = [
      batchKeyFor(base, 'm'),
      batchKeyFor({ ...base, upscale: 4 }, 'm'),
      batchKeyFor({ ...base, upscale: 1 }, 'm'),
      batchKeyFor({ ...base, maxFaces: 5 }, 'm'),
      batchKeyFor({ ...base, minFace: 40 }, 'm'),
      batchKeyFor({ ...base, background: 'keep' }, 'm'),
      batchKeyFor({ ...base, aligned: true }, 'm'),
      batchKeyFor({ ...base, aligned: true, upscale: 4 }, 'm'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('put a minFace of 0 with the jobs that give none: both keep every face', () => {
    expect(batchKeyFor({ ...base, minFace: 0 }, 'm')).toBe(batchKeyFor(base, 'm'));
  });

  it('ignore face limits of aligned jobs (no detection runs)', () => {
    expect(batchKeyFor({ ...base, aligned: true, maxFaces: 3, minFace: 10 }, 'm')).toBe(
      batchKeyFor({ ...base, aligned: true }, 'm'),
    );
  });
});

describe('faces in the job view', () => {
  it('lists faces, skipped faces and warnings, with signed crop links instead of blob keys', async () => {
    // Prepare
    const job = succeededJob(
      sampleJob('tenant-a', 0, {
        params: { steps: 100, seed: 1, output: { format: 'png', keepDr2: false, faces: true } },
      }),
    );
    // Act
    const view = toJobView(job, await signJobLinks(fakeBlobs, job, 600));
    // Assess
    expect(JobViewSchema.parse(view)).toEqual(view);
    expect(view.output?.faces).toEqual([
      {
        ...FOUND_FACE,
        crops: {
          input: {
            url: `https://blobs.example/tenants/tenant-a/jobs/${job.id}/faces/0-input.png?ttl=600`,
            expiresAt: '2025-01-01T14:00:00.000Z',
          },
          restored: {
            url: `https://blobs.example/tenants/tenant-a/jobs/${job.id}/faces/0-restored.png?ttl=600`,
            expiresAt: '2025-01-01T14:00:00.000Z',
          },
        },
      },
      { box: [400, 90, 60, 60], score: 0.9, landmarks: [] },
    ]);
    expect(view.output?.skippedFaces).toEqual([
      { box: [700, 10, 12, 12], score: 0.6, landmarks: [], reason: 'min_face' },
    ]);
    expect(view.output?.warnings).toEqual([]);
    expect(JSON.stringify(view)).not.toContain('inputKey');
    expect(view.usage).toEqual({ images: 1, faces: 2, modelSeconds: 1.5 });
  });

  it('shows a photo without faces as success with faces [] and no_face_detected', () => {
    // Prepare
    const job = succeededJob(sampleJob(), { faces: [], skippedFaces: [], warnings: ['no_face_detected'] });
    // Act
    const view = toJobView(job);
    // Assess
    expect(view.status).toBe('succeeded');
    expect(view.output).toMatchObject({ faces: [], skippedFaces: [], warnings: ['no_face_detected'] });
  });

  it('refuses malformed stored faces', () => {
    // Prepare
    const job = succeededJob(sampleJob());
    const badBox = {
      ...job,
      output: { ...job.output, faces: [{ box: [1, 2, 3], score: 1, landmarks: [] }] },
    };
    const badScore = {
      ...job,
      output: { ...job.output, faces: [{ box: [1, 2, 3, 4], score: 2, landmarks: [] }] },
    };
    const badReason = {
      ...job,
      output: {
        ...job.output,
        skippedFaces: [{ box: [1, 2, 3, 4], score: 1, landmarks: [], reason: 'blurry' }],
      },
    };
    // Act / Assess
    for (const bad of [badBox, badScore, badReason]) expect(JobSchema.safeParse(bad).success).toBe(false);
  });
});

describe('faceCropKeys', () => {
  it('lists every crop a worker could write for a job that keeps crops, and none otherwise', () => {
    // Prepare
    const keeps = sampleJob('tenant-a', 0, {
      params: { steps: 100, seed: 1, maxFaces: 3, output: { format: 'png', keepDr2: false, faces: true } },
    });
    const keepsNone = sampleJob('tenant-a', 1);
    // Act
    const keys = faceCropKeys(keeps);
    // Assess
    expect(keys).toHaveLength(6);
    expect(keys).toContain(blobKeys.faceRestored('tenant-a', keeps.id, 2));
    expect(keys.every((key) => key.startsWith(blobKeys.jobPrefix('tenant-a', keeps.id)))).toBe(true);
    expect(faceCropKeys(keepsNone)).toEqual([]);
  });
});
