/**
 * The deployment's settings, read from CDK context (`cdk.json` "context", or `-c key=value` on the
 * command line) and validated once, so a typo fails the synth with a message naming the key
 * instead of producing a half-right stack.
 *
 * Values given with `-c` arrive as strings; the schema coerces them (`-c spot=true`,
 * `-c maxTasks=8`, `-c instanceTypes=g5.xlarge,g6.xlarge`). Every key and its default is listed
 * in `infra/README.md`.
 */
import { z } from 'zod';
import {
  DEFAULT_UPLOAD_MAX_BYTES,
  MAX_JOBS_IN_FLIGHT,
  RuntimeConfigSchema,
} from '../../shared/runtime/index.js';

/** A CDK context node, or anything else that answers `tryGetContext` (tests pass a plain map). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/** Strings from `-c` become numbers; numbers stay numbers. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `true`/`false` from JSON or from a `-c` string. */
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);

/** A list from JSON (`["a","b"]`) or from a comma-separated `-c` string (`a,b`). Empty string = empty list. */
const list = (item: z.ZodString) =>
  z
    .union([
      z.array(z.string()),
      z.string().transform((value) =>
        value
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part.length > 0),
      ),
    ])
    .pipe(z.array(item));

/** An optional string where `""` (the documented "unset" in cdk.json) means unset. */
const optional = (inner: z.ZodString) =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()))
    .pipe(inner.optional());

const gpuInstanceType = z
  .string()
  .regex(
    /^(g4dn|g5|g6|g6e|gr6)\.(x|2x|4x|8x|12x|16x|24x|48x)?large$/,
    'must be a g4dn, g5, g6, g6e or gr6 instance type such as g5.xlarge',
  );

const s3Prefix = z
  .string()
  .regex(/^([A-Za-z0-9!_.*'()-]+\/)+$/, 'must be a key prefix ending in "/" such as models/default/')
  .refine((prefix) => !prefix.startsWith('tenants/') && !prefix.startsWith('job-store/'), {
    message:
      'must not overlap the tenants/ or job-store/ prefixes (their lifecycle rules would delete models)',
  });

/**
 * The runtime's own defaults (shared/runtime/config.ts with no variable set). `tenantDefaults`
 * starts from them, so a stack that sets nothing enforces exactly what the API enforces without
 * the variables, and the two cannot drift apart.
 */
const RUNTIME_DEFAULTS = RuntimeConfigSchema.parse({});

/** A JSON object from cdk.json, or its JSON text from `-c key='{"a":1}'` (the CLI passes strings). */
const jsonObject = <T extends z.ZodType>(inner: T) =>
  z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"requestBurst":1000}' });
      return z.NEVER;
    }
  }, inner);

/** Requests per second of a token bucket (fractions allowed: 0.5 = one every 2 s). */
const ratePerSecond = z.coerce.number().positive().max(100_000);

/**
 * The per-tenant limits the API enforces for every tenant whose record in the tenants secret
 * does not override them (bounds as in shared/src/tenant-limits.ts, which checks the overrides).
 * Unknown keys are refused, so a misspelt limit fails the synth instead of silently staying at
 * its default.
 */
export const TenantDefaultsSchema = z.strictObject({
  /** `POST /v1/jobs` per second per tenant (DR2E_CREATE_RATE_PER_SECOND). */
  createRatePerSecond: ratePerSecond.default(RUNTIME_DEFAULTS.DR2E_CREATE_RATE_PER_SECOND),
  /** Job creations a tenant may make at once above the rate (DR2E_CREATE_BURST). */
  createBurst: int(1, 1_000_000).default(RUNTIME_DEFAULTS.DR2E_CREATE_BURST),
  /** Every other `/v1` request per second per tenant (DR2E_REQUEST_RATE_PER_SECOND). */
  requestRatePerSecond: ratePerSecond.default(RUNTIME_DEFAULTS.DR2E_REQUEST_RATE_PER_SECOND),
  /** Other `/v1` requests a tenant may make at once above the rate (DR2E_REQUEST_BURST). */
  requestBurst: int(1, 1_000_000).default(RUNTIME_DEFAULTS.DR2E_REQUEST_BURST),
  /** Unfinished jobs (created through running) a tenant may have (DR2E_MAX_JOBS_IN_FLIGHT). */
  maxJobsInFlight: int(1, MAX_JOBS_IN_FLIGHT).default(RUNTIME_DEFAULTS.DR2E_MAX_JOBS_IN_FLIGHT),
  /** Images per calendar month (UTC) per tenant; 0 = no cap (DR2E_MONTHLY_IMAGE_QUOTA). */
  monthlyImageQuota: int(0, 1_000_000_000).default(RUNTIME_DEFAULTS.DR2E_MONTHLY_IMAGE_QUOTA),
  /** Model seconds per calendar month (UTC) per tenant; 0 = no cap (DR2E_MONTHLY_MODEL_SECONDS_QUOTA). */
  monthlyModelSecondsQuota: z.coerce
    .number()
    .min(0)
    .max(1e9)
    .default(RUNTIME_DEFAULTS.DR2E_MONTHLY_MODEL_SECONDS_QUOTA),
});

