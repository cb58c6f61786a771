/**
 * The whole-photo evaluation (`dr2e eval-photos`): synthetic group photos (photo-scenes.ts)
 * through the real photo pipeline, `Dr2eEngine.restoreImages` with `upscale` as the CLI calls
 * it, against bicubic enlargement of the whole degraded photo and the pipeline's own background
 * alone (no face pasted: the photo denoised, when it reads noisy and the mode is `denoise`, with
 * no face left out as the pipeline leaves the faces it keeps, and enlarged).
 *
 * Measured per photo: detection recall (a placed face counts as found when a reported face's
 * box centre lies within 0.4 face sides of its centre; each report matches one face), extra
 * detections, whether the output is exactly input size x upscale, and the whole image's SSIM
 * and PSNR against the ground truth (seams and background harm show there). Per face, in the
 * face's region cut out of every output and of the ground truth by the same known transform
 * (the clean crop's square at its ground-truth side, cubic resampling): PSNR, SSIM (eval
 * metrics.ts), and identity through the eval's eigenface proxy: the cosine of the region's
 * coefficients to the ground truth's, and identification accuracy among all faces of the split.
 */
import {
  type Dr2eEngine,
  type Dr2ParamsRequest,
  InvalidParametersError,
  type RgbImage,
  decodeImageToRgb,
  deriveSeed,
} from '../engine/index.js';
import {
  type FaceReport,
  cubicBackground,
  denoiseBackground,
  invertSimilarity,
  toPixels,
  warpToFrame,
} from '../photo/index.js';
import { type BackgroundMode, RESTORE_DEFAULTS } from '../../../shared/src/index.js';
import type { DegradationSplit } from './degrade.js';
import { type EigenfaceBasis, cosineSimilarity, faceVector, identify, projectFace } from './eigenfaces.js';
import { psnr, ssim } from './metrics.js';
import {
  type PhotoScene,
  type SceneFace,
  type SceneOptions,
  buildScene,
  scenePhotoId,
} from './photo-scenes.js';
import { resizeRgb } from './planes.js';
import { embeddingCosine, type RecognizerScoring } from './recognizer.js';

/** The methods compared: the pipeline, and the whole photo enlarged two ways. */
export const PHOTO_METHODS = ['dr2e', 'bicubic', 'background'] as const;
export type PhotoMethod = (typeof PHOTO_METHODS)[number];

/** Scores of one face under one method. */
export interface FaceScores {
  psnr: number;
  ssim: number;
  /** Eigenface cosine similarity to the ground truth's region (absent without a basis). */
  idCos?: number;
  /** Face-recognizer cosine similarity to the ground truth's region (absent without a recognizer). */
  recCos?: number;
}

/** One evaluated face. */
export interface FaceResult {
  photo: string;
  face: SceneFace;
  /** The pipeline's report of this face, when found (settings and estimate included). */
  detected?: FaceReport;
  scores: Record<PhotoMethod, FaceScores>;
  /** Identified as its own ground truth among the split's faces, per method (with a basis). */
  identified?: Record<PhotoMethod, boolean>;
}

/** One evaluated photo. */
export interface PhotoResult {
  id: string;
  width: number;
  height: number;
  outputWidth: number;
  outputHeight: number;
  sizeOk: boolean;
  faces: number;
  found: number;
  /** Reported faces (restored or skipped) matching no placed face. */
  extra: number;
  whole: Record<PhotoMethod, { psnr: number; ssim: number }>;
  degradation: PhotoScene['degradation'];
  warnings: string[];
  seconds: number;
}

/** Example cells of one face: input region, each method's region, ground truth. */
export interface FaceExample {
  label: string;
  cells: RgbImage[];
}

export interface PhotoSplitResult {
  split: string;
  photos: PhotoResult[];
  faces: FaceResult[];
  examples: FaceExample[];
  /** Wall time of the pipeline (restoreImages) on this split. */
  pipelineSeconds: number;
  seconds: number;
}

