/**
 * Runtime configuration from environment variables, shared by every entry point (local server,
 * Lambda handlers, GPU worker) and by the CDK stack that sets them. One schema, so a variable
 * the infrastructure sets is a variable the code reads.
 *
 * Node-only (reads `process.env`); the domain in `shared/src` stays free of it.
 *
 * | variable | used by | default |
 * | --- | --- | --- |
 * | `DR2E_MODE` | all | `local` (`aws` = production: https-only webhooks, AWS adapters) |
 * | `HOST`, `PORT` | local server | `127.0.0.1`, `8787` |
 * | `DR2E_PUBLIC_URL` | local server (base of signed local URLs) | `http://HOST:PORT` |
 * | `DR2E_DATA_DIR` | local adapters | `.data` |
 * | `DR2E_API_KEYS` | local tenants (comma-separated keys) | one generated and printed |
 * | `DR2E_TENANTS_FILE` | local tenants from a file in the tenants secret's format (instead of `DR2E_API_KEYS`) | unset |
 * | `DR2E_SIGNING_SECRET` | local signed URLs | generated and kept in the data dir |
 * | `AWS_REGION` | aws | from the Lambda/ECS environment |
 * | `DR2E_BUCKET` | aws: inputs, outputs, job records, usage | required in aws mode |
 * | `DR2E_QUEUE_URL`, `DR2E_DLQ_URL` | aws | required in aws mode |
 * | `DR2E_WEBHOOK_QUEUE_URL`, `DR2E_WEBHOOK_DLQ_URL` | aws: the webhook delivery queue (API, dispatcher, worker send; the delivery Lambda consumes) | required in aws mode |
 * | `DR2E_TENANTS_SECRET_ARN` | aws: Secrets Manager secret holding tenants (hashed keys, webhook secrets) | required in aws mode |
 * | `DR2E_UPLOAD_MAX_BYTES` | API | 26214400 (25 MiB) |
 * | `DR2E_UPLOAD_URL_TTL_SECONDS` | API | 900 |
 * | `DR2E_DOWNLOAD_URL_TTL_SECONDS` | API | 3600 |
 * | `DR2E_LIMITS_TABLE` | aws: DynamoDB table of the per-tenant limit counters (unset: limits off, with a warning) | set by the stack |
 * | `DR2E_CREATE_RATE_PER_SECOND`, `DR2E_CREATE_BURST` | API: default job creations per second per tenant, and burst | 10, 100 |
 * | `DR2E_REQUEST_RATE_PER_SECOND`, `DR2E_REQUEST_BURST` | API: default other `/v1` requests per second per tenant, and burst | 50, 500 |
 * | `DR2E_MAX_JOBS_IN_FLIGHT` | API: default cap of a tenant's unfinished jobs | 50 |
 * | `DR2E_MONTHLY_IMAGE_QUOTA` | API: default images per month per tenant (0 = no cap) | 0 |
 * | `DR2E_MONTHLY_MODEL_SECONDS_QUOTA` | API: default model seconds per month per tenant (0 = no cap) | 0 |
 * | `DR2E_CREATED_JOB_TTL_SECONDS` | API: jobs left `created` (no upload) expire after this | 86400 (24 h) |
 * | `DR2E_MAX_ASPECT_RATIO` | API: longest aspect ratio of an `aligned` face crop accepted at dispatch | 4 |
 * | `DR2E_WEBHOOK_ALLOW_HOSTS` | API, worker: hosts exempt from the private-address guard | empty |
 * | `DR2E_WEBHOOK_TIMEOUT_MS` | webhook delivery: deadline of one attempt | 5000 |
 * | `DR2E_MAX_RECEIVES` | queue (local) and worker | 3 |
 * | `DR2E_MODEL` | worker: pipeline manifest | the embedded default |
 * | `DR2E_MODELS_S3_URI` | worker: `s3://bucket/prefix/` downloaded at start, then `DR2E_MODEL` is relative to it | unset (models baked into the image) |
 * | `DR2E_COMMERCIAL_USE` | worker: `true` where the deployment's terms are commercial: weights licensed for non-commercial use only (the embedded default's among them) stop the start, and the face detector runs without RetinaFace | `false` |
 * | `DR2E_DEVICE` | worker: cpu, cuda or webgpu | `cpu` |
 * | `DR2E_THREADS` | worker: CPU threads per model call | onnxruntime decides |
 * | `DR2E_BATCH_SIZE` | worker: photos (jobs) per engine call | 4 |
 * | `DR2E_FACES_PER_RUN` | worker: faces per sampler run, all photos of a call together (bounded by GPU memory) | 32 |
 * | `DR2E_VISIBILITY_TIMEOUT_SECONDS` | worker: message lease, extended while a batch runs | 120 |
 * | `DR2E_MAX_ENGINE_SECONDS` | worker: longest an engine call may run per photo in it, enforced at sampler steps; past it the job fails with `engine_timeout` (0 = no cap, at most 86400) | 600 |
 * | `DR2E_SHUTDOWN_DEADLINE_SECONDS` | worker: time to finish or release work after SIGTERM | 100 |
 * | `DR2E_POLL_WAIT_SECONDS` | worker: long-poll wait per queue receive (0 to 20) | 20 |
 * | `DR2E_LOG_LEVEL` | all | `info` |
 * | `DR2E_METRICS_NAMESPACE` | aws: the worker, the dispatcher and the API write job metrics (CloudWatch EMF) under this namespace | unset (none) |
 */