/** Deployment-wide per-tenant limits (see {@link TenantDefaultsSchema}). */
export type TenantDefaults = z.infer<typeof TenantDefaultsSchema>;

/** Retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** The schema of every context key the app reads, with its default. */
export const InfraConfigSchema = z
  .object({
    /** Name of the CloudFormation stack. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
      .default('Dr2e'),
    /** AWS account; unset = an environment-agnostic stack (synth needs no credentials). */
    account: optional(z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id')),
    /** AWS region; unset = environment-agnostic (the region of the deploying credentials). */
    region: optional(z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be a region such as us-east-1')),
    /**
     * Availability zones for the worker VPC. Only read when both account and region are set; then
     * naming them avoids a context lookup (which needs credentials) at synth time.
     */
    availabilityZones: list(
      z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, 'must be an AZ such as us-east-1a'),
    ).default([]),

    // GPU workers
    /**
     * GPU instance types for the worker Auto Scaling group, in order of preference. Several types
     * let the group launch in whichever of its subnets' zones has capacity (not every zone offers
     * every type; see infra/README.md "GPU instances and zones").
     */
    instanceTypes: list(gpuInstanceType)
      .default(['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'])
      .refine((types) => types.length > 0, {
        message: 'needs at least one instance type',
      }),
    /** ECS GPU-optimised AMI: Amazon Linux 2023 (NVIDIA driver 580) or Amazon Linux 2 (driver 550; past end of support). */
    gpuAmi: z.enum(['al2', 'al2023']).default('al2023'),
    /** Most worker tasks (one GPU each) and so most GPU instances. */
    maxTasks: int(1, 100).default(4),
    /** Backlog (visible + in-flight messages) one task is expected to clear; more starts another task. */
    backlogPerTask: int(1, 1000).default(8),
    /** Minutes the queue must be empty (nothing visible, nothing in flight) before tasks scale to zero. */
    scaleInAfterMinutes: int(1, 60).default(10),
    /** Run the GPU instances on Spot (cheaper, can be reclaimed with a 2-minute warning). */
    spot: bool.default(false),
    /**
     * How the workers reach AWS and the webhook targets:
     * `private-nat` private subnets + one NAT gateway (webhooks reach the internet),
     * `isolated` private subnets with VPC interface endpoints only (no internet: webhooks to
     * public hosts cannot be delivered), `public` public subnets with a public IPv4 per running
     * instance and no inbound rule (cheapest when idle).
     */
    workerNetwork: z.enum(['private-nat', 'isolated', 'public']).default('private-nat'),
    /** Also create interface endpoints in `private-nat` mode (keeps SQS/ECR/Logs traffic off the NAT). */
    interfaceEndpoints: bool.default(false),
    /** CPU units (1024 = 1 vCPU) reserved for the worker task. */
    workerCpu: int(256, 192 * 1024).default(3072),
    /** Memory (MiB) reserved for the worker task (a soft limit, so larger instances are used fully). */
    workerMemoryMiB: int(512, 2 * 1024 * 1024).default(12288),
    /** Root volume of a GPU instance in GiB (the CUDA image plus models live here). */
    rootVolumeGiB: int(30, 16384).default(100),
    /** Images per model call on the GPU (DR2E_BATCH_SIZE). */
    batchSize: int(1, 64).default(4),
    /**
     * Longest an engine call may run per photo (DR2E_MAX_ENGINE_SECONDS, enforced at sampler
     * steps): past it the job fails with `engine_timeout` instead of holding a GPU; 0 for no cap.
     */
    maxEngineSeconds: int(0, 86400).default(RUNTIME_DEFAULTS.DR2E_MAX_ENGINE_SECONDS),
    /** Seconds ECS waits after SIGTERM before SIGKILL; the worker drains within this. */
    stopTimeoutSeconds: int(30, 120).default(120),

    // Queue
    /** Receives before a message moves to the dead-letter queue (DR2E_MAX_RECEIVES). */
    maxReceives: int(1, 1000).default(3),
    /** Queue visibility timeout = the worker's lease, extended by its heartbeat while a batch runs. */
    visibilityTimeoutSeconds: int(30, 43200).default(120),
    /** Days a job message waits in the queue before SQS drops it. */
    queueRetentionDays: int(1, 14).default(14),
    /** Age of the oldest queued message (s) that raises an alarm; include a cold start (minutes). */
    oldestMessageAlarmSeconds: int(60, 1209600).default(1800),

    // Storage
    /** Days inputs and outputs (`tenants/`) are kept. */
    dataRetentionDays: int(1, 3650).default(7),
    /** Days job records (`job-store/`) are kept. */
    jobRecordRetentionDays: int(1, 3650).default(90),
    /** Days CloudWatch log groups keep events. */
    logRetentionDays: z.coerce
      .number()
      .int()
      .refine((days) => LOG_RETENTION_DAYS.includes(days), {
        message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    /** Days the S3 server access logs and VPC flow logs are kept. */
    accessLogRetentionDays: int(1, 3650).default(90),
    /** Largest upload the signed form accepts, in bytes (DR2E_UPLOAD_MAX_BYTES). */
    uploadMaxBytes: int(1024, 5 * 1024 * 1024 * 1024).default(DEFAULT_UPLOAD_MAX_BYTES),
    /**
     * Browser origins, besides the API's own (the playground), allowed to POST uploads and GET
     * outputs directly (CORS): your apps' web front ends.
     */
    corsAllowedOrigins: list(
      z
        .string()
        .regex(/^(\*|https?:\/\/[^/\s]+)$/, 'must be "*" or an origin such as https://app.example.com'),
    ).default([]),

    // API
    /** Hosts exempt from the webhook private-address guard (DR2E_WEBHOOK_ALLOW_HOSTS). */
    webhookAllowHosts: list(
      z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or address'),
    ).default([]),
    /**
     * Steady-state requests per second across the API, all tenants together (stage default route
     * throttling). A backstop for the account, not the tenants' limit: it must stay above what one
     * tenant may send (see the check below), and well under the account's API Gateway quota
     * (10,000 requests/s by default, shared by every API of the account and region).
     */
    apiThrottleRate: int(1, 100000).default(500),
    /** Burst of requests the API absorbs above the rate, all tenants together. */
    apiThrottleBurst: int(1, 100000).default(1000),
    /**
     * Per-tenant limits of tenants without overrides in the tenants secret (the DR2E_CREATE_*,
     * DR2E_REQUEST_*, DR2E_MAX_JOBS_IN_FLIGHT, DR2E_MONTHLY_IMAGE_QUOTA and
     * DR2E_MONTHLY_MODEL_SECONDS_QUOTA variables of the API function). Keys left out keep the
     * runtime's defaults.
     */
    tenantDefaults: jsonObject(TenantDefaultsSchema).prefault({}),
    /** Log level of every component (DR2E_LOG_LEVEL). */
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),

    // Models and image
    /** Where the worker gets its ONNX files: downloaded from S3 at start, or baked into the image. */
    modelsSource: z.enum(['s3', 'image']).default('s3'),
    /** Key prefix in the bucket holding the model files when modelsSource is s3. */
    modelsPrefix: s3Prefix.default('models/default/'),
    /** Pipeline manifest (DR2E_MODEL): relative to the prefix for s3; a path in the image otherwise (unset = the image's default). */
    modelManifest: optional(
      z.string().regex(/^[A-Za-z0-9_./-]+\.json$/, 'must be a path to a .json manifest'),
    ),
    /**
     * The deployment's terms are commercial (DR2E_COMMERCIAL_USE): a worker whose weights are
     * licensed for non-commercial use only (the embedded default's are) refuses to start, and
     * the face detector runs without RetinaFace, whose weights are (README, "Licences").
     */
    commercialUse: bool.default(false),
    /**
     * A prebuilt worker image (ECR `account.dkr.ecr.region.amazonaws.com/name:tag` or a public
     * image). Unset = build `gpu-task/Dockerfile` as a CDK asset at deploy time.
     */
    imageUri: optional(
      z
        .string()
        .regex(
          /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+(:[\w.-]+|@sha256:[a-f0-9]{64})?$/,
          'must be an image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/dr2e:v1',
        ),
    ),

    // Operations
    /** E-mail address subscribed to the alarm topic (unset = no subscription). */
    alarmEmail: optional(z.string().email('must be an e-mail address')),
    /**
     * Monthly cost budget of the AWS account in US dollars (0 = none): AWS Budgets notifies the
     * alarm topic when the month's actual cost passes 80 % of it or its forecast passes 100 %.
     */
    monthlyBudgetUsd: int(0, 10_000_000).default(0),
  })
  .superRefine((config, ctx) => {
    if (config.apiThrottleBurst < config.apiThrottleRate) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottleBurst'],
        message: 'must be at least apiThrottleRate',
      });
    }
    // The stage throttle counts every tenant together and refuses with API Gateway's own bare 429
    // (no JSON error, no Retry-After). If one tenant, staying within its own allowance, could
    // reach it, that tenant would take the stage from everyone else, and its own burst could
    // never be used. A tenant's creates and other requests draw from separate buckets, so its
    // allowance is their sum.
    const tenant = config.tenantDefaults;
    const tenantRate = tenant.createRatePerSecond + tenant.requestRatePerSecond;
    if (config.apiThrottleRate <= tenantRate) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottleRate'],
        message:
          `must be above one tenant's default rate (tenantDefaults createRatePerSecond + requestRatePerSecond = ${tenantRate}/s): ` +
          "otherwise one tenant within its own limits could fill the stage, and the other tenants would get API Gateway's bare 429 instead of the API's rate_limited error with Retry-After",
      });
    }
    const tenantBurst = tenant.createBurst + tenant.requestBurst;
    if (config.apiThrottleBurst <= tenantBurst) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottleBurst'],
        message:
          `must be above one tenant's default burst (tenantDefaults createBurst + requestBurst = ${tenantBurst}): ` +
          "otherwise one tenant's burst could fill the stage, and the other tenants would get API Gateway's bare 429 instead of the API's rate_limited error with Retry-After",
      });
    }
    // Baked into the image with no manifest named, the worker loads the embedded default, which
    // is non-commercial: every task would be refused at start, over and over.
    if (config.commercialUse && config.modelsSource === 'image' && config.modelManifest === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['commercialUse'],
        message:
          "with modelsSource image, name the commercially usable weights' manifest (modelManifest): the image's default model is licensed for non-commercial use only, and a worker declaring commercial use refuses it",
      });
    }
    if (config.workerNetwork !== 'private-nat' && config.interfaceEndpoints) {
      ctx.addIssue({
        code: 'custom',
        path: ['interfaceEndpoints'],
        message: 'only applies to workerNetwork private-nat (isolated always has them, public needs none)',
      });
    }
  });

