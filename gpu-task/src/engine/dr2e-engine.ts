/**
 * The DR2E engine: stage 1 (DR2, the diffusion-based degradation remover) and stage 2 (an
 * enhancer network) behind one object. The CLI, the worker and the tests all restore through
 * it; it knows nothing of HTTP, queues or AWS.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import {
  type BackgroundMode,
  type BackgroundReport,
  dropUndefined,
  MAX_OUTPUT_SIDE,
  RESTORE_DEFAULTS,
} from '../../../shared/src/index.js';
import { EngineError, InvalidParametersError, ModelContractError, NonFiniteOutputError } from './errors.js';
import {
  type AdaptedFaceInput,
  FFHQ_FRAMING,
  type FaceFraming,
  type FivePointTemplate,
  type InputFramingMode,
  cutSquare,
  decodeAdaptedFace,
  framingTemplate,
  pasteFace,
  resizeRgbImage,
} from './framing/index.js';
import {
  decodeImage,
  decodeImageToRgb,
  encodeRgbImage,
  restoresFirstFrameOnly,
  tensorToRgb8,
  type FitMode,
  type Framing,
  type ImageLimits,
  type OutputFormat,
  type RgbImage,
} from './image/index.js';
import { defaultModelManifest } from './model/default-model.js';
import { peekManifestRole, readPipelineManifest } from './model/load-manifest.js';
import type { License } from './model/manifest.js';
import { type LoadModelOptions, OnnxDenoiser } from './model/onnx-denoiser.js';
import { OnnxEnhancer } from './model/onnx-enhancer.js';
import { type NoiseSource, SeededNormalSource } from './random/noise-source.js';
import { BicubicResizer } from './resize/bicubic.js';
import {
  type Dr2Params,
  type Dr2ParamsRequest,
  type FixedPresetName,
  type ModelPresets,
  resolveDr2Params,
} from './sampler/dr2-params.js';
import { type Dr2PhaseTimings, Dr2Sampler, type Dr2StepProgress } from './sampler/dr2-sampler.js';
import { CallProgress, type RestoreProgressListener } from './call-progress.js';
import { RespacedSchedule } from './schedule/respaced-schedule.js';
import { resolveImageLimits } from './image/limits.js';
import { rgb8ToTensor } from './image/tensor.js';
import {
  FaceDetector,
  type DenoisedBackground,
  type FaceReport,
  type PhotoWarning,
  type FaceUpsamplerBank,
  type PreparedFace,
  type PreparedPhoto,
  type UpscaleFactor,
  capUpscale,
  loadFaceUpsampler,
  encodePhoto,
  faceEstimateRegion,
  denoisePhotoBackground,
  facesInOutput,
  finishPhoto,
  preparePhoto,
  resolvePhotoOptions,
  withInputColourIfColourless,
} from '../photo/index.js';

import {
  DEFAULT_CALIBRATION,
  type FacePlan,
  type FaceSource,
  faceQualityReport,
  finishFace,
  keepsFace,
  isAutoRequest,
  fidelityIgnoredBy,
  planFace,
  resizeRgb8,
} from './quality/index.js';

/**
 * A result's warnings: the photo stage's, and `fidelity_unused` when the request's `fidelity`
 * changed nothing because the schedule was fixed (a preset other than auto or explicit
 * N/tau/omega, in the request or as the model's pipeline default; see fidelityIgnoredBy).
 */
export type RestoreWarning = PhotoWarning | 'fidelity_unused';

export type { FaceReport, PhotoWarning, UpscaleFactor } from '../photo/index.js';

export interface Dr2eEngineOptions extends LoadModelOptions {
  /** A pipeline manifest, or a denoiser manifest alone (then no enhancer). Default: the embedded model. */
  model?: string;
  /** An enhancer manifest, or `'none'` for DR2's output only; overrides the pipeline's enhancer. */
  enhancer?: string;
}

