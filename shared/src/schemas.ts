/**
 * Wire and storage schemas (zod 4) shared by the API, the dispatcher and the GPU worker.
 *
 * These check structure and simple ranges so the API can answer 400 early; the engine still
 * owns the deep DR2 parameter validation (schedule bounds for a given model, etc.).
 *
 * @example Validating a create request in the API
 * ```ts
 * const request = parseWith(CreateJobRequestSchema, await c.req.json()); // throws ValidationError
 * const params = resolveJobParams(request); // seed filled in, so the job is reproducible
 * ```
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';
import {
  FaceViewSchema,
  SignedUrlSchema,
  SkippedFaceSchema,
  StoredFaceSchema,
  WarningSchema,
  BackgroundReportSchema,
} from './face-schemas.js';
import { JOB_ID_PATTERN } from './ids.js';
import {
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  MAX_SEED,
  MAX_STEPS,
  AUTO_PRESET,
  BACKGROUND_MODES,
  FIXED_PRESETS,
  OUTPUT_FORMATS,
  PHOTO_DEFAULTS,
  PRESETS,
  RESTORE_DEFAULTS,
  UPSCALE_FACTORS,
  type Preset,
} from './restore-options.js';

// Defined with the other restore options; re-exported for this module's existing importers.
export {
  DEFAULT_STEPS,
  MAX_SEED,
  MAX_STEPS,
  OUTPUT_CONTENT_TYPES,
  OUTPUT_FORMATS,
  PRESETS,
  type OutputFormat,
  type Preset,
} from './restore-options.js';

/** Content types an input upload may declare (the worker still sniffs the bytes). */
export const ACCEPTED_INPUT_CONTENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/heic',
  'image/heif',
] as const;