/** Validated deployment settings. */
export type InfraConfig = z.infer<typeof InfraConfigSchema>;

/** The context keys the app reads (every other key is ignored, e.g. CDK feature flags). */
export const INFRA_CONTEXT_KEYS = Object.keys(InfraConfigSchema.shape) as (keyof InfraConfig)[];

/** A context value that does not validate; the message lists every bad key. */
export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
  readonly code = 'invalid_infra_context';
}

/**
 * Read and validate the app's context.
 *
 * @example
 * ```ts
 * const app = new App();
 * const config = readInfraConfig(app.node); // throws InfraConfigError on a bad value
 * new Dr2eStack(app, config.stackName, { config });
 * ```
 */
export function readInfraConfig(source: ContextSource): InfraConfig {
  const raw: Record<string, unknown> = {};
  for (const key of INFRA_CONTEXT_KEYS) {
    const value = source.tryGetContext(key);
    if (value !== undefined && value !== null) raw[key] = value;
  }
  const parsed = InfraConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(context)'}: ${issue.message}`,
    );
    throw new InfraConfigError(
      `invalid CDK context (cdk.json "context" or -c key=value):\n${problems.join('\n')}`,
    );
  }
  return parsed.data;
}

/** Seconds the worker has after SIGTERM: the stop timeout less a margin for uploads and exit. */
export function shutdownDeadlineSeconds(config: Pick<InfraConfig, 'stopTimeoutSeconds'>): number {
  return Math.max(10, config.stopTimeoutSeconds - 20);
}
