/**
 * The DR2E engine: stage 1 (DR2, the diffusion-based degradation remover) and stage 2 (an
 * enhancer network) behind one object. The CLI, the worker and the tests all restore through
 * it; it knows nothing of HTTP, queues or AWS.
 *
 * This file loads the models and runs them (tensors in, tensors out; faces in sampler runs with
 * one progress and broken outputs isolated). What `restoreImages` does with images around those
 * runs is beside it: whole photos in whole-photos.ts, aligned crops in aligned-crops.ts, both
 * through the `FaceRunner` of restore-api.ts.
 */
import path from 'node:path';
import { dropUndefined } from '../../../shared/src/index.js';
import {
  type DetectorGraphs,
  detectorWeights,
  FaceDetector,
  type FaceUpsamplerBank,
  loadFaceUpsampler,
  resolvePhotoOptions,
} from '../photo/index.js';
import { restoreAlignedCrops } from './aligned-crops.js';
import { CallProgress } from './call-progress.js';
import {
  InvalidParametersError,
  ModelContractError,
  NonCommercialWeightsError,
  NonFiniteOutputError,
} from './errors.js';
import { FFHQ_FRAMING, type FaceFraming, type FivePointTemplate, framingTemplate } from './framing/index.js';
import { tensorToRgbImage, type RgbImage } from './image/index.js';
import { defaultModelManifest } from './model/default-model.js';
import { peekManifestRole, readManifestLicense, readPipelineManifest } from './model/load-manifest.js';
import type { License } from './model/manifest.js';
import { type LoadModelOptions, OnnxDenoiser } from './model/onnx-denoiser.js';
import { OnnxEnhancer } from './model/onnx-enhancer.js';
import {
  DEFAULT_CALIBRATION,
  type FacePlan,
  type FaceSource,
  fidelityIgnoredBy,
  planFace,
} from './quality/index.js';
import { type NoiseSource, SeededNormalSource } from './random/noise-source.js';
import { BicubicResizer } from './resize/bicubic.js';
import type {
  EngineImageInput,
  FaceRunMember,
  FaceRunner,
  FaceRunOptions,
  FaceRunOutcome,
  ImageRestoration,
  RestoreImagesOptions,
  StageTimings,
} from './restore-api.js';
import {
  DEFAULT_DR2_STEPS,
  type Dr2Params,
  type Dr2ParamsRequest,
  type FixedPresetName,
  type ModelPresets,
  resolveDr2Params,
} from './sampler/dr2-params.js';
import { type Dr2PhaseTimings, Dr2Sampler, type Dr2StepProgress } from './sampler/dr2-sampler.js';
import { RespacedSchedule } from './schedule/respaced-schedule.js';
import { restoreWholePhotos } from './whole-photos.js';

export type {
  EngineImageInput,
  FaceCrop,
  FaceReport,
  ImageRestoration,
  ImageTimings,
  PhotoWarning,
  RestoreImagesOptions,
  RestoreWarning,
  StageTimings,
  UpscaleFactor,
} from './restore-api.js';