/** Events a webhook can subscribe to; one per terminal job status. */
export const WEBHOOK_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Job statuses, in lifecycle order. */
export const JOB_STATUSES = [
  'created',
  'uploaded',
  'queued',
  'running',
  'succeeded',
  'failed',
  'canceled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const isoTimestamp = z.iso.datetime();

/** `n`: the low-pass downsampling factor N, a power of two from 1 to 64. */
export const DownsampleFactorSchema = z
  .int()
  .min(1)
  .max(64)
  .refine((n) => (n & (n - 1)) === 0, { message: 'n must be a power of two between 1 and 64' });

/**
 * JSON Schema type of the upscale factors (1, 2, 4): zod writes a literal union of numbers as
 * `number`, and clients generated from the OpenAPI document would then take 2.5.
 */
const AS_INTEGER = { type: 'integer' } as const;

/** Webhook subscription of a job. */
export const WebhookConfigSchema = z.strictObject({
  // The length check carries its own message: the URL's `error` would otherwise answer a URL
  // that is merely too long with "must be an http(s) URL".
  url: z
    .url({ protocol: /^https?$/, error: 'webhook.url must be an http(s) URL' })
    .max(2048, { error: 'webhook.url is too long: at most 2048 characters' }),
  /** Defaults to every event type. Duplicates are refused. */
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .refine((events) => new Set(events).size === events.length, { message: 'events must be unique' })
    .default([...WEBHOOK_EVENT_TYPES])
    // The refinement above, for the OpenAPI document (a refinement has no JSON Schema of its own).
    .meta({ uniqueItems: true }),
});
export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;

const outputFields = {
  format: z.enum(OUTPUT_FORMATS).default(RESTORE_DEFAULTS.format),
  /** Also keep the intermediate DR2 output (before the enhancer). */
  keepDr2: z.boolean().default(false),
};
const facesOutputDescription =
  'Also keep each restored face as two aligned crops (input and restored PNG; a face kept as it was: ' +
  'its crop of the output); the job view then links them under `output.faces[].crops`.';

/**
 * Output options as stored on a job. `faces` is absent on jobs stored before photo mode
 * (read as false).
 */
export const OutputOptionsSchema = z.strictObject({
  ...outputFields,
  faces: z.boolean().optional().meta({ description: facesOutputDescription }),
});
export type OutputOptions = z.infer<typeof OutputOptionsSchema>;

/** Output options of a create request (`faces` defaults to false). */
export const OutputOptionsRequestSchema = z.strictObject({
  ...outputFields,
  faces: z.boolean().default(false).meta({ description: facesOutputDescription }),
});

const schedulePick = {
  preset: z
    .enum(PRESETS)
    .optional()
    .meta({
      description:
        `How much degradation DR2 removes: \`${AUTO_PRESET}\` (the default) chooses per face from its ` +
        `estimated degradation; ${FIXED_PRESETS.map((name) => `\`${name}\``).join(', ')} remove more and more.`,
    }),
  /** With `auto` only: 0..1, 0.5 = the automatic choice, higher keeps more of the input. */
  fidelity: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .meta({
      description:
        `With \`${AUTO_PRESET}\`: 0 to 1, ${RESTORE_DEFAULTS.fidelity} (the default) is the automatic choice; ` +
        'higher keeps more of the input, lower trusts the face prior more. Faces found in a photo whose ' +
        'frame is under 38 px lean toward their input (chosen with 1 - 0.6 (1 - fidelity): 0.7 at the default); ' +
        "each face's settings show the value it was chosen with. Refused beside a fixed preset or explicit n/tau, " +
        "which ignore it; where the deployment's model defaults to a fixed preset, send `preset: auto` with it " +
        '(otherwise the job carries the warning `fidelity_unused`).',
    }),
  n: DownsampleFactorSchema.optional(),
  /**
   * Step index (on the `steps`-long respaced schedule) where sampling stops and x0 is returned.
   * Below steps (checkSchedule), so below MAX_STEPS whatever the steps: said here, a huge value
   * is refused with that bound rather than JavaScript's largest safe integer.
   */
  tau: z
    .int()
    .min(0)
    .max(MAX_STEPS - 1)
    .optional(),
  /** Step index where sampling starts from the diffused input; must exceed tau, below steps. */
  omega: z
    .int()
    .min(1)
    .max(MAX_STEPS - 1)
    .optional(),
  steps: z.int().min(2).max(MAX_STEPS).default(RESTORE_DEFAULTS.steps),
  seed: z.int().min(0).max(MAX_SEED).optional(),
};

const photoDescriptions = {
  upscale:
    `Output size = input size x upscale (${UPSCALE_FACTORS.join(', ')}), reduced when the output would exceed the megapixel ` +
    'limit or the longest side of the output format (WebP 16383 px, JPEG 65535 px). The background is resized, every restored face is pasted back.',
  aligned:
    'The input is one aligned face crop (the model framing or FFHQ framing): no detection, the whole ' +
    'image is restored as one face and the output is at least the input size.',
  maxFaces: `Restore at most this many faces, largest first (1 to ${MAX_FACES_LIMIT}); the others are listed in \`output.skippedFaces\` and left untouched.`,
  background:
    '`denoise` (the default): a noisy photo is denoised around its faces before it is enlarged, so restored ' +
    'faces do not sit in a grainy background (a photo that reads clean is only enlarged; faces left as they ' +
    'were keep their own pixels); `keep`: the background is only enlarged.',
  minFace:
    'Faces whose box side is below this many input pixels are left untouched and listed as skipped ' +
    `(\`min_face\`), 0 to ${MAX_MIN_FACE}. Default (and 0): every face the detector finds.`,
};
const maxFacesSchema = z.int().min(1).max(MAX_FACES_LIMIT);
const minFaceSchema = z.int().min(0).max(MAX_MIN_FACE);

/**
 * Photo-mode fields as stored: optional, because jobs stored before photo mode lack them; the
 * worker reads an absent field as its {@link PHOTO_DEFAULTS} value.
 */