export interface PhotoEvalOptions {
  seed: number;
  /** Photos per split. */
  photos: number;
  splits: readonly DegradationSplit[];
  /** Output = photo x upscale, as the scenes' ground truths are. */
  upscale: number;
  /**
   * Scene `index` of a split: a synthetic one (syntheticScenes) or a draw of a real photo
   * (real-photo-scenes.ts). Its ground truth must be `upscale` times its photo.
   */
  scene: (index: number, split: DegradationSplit) => Promise<PhotoScene>;
  /** DR2 request as the CLI would pass it (auto by default). */
  params: Dr2ParamsRequest;
  /** The pipeline's background mode (default `denoise`, as restore). */
  backgroundMode?: BackgroundMode;
  /** Photos per restoreImages call (the CLI's --batch). */
  batch: number;
  basis: EigenfaceBasis | null;
  /**
   * Face recognizer for `recCos`; its framing must be the regions' (the clean crops' framing
   * for the default region).
   */
  recognizer?: RecognizerScoring | null;
  /** The square of each clean crop measured as its face region (default WHOLE_CROP). */
  region?: Readonly<CropSquare>;
  /** Example faces per split. */
  examples: number;
  onProgress?: (line: string) => void;
}

export interface PhotoEvalResult {
  splits: PhotoSplitResult[];
  seconds: number;
}

/** A square in a clean crop's unit coordinates (the crop is left 0, top 0, side 1). */
export interface CropSquare {
  left: number;
  top: number;
  side: number;
}

/** The clean crop's own square: the default face region. */
export const WHOLE_CROP: Readonly<CropSquare> = Object.freeze({ left: 0, top: 0, side: 1 });

/**
 * The region of a placed face cut out of an image at ground-truth scale `scale` (1: the ground
 * truth): the square `square` of its clean crop (the whole crop by default; e.g. the FFHQ-aligned
 * square around it, planFaceCrop), at its ground-truth side.
 */
export function faceRegion(
  image: RgbImage,
  face: SceneFace,
  scale = 1,
  square: Readonly<CropSquare> = WHOLE_CROP,
): RgbImage {
  const { a, b, tx, ty } = face.unitToTruth;
  const side = Math.max(11, Math.round(Math.hypot(a, b) * square.side * scale));
  // region unit -> crop unit (left + side · u) -> ground truth -> image
  const unitToImage = {
    a: a * square.side * scale,
    b: b * square.side * scale,
    tx: (a * square.left - b * square.top + tx) * scale,
    ty: (b * square.left + a * square.top + ty) * scale,
  };
  return warpToFrame(image, toPixels(invertSimilarity(unitToImage), side), side);
}

/**
 * Match reported faces (a pipeline's reports or a detector's faces: anything with an
 * `[x, y, w, h]` box) to placed ones: nearest box centre within 0.4 face sides, each report
 * used once (placed faces in the scene's order, largest first).
 */
export function matchFaces<Report extends { box: readonly [number, number, number, number] }>(
  placed: readonly Omit<SceneFace, 'unitToTruth'>[],
  reported: readonly Report[],
): { matches: (Report | undefined)[]; extra: number } {
  const used = new Set<number>();
  const matches = placed.map((face) => {
    let best = -1;
    let bestDistance = Infinity;
    reported.forEach((r, i) => {
      if (used.has(i)) return;
      const d = Math.hypot(r.box[0] + r.box[2] / 2 - face.cx, r.box[1] + r.box[3] / 2 - face.cy);
      if (d < bestDistance) {
        bestDistance = d;
        best = i;
      }
    });
    if (best < 0 || bestDistance > 0.4 * face.side) return undefined;
    used.add(best);
    return reported[best];
  });
  return { matches, extra: reported.length - used.size };
}

function scoreRegion(
  region: RgbImage,
  truth: RgbImage,
  truthCoefficients: Float64Array | null,
  basis: EigenfaceBasis | null,
) {
  const coefficients = basis ? projectFace(basis, faceVector(region, basis.size)) : null;
  const scores: FaceScores = {
    psnr: psnr(region, truth),
    ssim: ssim(region, truth),
    ...(coefficients && truthCoefficients
      ? { idCos: cosineSimilarity(coefficients, truthCoefficients) }
      : {}),
  };
  return { scores, coefficients };
}

/** The photo the pipeline enlarges under its faces: denoised (when it reads noisy) or as it is. */
function pipelineBackground(photo: RgbImage, mode: BackgroundMode): RgbImage {
  return mode === 'denoise' ? denoiseBackground(photo).image : photo;
}

/**
 * The synthetic scenes of runPhotoEvaluation: scene `index` holds the clean faces
 * `faceIds[index * faces ..]` on the background of photo `index` (photo-scenes.ts buildScene).
 *
 * @example
 * ```ts
 * const scene = syntheticScenes({ seed: 0, scene: DEFAULT_SCENE_OPTIONS, faceIds, crops, background });
 * await scene(0, degradationSplit('mild')); // photo-000
 * ```
 */