export interface Dr2eEngineOptions extends LoadModelOptions {
  /** A pipeline manifest, or a denoiser manifest alone (then no enhancer). Default: the embedded model. */
  model?: string;
  /** An enhancer manifest, or `'none'` for DR2's output only; overrides the pipeline's enhancer. */
  enhancer?: string;
  /**
   * The deployment's terms are commercial (default false): weights licensed for non-commercial
   * use only are refused at load (NonCommercialWeightsError: the embedded default model is
   * trained on UTKFace and is one of them), and the face detector runs without its one
   * non-commercial graph, RetinaFace (detectorWeights), finding a few fewer of the hardest faces.
   */
  commercialUse?: boolean;
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

export interface RestoreTensorsResult {
  /** DR2 output x0 `[batch, 3, S, S]`. */
  dr2: Float32Array;
  /** Final output `[batch, 3, O, O]`, O = the enhancer's output size (= `dr2` without enhancer). */
  restored: Float32Array;
  outputSize: number;
  sampler: Dr2PhaseTimings;
  timings: StageTimings;
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
    /** Whether the deployment's terms are commercial (Dr2eEngineOptions.commercialUse). */
    readonly commercialUse = false,
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
    const commercialUse = options.commercialUse ?? false;
    if (commercialUse) {
      // Refused from the manifests, before a session is made: the published 256 px pair takes
      // seconds and gigabytes to load only to be refused.
      const networks = [
        await readManifestLicense(denoiserFile, 'denoiser'),
        ...(enhancerFile === null ? [] : [await readManifestLicense(enhancerFile, 'enhancer')]),
      ];
      refuseNonCommercial(manifestFile, networks);
    }
    const denoiser = await OnnxDenoiser.load(denoiserFile, options);
    // A bare denoiser manifest is known by its own name, as a pipeline is.
    if (role === 'denoiser') name = denoiser.manifest.name;
    const trained = denoiser.manifest.schedule.numTimesteps;
    if (defaults.steps === undefined && trained < DEFAULT_DR2_STEPS) {
      // A model trained over fewer timesteps than the default schedule's steps runs its whole
      // schedule unless asked otherwise (every run failed with "steps must be between 2 and T").
      defaults = { ...defaults, steps: trained };
    } else if (defaults.steps !== undefined && defaults.steps > trained) {
      await denoiser.dispose();
      throw new ModelContractError(
        `${manifestFile}: defaults.steps is ${defaults.steps}, more than the ${trained} timesteps the denoiser was trained over`,
      );
    }
    let enhancer: OnnxEnhancer | null = null;
    const faceUpsamplers = new Map<number, FaceUpsamplerBank>();
    try {
      if (enhancerFile !== null) {
        enhancer = await OnnxEnhancer.load(enhancerFile, options);
        assertSameFraming(denoiser.manifest, enhancer.manifest, enhancerFile);
      }
      for (const [factor, file] of upsamplerFiles) {
        const bank = await loadFaceUpsampler(file);
        if (bank.factor !== factor) {
          throw new ModelContractError(
            `${manifestFile}: faceUpsampler.x${factor} names ${file}, a x${bank.factor} bank`,
          );
        }
        // A bank's licence is known only once it is read.
        if (commercialUse) refuseNonCommercial(manifestFile, [bank.license]);
        faceUpsamplers.set(factor, bank);
      }
    } catch (error) {
      // The sessions loaded so far are released (they would outlive the failed load: a worker
      // retrying its load held two denoisers' memory); the load error, or the refusal, is the
      // one to report, not a failure to release them.
      await Promise.all([denoiser.dispose(), enhancer?.dispose()]).catch(() => undefined);
      throw error;
    }
    const engine = new Dr2eEngine(name, denoiser, enhancer, defaults, faceUpsamplers, presets, commercialUse);
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

  /**
   * Licences of the loaded restoration weights, denoiser first, then the face upsampler's (one
   * per distinct licence). The face detector's are detectorLicenses.
   */
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

  /**
   * Licences of the face detector's weights that whole photos run through (loaded or not yet):
   * detectorWeights of the graphs faceDetector loads (without RetinaFace with `commercialUse`).
   */
  get detectorLicenses(): License[] {
    return detectorWeights(this.detectorGraphs).map(({ name, commercialUse }) => ({ name, commercialUse }));
  }