const photoPick = {
  upscale: z
    .literal(UPSCALE_FACTORS)
    .optional()
    .meta({ ...AS_INTEGER, description: photoDescriptions.upscale }),
  aligned: z.boolean().optional().meta({ description: photoDescriptions.aligned }),
  maxFaces: maxFacesSchema.optional().meta({ description: photoDescriptions.maxFaces }),
  minFace: minFaceSchema.optional().meta({ description: photoDescriptions.minFace }),
  background: z.enum(BACKGROUND_MODES).optional().meta({ description: photoDescriptions.background }),
};

/** Photo-mode fields of a create request, with their defaults. */
const photoRequestPick = {
  upscale: z
    .literal(UPSCALE_FACTORS)
    .default(PHOTO_DEFAULTS.upscale)
    .meta({ ...AS_INTEGER, description: photoDescriptions.upscale }),
  aligned: z.boolean().default(PHOTO_DEFAULTS.aligned).meta({ description: photoDescriptions.aligned }),
  maxFaces: maxFacesSchema.default(PHOTO_DEFAULTS.maxFaces).meta({ description: photoDescriptions.maxFaces }),
  minFace: minFaceSchema.optional().meta({ description: photoDescriptions.minFace }),
  background: z
    .enum(BACKGROUND_MODES)
    .default(PHOTO_DEFAULTS.background)
    .meta({ description: photoDescriptions.background }),
};

interface ScheduleFields {
  preset?: Preset | undefined;
  fidelity?: number | undefined;
  n?: number | undefined;
  tau?: number | undefined;
  omega?: number | undefined;
  steps: number;
}

/** Cross-field rules shared by the request and the stored params. */
function checkSchedule(value: ScheduleFields, ctx: z.RefinementCtx): void {
  const explicit = value.n !== undefined || value.tau !== undefined || value.omega !== undefined;
  if (value.preset !== undefined && explicit) {
    ctx.addIssue({
      code: 'custom',
      path: ['preset'],
      message: 'give either preset or explicit n/tau/omega, not both',
    });
  }
  if (explicit && value.n === undefined) {
    ctx.addIssue({ code: 'custom', path: ['n'], message: 'n is required with tau/omega' });
  }
  if (explicit && value.tau === undefined) {
    ctx.addIssue({ code: 'custom', path: ['tau'], message: 'tau is required with n/omega' });
  }
  if (value.tau !== undefined && value.tau >= value.steps) {
    ctx.addIssue({ code: 'custom', path: ['tau'], message: `tau must be below steps (${value.steps})` });
  }
  if (value.omega !== undefined && value.omega >= value.steps) {
    ctx.addIssue({
      code: 'custom',
      path: ['omega'],
      message: `omega must be below steps (${value.steps})`,
    });
  }
  if (value.tau !== undefined && value.omega !== undefined && !(value.tau < value.omega)) {
    ctx.addIssue({ code: 'custom', path: ['omega'], message: 'omega must be greater than tau' });
  }
}

/**
 * Rules only a new request must meet (stored jobs created before them must still parse):
 * with `omega` left out the engine derives it as `min(steps - 1, tau + offset(n))` with an
 * offset of at least 1, and sampling needs `tau < omega <= steps - 1`. So `tau` must leave
 * room for one step: `tau <= steps - 2`. `{ "n": 4, "tau": 99 }` (steps 100) can never run. And
 * `fidelity` only with `auto`: `{ "preset": "medium", "fidelity": 0.2 }` would ignore it.
 */
function checkRunnableSchedule(value: ScheduleFields, ctx: z.RefinementCtx): void {
  // fidelity moves auto's per-face choice; beside a fixed schedule it would silently do nothing.
  const fixed = value.n !== undefined || value.tau !== undefined || value.omega !== undefined;
  if (
    value.fidelity !== undefined &&
    (fixed || (value.preset !== undefined && value.preset !== AUTO_PRESET))
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['fidelity'],
      message:
        `fidelity moves the \`${AUTO_PRESET}\` preset's per-face choice; ` +
        (fixed ? 'explicit n/tau/omega' : `preset \`${String(value.preset)}\``) +
        ` is a fixed setting that ignores it: drop fidelity, or use \`${AUTO_PRESET}\``,
    });
  }
  if (value.tau !== undefined && value.omega === undefined && value.tau >= value.steps - 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['tau'],
      message:
        `tau ${value.tau} leaves no room for omega: omega, derived as min(steps - 1, tau + offset(n)) ` +
        `when not given, must be greater than tau and less than steps (${value.steps}); ` +
        `use tau <= ${value.steps - 2}, or more steps`,
    });
  }
}