export function syntheticScenes({
  seed,
  scene: options,
  faceIds,
  crops,
  background,
}: {
  seed: number;
  scene: SceneOptions;
  /** The clean faces by id, `scene.faces` per photo, in order. */
  faceIds: readonly string[];
  crops: ReadonlyMap<string, RgbImage>;
  /** Ground-truth background of photo `index` (at the ground-truth size). */
  background: (index: number) => Promise<RgbImage>;
}): (index: number, split: DegradationSplit) => Promise<PhotoScene> {
  return async (index, split) => {
    const ids = faceIds.slice(index * options.faces, (index + 1) * options.faces);
    if (ids.length < options.faces) {
      throw new InvalidParametersError(
        `photo ${index + 1} of ${options.faces} faces needs ${(index + 1) * options.faces} clean faces, got ${faceIds.length}`,
      );
    }
    return buildScene(seed, scenePhotoId(index), ids, crops, await background(index), split, options);
  };
}

/**
 * Run the whole-photo evaluation.
 *
 * @example
 * ```ts
 * const result = await runPhotoEvaluation(engine, { seed: 0, photos: 8, splits, scene: DEFAULT_SCENE_OPTIONS, ... });
 * ```
 */
export async function runPhotoEvaluation(
  engine: Dr2eEngine,
  options: PhotoEvalOptions,
): Promise<PhotoEvalResult> {
  const { photos: count } = options;
  if (![1, 2, 4].includes(options.upscale)) {
    throw new InvalidParametersError(`the pipeline's upscale is 1, 2 or 4, got ${options.upscale}`);
  }
  const upscale = options.upscale as 1 | 2 | 4;
  const region = options.region ?? WHOLE_CROP;
  const backgroundMode = options.backgroundMode ?? RESTORE_DEFAULTS.background;
  const started = performance.now();
  const splits: PhotoSplitResult[] = [];
  for (const split of options.splits) {
    const splitStart = performance.now();
    const photos: PhotoResult[] = [];
    const faces: FaceResult[] = [];
    const coefficients: Record<PhotoMethod, Float64Array[]> = { dr2e: [], bicubic: [], background: [] };
    const truthCoefficients: Float64Array[] = [];
    const examples: FaceExample[] = [];
    let pipelineSeconds = 0;
    for (let first = 0; first < count; first += options.batch) {
      const scenes: PhotoScene[] = [];
      for (let index = first; index < Math.min(count, first + options.batch); index++) {
        const scene = await options.scene(index, split);
        if (scene.truth.width !== scene.width * upscale || scene.truth.height !== scene.height * upscale) {
          throw new InvalidParametersError(
            `${scene.id}: its ground truth ${scene.truth.width}x${scene.truth.height} is not the photo x${upscale}`,
          );
        }
        scenes.push(scene);
      }
      const pipelineStart = performance.now();
      const results = await engine.restoreImages(
        scenes.map((scene) => ({
          id: scene.id,
          bytes: scene.jpeg,
          seed: deriveSeed(options.seed, scene.id, 'dr2'),
        })),
        { params: options.params, format: 'png', upscale, background: backgroundMode },
      );
      const batchSeconds = (performance.now() - pipelineStart) / 1000;
      pipelineSeconds += batchSeconds;
      for (const [i, scene] of scenes.entries()) {
        const result = results[i]!;
        if (!result.ok)
          throw new InvalidParametersError(`${scene.id}: the pipeline failed: ${result.error.message}`);
        const { image: output } = await decodeImageToRgb(result.restored);
        const outW = scene.width * upscale;
        const outH = scene.height * upscale;
        const sizeOk = output.width === outW && output.height === outH;
        // A wrong size is reported, and the output is measured resized so the run still says how it looks.
        const measured = sizeOk ? output : resizeRgb(output, outW, outH);
        const outputs: Record<PhotoMethod, RgbImage> = {
          dr2e: measured,
          bicubic: resizeRgb(scene.low, outW, outH),
          background: (await cubicBackground(pipelineBackground(scene.low, backgroundMode), upscale)).image,
        };
        const { matches, extra } = matchFaces(scene.faces, [...result.faces, ...result.skippedFaces]);
        for (const [f, face] of scene.faces.entries()) {
          const truthRegion = faceRegion(scene.truth, face, 1, region);
          const truthCoef = options.basis
            ? projectFace(options.basis, faceVector(truthRegion, options.basis.size))
            : null;
          if (truthCoef) truthCoefficients.push(truthCoef);
          const scores = {} as Record<PhotoMethod, FaceScores>;
          const regions = {} as Record<PhotoMethod, RgbImage>;
          for (const method of PHOTO_METHODS) {
            regions[method] = faceRegion(outputs[method], face, 1, region);
            const scored = scoreRegion(regions[method], truthRegion, truthCoef, options.basis);
            scores[method] = scored.scores;
            if (scored.coefficients) coefficients[method].push(scored.coefficients);
          }
          if (options.recognizer) {
            const { recognizer, framing } = options.recognizer;
            const [truthEmbedding, ...embeddings] = await recognizer.embed(
              [truthRegion, ...PHOTO_METHODS.map((m) => regions[m])],
              framing,
            );
            PHOTO_METHODS.forEach((m, k) => {
              scores[m].recCos = embeddingCosine(embeddings[k]!, truthEmbedding!);
            });
          }
          const detected = matches[f];
          faces.push({ photo: scene.id, face, ...(detected ? { detected } : {}), scores });
          if (examples.length < options.examples) {
            examples.push({
              label: `${scene.id} ${Math.round(face.side)}px`,
              cells: [
                faceRegion(scene.low, face, 1 / upscale, region),
                ...PHOTO_METHODS.map((m) => regions[m]),
                truthRegion,
              ],
            });
          }
        }
        const whole = {} as PhotoResult['whole'];
        for (const method of PHOTO_METHODS) {
          whole[method] = {
            psnr: psnr(outputs[method], scene.truth),
            ssim: ssim(outputs[method], scene.truth),
          };
        }
        photos.push({
          id: scene.id,
          width: scene.width,
          height: scene.height,
          outputWidth: output.width,
          outputHeight: output.height,
          sizeOk,
          faces: scene.faces.length,
          found: matches.filter((m) => m !== undefined).length,
          extra,
          whole,
          degradation: scene.degradation,
          warnings: result.warnings,
          seconds: batchSeconds / scenes.length,
        });
      }
      options.onProgress?.(
        `${split.name}: ${photos.length}/${count} photos (pipeline ${batchSeconds.toFixed(1)} s for ${scenes.length})`,
      );
    }
    if (options.basis) {
      for (const method of PHOTO_METHODS) {
        // Faces of one id are one person: draws of one real photo share their ground truths.
        const { perImage } = identify(
          coefficients[method],
          truthCoefficients,
          faces.map((f) => f.face.id),
        );
        faces.forEach((face, i) => {
          face.identified ??= {} as Record<PhotoMethod, boolean>;
          face.identified[method] = perImage[i]!.identified;
        });
      }
    }
    splits.push({
      split: split.name,
      photos,
      faces,
      examples,
      pipelineSeconds,
      seconds: (performance.now() - splitStart) / 1000,
    });
  }
  return { splits, seconds: (performance.now() - started) / 1000 };
}