import { z } from 'zod';
import { DEFAULT_MAX_ASPECT_RATIO, DEVICES, INPUT_LIMITS, RESTORE_DEFAULTS } from '../src/index.js';
import { MAX_JOBS_IN_FLIGHT, type TenantLimits } from '../src/tenant-limits.js';

/** The highest jobs-in-flight cap, which the stack's `tenantDefaults` is checked against. */
export { MAX_JOBS_IN_FLIGHT };

/** The `Outcome` values of the job metrics (`DR2E_METRICS_NAMESPACE`), which the stack's dashboard and alarm read. */
export { JOB_OUTCOMES, type JobOutcome } from '../src/job-outcome.js';

const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** `DR2E_UPLOAD_MAX_BYTES` when unset: the engine's own input limit (INPUT_LIMITS). */
export const DEFAULT_UPLOAD_MAX_BYTES = INPUT_LIMITS.maxFileBytes;

export const RuntimeConfigSchema = z.object({
  DR2E_MODE: z.enum(['local', 'aws']).default('local'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  DR2E_PUBLIC_URL: z.string().url().optional(),
  DR2E_DATA_DIR: z.string().default('.data'),
  DR2E_API_KEYS: csv,
  DR2E_TENANTS_FILE: z.string().min(1).optional(),
  DR2E_SIGNING_SECRET: z.string().min(16).optional(),
  AWS_REGION: z.string().optional(),
  DR2E_BUCKET: z.string().optional(),
  DR2E_QUEUE_URL: z.string().url().optional(),
  DR2E_DLQ_URL: z.string().url().optional(),
  DR2E_WEBHOOK_QUEUE_URL: z.string().url().optional(),
  DR2E_WEBHOOK_DLQ_URL: z.string().url().optional(),
  DR2E_TENANTS_SECRET_ARN: z.string().optional(),
  DR2E_UPLOAD_MAX_BYTES: positiveInt(DEFAULT_UPLOAD_MAX_BYTES),
  DR2E_UPLOAD_URL_TTL_SECONDS: positiveInt(900),
  DR2E_DOWNLOAD_URL_TTL_SECONDS: positiveInt(3600),
  DR2E_CREATED_JOB_TTL_SECONDS: positiveInt(24 * 3600),
  DR2E_LIMITS_TABLE: z.string().optional(),
  DR2E_CREATE_RATE_PER_SECOND: z.coerce.number().positive().default(10),
  DR2E_CREATE_BURST: positiveInt(100),
  DR2E_REQUEST_RATE_PER_SECOND: z.coerce.number().positive().default(50),
  DR2E_REQUEST_BURST: positiveInt(500),
  DR2E_MAX_JOBS_IN_FLIGHT: z.coerce.number().int().min(1).max(MAX_JOBS_IN_FLIGHT).default(50),
  DR2E_MONTHLY_IMAGE_QUOTA: z.coerce.number().int().min(0).default(0),
  DR2E_MONTHLY_MODEL_SECONDS_QUOTA: z.coerce.number().min(0).default(0),
  DR2E_MAX_ASPECT_RATIO: z.coerce.number().min(1).default(DEFAULT_MAX_ASPECT_RATIO),
  DR2E_WEBHOOK_ALLOW_HOSTS: csv,
  DR2E_WEBHOOK_TIMEOUT_MS: positiveInt(5000),
  DR2E_MAX_RECEIVES: positiveInt(3),
  DR2E_MODEL: z.string().optional(),
  DR2E_MODELS_S3_URI: z
    .string()
    .regex(/^s3:\/\/[^/]+\/.*$/, 'must look like s3://bucket/prefix/')
    .optional(),
  DR2E_COMMERCIAL_USE: z
    .enum(['true', 'false'], { message: "must be 'true' or 'false'" })
    .default('false')
    .transform((value) => value === 'true'),
  DR2E_DEVICE: z.enum(DEVICES).default(RESTORE_DEFAULTS.device),
  DR2E_THREADS: z.coerce.number().int().positive().optional(),
  DR2E_BATCH_SIZE: positiveInt(4),
  DR2E_FACES_PER_RUN: positiveInt(32),
  DR2E_VISIBILITY_TIMEOUT_SECONDS: positiveInt(120),
  DR2E_MAX_ENGINE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  DR2E_SHUTDOWN_DEADLINE_SECONDS: positiveInt(100),
  DR2E_POLL_WAIT_SECONDS: z.coerce.number().int().min(0).max(20).default(20),
  DR2E_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  DR2E_METRICS_NAMESPACE: z
    .string()
    .regex(
      /^[A-Za-z0-9./_#:-]{1,255}$/,
      'a CloudWatch namespace: letters, digits and . - _ / # : (at most 255)',
    )
    .optional(),
});

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

/**
 * Receives of one webhook message before it dead-letters. A delivery attempt never throws for
 * the receiver's answers; only a store or queue outage makes a message come back, so a few
 * receives are enough (the local queue and the SQS queue of the stack both use it).
 */
export const WEBHOOK_QUEUE_MAX_RECEIVES = 5;

/**
 * How often jobs that never got an upload are swept (expired, their `job.canceled` sent): by
 * `npm start`'s API server and, on AWS, by the EventBridge rule that invokes the dispatcher.
 * Shorter than the sweep's 3 h lookback (`CreatedJobExpiry.sweepDue`), so two missed runs lose
 * nothing.
 */
export const EXPIRY_SWEEP_INTERVAL_SECONDS = 3600;

/** The deployment's default per-tenant limits (see shared/src/tenant-limits.ts). */
export function defaultTenantLimits(config: RuntimeConfig): TenantLimits {
  return {
    create: { ratePerSecond: config.DR2E_CREATE_RATE_PER_SECOND, burst: config.DR2E_CREATE_BURST },
    requests: { ratePerSecond: config.DR2E_REQUEST_RATE_PER_SECOND, burst: config.DR2E_REQUEST_BURST },
    maxJobsInFlight: config.DR2E_MAX_JOBS_IN_FLIGHT,
    ...(config.DR2E_MONTHLY_IMAGE_QUOTA > 0 ? { monthlyImageQuota: config.DR2E_MONTHLY_IMAGE_QUOTA } : {}),
    ...(config.DR2E_MONTHLY_MODEL_SECONDS_QUOTA > 0
      ? { monthlyModelSecondsQuota: config.DR2E_MONTHLY_MODEL_SECONDS_QUOTA }
      : {}),
  };
}

/** Names of every variable the runtime reads (the CDK stack checks it only sets these). */
export const RUNTIME_VARIABLES = Object.keys(RuntimeConfigSchema.shape) as (keyof RuntimeConfig)[];

/** A configuration problem at start-up; the message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parse the environment. In `aws` mode the AWS resources are required.
 *
 * @example
 * ```ts
 * const config = loadRuntimeConfig(process.env);
 * if (config.DR2E_MODE === 'aws') console.log(config.DR2E_BUCKET);
 * ```
 */
export function loadRuntimeConfig(env: Record<string, string | undefined> = process.env): RuntimeConfig {
  const relevant = Object.fromEntries(
    Object.entries(env).filter(
      ([key, value]) => value !== '' && (RUNTIME_VARIABLES as string[]).includes(key),
    ),
  );
  const parsed = RuntimeConfigSchema.safeParse(relevant);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const config = parsed.data;
  if (config.DR2E_MODE === 'aws') {
    const missing = (
      [
        'DR2E_BUCKET',
        'DR2E_QUEUE_URL',
        'DR2E_DLQ_URL',
        'DR2E_WEBHOOK_QUEUE_URL',
        'DR2E_WEBHOOK_DLQ_URL',
        'DR2E_TENANTS_SECRET_ARN',
      ] as const
    ).filter((key) => !config[key]);
    if (missing.length > 0) throw new ConfigError(`aws mode needs ${missing.join(', ')}`);
  }
  return config;
}
