/**
 * The DR2E engine: stage 1 (DR2, the diffusion-based degradation remover) and stage 2 (an
 * enhancer network) behind one object. The CLI, the worker and the tests all restore through
 * it; it knows nothing of HTTP, queues or AWS.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { EngineError, InvalidParametersError, ModelContractError } from './errors.js';
import {
  type AdaptedFaceInput,
  type FaceFraming,
  type InputFramingMode,
  decodeAdaptedFace,
  pasteFace,
} from './framing/index.js';
import {
  decodeImage,
  encodeRgbImage,
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
import { type Dr2Params, type Dr2ParamsRequest, resolveDr2Params } from './sampler/dr2-params.js';
import { type Dr2PhaseTimings, Dr2Sampler, type Dr2StepProgress } from './sampler/dr2-sampler.js';
import { RespacedSchedule } from './schedule/respaced-schedule.js';

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
  params: Dr2Params;
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
}

export interface RestoreImagesOptions {
  /** Preset or explicit N, tau, omega, steps. Default: the pipeline's defaults, else `mild`. */
  params?: Dr2ParamsRequest;
  format?: OutputFormat;
  quality?: number;
  /** Also return DR2's coarse output. */
  keepDr2?: boolean;
  /** Non-square inputs: pad (default, keeps the whole picture) or centre crop. */
  fit?: FitMode;
  /**
   * Face framing of the inputs (engine/framing): `auto` (default; square inputs are taken as
   * FFHQ-aligned), `ffhq` or `model`. When the model declares a framing other than FFHQ's, an
   * FFHQ-aligned input is cut to the model's framing, restored, and pasted back into its own
   * framing with a feathered border; the output then shows the whole input at the restored
   * face's resolution.
   */
  inputFraming?: InputFramingMode;
  /** Images per model call (default 1). */
  batchSize?: number;
  limits?: Partial<ImageLimits>;
  /** Progress of the current batch; `images` are the ids in it. */
  onStep?: (progress: Dr2StepProgress & { images: readonly string[] }) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ImageTimings {
  decodeMs: number;
  /** This image's share of its batch's DR2 and enhancer time. */
  dr2Ms: number;
  modelMs: number;
  enhanceMs: number;
  encodeMs: number;
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
      timings: ImageTimings;
    }
  | { id: string; ok: false; error: EngineError };

/** A random seed that fits every consumer (JSON, SQL integers, the PRNG's safe-integer check). */
export function randomSeed(): number {
  return randomInt(0, 2 ** 31 - 1);
}

export class Dr2eEngine {
  private readonly samplers = new Map<number, Dr2Sampler>();

