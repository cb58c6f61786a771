/**
 * `dr2e eval-photos`: the whole-photo evaluation (eval/photos.ts): synthetic group photos of
 * clean faces, degraded whole, through the photo pipeline at `--upscale`, against bicubic and
 * the pipeline's background enlargement of the whole photo.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type Device,
  Dr2eEngine,
  type Dr2ParamsRequest,
  InvalidParametersError,
  type RgbImage,
  decodeImageToRgb,
  planFaceCrop,
  FFHQ_FRAMING,
} from '../engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  DEFAULT_RECOGNIZER,
  FaceRecognizer,
  type EigenfaceBasis,
  type PhotoRunInfo,
  type PhotoScene,
  type RealPhoto,
  type SceneOptions,
  buildRealScene,
  checkSceneOptions,
  degradationSplit,
  listCleanFaces,
  loadEigenfaceBasis,
  loadRealPhotos,
  loadSceneCrops,
  photoVerdict,
  runPhotoEvaluation,
  sceneBackground,
  syntheticScenes,
  writePhotoReport,
  WHOLE_CROP,
} from '../eval/index.js';
import type { DegradationSplit } from '../eval/index.js';
import { defaultBasisFile } from './eval-command.js';
import type { CommandIo } from './restore-command.js';
import { type BackgroundMode, RESTORE_DEFAULTS } from '../../../shared/src/index.js';

export interface EvalPhotosOptions {
  /** Clean faces of the synthetic scenes (exactly one of `clean` and `realPhotos`). */
  clean?: string;
  /**
   * Clean real photos: the scenes are draws of their degradation instead of synthetic ones
   * (real-photo-scenes.ts), photo `index % n` in scene `index`.
   */
  realPhotos?: string[];
  prefix?: string;
  /** Photos per split. */
  photos: number;
  seed: number;
  splits: string[];
  scene: SceneOptions;
  /** A photo without faces to cut backgrounds from, or 'synthetic' (synthetic scenes only). */
  background: string;
  params: Dr2ParamsRequest;
  model?: string;
  enhancer?: string;
  device: Device;
  threads?: number;
  /**
   * Evaluate as a commercial deployment runs (Dr2eEngineOptions.commercialUse): non-commercial
   * weights refused, faces found without RetinaFace.
   */
  commercialUse?: boolean;
  /** Photos per restoreImages call. */
  batch: number;
  examples: number;
  basis?: string;
  /** Face recognizer ONNX file, 'none', or undefined for the committed default. */
  recognizer?: string;
  /** The face region measured (default 'crop'). */
  region?: PhotoRegion;
  /** The pipeline's background mode (default denoise, as restore). */
  backgroundMode?: BackgroundMode;
  out: string;
  quiet: boolean;
  commandLine: string;
}

/**
 * Face regions of `dr2e eval-photos`: `crop`, each clean crop's own square (the faces framed as
 * the default model's training crops); `ffhq`, the FFHQ-aligned square around it (planFaceCrop
 * from the crops' framing, about 1.6 times wider: hair, ears and background around the face),
 * which is how face restoration papers and tools cut faces out of photos.
 */
export const PHOTO_REGIONS = ['crop', 'ffhq'] as const;
export type PhotoRegion = (typeof PHOTO_REGIONS)[number];

async function resolveBasis(option: string | undefined, io: CommandIo): Promise<EigenfaceBasis | null> {
  if (option === 'none') return null;
  const file = option ?? defaultBasisFile();
  if (!existsSync(file)) {
    if (option !== undefined) throw new InvalidParametersError(`eigenface basis not found: ${file}`);
    io.stderr.write(`note: no eigenface basis at ${file}; the identity proxy is skipped\n`);
    return null;
  }
  return loadEigenfaceBasis(file);
}

/** Where a run's scenes come from, and what its report says of them. */
interface SceneSource {
  scene: (index: number, split: DegradationSplit) => Promise<PhotoScene>;
  info: Pick<PhotoRunInfo, 'faces' | 'background' | 'scene' | 'realPhotos'>;
  /** For the progress log. */
  summary: string;
}

/** Synthetic scenes of clean faces from `options.clean` (photo-scenes.ts). */
async function syntheticSource(options: EvalPhotosOptions & { clean: string }): Promise<SceneSource> {
  const { scene } = options;
  checkSceneOptions(scene);
  let backgroundPhoto: RgbImage | null = null;
  if (options.background !== 'synthetic') {
    if (!existsSync(options.background)) {
      throw new InvalidParametersError(`background photo not found: ${options.background}`);
    }
    backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(options.background)))).image;
  }
  const refs = await listCleanFaces(options.clean, {
    ...(options.prefix ? { prefix: options.prefix } : {}),
    limit: options.photos * scene.faces,
  });
  if (refs.length < options.photos * scene.faces) {
    throw new InvalidParametersError(
      `${options.photos} photos of ${scene.faces} faces need ${options.photos * scene.faces} clean faces, ${options.clean} has ${refs.length}`,
    );
  }
  const crops = await loadSceneCrops(refs);
  return {
    scene: syntheticScenes({
      seed: options.seed,
      scene,
      faceIds: refs.map((r) => r.id),
      crops,
      background: (index) => sceneBackground(backgroundPhoto, scene, options.seed, index),
    }),
    info: {
      faces: `${options.clean}${options.prefix ? ` (${options.prefix})` : ''}`,
      background:
        options.background === 'synthetic'
          ? 'synthetic (gradients, blobs, texture)'
          : `windows of ${path.basename(options.background)}`,
      scene,
    },
    summary: `${refs.length} clean faces from ${options.clean}`,
  };
}