/** One batched run on tensors. */
export interface RestoreTensorsRequest {
  /** Degraded inputs `[batch, 3, S, S]` in [-1, 1], S = the denoiser's resolution. */
  y: Float32Array;
  batch: number;
  /**
   * One setting for the batch, or one per image (all with the same K): each image enters the
   * sampler at its ω and leaves at its τ, one model call per step for the images active in it.
   */
  params: Dr2Params | readonly Dr2Params[];
  /** One seed per image; ignored where `noise` is given. */
  seeds?: readonly number[];
  /** One noise source per image (recorded noise, tests). */
  noise?: readonly NoiseSource[];
  onStep?: (progress: Dr2StepProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface StageTimings {
  /** DR2 sampling, whole batch. */
  dr2Ms: number;
  /** Of which inside the diffusion model. */
  modelMs: number;
  /** Enhancer stage (resize + network), whole batch. */
  enhanceMs: number;
}

export interface RestoreTensorsResult {
  /** DR2 output x0 `[batch, 3, S, S]`. */
  dr2: Float32Array;
  /** Final output `[batch, 3, O, O]`, O = the enhancer's output size (= `dr2` without enhancer). */
  restored: Float32Array;
  outputSize: number;
  sampler: Dr2PhaseTimings;
  timings: StageTimings;
}

/** An image to restore, as bytes. */
export interface EngineImageInput {
  /** Caller's label (file name, job id), echoed in the result. */
  id: string;
  bytes: Uint8Array;
  /** Seed for this image's noise; a random one is drawn (and reported) when absent. */
  seed?: number;
  /**
   * The format this image's output will finally be written in, when the caller re-encodes the
   * result (the worker asks for PNG and writes each job's own format): a whole photo's upscale
   * is capped to fit that format's largest side too. Default: the call's `format`.
   */
  finalFormat?: OutputFormat;
}

export interface RestoreImagesOptions {
  /**
   * Preset (`auto` by default: per image, from its estimated degradation, with `fidelity`) or
   * explicit N, tau, omega, steps. Default: the pipeline's defaults, else `auto`.
   */
  params?: Dr2ParamsRequest;
  format?: OutputFormat;
  quality?: number;
  /** Also return DR2's coarse output. */
  keepDr2?: boolean;
  /** Non-square inputs: pad (default, keeps the whole picture) or centre crop. */
  fit?: FitMode;
  /**
   * Output size = input size x `upscale` (default 2), halved while the output would exceed the
   * megapixel limit (`limits.maxInputPixels`; warning `upscale_capped`).
   */
  upscale?: UpscaleFactor;
  /**
   * The input is one aligned face crop (the model's or FFHQ framing, see `inputFraming`): no
   * detection; the crop is restored whole and returned at input size x `upscale`.
   * Default false: whole photos, every face found, restored and pasted back.
   */
  aligned?: boolean;
  /** Faces restored per photo, largest first (default 20); the rest are reported as skipped. */
  maxFaces?: number;
  /** Faces whose box side (input pixels) is below this are skipped (default 0). */
  minFace?: number;
  /** Also return each face's aligned input and restored face as PNGs (`faceCrops`). */
  saveFaces?: boolean;
  /**
   * Whole photos: `denoise` (default) denoises a noisy photo around its faces before enlarging
   * it (photo stage background-denoise.ts; faces left as they were keep their pixels), `keep`
   * only enlarges it.
   */
  background?: BackgroundMode;
  /**
   * Match each restored face's low frequencies (colour, shading) to the input's before pasting
   * (photo stage `refineFace`). Default true.
   */
  colorMatch?: boolean;
  /**
   * Framing of aligned inputs (with `aligned`; engine/framing): `auto` (default; square inputs
   * are taken as FFHQ-aligned), `ffhq` or `model`. When the model declares a framing other than
   * FFHQ's, an FFHQ-aligned input is cut to the model's framing, restored, and pasted back.
   */
  inputFraming?: InputFramingMode;
  /**
   * Faces per sampler run (default 32): all faces of all photos of a call share runs, so a
   * group photo of six is one run at batch 6. With `aligned`, images per run.
   */
  batchSize?: number;
  limits?: Partial<ImageLimits>;
  /**
   * Progress after every model call, counted over the whole call: a call of several sampler
   * runs (more faces than `batchSize`) goes forward from 1 to its total once (engine/call-progress).
   */
  onStep?: RestoreProgressListener;
  signal?: AbortSignal;
}

export interface ImageTimings {
  decodeMs: number;
  /** Face detection and alignment (0 with `aligned`). */
  detectMs: number;
  /** This image's share of its batch's DR2 and enhancer time. */
  dr2Ms: number;
  modelMs: number;
  enhanceMs: number;
  /** Paste-back and encoding. */
  encodeMs: number;
}

/** A face's aligned input and restored face (with `saveFaces`), PNG at the paste resolution. */
export interface FaceCrop {
  /** Index into `faces`. */
  index: number;
  input: Uint8Array;
  restored: Uint8Array;
}

export type ImageRestoration =
  | {
      id: string;
      ok: true;
      /** Encoded restored image. */
      restored: Uint8Array;
      /** Encoded DR2 output, with `keepDr2`. */
      dr2?: Uint8Array;
      width: number;
      height: number;
      seed: number;
      params: Dr2Params;
      /** The face's degradation estimate and the setting used (FaceReport's quality fields). */
      quality?: ReturnType<typeof faceQualityReport>;
      timings: ImageTimings;
      /** Upscale applied (the requested one, or less when capped). */
      upscale: UpscaleFactor;
      /** Restored faces, input pixel coordinates (before upscaling), largest first. */
      faces: FaceReport[];
      /** Faces found but not restored (`reason`), left as they were. */
      skippedFaces: FaceReport[];
      /** E.g. `no_face_detected`, `upscale_capped`, `fidelity_unused`. */
      warnings: RestoreWarning[];
      /** With `saveFaces`, in the order of `faces`. */
      faceCrops?: FaceCrop[];
      /**
       * Whole photos: the photo's noise as the background denoiser read it (per channel, 0-255)
       * and whether it denoised the background (absent for aligned crops and with `background: 'keep'`).
       */
      background?: BackgroundReport;
    }
  | { id: string; ok: false; error: EngineError };

/** The background denoiser's reading as jobs and the CLI report it (the enlargement only where the photo is one). */
function backgroundReport({
  noise,
  denoised,
  enlargement,
}: Omit<DenoisedBackground, 'image'>): BackgroundReport {
  return { noise, denoised, ...(enlargement > 1 ? { enlargement } : {}) };
}

/** A random seed that fits every consumer (JSON, SQL integers, the PRNG's safe-integer check). */
export function randomSeed(): number {
  return randomInt(0, 2 ** 31 - 1);
}

export class Dr2eEngine {
  private readonly samplers = new Map<number, Dr2Sampler>();
  private detector: Promise<FaceDetector> | undefined;

  private constructor(
    readonly name: string,
    readonly denoiser: OnnxDenoiser,
    readonly enhancer: OnnxEnhancer | null,
    private readonly defaults: Dr2ParamsRequest,
    /** The pipeline's face upsampler banks by upscale (empty without `faceUpsampler`). */
    private readonly faceUpsamplers: ReadonlyMap<number, FaceUpsamplerBank> = new Map(),
    /** The pipeline's own values of fixed presets (its manifest's `presets`). */
    private readonly presets: ModelPresets = {},
  ) {}

  /**
   * Load the models of a pipeline (or a denoiser manifest alone) and check their contracts.
   *
   * @example
   * ```ts
   * const engine = await Dr2eEngine.load({ device: 'cpu' }); // the embedded default model
   * const [result] = await engine.restoreImages([{ id: 'me.jpg', bytes, seed: 7 }], { params: { preset: 'medium' } });
   * ```
   */
  static async load(options: Dr2eEngineOptions = {}): Promise<Dr2eEngine> {
    const manifestFile = path.resolve(options.model ?? defaultModelManifest());
    const role = await peekManifestRole(manifestFile);
    let denoiserFile: string;
    let enhancerFile: string | null;
    let name: string;
    let defaults: Dr2ParamsRequest = {};
    let presets: ModelPresets = {};
    let upsamplerFiles: [factor: number, file: string][] = [];
    if (role === 'pipeline') {
      const { manifest } = await readPipelineManifest(manifestFile);
      const dir = path.dirname(manifestFile);
      name = manifest.name;
      denoiserFile = path.resolve(dir, manifest.denoiser);
      enhancerFile = manifest.enhancer === null ? null : path.resolve(dir, manifest.enhancer);
      defaults = { ...manifest.defaults };
      presets = { ...manifest.presets };
      if (manifest.faceUpsampler) {
        upsamplerFiles = [
          [2, path.resolve(dir, manifest.faceUpsampler.x2)],
          [4, path.resolve(dir, manifest.faceUpsampler.x4)],
        ];
      }
    } else if (role === 'denoiser') {
      denoiserFile = manifestFile;
      enhancerFile = null;
      name = path.basename(manifestFile, '.json');
    } else {
      throw new ModelContractError(
        `${manifestFile} must be a pipeline or denoiser manifest (its role is ${role === undefined ? 'missing' : `"${role}"`})`,
      );
    }
    if (options.enhancer !== undefined) {
      enhancerFile = options.enhancer === 'none' ? null : path.resolve(options.enhancer);
    }
    const denoiser = await OnnxDenoiser.load(denoiserFile, options);
    const enhancer = enhancerFile === null ? null : await OnnxEnhancer.load(enhancerFile, options);
    const faceUpsamplers = new Map<number, FaceUpsamplerBank>();
    for (const [factor, file] of upsamplerFiles) {
      const bank = await loadFaceUpsampler(file);
      if (bank.factor !== factor) {
        throw new ModelContractError(
          `${manifestFile}: faceUpsampler.x${factor} names ${file}, a x${bank.factor} bank`,
        );
      }
      faceUpsamplers.set(factor, bank);
    }
    const engine = new Dr2eEngine(name, denoiser, enhancer, defaults, faceUpsamplers, presets);
    for (const preset of Object.keys(presets) as FixedPresetName[]) {
      try {
        engine.resolveParams({ preset });
      } catch (error) {
        await engine.dispose();
        throw new ModelContractError(
          `${manifestFile}: presets.${preset}: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    return engine;
  }

  /** Side of DR2's square working resolution. */
  get resolution(): number {
    return this.denoiser.resolution;
  }

  /** Side of the final output. */
  get outputSize(): number {
    return this.enhancer?.outputSize ?? this.denoiser.resolution;
  }

  /**
   * Whether `auto`'s calibration table (engine/quality, fitted by scripts/calibrate-quality.ts)
   * was fitted on this very denoiser and enhancer (their manifests' sha256). `auto` runs with
   * any model, but its per-face choices are a different model's: with the embedded 64-px
   * default's table a larger model keeps most faces nearly as they are. Callers say so
   * (the CLI and the worker do) and point at calibrating or at a fixed preset.
   */
  get autoCalibrated(): boolean {
    const weights = [this.denoiser.manifest, ...(this.enhancer ? [this.enhancer.manifest] : [])].map(
      (manifest) => manifest.provenance.sha256 ?? 'unrecorded',
    );
    const fitted = DEFAULT_CALIBRATION.provenance['modelSha256'];
    return Array.isArray(fitted) && JSON.stringify(fitted) === JSON.stringify(weights);
  }

  /**
   * The face framing the model was trained on, if declared: the denoiser manifest's `framing`,
   * else the enhancer's (both are trained on the same crops).
   */
  get framing(): FaceFraming | undefined {
    return this.denoiser.manifest.framing ?? this.enhancer?.manifest.framing;
  }

  /**
   * The five-point template whole-photo faces are aligned onto: the model's framing's (its
   * `framing.landmarks` where declared), FFHQ's without a framing.
   */
  get faceTemplate(): FivePointTemplate {
    return framingTemplate(this.framing ?? FFHQ_FRAMING);
  }

  /** Licences of the loaded weights, denoiser first, then the face upsampler's (one per distinct licence). */
  get licenses(): License[] {
    const networks = [
      this.denoiser.manifest.license,
      ...(this.enhancer ? [this.enhancer.manifest.license] : []),
    ];
    const banks = [...this.faceUpsamplers.values()].map((bank) => bank.license);
    const distinct = banks.filter(
      (license, i) => banks.findIndex((other) => other.name === license.name) === i,
    );
    return [...networks, ...distinct];
  }

  /** The pipeline's default request (preset, steps), before the caller's values. */
  get defaultRequest(): Dr2ParamsRequest {
    return { ...this.defaults };
  }

  /** Resolve a request (preset, explicit values, pipeline defaults) against this model. */
  resolveParams(request: Dr2ParamsRequest = {}): Dr2Params {
    const merged: Dr2ParamsRequest = { ...this.defaults, ...dropUndefined(request) };
    return resolveDr2Params(merged, this.resolution, {
      numTimesteps: this.denoiser.manifest.schedule.numTimesteps,
      presets: this.presets,
    });
  }

  private samplerFor(steps: number): Dr2Sampler {
    let sampler = this.samplers.get(steps);
    if (!sampler) {
      const { betaSchedule, numTimesteps } = this.denoiser.manifest.schedule;
      sampler = new Dr2Sampler({
        denoiser: this.denoiser,
        schedule: RespacedSchedule.get({ betaSchedule, numTimesteps, steps }),
        variance: this.denoiser.manifest.variance,
      });
      this.samplers.set(steps, sampler);
    }
    return sampler;
  }

  /** Stage 1 and stage 2 on a batch of tensors. */
  async restoreTensors(request: RestoreTensorsRequest): Promise<RestoreTensorsResult> {
    const { y, batch, params } = request;
    const noise =
      request.noise ?? (request.seeds ?? []).map((seed) => new SeededNormalSource(seed) as NoiseSource);
    if (noise.length !== batch) {
      throw new InvalidParametersError(
        `one seed or noise source per image is needed: ${noise.length} for ${batch}`,
      );
    }
    const steps = commonSteps(params);
    const dr2Start = performance.now();
    const { x0, timings: sampler } = await this.samplerFor(steps).sample({
      y,
      batch,
      params,
      noise,
      ...(request.onStep ? { onStep: request.onStep } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const dr2Ms = performance.now() - dr2Start;
    const enhanceStart = performance.now();
    const restored = this.enhancer ? await this.enhance(x0, batch) : x0;
    const enhanceMs = this.enhancer ? performance.now() - enhanceStart : 0;
    return {
      dr2: x0,
      restored,
      outputSize: this.outputSize,
      sampler,
      timings: { dr2Ms, modelMs: sampler.modelMs, enhanceMs },
    };
  }

  /**
   * Stage 1 and 2 on one group of model inputs (faces of photos, or aligned crops), each with
   * its tensor writer, setting and seed; its steps add to the call's progress, with the ids of
   * the group's images.
   */
  private restoreGroup(
    members: readonly {
      write: (y: Float32Array, offset: number) => void;
      params: Dr2Params;
      seed: number;
      image: string;
    }[],
    options: Pick<RestoreImagesOptions, 'signal'>,
    progress: CallProgress,
  ): Promise<RestoreTensorsResult> {
    const s = this.resolution;
    const y = new Float32Array(members.length * 3 * s * s);
    members.forEach((m, b) => m.write(y, b * 3 * s * s));
    const onStep = progress.nextRun([...new Set(members.map((m) => m.image))]);
    return this.restoreTensors({
      y,
      batch: members.length,
      params: members.map((m) => m.params),
      seeds: members.map((m) => m.seed),
      ...(onStep ? { onStep } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Run batch mates through `run` (stage 1 and 2 on their tensors), isolating broken outputs:
   * when the model returns NaN or an infinity for a group of several, each member runs again
   * alone, so only the members whose own output is broken fail. The others' results are the
   * same as in the group (one seed per image; the networks treat batch items apart), so one
   * job's input that overflows a model does not fail the other jobs batched with it.
   */
  private async runIsolatingBrokenOutputs<T>(
    group: readonly T[],
    run: (members: readonly T[]) => Promise<RestoreTensorsResult>,
  ): Promise<
    Array<
      { members: readonly T[]; outcome: RestoreTensorsResult } | { member: T; error: NonFiniteOutputError }
    >
  > {
    try {
      return [{ members: group, outcome: await run(group) }];
    } catch (error) {
      if (!(error instanceof NonFiniteOutputError)) throw error;
      // A group of one (the last group, batch size 1) is that member's own broken output.
      if (group.length === 1) return [{ member: group[0]!, error }];
    }
    const results: Array<
      { members: readonly T[]; outcome: RestoreTensorsResult } | { member: T; error: NonFiniteOutputError }
    > = [];
    for (const member of group) {
      try {
        results.push({ members: [member], outcome: await run([member]) });
      } catch (error) {
        if (!(error instanceof NonFiniteOutputError)) throw error;
        results.push({ member, error });
      }
    }
    return results;
  }

  /** Stage 2: resize DR2's output to the enhancer's input (MATLAB-style bicubic) and run it. */
  async enhance(x0: Float32Array, batch: number): Promise<Float32Array> {
    const enhancer = this.enhancer;
    if (!enhancer) return x0;
    const s = this.resolution;
    const inSize = enhancer.inputSize;
    const input = inSize === s ? x0 : new Float32Array(batch * 3 * inSize * inSize);
    if (inSize !== s) BicubicResizer.get(s, s, inSize, inSize).resize(x0, input, batch * 3);
    return enhancer.enhance(input, batch);
  }

  /**
   * Bytes in, bytes out: decode each photo once (a bad one fails alone), find its faces, align
   * them onto the model's template, restore all faces of all photos in shared sampler runs of
   * up to `batchSize`, paste them back into each photo enlarged by `upscale` and encode it.
   * A photo without a face succeeds, enlarged, with the warning `no_face_detected`.
   * With `aligned`, each input is one aligned face crop (no detection).
   *
   * @example
   * ```ts
   * const [result] = await engine.restoreImages([{ id: 'group.jpg', bytes, seed: 7 }], { upscale: 2 });
   * if (result.ok) console.log(result.width, result.faces.length, result.warnings);
   * ```
   */
  async restoreImages(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions = {},
  ): Promise<ImageRestoration[]> {
    // Resolved once up front so a bad request is refused before anything is decoded; each face
    // then gets its own setting (auto) or this one (engine/quality planFace).
    this.resolveParams(options.params);
    const request: Dr2ParamsRequest = { ...this.defaults, ...dropUndefined(options.params ?? {}) };
    const batchSize = options.batchSize ?? (options.aligned ? 1 : 32);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidParametersError(`batch size must be a positive integer, got ${String(batchSize)}`);
    }
    const photo = resolvePhotoOptions(options);
    const results = await (options.aligned
      ? this.restoreAligned(inputs, options, request, batchSize, photo.upscale)
      : this.restorePhotos(inputs, options, request, batchSize));
    // A knob that did nothing is said, not left silent: callers that cannot refuse it up front
    // (a job queued before its worker's model, with its defaults, was known) report it.
    if (fidelityIgnoredBy(request) === null) return results;
    return results.map((r) => (r.ok ? { ...r, warnings: [...r.warnings, 'fidelity_unused'] } : r));
  }

  /**
   * Load the face detector now instead of with the first whole photo: a worker calls this once
   * its engine is loaded, so that its first job after a cold start does not wait for it, and a
   * broken detector fails the start rather than every photo job (aligned-crop jobs, which need
   * no detector, then do not run either: a worker serves both kinds).
   *
   * @example
   * ```ts
   * const engine = await Dr2eEngine.load();
   * await engine.loadFaceDetector();
   * ```
   */
  async loadFaceDetector(): Promise<void> {
    await this.faceDetector();
  }

  /**
   * The face detector, loaded on first use (aligned-only callers such as `dr2e restore --aligned`
   * never pay for it) or by loadFaceDetector.
   */
  private faceDetector(): Promise<FaceDetector> {
    this.detector ??= FaceDetector.load();
    return this.detector;
  }

  /** Whole photos (see restoreImages). */
  private async restorePhotos(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions,
    request: Dr2ParamsRequest,
    batchSize: number,
  ): Promise<ImageRestoration[]> {
    const format = options.format ?? 'png';
    const s = this.resolution;
    const results = new Map<string, ImageRestoration>();
    const detector = await this.faceDetector();
    const template = this.faceTemplate;

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
          this.planFace(region.image, request, region.faceSize, {
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
    const o = this.outputSize;
    const restored = new Map<PreparedFace, RgbImage>();
    const dr2 = new Map<PreparedFace, RgbImage>();
    const share = new Map<Ready, { dr2Ms: number; modelMs: number; enhanceMs: number }>();
    for (const item of ready) share.set(item, { dr2Ms: 0, modelMs: 0, enhanceMs: 0 });
    // A photo with a face whose model output is broken fails; its batch mates do not.
    const broken = new Map<Ready, NonFiniteOutputError>();
    const groups = chunks(faces, batchSize);
    const progress = new CallProgress(
      groups.map((group) => group.map(({ face }) => plans.get(face)!.params)),
      options.onStep,
    );
    for (const members of groups) {
      const runs = await this.runIsolatingBrokenOutputs(members, (group) =>
        this.restoreGroup(
          group.map(({ item, face, seed }) => ({
            write: (y: Float32Array, offset: number) => rgb8ToTensor(face.modelInput.data, s, s, y, offset),
            params: plans.get(face)!.params,
            seed,
            image: item.input.id,
          })),
          options,
          progress,
        ),
      );
      for (const run of runs) {
        if ('error' in run) {
          broken.set(run.member.item, run.error);
          continue;
        }
        const { members: group, outcome } = run;
        const batch = group.length;
        group.forEach(({ item, face }, b) => {
          restored.set(face, tensorToRgbImage(outcome.restored, b, o));
          if (options.keepDr2) dr2.set(face, tensorToRgbImage(outcome.dr2, b, s));
          const t = share.get(item)!;
          t.dr2Ms += outcome.timings.dr2Ms / batch;
          t.modelMs += outcome.timings.modelMs / batch;
          t.enhanceMs += outcome.timings.enhanceMs / batch;
        });
      }
    }

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
        const finished = await this.finishPhoto(item.photo, mine, mineDr2, options, format, facePlans);
        const t = share.get(item)!;
        results.set(item.input.id, {
          id: item.input.id,
          ok: true,
          restored: finished.restored,
          ...(finished.dr2 ? { dr2: finished.dr2 } : {}),
          width: finished.width,
          height: finished.height,
          seed: item.seed,
          params: facePlans[0]?.params ?? this.resolveParams(request),
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
  private async finishPhoto(
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
    // Kept faces are null in both `restored` and `dr2`: one denoised background serves both.
    const denoise = (options.background ?? RESTORE_DEFAULTS.background) === 'denoise';
    const finish = {
      format,
      faceUpsampler: this.faceUpsamplers.get(photo.upscale) ?? null,
      denoiseBackground: denoise && options.keepDr2 ? denoisePhotoBackground(photo, restored) : denoise,
      ...qualityOption(options.quality),
      ...(options.colorMatch !== undefined ? { colorMatch: options.colorMatch } : {}),
    };
    // With auto, each restored face is fused with its aligned input at the paste side first
    // (engine/quality): a face with more pixels than the model keeps its own finer bands.
    const fuse = (i: number, pasted: RgbImage, input: RgbImage): RgbImage =>
      plans[i] ? finishFace(pasted, input, plans[i]) : pasted;
    const final = await finishPhoto(photo, restored, { ...finish, fuse });
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

  /**
   * Aligned face crops (the behaviour before whole photos): each input restored whole, in
   * batches of `batchSize` images, then enlarged to input size x `upscale`.
   */
  private async restoreAligned(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions,
    request: Dr2ParamsRequest,
    batchSize: number,
    requestedUpscale: UpscaleFactor,
  ): Promise<ImageRestoration[]> {
    const auto = isAutoRequest(request);
    const format = options.format ?? 'png';
    const maxPixels = resolveImageLimits(options.limits).maxInputPixels;
    const s = this.resolution;
    const results = new Map<string, ImageRestoration>();

    interface Ready {
      input: EngineImageInput;
      seed: number;
      tensor: Float32Array;
      /** Where the picture went in the model frame (plain decoding; null when adapted). */
      framing: Framing | null;
      /** The face cut for a model of another framing, to be pasted back (null when not adapted). */
      adapted: AdaptedFaceInput | null;
      /** The face's estimate and setting (engine/quality). */
      plan: FacePlan;
      /** The face at its own pixels, for the fusion (auto, square faces only). */
      face: RgbImage | null;
      decodeMs: number;
      inputSize: { width: number; height: number };
      /** The framing the crop was taken to have (for its face report). */
      alignedTemplate: FaceFraming;
      /** Whether the file held more frames or pages than the one restored. */
      firstFrameOnly: boolean;
    }
    const decoded = await Promise.all(
      inputs.map(async (input): Promise<Ready | null> => {
        const start = performance.now();
        try {
          const adapted = await decodeAdaptedFace(input.bytes, {
            size: s,
            mode: options.inputFraming ?? 'auto',
            modelFraming: this.framing,
            ...(options.fit ? { fit: options.fit } : {}),
            ...(options.limits ? { limits: options.limits } : {}),
          });
          if (adapted) {
            const face = cutSquare(adapted.source, adapted.crop);
            const decodeMs = performance.now() - start;
            return {
              input,
              seed: input.seed ?? randomSeed(),
              tensor: adapted.tensor,
              framing: null,
              adapted,
              plan: this.planFace(face, request, face.width, {
                decoded: {
                  image: adapted.source,
                  left: adapted.crop.left,
                  top: adapted.crop.top,
                  orientation: adapted.sourceOrientation,
                },
              }),
              face: auto ? face : null,
              decodeMs,
              inputSize: { width: adapted.source.width, height: adapted.source.height },
              alignedTemplate: adapted.inputFraming,
              firstFrameOnly: restoresFirstFrameOnly(adapted.sourceInfo),
            };
          }
          const image = await decodeImage(input.bytes, {
            size: s,
            ...(options.fit ? { fit: options.fit } : {}),
            ...(options.limits ? { limits: options.limits } : {}),
          });
          // The estimate needs the face at its own pixels: decoded again, whole (square inputs),
          // or the model frame when the input is padded or cropped to a square.
          const { modelRect, size } = image.framing;
          const square = modelRect.width === size && modelRect.height === size;
          const own = square && auto ? await decodeImageToRgb(input.bytes) : null;
          const face = own && own.image.width === own.image.height ? own.image : null;
          return {
            input,
            seed: input.seed ?? randomSeed(),
            tensor: image.tensor,
            framing: image.framing,
            adapted: null,
            plan: this.planFace(
              face ?? image.rgb,
              request,
              image.source.width,
              face ? { decoded: { image: face, left: 0, top: 0, orientation: own!.info.orientation } } : {},
            ),
            face,
            decodeMs: performance.now() - start,
            inputSize: { width: image.source.width, height: image.source.height },
            // Not adapted: the crop has the model's framing (mode model, or a model of FFHQ
            // framing), or is not square in mode auto (then assumed FFHQ, as best guess).
            alignedTemplate: options.inputFraming === 'model' ? (this.framing ?? FFHQ_FRAMING) : FFHQ_FRAMING,
            firstFrameOnly: restoresFirstFrameOnly(image.source),
          };
        } catch (error) {
          results.set(input.id, { id: input.id, ok: false, error: asEngineError(error) });
          return null;
        }
      }),
    );
    const ready = decoded.filter((d): d is Ready => d !== null);

    /** Finish one crop from its restored frame (O x O) and DR2 frame (S x S, with keepDr2). */
    const finish = async (
      item: Ready,
      restoredFrame: RgbImage,
      dr2Frame: RgbImage | null,
      share: { dr2Ms: number; modelMs: number; enhanceMs: number },
      kept: boolean,
    ): Promise<void> => {
      const encodeStart = performance.now();
      try {
        // What the model saw. A black-and-white crop stays so: the model paints colour into grey
        // faces. A kept crop is its own pixels: nothing was painted (its faint tone stays as it is).
        const seenFrame = tensorToRgbImage(item.tensor, 0, s);
        const fusedFrame = fuseWithInput(restoredFrame, item);
        const fused = kept ? fusedFrame : await withInputColourIfColourless(fusedFrame, seenFrame);
        const framed = await toInputFraming(fused, item);
        const { width: inW, height: inH } = item.inputSize;
        const maxSide = MAX_OUTPUT_SIDE[strictestFormat(item.input.finalFormat, format)];
        const upscale = capUpscale(inW, inH, requestedUpscale, maxPixels, maxSide);
        // At least the input's size: the face's resolution may be below it (a 512 px crop
        // through a 128 px model); the enlargement is the user's upscale of the whole crop.
        const restored = await resizeRgbImage(framed, inW * upscale, inH * upscale);
        const restoredBytes = await encodeRgbImage(restored, format, qualityOption(options.quality));
        let dr2Bytes: Uint8Array | undefined;
        if (dr2Frame) {
          const dr2 = await toInputFraming(dr2Frame, item);
          dr2Bytes = await encodeRgbImage(dr2, format, qualityOption(options.quality));
        }
        // The pair is what the model saw and what it gave, the same size. A crop cut to the
        // model's framing (adapted) pairs in that framing: pasted back, most of its picture
        // would be source pixels the model never saw. A crop used whole pairs in its own framing.
        let faceCrops: FaceCrop[] | undefined;
        if (options.saveFaces) {
          const restoredFace = item.adapted ? fused : framed;
          const seen = item.adapted ? seenFrame : await toInputFraming(seenFrame, item);
          const input = await resizeRgbImage(seen, restoredFace.width, restoredFace.height);
          faceCrops = [
            {
              index: 0,
              input: await encodeRgbImage(input, 'png'),
              restored: await encodeRgbImage(restoredFace, 'png'),
            },
          ];
        }
        results.set(item.input.id, {
          id: item.input.id,
          ok: true,
          restored: restoredBytes,
          ...(dr2Bytes ? { dr2: dr2Bytes } : {}),
          ...(faceCrops ? { faceCrops } : {}),
          width: restored.width,
          height: restored.height,
          seed: item.seed,
          params: item.plan.params,
          upscale,
          faces: [
            {
              ...alignedFaceReport(inW, inH, item.alignedTemplate),
              ...faceQualityReport(item.plan, kept),
            },
          ],
          skippedFaces: [],
          warnings: [
            ...(upscale === requestedUpscale ? [] : ['upscale_capped' as const]),
            ...(item.firstFrameOnly ? ['first_frame_only' as const] : []),
          ],
          timings: {
            decodeMs: item.decodeMs,
            detectMs: 0,
            ...share,
            encodeMs: performance.now() - encodeStart,
          },
        });
      } catch (error) {
        results.set(item.input.id, { id: item.input.id, ok: false, error: asEngineError(error) });
      }
    };

    // A crop `auto` keeps as it is, fused with its own pixels (a square crop or an adapted
    // one), comes out as its input whatever the model gives (the restored bands weigh 0), so it
    // skips the model; without its own pixels the fusion is not applied and it is restored.
    // With keepDr2 it is run all the same: DR2's output was asked for.
    const keptAsIs = (item: Ready): boolean => item.face !== null && keepsFace(item.plan) && !options.keepDr2;
    const o = this.outputSize;
    const noModel = { dr2Ms: 0, modelMs: 0, enhanceMs: 0 };
    for (const item of ready.filter(keptAsIs)) {
      const unused: RgbImage = { data: new Uint8Array(o * o * 3), width: o, height: o };
      await finish(item, unused, null, noModel, true);
    }
    const toRun = ready.filter((item) => !keptAsIs(item));
    const groups = chunks(toRun, batchSize);
    const progress = new CallProgress(
      groups.map((group) => group.map((item) => item.plan.params)),
      options.onStep,
    );
    for (const members of groups) {
      const runs = await this.runIsolatingBrokenOutputs(members, (group) =>
        this.restoreGroup(
          group.map((item) => ({
            write: (y: Float32Array, offset: number) => y.set(item.tensor, offset),
            params: item.plan.params,
            seed: item.seed,
            image: item.input.id,
          })),
          options,
          progress,
        ),
      );
      for (const run of runs) {
        if ('error' in run) {
          results.set(run.member.input.id, { id: run.member.input.id, ok: false, error: run.error });
          continue;
        }
        const { members: group, outcome } = run;
        const batch = group.length;
        const out = outcome.outputSize;
        const share = {
          dr2Ms: outcome.timings.dr2Ms / batch,
          modelMs: outcome.timings.modelMs / batch,
          enhanceMs: outcome.timings.enhanceMs / batch,
        };
        await Promise.all(
          group.map((item, b) => {
            const restoredFrame: RgbImage = {
              data: tensorToRgb8(
                outcome.restored.subarray(b * 3 * out * out, (b + 1) * 3 * out * out),
                out,
                out,
              ),
              width: out,
              height: out,
            };
            const dr2Frame: RgbImage | null = options.keepDr2
              ? {
                  data: tensorToRgb8(outcome.dr2.subarray(b * 3 * s * s, (b + 1) * 3 * s * s), s, s),
                  width: s,
                  height: s,
                }
              : null;
            // A face auto keeps, run only for DR2's output (keepDr2), is still reported kept:
            // its restored output is its input, as without keepDr2.
            return finish(item, restoredFrame, dr2Frame, share, item.face !== null && keepsFace(item.plan));
          }),
        );
      }
    }
    return inputs.map((input) => results.get(input.id) as ImageRestoration);
  }

  /** Estimate one face and, for `auto`, choose its setting (engine/quality). */
  private planFace(
    face: RgbImage,
    request: Dr2ParamsRequest,
    faceSize = face.width,
    source: FaceSource = {},
  ): FacePlan {
    return planFace(face, faceSize, request, (r) => this.resolveParams(r), this.resolution, source);
  }

  async dispose(): Promise<void> {
    const detector = this.detector;
    this.detector = undefined;
    await (await detector?.catch(() => undefined))?.dispose();
    await this.denoiser.dispose();
    await this.enhancer?.dispose();
  }
}

/**
 * With `auto`, fuse the restored face with the input face at max(output, face) pixels, so a face
 * larger than the model keeps its own finer bands (engine/quality); else the frame as it is.
 */
function fuseWithInput(frame: RgbImage, item: { plan: FacePlan; face: RgbImage | null }): RgbImage {
  if (!item.face || !item.plan.choice) return frame;
  const side = Math.max(frame.width, item.face.width);
  return finishFace(resizeRgb8(frame, side, side), resizeRgb8(item.face, side, side), item.plan);
}

/** Put a square result back into its input's framing: paste an adapted face, or cut padding off. */
async function toInputFraming(
  frame: RgbImage,
  item: { framing: Framing | null; adapted: AdaptedFaceInput | null },
): Promise<RgbImage> {
  if (item.adapted) return pasteFace(item.adapted.source, item.adapted.crop, frame);
  if (!item.framing) throw new InvalidParametersError('internal: an image without framing');
  return cutToContent(frame, item.framing);
}

/**
 * Cut the picture out of a square result: for padded inputs, drop the padding (scaled to the
 * result's size) so the output has the input's aspect ratio; cropped inputs are already square.
 */
async function cutToContent(frame: RgbImage, framing: Framing): Promise<RgbImage> {
  const { modelRect, size } = framing;
  if (modelRect.width === size && modelRect.height === size) return frame;
  const scale = frame.width / size;
  const left = Math.round(modelRect.left * scale);
  const top = Math.round(modelRect.top * scale);
  const width = Math.max(1, Math.min(frame.width - left, Math.round(modelRect.width * scale)));
  const height = Math.max(1, Math.min(frame.height - top, Math.round(modelRect.height * scale)));
  const out = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((top + row) * frame.width + left) * 3;
    out.set(frame.data.subarray(from, from + width * 3), row * width * 3);
  }
  return { data: out, width, height };
}

/** One image of a batch tensor `[B, 3, side, side]` as RGB8. */
function tensorToRgbImage(tensor: Float32Array, index: number, side: number): RgbImage {
  const n = 3 * side * side;
  return {
    data: tensorToRgb8(tensor.subarray(index * n, (index + 1) * n), side, side),
    width: side,
    height: side,
  };
}

/**
 * Seed of a photo's face `index`: the photo's seed for the first face (so an aligned crop and
 * the same face found in a photo draw the same noise), a hash of (seed, index) for the others.
 */
export function faceSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  let h = (seed ^ Math.imul(index, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) % (2 ** 31 - 1);
}

/** Of the formats a photo is written in, the one holding the shortest largest side. */
function strictestFormat(finalFormat: OutputFormat | undefined, format: OutputFormat): OutputFormat {
  return finalFormat !== undefined && MAX_OUTPUT_SIDE[finalFormat] < MAX_OUTPUT_SIDE[format]
    ? finalFormat
    : format;
}

/** The face of an aligned crop: where its framing puts the eyes, nose and mouth. */
function alignedFaceReport(width: number, height: number, framing: FaceFraming): FaceReport {
  const side = Math.max(width, height);
  const left = (width - side) / 2;
  const top = (height - side) / 2;
  const [le, re, nose, ml, mr] = framingTemplate(framing);
  const at = ([x, y]: readonly [number, number]): [number, number] => [
    Math.round((left + x * side) * 100) / 100,
    Math.round((top + y * side) * 100) / 100,
  ];
  return {
    box: [0, 0, width, height],
    score: 1,
    landmarks: [at(le), at(re), at(nose), at([(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2])],
  };
}

/** The K shared by a batch's settings (one respaced schedule per sampler loop). */
function commonSteps(params: Dr2Params | readonly Dr2Params[]): number {
  const list: readonly Dr2Params[] = Array.isArray(params) ? params : [params as Dr2Params];
  const steps = list[0]?.steps;
  if (steps === undefined) throw new InvalidParametersError('at least one setting is needed');
  const other = list.find((p) => p.steps !== steps);
  if (other) {
    throw new InvalidParametersError(
      `every image of a batch needs the same steps (K): got ${steps} and ${other.steps}`,
    );
  }
  return steps;
}

/** `items` in consecutive runs of up to `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}

function qualityOption(quality: number | undefined): { quality?: number } {
  return quality === undefined ? {} : { quality };
}

/** Anything thrown while restoring one image becomes an EngineError with a code. */
export function asEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UnexpectedEngineError(message, { cause: error });
}

/** A failure the engine did not anticipate (a bug or a system error); retryable. */
export class UnexpectedEngineError extends EngineError {
  readonly code = 'internal_error';
  override readonly retryable = true;
}