/**
 * Body of `POST /jobs`. The schedule is a `preset`, or explicit `n` and `tau` (and optional
 * `omega`), or neither (the model's default preset). Unknown fields are refused so typos
 * (`Tau`) do not silently fall back to defaults.
 *
 * @example
 * ```json
 * { "preset": "medium", "output": { "format": "webp" },
 *   "webhook": { "url": "https://example.com/hooks/dr2e", "events": ["job.succeeded"] } }
 * { "n": 8, "tau": 35, "omega": 60, "steps": 100, "seed": 42 }
 * ```
 */
export const CreateJobRequestSchema = z
  .strictObject({
    ...schedulePick,
    ...photoRequestPick,
    output: OutputOptionsRequestSchema.default({
      format: RESTORE_DEFAULTS.format,
      keepDr2: false,
      faces: false,
    }),
    webhook: WebhookConfigSchema.optional(),
  })
  .superRefine((value, ctx) => {
    checkSchedule(value, ctx);
    checkRunnableSchedule(value, ctx);
  });
export type CreateJobRequest = z.infer<typeof CreateJobRequestSchema>;
/** What a client may send (defaults not yet applied). */
export type CreateJobRequestInput = z.input<typeof CreateJobRequestSchema>;

/** The parameters stored on a job: the request's schedule and output, with the seed fixed. */
export const JobParamsSchema = z
  .strictObject({
    ...schedulePick,
    ...photoPick,
    seed: z.int().min(0).max(MAX_SEED),
    output: OutputOptionsSchema,
  })
  .superRefine(checkSchedule);
export type JobParams = z.infer<typeof JobParamsSchema>;

/** `Idempotency-Key` header value: 1 to 255 printable ASCII characters. */
export const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, { message: 'idempotency key must be printable ASCII without spaces' });

export const JobIdSchema = z.string().regex(JOB_ID_PATTERN, { message: 'not a job id' });

/**
 * Where the input lives and what was uploaded. While the job is `created`, `key` is the key of
 * its latest upload form; once the dispatcher accepts an upload, `key` is the dispatcher's copy
 * (what the worker reads) and `uploadKey` the form key it came from.
 */
export const JobInputSchema = z.strictObject({
  key: z.string().min(1),
  uploadKey: z.string().min(1).optional(),
  contentType: z.string().optional(),
  bytes: z.int().min(0).optional(),
});
export type JobInput = z.infer<typeof JobInputSchema>;

/** Blob keys of the results of a succeeded job. */
export const JobOutputSchema = z.strictObject({
  restoredKey: z.string().min(1),
  /** Present when `params.output.keepDr2` was set. */
  dr2Key: z.string().min(1).optional(),
  format: z.enum(OUTPUT_FORMATS),
  width: z.int().positive().optional(),
  height: z.int().positive().optional(),
  /** The upscale applied: `params.upscale`, or less where it was capped (absent on older jobs). */
  upscale: z.literal(UPSCALE_FACTORS).optional(),
  /**
   * Restored faces, largest first (absent on jobs restored before photo mode). Crop keys are
   * present when `params.output.faces` was set.
   */
  faces: z.array(StoredFaceSchema).optional(),
  /** Faces found but left untouched. */
  skippedFaces: z.array(SkippedFaceSchema).optional(),
  /** E.g. `no_face_detected`. */
  warnings: z.array(WarningSchema).optional(),
  /** Whole photos with `background: denoise` (absent on older jobs, aligned crops and `keep`). */
  background: BackgroundReportSchema.optional(),
  /**
   * The model (pipeline) the worker restored with: its manifest's name (absent on older jobs).
   * The job's own `model` is the deployment's name for it when the job was created.
   */
  model: z.string().min(1).optional(),
});
export type JobOutput = z.infer<typeof JobOutputSchema>;

