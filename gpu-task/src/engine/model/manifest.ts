/**
 * The model contract: a JSON manifest beside every `.onnx` file says what the graph is, how
 * to call it and where it came from. The engine refuses to load a model whose manifest or
 * graph breaks this contract, so a wrong file fails at start-up, not in the middle of a job.
 *
 * @example A denoiser manifest (`denoiser.json` beside `denoiser.onnx`)
 * ```json
 * {
 *   "schemaVersion": 1, "role": "denoiser", "name": "dr2-ffhq-256", "file": "denoiser.onnx",
 *   "resolution": 256, "io": { "image": "x", "timestep": "t", "output": "out" },
 *   "channels": { "input": 3, "output": 6 }, "variance": "learned_range",
 *   "schedule": { "betaSchedule": "linear", "numTimesteps": 1000 },
 *   "license": { "name": "CC BY-NC-SA 4.0", "commercialUse": false },
 *   "provenance": { "source": "DR2_FFHQ.pkl", "converter": "models/dr2e_models/export.py" }
 * }
 * ```
 */
import { z } from 'zod';
import { PRESETS } from '../../../../shared/src/index.js';

export const MANIFEST_SCHEMA_VERSION = 1;

const tensorName = z.string().min(1).max(128);

/** Licence of the weights; `commercialUse: false` is surfaced by the CLI and the API. */
export const LicenseSchema = z.object({
  name: z.string().min(1),
  url: z.string().url().optional(),
  commercialUse: z.boolean(),
  notes: z.string().optional(),
});

/** Where the weights came from and how they were turned into ONNX. */
export const ProvenanceSchema = z
  .object({
    source: z.string().min(1),
    converter: z.string().optional(),
    createdAt: z.string().optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** Maximum absolute difference between the source framework and ONNX, measured at export. */
    parityMaxAbsError: z.number().nonnegative().optional(),
    recipe: z.string().optional(),
    /** Architecture config needed to rebuild the network (written by models/dr2e_models/export.py). */
    architecture: z.record(z.string(), z.unknown()).optional(),
  })
  // Exporters record more (precision, opset, tooling, parity details); keep it rather than strip it.
  .loose();

/**
 * A weights file the graph reads from beside itself (ONNX external data, e.g.
 * `denoiser.onnx.data`), with its own checksum: `provenance.sha256` covers the `.onnx` file only.
 * The loader refuses a manifest with a `sha256` whose graph reads a side file it does not list.
 *
 * @example
 * ```json
 * "externalData": [{ "path": "denoiser.onnx.data", "sha256": "9f2c…(64 hex digits)" }]
 * ```
 */