/** Mean of a list (NaN when empty). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Per-split summary of one method. */
export interface MethodSummary {
  method: PhotoMethod;
  facePsnr: number;
  faceSsim: number;
  idCos?: number;
  recCos?: number;
  idAccuracy?: number;
  wholePsnr: number;
  wholeSsim: number;
}

/** Summaries of a split (faces optionally filtered, e.g. by size). */
export function summarise(
  split: PhotoSplitResult,
  filter: (face: FaceResult) => boolean = () => true,
): MethodSummary[] {
  const faces = split.faces.filter(filter);
  return PHOTO_METHODS.map((method) => {
    const cos = faces.map((f) => f.scores[method].idCos).filter((v): v is number => v !== undefined);
    const rec = faces.map((f) => f.scores[method].recCos).filter((v): v is number => v !== undefined);
    const identified = faces.map((f) => f.identified?.[method]).filter((v): v is boolean => v !== undefined);
    return {
      method,
      facePsnr: mean(faces.map((f) => f.scores[method].psnr)),
      faceSsim: mean(faces.map((f) => f.scores[method].ssim)),
      ...(cos.length > 0 ? { idCos: mean(cos) } : {}),
      ...(rec.length > 0 ? { recCos: mean(rec) } : {}),
      ...(identified.length > 0 ? { idAccuracy: identified.filter(Boolean).length / identified.length } : {}),
      wholePsnr: mean(split.photos.map((p) => p.whole[method].psnr)),
      wholeSsim: mean(split.photos.map((p) => p.whole[method].ssim)),
    };
  });
}