/**
 * Sampler progress of a running job: model calls done of the engine call it runs in (with the
 * jobs batched with it, over all of that call's sampler runs). `step` never goes back and
 * meets `total` once, when the last model call is done (engine/call-progress).
 */
export const JobProgressSchema = z
  .strictObject({
    step: z.int().min(0),
    total: z.int().min(0),
  })
  .meta({
    description:
      'Model calls done (`step`) of `total` in the engine run the job is part of (with the jobs batched with it). Absent until the first model call of that run is done: finding and aligning the faces come first; a job run alone whose photo has no face, or whose faces are all kept as they are (`settings.kept`), makes no model call and has none (batched with others, it shows theirs). `step` never goes back and meets `total` once, when the last model call is done, before the photo is pasted back and encoded; `total` changes only when the output of a batch breaks (the steps it did not take leave it, the reruns of its images join it).',
  });
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** Why a job failed (codes are the engine's or the pipeline's stable error codes). */
export const JobErrorSchema = z.strictObject({
  code: z.string().min(1),
  message: z.string(),
  retryable: z.boolean().optional(),
});
export type JobError = z.infer<typeof JobErrorSchema>;

/** Metered use of a finished job. */
export const JobUsageSchema = z.strictObject({
  images: z.int().min(0),
  /** Faces restored (absent on jobs from before photo mode, which restored one face per image). */
  faces: z
    .int()
    .min(0)
    .optional()
    .meta({
      description:
        'Faces restored by the model (a photo with no face restores none; a face `auto` kept as ' +
        'it was, `settings.kept`, is listed in `faces` but not counted).',
    }),
  modelSeconds: z.number().min(0).meta({
    description: "Seconds of model time (detection, DR2, enhancer): this job's share of its batch.",
  }),
});
export type JobUsage = z.infer<typeof JobUsageSchema>;

/** One webhook delivery attempt: an HTTP status when the endpoint answered, else an error. */
export const WebhookDeliverySchema = z.strictObject({
  at: isoTimestamp,
  event: z.enum(WEBHOOK_EVENT_TYPES),
  /** 1 for the first try of this event, 2 for the first retry... */
  attempt: z.int().min(1),
  messageId: z.string().min(1),
  status: z.int().optional(),
  error: z.string().optional(),
  ok: z.boolean(),
});
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;

/** Where a job's terminal webhook stands (see shared/src/webhook-delivery.ts). */
export const WEBHOOK_DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryState = (typeof WEBHOOK_DELIVERY_STATES)[number];

/**
 * Delivery state of a job's terminal webhook event. `pending` while attempts remain (retries
 * run for about a day), `delivered` once the endpoint answered 2xx, `failed` when every attempt
 * failed or the target was refused; `POST /v1/jobs/{id}/webhook/redeliver` starts a new round.
 */
export const WebhookStatusSchema = z.strictObject({
  event: z.enum(WEBHOOK_EVENT_TYPES),
  /** Standard Webhooks `webhook-id`: the same on every attempt and every round. */
  messageId: z.string().min(1),
  state: z.enum(WEBHOOK_DELIVERY_STATES),
  /** 1 for the first delivery, +1 for each redelivery request. */
  round: z.int().min(1),
  /** Attempts made in this round. */
  attempts: z.int().min(0),
  queuedAt: isoTimestamp,
  lastAttemptAt: isoTimestamp.optional(),
  /** When the next attempt is due (state `pending` after a failed attempt). */
  nextAttemptAt: isoTimestamp.optional(),
  deliveredAt: isoTimestamp.optional(),
  failedAt: isoTimestamp.optional(),
  /** HTTP status or error of the last failed attempt. */
  lastStatus: z.int().optional(),
  lastError: z.string().optional(),
});
export type WebhookStatus = z.infer<typeof WebhookStatusSchema>;

