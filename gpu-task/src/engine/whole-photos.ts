/**
 * Whole photos through the engine: the photo stage (gpu-task/src/photo: detect, align, paste back,
 * background) around the model runs a `FaceRunner` gives. The recipe of facexlib's
 * FaceRestoreHelper, with every face of every photo of a call in shared sampler runs.
 */
import { type BackgroundReport, RESTORE_DEFAULTS } from '../../../shared/src/index.js';
import {
  type DenoisedBackground,
  type FaceDetector,
  type PreparedFace,
  type PreparedPhoto,
  denoisePhotoBackground,
  encodePhoto,
  faceEstimateRegion,
  facesInOutput,
  finishPhoto,
  preparePhoto,
} from '../photo/index.js';
import { asEngineError, type NonFiniteOutputError } from './errors.js';
import type { OutputFormat, RgbImage } from './image/index.js';
import { rgb8ToTensor } from './image/tensor.js';
import { type FacePlan, faceQualityReport, finishFace, keepShare, keepsFace } from './quality/index.js';
import { faceSeed, randomSeed } from './random/seeds.js';
import {
  type EngineImageInput,
  type FaceCrop,
  type FaceRunner,
  type ImageRestoration,
  type RestoreImagesOptions,
  type StageTimings,
  qualityOption,
  runOptions,
  strictestFormat,
} from './restore-api.js';
import type { Dr2ParamsRequest } from './sampler/dr2-params.js';

/**
 * Whole photos (see `Dr2eEngine.restoreImages`): decode each once (a bad one fails alone), find
 * and align its faces, restore the faces of all photos together in sampler runs of up to
 * `batchSize`, paste them back into each photo enlarged and encode it.
 */
export async function restoreWholePhotos(
  runner: FaceRunner,
  detector: FaceDetector,
  inputs: readonly EngineImageInput[],
  options: RestoreImagesOptions,
  request: Dr2ParamsRequest,
  batchSize: number,
): Promise<ImageRestoration[]> {
  const format = options.format ?? 'png';
  const s = runner.resolution;
  const results = new Map<string, ImageRestoration>();
  const template = runner.faceTemplate;

  interface Ready {
    input: EngineImageInput;
    seed: number;
    photo: PreparedPhoto;
  }
  const ready: Ready[] = [];
  // One photo at a time: decoding and detection are CPU-bound and a 12 MP photo holds ~40 MB.
  for (const input of inputs) {
    try {
      const photo = await preparePhoto(input.bytes, detector, {
        ...(options.upscale !== undefined ? { upscale: options.upscale } : {}),
        format: strictestFormat(input.finalFormat, options.format ?? 'png'),
        ...(options.maxFaces !== undefined ? { maxFaces: options.maxFaces } : {}),
        ...(options.minFace !== undefined ? { minFace: options.minFace } : {}),
        ...(options.limits ? { limits: options.limits } : {}),
        modelSide: s,
        template,
      });
      ready.push({ input, seed: input.seed ?? randomSeed(), photo });
    } catch (error) {
      results.set(input.id, { id: input.id, ok: false, error: asEngineError(error) });
    }
  }

  // Every face of every photo, in one list; sampler runs of up to batchSize faces.
  // Each face's estimate and setting (auto: its own; else the request's), from the photo's
  // decoded pixels in the face's box (photo/estimate-region.ts): the aligned cut is resampled
  // (rotated, scaled), which smooths noise away and smears the JPEG grid, so a face of a noisy
  // photo read as clean and `auto` kept its noise (dr2e eval-photos). The calibration
  // estimated faces on their own decoded grid; so does this. The fusion still uses the cut.
  const plans = new Map<PreparedFace, FacePlan>();
  for (const item of ready) {
    for (const face of item.photo.faces) {
      const region = faceEstimateRegion(item.photo.decoded.image, face.toUnit);
      plans.set(
        face,
        runner.planFace(region.image, request, region.faceSize, {
          detected: true,
          decoded: {
            image: item.photo.decoded.image,
            left: region.left,
            top: region.top,
            orientation: item.photo.decoded.info.orientation,
          },
        }),
      );
    }
  }
  // Faces `auto` keeps as they are (keepsFace) skip the model: nothing of theirs is pasted.
  // Seeds follow each face's index in its photo, so the others draw what they drew before.
  const faces = ready.flatMap((item) =>
    item.photo.faces.flatMap((face, index) =>
      keepsFace(plans.get(face)!) ? [] : [{ item, face, seed: faceSeed(item.seed, index) }],
    ),
  );
  const restored = new Map<PreparedFace, RgbImage>();
  const dr2 = new Map<PreparedFace, RgbImage>();
  const share = new Map<Ready, StageTimings>();
  for (const item of ready) share.set(item, { dr2Ms: 0, modelMs: 0, enhanceMs: 0 });
  // A photo with a face whose model output is broken fails; its batch mates do not.
  const broken = new Map<Ready, NonFiniteOutputError>();
  await runner.runFaces(
    faces,
    ({ item, face, seed }) => ({
      write: (y: Float32Array, offset: number) => rgb8ToTensor(face.modelInput.data, s, s, y, offset),
      params: plans.get(face)!.params,
      seed,
      image: item.input.id,
    }),
    { ...runOptions(options), batchSize },
    (outcomes) => {
      for (const outcome of outcomes) {
        const { item, face } = outcome.member;
        if ('error' in outcome) {
          broken.set(item, outcome.error);
          continue;
        }
        restored.set(face, outcome.restored);
        if (outcome.dr2) dr2.set(face, outcome.dr2);
        const t = share.get(item)!;
        t.dr2Ms += outcome.share.dr2Ms;
        t.modelMs += outcome.share.modelMs;
        t.enhanceMs += outcome.share.enhanceMs;
      }
    },
  );

  for (const item of ready) {
    const brokenOutput = broken.get(item);
    if (brokenOutput) {
      results.set(item.input.id, { id: item.input.id, ok: false, error: brokenOutput });
      continue;
    }
    const facePlans = item.photo.faces.map((face) => plans.get(face)!);
    // A kept face is not pasted (null): the enlarged photo already is the face.
    const mine = item.photo.faces.map((face, i) => (keepsFace(facePlans[i]!) ? null : restored.get(face)!));
    const mineDr2 = options.keepDr2
      ? item.photo.faces.map((face, i) => (keepsFace(facePlans[i]!) ? null : dr2.get(face)!))
      : [];
    const encodeStart = performance.now();
    try {
      const finished = await finishWholePhoto(runner, item.photo, mine, mineDr2, options, format, facePlans);
      const t = share.get(item)!;
      results.set(item.input.id, {
        id: item.input.id,
        ok: true,
        restored: finished.restored,
        ...(finished.dr2 ? { dr2: finished.dr2 } : {}),
        width: finished.width,
        height: finished.height,
        seed: item.seed,
        params: facePlans[0]?.params ?? runner.resolveParams(request),
        upscale: item.photo.upscale,
        faces: item.photo.faces.map((f, i) => ({
          ...f.report,
          ...faceQualityReport(facePlans[i]!, keepsFace(facePlans[i]!)),
        })),
        skippedFaces: item.photo.skippedFaces,
        warnings: item.photo.warnings,
        ...(finished.faceCrops ? { faceCrops: finished.faceCrops } : {}),
        ...(finished.background ? { background: finished.background } : {}),
        timings: {
          decodeMs: item.photo.decodeMs,
          detectMs: item.photo.detectMs,
          dr2Ms: t.dr2Ms,
          modelMs: t.modelMs,
          enhanceMs: t.enhanceMs,
          encodeMs: performance.now() - encodeStart,
        },
      });
    } catch (error) {
      results.set(item.input.id, { id: item.input.id, ok: false, error: asEngineError(error) });
    }
  }
  return inputs.map((input) => results.get(input.id) as ImageRestoration);
}

