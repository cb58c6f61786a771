/**
 * What `Dr2eEngine.restoreImages` takes and gives (images as bytes in, encoded images and face
 * reports out), and the narrow view of the engine its two paths work through: whole photos
 * (engine/whole-photos.ts) and aligned face crops (engine/aligned-crops.ts) plan their faces and
 * run them through the model by a `FaceRunner`, never by the engine's internals.
 */
import { type BackgroundMode, type BackgroundReport, MAX_OUTPUT_SIDE } from '../../../shared/src/index.js';
import type { FaceUpsamplerBank, FaceReport, PhotoWarning, UpscaleFactor } from '../photo/index.js';
import type { RestoreProgressListener } from './call-progress.js';
import type { EngineError, NonFiniteOutputError } from './errors.js';
import type { FaceFraming, FivePointTemplate, InputFramingMode } from './framing/index.js';
import type { FitMode, ImageLimits, OutputFormat, RgbImage } from './image/index.js';
import type { FacePlan, FaceSource, faceQualityReport } from './quality/index.js';
import type { Dr2Params, Dr2ParamsRequest } from './sampler/dr2-params.js';

/**
 * A result's warnings: the photo stage's, and `fidelity_unused` when the request's `fidelity`
 * changed nothing because the schedule was fixed (a preset other than auto or explicit
 * N/tau/omega, in the request or as the model's pipeline default; see fidelityIgnoredBy).
 */
export type RestoreWarning = PhotoWarning | 'fidelity_unused' | 'aligned_not_square';

export type { FaceReport, PhotoWarning, UpscaleFactor } from '../photo/index.js';

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

/** How `restoreImages` restores (the CLI's flags and the API's job parameters map onto these). */
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
   * Progress after every model call (see RestoreProgress), counted over the whole call: a call of several sampler
   * runs (more faces than `batchSize`) goes forward from 1 to its total once (engine/call-progress).
   */
  onStep?: RestoreProgressListener;
  signal?: AbortSignal;
}

/** Where one image's time went, in milliseconds. */
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

/** One image's result: its encoded output and face reports, or its error (the others of the call go on). */
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
      /** The image's seed (its first face's; the others derive from it, `faceSeed`). */
      seed: number;
      /** The setting of the first face (aligned: the crop's; no face: the request's); each face's own is in `faces`. */
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

/** A run's DR2 and enhancer time, whole or one member's share. */
export interface StageTimings {
  /** DR2 sampling. */
  dr2Ms: number;
  /** Of which inside the diffusion model. */
  modelMs: number;
  /** Enhancer stage (resize + network). */
  enhanceMs: number;
}

/** One model input of a sampler run: a face of a photo, or an aligned crop. */
export interface FaceRunMember {
  /** Writes the input, `[3, S, S]` in [-1, 1], into the batch tensor at `offset`. */
  write: (y: Float32Array, offset: number) => void;
  /** Its DR2 setting (N, τ, ω, K). */
  params: Dr2Params;
  /** Seed of its noise. */
  seed: number;
  /** Id of the image it belongs to (for progress). */
  image: string;
}

/** What the model gave one member: its restored frame (O x O), DR2's (S x S, with keepDr2), its time. */
export type FaceRunOutcome<T> =
  | { member: T; restored: RgbImage; dr2: RgbImage | null; share: StageTimings }
  | { member: T; error: NonFiniteOutputError };

/** The engine as its two restore paths see it (Dr2eEngine builds one over itself). */
export interface FaceRunner {
  /** Side of DR2's square working resolution (S). */
  readonly resolution: number;
  /** Side of the restored face (O). */
  readonly outputSize: number;
  /** The framing the model's faces are aligned to, when its manifest declares one. */
  readonly framing: FaceFraming | undefined;
  /** The five points faces of photos are aligned onto. */
  readonly faceTemplate: FivePointTemplate;
  /** The pipeline's face upsampler for `upscale`, or null. */
  faceUpsampler(upscale: number): FaceUpsamplerBank | null;
  /** A request resolved to the model's settings (presets, defaults, checks). */
  resolveParams(request: Dr2ParamsRequest): Dr2Params;
  /** Estimate one face and, for `auto`, choose its setting (engine/quality). */
  planFace(face: RgbImage, request: Dr2ParamsRequest, faceSize?: number, source?: FaceSource): FacePlan;
  /**
   * Run `members` through stage 1 and 2 in sampler runs of up to `batchSize`, progress counted
   * over all runs; after each run, `onRunDone` gets its members' outcomes. When a run's output
   * is broken, each of its members runs again alone, so only a member whose own output is
   * broken fails.
   */
  runFaces<T>(
    members: readonly T[],
    toRunMember: (member: T) => FaceRunMember,
    options: FaceRunOptions,
    onRunDone: (outcomes: readonly FaceRunOutcome<T>[]) => void | Promise<void>,
  ): Promise<void>;
}

/** How `FaceRunner.runFaces` runs its members. */
export interface FaceRunOptions {
  batchSize: number;
  /** Also give DR2's frames. */
  keepDr2?: boolean;
  onStep?: RestoreProgressListener;
  signal?: AbortSignal;
}

/** Of the formats a photo is written in, the one holding the shortest largest side. */
export function strictestFormat(finalFormat: OutputFormat | undefined, format: OutputFormat): OutputFormat {
  return finalFormat !== undefined && MAX_OUTPUT_SIDE[finalFormat] < MAX_OUTPUT_SIDE[format]
    ? finalFormat
    : format;
}

/** The encoder's quality option, only when one was asked for. */
export function qualityOption(quality: number | undefined): { quality?: number } {
  return quality === undefined ? {} : { quality };
}

/** The options of a `restoreImages` call that its sampler runs take. */
export function runOptions(options: RestoreImagesOptions): Omit<FaceRunOptions, 'batchSize'> {
  return {
    ...(options.keepDr2 ? { keepDr2: true } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}
