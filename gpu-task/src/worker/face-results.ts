/**
 * From an engine result to what a job records: the face lists and warnings of its output, the
 * face crops it keeps (with `output.faces`), and its metered usage.
 *
 * The engine's face reports are copied field by field into the job's strict schemas, rounded
 * to what a client can use (1/100 px), so a field the engine adds later never makes a stored
 * job unreadable, and a malformed optional part (quality settings, estimate) is dropped rather
 * than failing a restored photo.
 */
import type { FaceReport, ImageRestoration, RestoreImagesOptions } from '../engine/index.js';
import {
  blobKeys,
  FaceEstimateSchema,
  FaceSettingsSchema,
  SKIP_REASONS,
  type BlobStore,
  type FaceReport as JobFaceReport,
  type Job,
  type JobOutput,
  type JobParams,
  type JobUsage,
  type SkippedFace,
  type StoredFace,
  resolvePhotoOptions,
} from '../../../shared/src/index.js';

type Restored = Extract<ImageRestoration, { ok: true }>;

/** Crops uploaded at once per job: enough to hide latency, few enough not to flood the store. */
const CROP_UPLOAD_CONCURRENCY = 8;

/**
 * The engine's photo options for a group of jobs with one batch key (equal photo options);
 * crops are produced when any job of the group keeps them.
 *
 * @example photoEngineOptions([job.params]) // { upscale: 2, aligned: false, maxFaces: 20, background: 'denoise', saveFaces: false }
 */
export function photoEngineOptions(
  params: readonly JobParams[],
): Pick<RestoreImagesOptions, 'upscale' | 'aligned' | 'maxFaces' | 'minFace' | 'saveFaces' | 'background'> {
  const first = params[0];
  const photo = resolvePhotoOptions(first ?? {});
  return {
    upscale: photo.upscale,
    aligned: photo.aligned,
    maxFaces: photo.maxFaces,
    ...(photo.minFace === undefined ? {} : { minFace: photo.minFace }),
    background: photo.background,
    saveFaces: params.some((job) => job.output.faces === true),
  };
}

const round = (value: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

/** A finite number rounded to 1/100, or 0 (a detector never returns NaN; a bug must not fail the job). */
const pixel = (value: number) => (Number.isFinite(value) ? round(value, 2) : 0);

function toFaceReport(face: FaceReport): JobFaceReport {
  const [x, y, w, h] = face.box;
  const settings = face.settings ? FaceSettingsSchema.safeParse(face.settings) : undefined;
  const estimate = face.estimate ? FaceEstimateSchema.safeParse(face.estimate) : undefined;
  return {
    box: [pixel(x), pixel(y), Math.max(0, pixel(w)), Math.max(0, pixel(h))],
    score: Number.isFinite(face.score) ? round(Math.min(1, Math.max(0, face.score)), 4) : 0,
    landmarks: face.landmarks.map(([lx, ly]) => [pixel(lx), pixel(ly)] as [number, number]),
    ...(settings?.success ? { settings: settings.data } : {}),
    ...(estimate?.success ? { estimate: estimate.data } : {}),
  };
}

function toSkippedFace(face: FaceReport): SkippedFace {
  const reason = SKIP_REASONS.find((known) => known === face.reason) ?? 'max_faces';
  return { ...toFaceReport(face), reason };
}

/** Blob keys of the crops of restored face `index`. */
function cropKeys(job: Job, index: number): { inputKey: string; restoredKey: string } {
  return {
    inputKey: blobKeys.faceInput(job.tenantId, job.id, index),
    restoredKey: blobKeys.faceRestored(job.tenantId, job.id, index),
  };
}

/**
 * Uploads each restored face's aligned crops (input and restored PNG) when the job asked for
 * them (`params.output.faces`), and returns the stored faces with their crop keys. Crops of a
 * face index the engine did not report are ignored.
 */
export async function storeFaces(blobs: BlobStore, job: Job, result: Restored): Promise<StoredFace[]> {
  const faces: StoredFace[] = result.faces.map(toFaceReport);
  if (!job.params.output.faces || !result.faceCrops) return faces;
  const crops = result.faceCrops.filter(
    (crop) => Number.isInteger(crop.index) && crop.index >= 0 && crop.index < faces.length,
  );
  for (let start = 0; start < crops.length; start += CROP_UPLOAD_CONCURRENCY) {
    await Promise.all(
      crops.slice(start, start + CROP_UPLOAD_CONCURRENCY).map(async (crop) => {
        const keys = cropKeys(job, crop.index);
        await Promise.all([
          blobs.put(keys.inputKey, crop.input, { contentType: 'image/png' }),
          blobs.put(keys.restoredKey, crop.restored, { contentType: 'image/png' }),
        ]);
        const face = faces[crop.index];
        if (face) faces[crop.index] = { ...face, crops: keys };
      }),
    );
  }
  return faces;
}

/** The photo part of a job's output: restored faces, skipped faces, warnings, the background's report. */
export function faceOutput(
  faces: StoredFace[],
  result: Restored,
): Pick<JobOutput, 'faces' | 'skippedFaces' | 'warnings' | 'background'> {
  return {
    faces,
    skippedFaces: result.skippedFaces.map(toSkippedFace),
    warnings: [...new Set(result.warnings.filter((warning) => warning.length > 0 && warning.length <= 200))],
    ...(result.background
      ? { background: { ...result.background, noise: round(result.background.noise, 2) } }
      : {}),
  };
}

/**
 * Metered use of one restored photo: one image, the faces the model restored (not those `auto`
 * kept as they were, `settings.kept`: no model ran on them), and its share of the batch's model
 * time (a photo without faces costs only its detection).
 */
export function usageOf(result: Restored): JobUsage {
  const { detectMs, dr2Ms, enhanceMs } = result.timings;
  const modelMs = detectMs + dr2Ms + enhanceMs;
  const faces = result.faces.filter((face) => !face.settings?.kept).length;
  return { images: 1, faces, modelSeconds: Math.round(modelMs) / 1000 };
}