/**
 * Body of a webhook-queue message: make attempt `attempt` of round `round` of the job's
 * terminal event, not before `notBefore` (SQS delays stop at 15 minutes, so longer waits are
 * chained: a message received early is sent again with the remaining delay).
 */
export const WebhookDeliveryMessageSchema = z.object({
  jobId: z.string().regex(JOB_ID_PATTERN),
  tenantId: z.string().min(1),
  event: z.enum(WEBHOOK_EVENT_TYPES),
  round: z.int().min(1),
  attempt: z.int().min(1),
  notBefore: isoTimestamp.optional(),
});
export type WebhookDeliveryMessage = z.infer<typeof WebhookDeliveryMessageSchema>;

/** When the job last entered each status. */
export const JobTimestampsSchema = z.strictObject({
  created: isoTimestamp,
  uploaded: isoTimestamp.optional(),
  queued: isoTimestamp.optional(),
  running: isoTimestamp.optional(),
  succeeded: isoTimestamp.optional(),
  failed: isoTimestamp.optional(),
  canceled: isoTimestamp.optional(),
});
export type JobTimestamps = z.infer<typeof JobTimestampsSchema>;

/** The stored job record (what job stores persist and return). */
export const JobSchema = z.strictObject({
  id: z.string().regex(JOB_ID_PATTERN),
  tenantId: z.string().min(1),
  status: z.enum(JOB_STATUSES),
  /** Optimistic-concurrency counter: 1 at creation, +1 on every stored update. */
  version: z.int().min(1),
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  timestamps: JobTimestampsSchema,
  /** How many times the job entered `running`. */
  attempts: z.int().min(0),
  /** Model (pipeline) name the job runs on; part of the batch key. */
  model: z.string().min(1),
  params: JobParamsSchema,
  input: JobInputSchema,
  output: JobOutputSchema.optional(),
  progress: JobProgressSchema.optional(),
  error: JobErrorSchema.optional(),
  usage: JobUsageSchema.optional(),
  webhook: WebhookConfigSchema.optional(),
  webhookDeliveries: z.array(WebhookDeliverySchema),
  /** Delivery state of the terminal event, once it was queued. */
  webhookStatus: WebhookStatusSchema.optional(),
  idempotencyKey: IdempotencyKeySchema.optional(),
  /** SHA-256 of the canonical create request, to tell a retry from a different request. */
  requestFingerprint: z.string().optional(),
});
export type Job = z.infer<typeof JobSchema>;

/**
 * Body of a work-queue message. `batchKey` identifies the sampling schedule (model, preset or
 * n/tau/omega, steps) so a worker can run compatible jobs in one batch.
 */
export const JobQueueMessageSchema = z.object({
  jobId: z.string().regex(JOB_ID_PATTERN),
  tenantId: z.string().min(1),
  batchKey: z.string().min(1),
});
export type JobQueueMessage = z.infer<typeof JobQueueMessageSchema>;

/**
 * The public view of a job: API responses and webhook `data`. Blob keys and internal fields
 * are left out; results appear as signed download URLs.
 */