/** Draws of the degradation of real clean photos (real-photo-scenes.ts), photo `index % n` in scene `index`. */
async function realPhotoSource(
  files: readonly string[],
  options: EvalPhotosOptions,
  engine: Dr2eEngine,
): Promise<SceneSource> {
  const photos: RealPhoto[] = await loadRealPhotos(files, engine.faceTemplate, options.scene.upscale);
  return {
    scene: (index, split) =>
      buildRealScene(options.seed, photos[index % photos.length]!, Math.floor(index / photos.length), split),
    info: {
      faces: photos.map((p) => p.name).join(', '),
      background: "the photos' own",
      realPhotos: photos.map((p) => ({
        name: p.name,
        width: p.truth.width,
        height: p.truth.height,
        faces: p.faces.length,
      })),
    },
    summary: photos.map((p) => `${p.name} (${p.faces.length} faces)`).join(', '),
  };
}

/**
 * Run `dr2e eval-photos`. Returns the exit status (0 when the reports were written).
 *
 * @example
 * ```ts
 * await runEvalPhotos({ clean: 'utkface-200.tar', prefix: 'val/', photos: 8, splits: ['mild'], ... }, io);
 * await runEvalPhotos({ realPhotos: ['group.jpg'], photos: 4, splits: ['severe'], ... }, io);
 * ```
 */
export async function runEvalPhotos(options: EvalPhotosOptions, io: CommandIo): Promise<number> {
  const log = (line: string): void => {
    if (!options.quiet) io.stderr.write(`${line}\n`);
  };
  const realPhotos = options.realPhotos ?? [];
  if ((options.clean === undefined) === (realPhotos.length === 0)) {
    throw new InvalidParametersError(
      'eval-photos takes clean faces for synthetic scenes (--clean) or clean real photos (--photo), one of the two',
    );
  }
  if (realPhotos.length > options.photos) {
    throw new InvalidParametersError(
      `--limit ${options.photos} draws cannot cover ${realPhotos.length} photos: give at least one draw per photo`,
    );
  }
  const splits = options.splits.map(degradationSplit);
  const basis = await resolveBasis(options.basis, io);
  const synthetic =
    options.clean !== undefined ? await syntheticSource({ ...options, clean: options.clean }) : null;
  const engine = await Dr2eEngine.load({
    ...(options.model !== undefined ? { model: options.model } : {}),
    ...(options.enhancer !== undefined ? { enhancer: options.enhancer } : {}),
    device: options.device,
    ...(options.threads !== undefined ? { intraOpThreads: options.threads } : {}),
    ...(options.commercialUse ? { commercialUse: true } : {}),
  });
  let recognizer: FaceRecognizer | null = null;
  try {
    const source = synthetic ?? (await realPhotoSource(realPhotos, options, engine));
    if (options.recognizer !== 'none') {
      recognizer = await FaceRecognizer.load(options.recognizer ?? DEFAULT_RECOGNIZER, options.threads ?? 1);
    }
    log(`model ${engine.name}; ${source.summary}; ${options.photos} photos per split`);
    const cropFraming = engine.framing ?? FFHQ_FRAMING;
    const ffhq = (options.region ?? 'crop') === 'ffhq';
    const region = ffhq ? planFaceCrop(1, 1, cropFraming, FFHQ_FRAMING).crop : WHOLE_CROP;
    const regionFraming = ffhq ? FFHQ_FRAMING : cropFraming;
    const result = await runPhotoEvaluation(engine, {
      seed: options.seed,
      photos: options.photos,
      splits,
      upscale: options.scene.upscale,
      scene: source.scene,
      params: options.params,
      ...(options.backgroundMode ? { backgroundMode: options.backgroundMode } : {}),
      batch: options.batch,
      basis,
      // The clean UTKFace squares, and real photos' faces, are framed like the model's training crops.
      recognizer: recognizer ? { recognizer, framing: regionFraming } : null,
      region,
      examples: options.examples,
      onProgress: log,
    });
    const out = path.resolve(options.out);
    const written = await writePhotoReport(
      result,
      {
        command: options.commandLine,
        model: { name: engine.name, resolution: engine.resolution, outputSize: engine.outputSize },
        ...source.info,
        seed: options.seed,
        photos: options.photos,
        upscale: options.scene.upscale,
        params: { ...options.params },
        region: options.region ?? 'crop',
        backgroundMode: options.backgroundMode ?? RESTORE_DEFAULTS.background,
      },
      out,
    );
    for (const split of result.splits) {
      const v = photoVerdict(split);
      io.stdout.write(
        `${v.split}: recall ${Math.round(v.recall * 100)} %, size ${v.sizeOk ? 'exact' : 'WRONG'}, ` +
          `id cos ${v.idCos.dr2e?.toFixed(5) ?? '-'} vs bicubic ${v.idCos.bicubic?.toFixed(5) ?? '-'}, ` +
          (v.recCos ? `recognizer ${v.recCos.dr2e.toFixed(4)} vs ${v.recCos.bicubic.toFixed(4)}, ` : '') +
          `SSIM ${v.ssim.dr2e.toFixed(4)} vs ${v.ssim.bicubic.toFixed(4)}\n`,
      );
    }
    io.stdout.write(
      `evaluated ${options.photos} photos x ${splits.length} splits in ${(result.seconds / 60).toFixed(1)} min; wrote ${written.length} files under ${out}\n`,
    );
    return 0;
  } finally {
    try {
      await engine.dispose();
    } finally {
      await recognizer?.dispose();
    }
  }
}

export { DEFAULT_SCENE_OPTIONS };