  private constructor(
    readonly name: string,
    readonly denoiser: OnnxDenoiser,
    readonly enhancer: OnnxEnhancer | null,
    private readonly defaults: Dr2ParamsRequest,
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
    if (role === 'pipeline') {
      const { manifest } = await readPipelineManifest(manifestFile);
      const dir = path.dirname(manifestFile);
      name = manifest.name;
      denoiserFile = path.resolve(dir, manifest.denoiser);
      enhancerFile = manifest.enhancer === null ? null : path.resolve(dir, manifest.enhancer);
      defaults = { ...manifest.defaults };
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
    return new Dr2eEngine(name, denoiser, enhancer, defaults);
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
   * The face framing the model was trained on, if declared: the denoiser manifest's `framing`,
   * else the enhancer's (both are trained on the same crops).
   */
  get framing(): FaceFraming | undefined {
    return this.denoiser.manifest.framing ?? this.enhancer?.manifest.framing;
  }

  /** Licences of the loaded weights, denoiser first. */
  get licenses(): License[] {
    return [this.denoiser.manifest.license, ...(this.enhancer ? [this.enhancer.manifest.license] : [])];
  }

  /** Resolve a request (preset, explicit values, pipeline defaults) against this model. */
  resolveParams(request: Dr2ParamsRequest = {}): Dr2Params {
    const merged: Dr2ParamsRequest = { ...this.defaults, ...stripUndefined(request) };
    return resolveDr2Params(merged, this.resolution, {
      numTimesteps: this.denoiser.manifest.schedule.numTimesteps,
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
    const dr2Start = performance.now();
    const { x0, timings: sampler } = await this.samplerFor(params.steps).sample({
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
   * Bytes in, bytes out: decode each image (a bad one fails alone), restore the good ones in
   * batches of `batchSize` (one model call per step per batch) and encode the results. The
   * output keeps the input's aspect: for padded inputs the padding is cut off again.
   */
  async restoreImages(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions = {},
  ): Promise<ImageRestoration[]> {
    const params = this.resolveParams(options.params);
    const batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidParametersError(`batch size must be a positive integer, got ${String(batchSize)}`);
    }
    const format = options.format ?? 'png';
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
      decodeMs: number;
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
            const decodeMs = performance.now() - start;
            return {
              input,
              seed: input.seed ?? randomSeed(),
              tensor: adapted.tensor,
              framing: null,
              adapted,
              decodeMs,
            };
          }
          const image = await decodeImage(input.bytes, {
            size: s,
            ...(options.fit ? { fit: options.fit } : {}),
            ...(options.limits ? { limits: options.limits } : {}),
          });
          return {
            input,
            seed: input.seed ?? randomSeed(),
            tensor: image.tensor,
            framing: image.framing,
            adapted: null,
            decodeMs: performance.now() - start,
          };
        } catch (error) {
          results.set(input.id, { id: input.id, ok: false, error: asEngineError(error) });
          return null;
        }
      }),
    );
    const ready = decoded.filter((d): d is Ready => d !== null);

    for (let start = 0; start < ready.length; start += batchSize) {
      const group = ready.slice(start, start + batchSize);
      const batch = group.length;
      const y = new Float32Array(batch * 3 * s * s);
      group.forEach((item, b) => y.set(item.tensor, b * 3 * s * s));
      const ids = group.map((g) => g.input.id);
      const outcome = await this.restoreTensors({
        y,
        batch,
        params,
        seeds: group.map((g) => g.seed),
        ...(options.onStep
          ? { onStep: (p: Dr2StepProgress) => options.onStep?.({ ...p, images: ids }) }
          : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const o = outcome.outputSize;
      await Promise.all(
        group.map(async (item, b) => {
          const encodeStart = performance.now();
          try {
            const restoredFrame = tensorToRgb8(
              outcome.restored.subarray(b * 3 * o * o, (b + 1) * 3 * o * o),
              o,
              o,
            );
            const restored = await toInputFraming({ data: restoredFrame, width: o, height: o }, item);
            const restoredBytes = await encodeRgbImage(restored, format, qualityOption(options.quality));
            let dr2Bytes: Uint8Array | undefined;
            if (options.keepDr2) {
              const dr2Frame = tensorToRgb8(outcome.dr2.subarray(b * 3 * s * s, (b + 1) * 3 * s * s), s, s);
              const dr2 = await toInputFraming({ data: dr2Frame, width: s, height: s }, item);
              dr2Bytes = await encodeRgbImage(dr2, format, qualityOption(options.quality));
            }
            results.set(item.input.id, {
              id: item.input.id,
              ok: true,
              restored: restoredBytes,
              ...(dr2Bytes ? { dr2: dr2Bytes } : {}),
              width: restored.width,
              height: restored.height,
              seed: item.seed,
              params,
              timings: {
                decodeMs: item.decodeMs,
                dr2Ms: outcome.timings.dr2Ms / batch,
                modelMs: outcome.timings.modelMs / batch,
                enhanceMs: outcome.timings.enhanceMs / batch,
                encodeMs: performance.now() - encodeStart,
              },
            });
          } catch (error) {
            results.set(item.input.id, { id: item.input.id, ok: false, error: asEngineError(error) });
          }
        }),
      );
    }
    return inputs.map((input) => results.get(input.id) as ImageRestoration);
  }

  async dispose(): Promise<void> {
    await this.denoiser.dispose();
    await this.enhancer?.dispose();
  }
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

function qualityOption(quality: number | undefined): { quality?: number } {
  return quality === undefined ? {} : { quality };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
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