export const JobViewSchema = z.strictObject({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  model: z.string().meta({
    description:
      'The model (pipeline) that restored the job, by its manifest name (e.g. `utkface-64`), once it succeeded; ' +
      "before that, for failed jobs, and on jobs from before it was reported, the deployment's name for its model.",
  }),
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  timestamps: JobTimestampsSchema,
  attempts: z.int().min(0),
  params: JobParamsSchema,
  progress: JobProgressSchema.optional(),
  error: JobErrorSchema.optional(),
  usage: JobUsageSchema.optional().meta({
    description:
      'What the job was billed, as `GET /v1/usage` counts it: set when it succeeded, when it failed with ' +
      '`engine_timeout` (the model seconds it took), and when it was canceled while a worker ran it (model ' +
      'seconds only, shortly after the cancel: the worker stops between steps).',
  }),
  output: z
    .strictObject({
      format: z.enum(OUTPUT_FORMATS),
      width: z.int().positive().optional(),
      height: z.int().positive().optional(),
      upscale: z
        .literal(UPSCALE_FACTORS)
        .optional()
        .meta({
          ...AS_INTEGER,
          description:
            'The upscale applied: `params.upscale`, or less where the output would have exceeded a limit ' +
            '(then `warnings` has `upscale_capped`). `width` x `height` is the input size times it, so ' +
            'face boxes (input pixels) divide by it onto the output. Absent on jobs from before it was reported.',
        }),
      restored: SignedUrlSchema.optional(),
      dr2: SignedUrlSchema.optional(),
      faces: z
        .array(FaceViewSchema)
        .optional()
        .meta({
          description:
            'Restored faces, largest first, in input pixel coordinates; `[]` when none was found ' +
            '(then `warnings` has `no_face_detected`). Absent on jobs from before photo mode.',
        }),
      skippedFaces: z
        .array(SkippedFaceSchema)
        .optional()
        .meta({ description: 'Faces found but left untouched (`reason`: `max_faces` or `min_face`).' }),
      warnings: z.array(WarningSchema).optional(),
      background: BackgroundReportSchema.optional(),
    })
    .optional(),
  webhook: WebhookConfigSchema.optional(),
  idempotencyKey: z.string().optional(),
});
export type JobView = z.infer<typeof JobViewSchema>;

/**
 * A webhook event body (Standard Webhooks layout).
 *
 * @example
 * ```json
 * { "type": "job.succeeded", "timestamp": "2025-01-01T00:00:05.000Z",
 *   "data": { "id": "job_01J...", "status": "succeeded", ... } }
 * ```
 */
export const WebhookEventSchema = z.strictObject({
  type: z.enum(WEBHOOK_EVENT_TYPES),
  timestamp: isoTimestamp,
  data: JobViewSchema,
});
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;

/** zod's own bound on every `z.int()` (the safe-integer range), below any bound a field sets. */
function isSafeIntegerBound(issue: z.core.$ZodIssue): boolean {
  return (
    (issue.code === 'too_big' && issue.maximum === Number.MAX_SAFE_INTEGER) ||
    (issue.code === 'too_small' && issue.minimum === Number.MIN_SAFE_INTEGER)
  );
}

/**
 * zod issues as the domain's {@link ValidationIssue}s. An integer beyond the safe-integer range
 * fails both zod's implicit bound and the field's own (`{"seed": 1e30}`: <= 2^53 - 1 and
 * <= 4294967295); the implicit one is dropped where the field states its own, so the message
 * names the limit that applies.
 */
export function toValidationIssues(error: z.ZodError): ValidationIssue[] {
  const pathOf = (issue: z.core.$ZodIssue) => JSON.stringify(issue.path.map(String));
  const boundedPaths = new Set(
    error.issues
      .filter(
        (issue) => (issue.code === 'too_big' || issue.code === 'too_small') && !isSafeIntegerBound(issue),
      )
      .map(pathOf),
  );
  const issues = error.issues.filter(
    (issue) => !(isSafeIntegerBound(issue) && boundedPaths.has(pathOf(issue))),
  );
  return issues.map((issue) => ({
    path: issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment)),
    message: issue.message,
  }));
}

/**
 * Parses a value or throws {@link ValidationError} with every issue and its path.
 *
 * @example
 * ```ts
 * parseWith(CreateJobRequestSchema, { n: 3, tau: 10 });
 * // throws ValidationError; issues[0] = { path: ['n'], message: 'n must be a power of two ...' }
 * ```
 */
export function parseWith<Schema extends z.ZodType>(
  schema: Schema,
  value: unknown,
  what = 'request',
): z.output<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = toValidationIssues(result.error);
    const first = issues[0];
    const where = first && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
    throw new ValidationError(`invalid ${what}${where}: ${first?.message ?? 'unknown problem'}`, issues);
  }
  return result.data;
}