  /** The optional detector graphs this engine's detector loads: RetinaFace only without `commercialUse`. */
  private get detectorGraphs(): DetectorGraphs {
    return { retinaFace: !this.commercialUse };
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
   * Faces (of photos, or aligned crops) through stage 1 and 2 in sampler runs of up to
   * `batchSize`, progress counted over all runs (engine/call-progress); after each run,
   * `onRunDone` gets its members' frames, or the error of a member whose output is broken
   * (runIsolatingBrokenOutputs).
   */
  private async runFaces<T>(
    members: readonly T[],
    toRunMember: (member: T) => FaceRunMember,
    options: FaceRunOptions,
    onRunDone: (outcomes: readonly FaceRunOutcome<T>[]) => void | Promise<void>,
  ): Promise<void> {
    const s = this.resolution;
    const o = this.outputSize;
    const groups = chunks(members, options.batchSize);
    const progress = new CallProgress(
      groups.map((group) => group.map((member) => toRunMember(member).params)),
      options.onStep,
    );
    for (const group of groups) {
      const runs = await this.runIsolatingBrokenOutputs(
        group,
        async (mates) => {
          const result = await this.restoreGroup(mates.map(toRunMember), options, progress);
          await progress.runDone();
          return result;
        },
        (rerun) => progress.runBroke(rerun.map((member) => [toRunMember(member).params])),
      );
      const outcomes = runs.flatMap((run): FaceRunOutcome<T>[] => {
        if ('error' in run) return [run];
        const { members: mates, outcome } = run;
        const batch = mates.length;
        const share = {
          dr2Ms: outcome.timings.dr2Ms / batch,
          modelMs: outcome.timings.modelMs / batch,
          enhanceMs: outcome.timings.enhanceMs / batch,
        };
        return mates.map((member, b) => ({
          member,
          restored: tensorToRgbImage(outcome.restored, b, o),
          dr2: options.keepDr2 ? tensorToRgbImage(outcome.dr2, b, s) : null,
          share,
        }));
      });
      await onRunDone(outcomes);
    }
  }

  /**
   * Stage 1 and 2 on one group of model inputs, each with its tensor writer, setting and seed;
   * its steps add to the call's progress, with the ids of the group's images.
   */
  private restoreGroup(
    members: readonly FaceRunMember[],
    options: Pick<FaceRunOptions, 'signal'>,
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
   * `broke` hears of every run that broke, with the members that run again alone because of it.
   */
  private async runIsolatingBrokenOutputs<T>(
    group: readonly T[],
    run: (members: readonly T[]) => Promise<RestoreTensorsResult>,
    broke: (rerun: readonly T[]) => void | Promise<void>,
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
      if (group.length === 1) {
        await broke([]);
        return [{ member: group[0]!, error }];
      }
      await broke(group);
    }
    const results: Array<
      { members: readonly T[]; outcome: RestoreTensorsResult } | { member: T; error: NonFiniteOutputError }
    > = [];
    for (const member of group) {
      try {
        results.push({ members: [member], outcome: await run([member]) });
      } catch (error) {
        if (!(error instanceof NonFiniteOutputError)) throw error;
        await broke([]);
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
      ? restoreAlignedCrops(this.runner, inputs, options, request, batchSize, photo.upscale)
      : restoreWholePhotos(this.runner, await this.faceDetector(), inputs, options, request, batchSize));
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
    this.detector ??= FaceDetector.load(undefined, undefined, undefined, this.detectorGraphs);
    return this.detector;
  }

  /** This engine as its restore paths (whole photos, aligned crops) see it. */
  private get runner(): FaceRunner {
    return {
      resolution: this.resolution,
      outputSize: this.outputSize,
      framing: this.framing,
      faceTemplate: this.faceTemplate,
      faceUpsampler: (upscale) => this.faceUpsamplers.get(upscale) ?? null,
      resolveParams: (request) => this.resolveParams(request),
      planFace: (face, request, faceSize, source) => this.planFace(face, request, faceSize, source),
      runFaces: (members, toRunMember, options, onRunDone) =>
        this.runFaces(members, toRunMember, options, onRunDone),
    };
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

/**
 * Refuses an enhancer made for another face framing than the denoiser's (both declared, placing
 * the face differently; a name may differ): the engine crops faces as the denoiser says, so
 * the enhancer would see faces framed as it never was trained and restore them worse without
 * any error. make_pipeline refuses the same pair; this covers hand-written pipelines and
 * `--enhancer`.
 */
function assertSameFraming(
  denoiser: { name: string; framing?: FaceFraming | undefined },
  enhancer: { name: string; framing?: FaceFraming | undefined },
  enhancerFile: string,
): void {
  const [mine, theirs] = [denoiser.framing, enhancer.framing];
  if (!mine || !theirs) return;
  const geometry = ({ eyeDistance, eyeY, mouthY, landmarks }: FaceFraming): string =>
    JSON.stringify([eyeDistance, eyeY, mouthY, landmarks ?? null]);
  if (geometry(mine) === geometry(theirs)) return;
  throw new ModelContractError(
    `the enhancer ${enhancerFile} ("${enhancer.name}") was made for another face framing than the denoiser "${denoiser.name}" ` +
      `(${theirs.name}: eyeDistance ${theirs.eyeDistance}, eyeY ${theirs.eyeY}, mouthY ${theirs.mouthY}; ` +
      `against ${mine.name}: ${mine.eyeDistance}, ${mine.eyeY}, ${mine.mouthY}): faces are cropped as the denoiser says, ` +
      'so the enhancer would see them framed as it was never trained; pair models of one framing',
  );
}

/**
 * Throws NonCommercialWeightsError naming every licence of `licenses` that does not allow
 * commercial use (the deployment declared commercial use; `manifestFile` is what it loaded).
 */
function refuseNonCommercial(manifestFile: string, licenses: readonly License[]): void {
  const refused = licenses.filter((l) => !l.commercialUse);
  if (refused.length === 0) return;
  throw new NonCommercialWeightsError(
    `${manifestFile}: commercial use was declared, but these weights are licensed for non-commercial use only: ` +
      `${[...new Set(refused.map((l) => l.name))].join('; ')}. Load weights you may use commercially ` +
      '(models/README.md, "Licences"), or run without declaring commercial use.',
  );
}