export const ExternalDataFileSchema = z.strictObject({
  /** The side file, relative to the manifest (like `file`). */
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/**
 * Where the face sits in the frames the model was trained on, as fractions of the image side.
 * FFHQ alignment (the paper's inputs) and tighter crops (UTKFace) differ; the engine uses this
 * to adapt inputs of one framing to a model of another.
 */
export const FramingSchema = z.object({
  name: z.string().min(1),
  /** Distance between the eye centres divided by the image side. */
  eyeDistance: z.number().positive().max(1),
  /** Vertical position of the eye line (0 = top, 1 = bottom). */
  eyeY: z.number().min(0).max(1),
  /** Vertical position of the mouth centre (0 = top, 1 = bottom). */
  mouthY: z.number().min(0).max(1),
  /**
   * Five-point template as fractions of the side: left eye, right eye (as seen in the image),
   * nose tip, left and right mouth corner. Whole-photo alignment maps detected landmarks onto
   * it; when absent it is derived from the three numbers above (engine/framing `framingTemplate`).
   */
  landmarks: z
    .array(z.tuple([z.number().min(-0.5).max(1.5), z.number().min(-0.5).max(1.5)]))
    .length(5)
    .optional(),
});

const common = {
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  name: z.string().min(1).max(128),
  description: z.string().optional(),
  /** The ONNX file, relative to the manifest. */
  file: z.string().min(1),
  /** Side files holding the graph's weights, when it was saved with ONNX external data. */
  externalData: z.array(ExternalDataFileSchema).optional(),
  layout: z.literal('NCHW').default('NCHW'),
  colorOrder: z.literal('RGB').default('RGB'),
  /** Pixel range [low, high] of the image tensors the model reads and writes (low < high). */
  valueRange: z
    .tuple([z.number(), z.number()])
    .default([-1, 1])
    .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && lo < hi, {
      message: 'valueRange must be [low, high] with low < high',
    }),
  framing: FramingSchema.optional(),
  license: LicenseSchema,
  provenance: ProvenanceSchema,
};

// Manifests are strict: a misspelt key (`timestep_type`, `value_range`) is refused, not dropped
// while its default applies. Provenance stays open (exporters record more than the engine reads).
export const DenoiserManifestSchema = z
  .strictObject({
    ...common,
    role: z.literal('denoiser'),
    /** Square input side in pixels; DR2 runs at this size. */
    resolution: z.number().int().min(8).max(4096),
    io: z.object({ image: tensorName, timestep: tensorName, output: tensorName }),
    /** Element type of the timestep input; values are on the training scale 0..T-1. */
    timestepType: z.enum(['int64', 'int32', 'float32']).default('int64'),
    channels: z.object({ input: z.literal(3), output: z.union([z.literal(3), z.literal(6)]) }),
    /**
     * `learned_range` needs 6 output channels (noise + variance interpolation, improved DDPM);
     * `fixed_small` (posterior variance) and `fixed_large` (betas) need 3.
     */
    variance: z.enum(['learned_range', 'fixed_small', 'fixed_large']),
    schedule: z.object({
      betaSchedule: z.enum(['linear', 'cosine']),
      numTimesteps: z.number().int().min(2).max(100_000),
    }),
  })
  .refine((m) => (m.variance === 'learned_range') === (m.channels.output === 6), {
    message: 'variance "learned_range" requires 6 output channels; fixed variances require 3',
    path: ['channels', 'output'],
  })
  // DR2 diffuses the input and mixes the model's noise estimate in the DDPM's own space, which is
  // [-1, 1] for every published checkpoint; another range would need a different schedule.
  .refine((m) => m.valueRange[0] === -1 && m.valueRange[1] === 1, {
    message: 'a denoiser works on [-1, 1] (the DDPM space DR2 diffuses in); re-export it for that range',
    path: ['valueRange'],
  });

export const EnhancerManifestSchema = z
  .strictObject({
    ...common,
    role: z.literal('enhancer'),
    io: z.object({ image: tensorName, output: tensorName }),
    channels: z.object({ input: z.literal(3), output: z.literal(3) }),
    inputSize: z.number().int().min(8).max(4096),
    outputSize: z.number().int().min(8).max(8192),
  })
  .refine((m) => m.outputSize >= m.inputSize, {
    message: 'outputSize must be at least inputSize',
    path: ['outputSize'],
  });

/** A fixed preset's values in a pipeline manifest: N, and τ on the K = 100 grid. */
const presetValues = z.strictObject({
  n: z.number().int().min(1),
  tau: z.number().int().min(0).max(98),
});

/** A pipeline names a denoiser and an optional enhancer; it is what `--model` points at. */
export const PipelineManifestSchema = z.strictObject({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  role: z.literal('pipeline'),
  name: z.string().min(1).max(128),
  description: z.string().optional(),
  /** Path of the denoiser manifest, relative to this file. */
  denoiser: z.string().min(1),
  /** Path of the enhancer manifest, relative to this file, or null for DR2 output only. */
  enhancer: z.string().min(1).nullable(),
  /** Defaults applied when a request does not choose: a preset name and the step count. */
  defaults: z
    .strictObject({
      preset: z.enum(PRESETS).optional(),
      steps: z.number().int().min(2).optional(),
    })
    .optional(),
  /**
   * This model's own values of fixed presets, where it was measured to need others than the
   * scale-aware ones (DR2_PRESETS): N and τ on the K = 100 grid. Absent presets keep the
   * scale-aware values. Checked against the denoiser's resolution when the engine loads.
   */
  presets: z
    .strictObject({
      mild: presetValues.optional(),
      medium: presetValues.optional(),
      severe: presetValues.optional(),
    })
    .optional(),
  /**
   * The face upsampler's banks (photo/face-upsampler.ts), relative to this file, by the photo's
   * upscale: how faces `auto` keeps as they were are enlarged in photos. Absent: those faces get
   * the photo's plain (bicubic) enlargement. The banks carry their own licence, which the
   * engine reports with the weights'.
   */
  faceUpsampler: z.strictObject({ x2: z.string().min(1), x4: z.string().min(1) }).optional(),
});

export const AnyManifestSchema = z.union([
  DenoiserManifestSchema,
  EnhancerManifestSchema,
  PipelineManifestSchema,
]);

export type License = z.infer<typeof LicenseSchema>;
export type Provenance = z.infer<typeof ProvenanceSchema>;
export type Framing = z.infer<typeof FramingSchema>;
export type ExternalDataFile = z.infer<typeof ExternalDataFileSchema>;
export type DenoiserManifest = z.infer<typeof DenoiserManifestSchema>;
export type EnhancerManifest = z.infer<typeof EnhancerManifestSchema>;
export type PipelineManifest = z.infer<typeof PipelineManifestSchema>;
export type ModelManifest = DenoiserManifest | EnhancerManifest;