/** Paste a photo's restored faces back and encode it (and the DR2 version, with keepDr2). */
async function finishWholePhoto(
  runner: FaceRunner,
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
  dr2: readonly (RgbImage | null)[],
  options: RestoreImagesOptions,
  format: OutputFormat,
  plans: readonly FacePlan[] = [],
): Promise<{
  restored: Uint8Array;
  dr2?: Uint8Array;
  width: number;
  height: number;
  faceCrops?: FaceCrop[];
  background?: BackgroundReport;
}> {
  // A face hedged toward keeping takes its share of the input (keepShare) from the photo as a
  // kept face is laid, and the denoiser leaves that share of it; DR2's own output has no such
  // share. Kept faces are null in both `restored` and `dr2`: without hedged faces one denoised
  // background serves both finishes.
  const keepShares = photo.faces.map((_, i) => (plans[i] && restored[i] ? keepShare(plans[i]) : 0));
  const hedged = keepShares.some((share) => share > 0);
  const denoise = (options.background ?? RESTORE_DEFAULTS.background) === 'denoise';
  const finish = {
    format,
    faceUpsampler: runner.faceUpsampler(photo.upscale),
    denoiseBackground:
      denoise && options.keepDr2 && !hedged ? denoisePhotoBackground(photo, restored) : denoise,
    ...qualityOption(options.quality),
    ...(options.colorMatch !== undefined ? { colorMatch: options.colorMatch } : {}),
  };
  // With auto, each restored face is fused with its aligned input at the paste side first
  // (engine/quality): a face with more pixels than the model keeps its own finer bands.
  const fuse = (i: number, pasted: RgbImage, input: RgbImage): RgbImage =>
    plans[i] ? finishFace(pasted, input, plans[i]) : pasted;
  const final = await finishPhoto(photo, restored, { ...finish, fuse, keepShares });
  const coarse = options.keepDr2 ? await finishPhoto(photo, dr2, finish) : undefined;
  let faceCrops: FaceCrop[] | undefined;
  if (options.saveFaces) {
    // A face left as it was has no restoration to show: its crop is cut from the output, where
    // the enlargement and the face upsampler made it (the aligned input would show the input).
    const kept = photo.faces.flatMap((_, index) => (restored[index] ? [] : [index]));
    const asOutput = await facesInOutput(final.bytes, photo, kept);
    faceCrops = await Promise.all(
      photo.faces.map(async (face, index) => ({
        index,
        input: await encodePhoto(face.alignedInput, { format: 'png' }),
        restored: await encodePhoto(asOutput.get(index) ?? final.pasted[index]!, { format: 'png' }),
      })),
    );
  }
  return {
    restored: final.bytes,
    ...(coarse ? { dr2: coarse.bytes } : {}),
    width: final.width,
    height: final.height,
    ...(faceCrops ? { faceCrops } : {}),
    ...(final.background ? { background: backgroundReport(final.background) } : {}),
  };
}

/** The background denoiser's reading as jobs and the CLI report it (the enlargement only where the photo is one). */
function backgroundReport({
  noise,
  denoised,
  enlargement,
}: Omit<DenoisedBackground, 'image'>): BackgroundReport {
  return { noise, denoised, ...(enlargement > 1 ? { enlargement } : {}) };
}
