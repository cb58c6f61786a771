/**
 * Builds the adapters behind the ports from a {@link RuntimeConfig}: one function for every
 * entry point (local server, Lambda handlers, GPU worker, `npm start`), so they all wire the
 * same stores the same way.
 *
 * - `local`: everything under `DR2E_DATA_DIR` (`blobs/`, `jobs/`, `queues/`, `usage/`,
 *   `tenants.json`, `signing-secret`, `tenant-id-secret`, `local-api-key`). Each key in
 *   `DR2E_API_KEYS` is a tenant (id `local-<16 hex of HMAC(tenant-id-secret, key)>`, stable
 *   across restarts) whose webhook secret is
 *   generated once and kept in `tenants.json`. With no keys set, one key is generated, kept in
 *   `local-api-key` and returned as `generatedApiKey` so the server can print it. With
 *   `DR2E_TENANTS_FILE`, the tenants are that file's, in the tenants secret's format.
 * - `aws`: S3 (`DR2E_BUCKET`: inputs and outputs under `tenants/`, job records under
 *   `job-store/`, usage under `usage/` and its day totals under `usage-days/`), SQS (`DR2E_QUEUE_URL`, `DR2E_DLQ_URL`; webhook deliveries
 *   on `DR2E_WEBHOOK_QUEUE_URL`, `DR2E_WEBHOOK_DLQ_URL`), tenants from the
 *   Secrets Manager secret `DR2E_TENANTS_SECRET_ARN` (format in shared/src/tenant-secret.ts).
 *
 * Both get the guarded webhook sender and target checker (SSRF guard) with the mode's policy.
 *
 * @example
 * ```ts
 * const services = await createServices(loadRuntimeConfig(), { publicUrl: 'http://127.0.0.1:8787' });
 * if (services.generatedApiKey) console.log(`API key: ${services.generatedApiKey}`);
 * const app = createApp(services, appOptionsFromConfig(services.config));
 * ```
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { DiskJobStore } from '../adapters/local/disk-job-store.js';
import { DiskLimitStore } from '../adapters/local/disk-limit-store.js';
import { DiskUsageLedger } from '../adapters/local/disk-usage-ledger.js';
import { FilesystemBlobStore } from '../adapters/local/fs-blob-store.js';
import { atomicWriteFile, withLock } from '../adapters/local/fs-util.js';
import { LocalQueue } from '../adapters/local/local-queue.js';
import {
  GuardedWebhookSender,
  NodeWebhookTargetChecker,
  systemHostResolver,
  type HostResolver,
} from '../adapters/node/guarded-webhook-sender.js';
import { generateApiKey, hashApiKey } from '../src/api-keys.js';
import { systemClock, type Clock } from '../src/clock.js';
import { createJsonLogger, errorFields } from '../src/log.js';
import { hmacSha256, randomBytes, toBase64Url, toHex, utf8Encode } from '../src/encoding.js';
import type { BlobStore } from '../src/ports/blob-store.js';
import { CachedUsageSums } from '../src/cached-usage-sums.js';
import { noJobMetrics } from '../src/job-outcome.js';
import type { JobMetrics } from '../src/ports/job-metrics.js';
import type { JobQueue, UnreadableQueueMessage } from '../src/ports/job-queue.js';
import type { JobStore } from '../src/ports/job-store.js';
import type { LimitStore } from '../src/ports/limit-store.js';
import type { TenantDirectory } from '../src/ports/tenant-directory.js';
import type { UsageLedger } from '../src/ports/usage-ledger.js';
import type { WebhookQueue } from '../src/ports/webhook-queue.js';
import type { WebhookSender } from '../src/ports/webhook-sender.js';
import { JobQueueMessageSchema, parseWith, WebhookDeliveryMessageSchema, type Job } from '../src/schemas.js';
import { releaseSlotsOnFinish } from '../src/slot-release.js';
import { TenantLimitsOverrideSchema } from '../src/tenant-limits.js';
import { parseTenantSecret } from '../src/tenant-secret.js';
import { StaticTenantDirectory, type TenantRecord } from '../src/tenants.js';
import type { WebhookTargetChecker, WebhookTargetPolicy } from '../src/webhook-target.js';
import { generateWebhookSecret, WEBHOOK_SECRET_PREFIX } from '../src/webhooks.js';
import { WEBHOOK_QUEUE_MAX_RECEIVES, type RuntimeConfig } from './config.js';

/**
 * How long an API instance serves a tenant's usage sum from memory in `aws` mode (quota checks,
 * `GET /v1/usage`): usage a worker records shows within this time.
 */
export const USAGE_SUM_CACHE_MS = 60_000;

/** Everything the API, the dispatcher and the worker need, built for one mode. */
export interface Services {
  mode: 'local' | 'aws';
  config: RuntimeConfig;
  blobs: BlobStore;
  jobs: JobStore;
  queue: JobQueue;
  /** Webhook deliveries (see shared/src/webhook-delivery.ts); consumed apart from the job queue. */
  webhookQueue: WebhookQueue;
  usage: UsageLedger;
  tenants: TenantDirectory;
  /**
   * Metrics of finished jobs: CloudWatch EMF lines in `aws` mode with `DR2E_METRICS_NAMESPACE`,
   * else none.
   */
  jobMetrics: JobMetrics;
  /**
   * Counters of the per-tenant limits (disk locally, DynamoDB in AWS). Absent in `aws` mode
   * without `DR2E_LIMITS_TABLE`: limits are then off. `jobs` frees a job's slot here when the
   * job becomes terminal.
   */
  limits?: LimitStore;
  clock: Clock;
  /** The SSRF policy of this mode (https only in `aws`; http to loopback allowed in `local`). */
  webhookPolicy: WebhookTargetPolicy;
  /** Guarded sender: resolves, refuses forbidden addresses, pins the vetted one, no redirects. */
  webhookSender: WebhookSender;
  /** Checks webhook URLs when jobs are created (same policy, with DNS). */
  webhookTargets: WebhookTargetChecker;
  /** Local mode: the filesystem store whose signed forms and links the local routes verify. */
  localBlobs?: FilesystemBlobStore;
  /** Local mode: base URL of the signed upload/download links (`DR2E_PUBLIC_URL` or HOST:PORT). */
  publicUrl?: string;
  /** Local mode without `DR2E_API_KEYS`: the key kept in the data dir (print it for the user). */
  generatedApiKey?: string;
  /** Local mode: the tenants built from the keys (ids and names; secrets via `tenants.get`). */
  localTenants?: readonly { id: string; name: string }[];
  /** Releases clients (AWS SDK sockets); safe to call more than once. */
  close(): Promise<void>;
}

/** Replacements for tests and embedding (the local stack, stand-in AWS clients). */
export interface ServiceOverrides {
  /** Local mode: base URL for signed links, e.g. after listening on port 0. */
  publicUrl?: string;
  clock?: Clock;
  /** DNS for the SSRF guard (tests inject one that maps names to private addresses). */
  resolveHost?: HostResolver;
  s3Client?: S3Client;
  sqsClient?: SQSClient;
  secretsClient?: SecretsManagerClient;
  /** Any port replaced wholesale. */
  blobs?: BlobStore;
  jobs?: JobStore;
  queue?: JobQueue;
  webhookQueue?: WebhookQueue;
  usage?: UsageLedger;
  tenants?: TenantDirectory;
  limits?: LimitStore;
  jobMetrics?: JobMetrics;
  webhookSender?: WebhookSender;
  webhookTargets?: WebhookTargetChecker;
}

/**
 * Builds the services for `config.DR2E_MODE`.
 *
 * @throws {ConfigError}-like errors from the adapters when a directory is not writable or the
 * AWS configuration is incomplete (loadRuntimeConfig checks the required variables).
 */
export async function createServices(
  config: RuntimeConfig,
  overrides: ServiceOverrides = {},
): Promise<Services> {
  const clock = overrides.clock ?? systemClock;
  const webhookPolicy: WebhookTargetPolicy = {
    mode: config.DR2E_MODE,
    allowHosts: config.DR2E_WEBHOOK_ALLOW_HOSTS,
  };
  const resolveHost = overrides.resolveHost ?? systemHostResolver;
  const webhookSender =
    overrides.webhookSender ??
    new GuardedWebhookSender({
      policy: webhookPolicy,
      timeoutMs: config.DR2E_WEBHOOK_TIMEOUT_MS,
      resolve: resolveHost,
      clock,
    });
  const webhookTargets = overrides.webhookTargets ?? new NodeWebhookTargetChecker(webhookPolicy, resolveHost);
  const common = { config, clock, webhookPolicy, webhookSender, webhookTargets };
  const services =
    config.DR2E_MODE === 'aws'
      ? await createAwsServices(config, overrides, common)
      : await createLocalServices(config, overrides, common);
  if (!services.limits) return services;
  return { ...services, jobs: releaseSlotsOnFinish(services.jobs, services.limits, reportReleaseFailure) };
}

/** A slot that could not be freed ends with its lease; say so on stderr (no logger here). */
function reportReleaseFailure(error: unknown, job: Job): void {
  console.error(
    JSON.stringify({
      level: 'warn',
      message: 'could not free the in-flight slot of a finished job; its lease will end it',
      jobId: job.id,
      tenantId: job.tenantId,
      error: error instanceof Error ? error.message : String(error),
    }),
  );
}

/** Warnings of the adapters built here, as JSON lines on stderr (no logger is passed in). */
const stderrWarnings = createJsonLogger({ level: 'warn', write: (line) => console.error(line) });

/**
 * A usage day total that could not be read or written (e.g. a role without access to
 * `usage-days/`): sums stay right but read every record.
 */
function reportDayTotalError(error: unknown, detail: { key: string; action: 'read' | 'write' }): void {
  stderrWarnings.warn(`usage day total not ${detail.action === 'read' ? 'read' : 'written'}`, {
    key: detail.key,
    ...errorFields(error),
  });
}

/**
 * Reports a queue body that does not parse, on stderr as one JSON warning line in the logger's
 * shape (no logger here). Such a message never reaches a consumer, so this line is the only
 * trace of it; on a dead-letter queue the adapter deletes it after this report.
 */
function reportUnreadable(queueName: 'jobs' | 'webhooks'): (message: UnreadableQueueMessage) => void {
  return (message) => stderrWarnings.warn('unreadable queue message', { queueName, ...message });
}

type CommonServices = Pick<
  Services,
  'config' | 'clock' | 'webhookPolicy' | 'webhookSender' | 'webhookTargets'
>;

/** `http://HOST:PORT` with IPv6 hosts in brackets. */
export function localPublicUrl(config: RuntimeConfig, port: number = config.PORT): string {
  if (config.DR2E_PUBLIC_URL) return config.DR2E_PUBLIC_URL.replace(/\/+$/, '');
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${port}`;
}

async function createLocalServices(
  config: RuntimeConfig,
  overrides: ServiceOverrides,
  common: CommonServices,
): Promise<Services> {
  const dataDir = path.resolve(config.DR2E_DATA_DIR);
  // People's photos and the stack's secrets: a data dir made here is its owner's alone (an
  // existing one keeps the permissions it was given).
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const publicUrl = (overrides.publicUrl ?? localPublicUrl(config)).replace(/\/+$/, '');
  const signingSecret =
    config.DR2E_SIGNING_SECRET ??
    (await readOrCreateSecretFile(dataDir, 'signing-secret', () => toBase64Url(randomBytes(32))));
  const localBlobs = new FilesystemBlobStore({
    rootDir: path.join(dataDir, 'blobs'),
    signingSecret,
    uploadUrl: `${publicUrl}/local-upload`,
    downloadUrl: `${publicUrl}/local-download`,
    clock: common.clock,
  });
  const local = config.DR2E_TENANTS_FILE
    ? await loadTenantsFile(config.DR2E_TENANTS_FILE, config.DR2E_API_KEYS)
    : await loadLocalTenants(dataDir, config.DR2E_API_KEYS);
  return {
    ...common,
    mode: 'local',
    blobs: overrides.blobs ?? localBlobs,
    localBlobs,
    publicUrl,
    jobs: overrides.jobs ?? new DiskJobStore({ dir: path.join(dataDir, 'jobs') }),
    queue:
      overrides.queue ??
      new LocalQueue({
        dir: path.join(dataDir, 'queues'),
        name: 'jobs',
        schema: JobQueueMessageSchema,
        maxReceives: config.DR2E_MAX_RECEIVES,
        clock: common.clock,
        onUnreadable: reportUnreadable('jobs'),
      }),
    webhookQueue:
      overrides.webhookQueue ??
      new LocalQueue({
        dir: path.join(dataDir, 'queues'),
        name: 'webhooks',
        schema: WebhookDeliveryMessageSchema,
        maxReceives: WEBHOOK_QUEUE_MAX_RECEIVES,
        clock: common.clock,
        onUnreadable: reportUnreadable('webhooks'),
      }),
    usage: overrides.usage ?? new DiskUsageLedger({ dir: path.join(dataDir, 'usage') }),
    tenants: overrides.tenants ?? new StaticTenantDirectory(local.records),
    jobMetrics: overrides.jobMetrics ?? noJobMetrics,
    limits: overrides.limits ?? new DiskLimitStore({ dir: path.join(dataDir, 'limits') }),
    ...(local.generatedApiKey ? { generatedApiKey: local.generatedApiKey } : {}),
    localTenants: local.records.map(({ id, name }) => ({ id, name })),
    close: async () => undefined,
  };
}

/** Reads a small secret file, or creates it (mode 0600) with `make()`; safe across processes. */
async function readOrCreateSecretFile(dataDir: string, name: string, make: () => string): Promise<string> {
  const file = path.join(dataDir, name);
  return withLock(path.join(dataDir, `.${name}.lock`), async () => {
    try {
      const existing = (await readFile(file, 'utf8')).trim();
      if (existing.length > 0) return existing;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const value = make();
    await writeFile(file, `${value}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return value;
  });
}

const LocalTenantsFileSchema = z.object({
  /** Webhook secret per tenant id, generated on first use. */
  webhookSecrets: z.record(z.string(), z.string().startsWith(WEBHOOK_SECRET_PREFIX)),
  /** Optional per-tenant limit overrides, edited by the operator (see shared/src/tenant-limits.ts). */
  limits: z.record(z.string(), TenantLimitsOverrideSchema).optional(),
});

/**
 * Id of the local tenant owning an API key: a keyed hash (HMAC-SHA256 under the data dir's
 * `tenant-id-secret`), stable for the key and the data dir. A plain hash would let anyone who
 * sees an id (logs, blob paths) test guessed keys offline; without the secret they cannot.
 */
export async function localTenantId(apiKey: string, secret: string): Promise<string> {
  const mac = await hmacSha256(utf8Encode(secret), `dr2e-local-tenant-id-v1\n${apiKey}`);
  return `local-${toHex(mac).slice(0, 16)}`;
}

/**
 * The tenants of `DR2E_TENANTS_FILE`: a file in the tenants secret's format (tenant-secret.ts),
 * so an operator tries the deployment's tenants, keys, webhook secrets and limits on the local
 * stack as they are. Read once at start (restart to apply an edit).
 */
async function loadTenantsFile(
  file: string,
  configuredKeys: readonly string[],
): Promise<{ records: TenantRecord[]; generatedApiKey?: string }> {
  if (configuredKeys.length > 0) {
    throw new Error(
      "set DR2E_TENANTS_FILE or DR2E_API_KEYS, not both: the file lists each tenant's hashed keys",
    );
  }
  try {
    return { records: parseTenantSecret(await readFile(file, 'utf8')).tenants };
  } catch (error) {
    throw new Error(`DR2E_TENANTS_FILE ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function loadLocalTenants(
  dataDir: string,
  configuredKeys: readonly string[],
): Promise<{ records: TenantRecord[]; generatedApiKey?: string }> {
  let keys = [...new Set(configuredKeys)];
  let generatedApiKey: string | undefined;
  if (keys.length === 0) {
    generatedApiKey = await readOrCreateSecretFile(dataDir, 'local-api-key', () => generateApiKey());
    keys = [generatedApiKey];
  }
  const idSecret = await readOrCreateSecretFile(dataDir, 'tenant-id-secret', () =>
    toBase64Url(randomBytes(32)),
  );
  const tenantsFile = path.join(dataDir, 'tenants.json');
  const records = await withLock(path.join(dataDir, '.tenants.lock'), async () => {
    let stored: z.infer<typeof LocalTenantsFileSchema> = { webhookSecrets: {} };
    try {
      stored = parseWith(
        LocalTenantsFileSchema,
        JSON.parse(await readFile(tenantsFile, 'utf8')),
        tenantsFile,
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let changed = false;
    const built: TenantRecord[] = [];
    for (const [index, key] of keys.entries()) {
      const id = await localTenantId(key, idSecret);
      let webhookSecret = stored.webhookSecrets[id];
      if (!webhookSecret) {
        webhookSecret = generateWebhookSecret();
        stored.webhookSecrets[id] = webhookSecret;
        changed = true;
      }
      const limits = stored.limits?.[id];
      built.push({
        id,
        name: `local tenant ${index + 1}`,
        webhookSecret,
        apiKeyHashes: [await hashApiKey(key)],
        ...(limits ? { limits } : {}),
      });
    }
    if (changed) {
      await atomicWriteFile(tenantsFile, JSON.stringify(stored, null, 2));
      await chmod(tenantsFile, 0o600);
    }
    return built;
  });
  return generatedApiKey ? { records, generatedApiKey } : { records };
}

async function createAwsServices(
  config: RuntimeConfig,
  overrides: ServiceOverrides,
  common: CommonServices,
): Promise<Services> {
  // Loaded only in aws mode, so local runs do not pay for the SDK clients.
  const [
    { S3Client },
    { SQSClient },
    { SecretsManagerClient },
    aws,
    { S3UsageLedger },
    { SecretsManagerTenantDirectory },
    { DynamoDBClient },
    { DynamoDbLimitStore },
  ] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-sqs'),
    import('@aws-sdk/client-secrets-manager'),
    import('../adapters/aws/index.js'),
    import('../adapters/aws/s3-usage-ledger.js'),
    import('../adapters/aws/secrets-tenant-directory.js'),
    import('@aws-sdk/client-dynamodb'),
    import('../adapters/aws/dynamodb-limit-store.js'),
  ]);
  const bucket = required(config.DR2E_BUCKET, 'DR2E_BUCKET');
  const region = config.AWS_REGION ? { region: config.AWS_REGION } : {};
  const s3 = overrides.s3Client ?? new S3Client(region);
  const sqs = overrides.sqsClient ?? new SQSClient(region);
  const secrets = overrides.secretsClient ?? new SecretsManagerClient(region);
  const table = config.DR2E_LIMITS_TABLE;
  const dynamo = !overrides.limits && table ? new DynamoDBClient(region) : undefined;
  const limits =
    overrides.limits ??
    (dynamo && table ? new DynamoDbLimitStore({ client: dynamo, tableName: table }) : undefined);
  if (!limits) {
    console.error(
      JSON.stringify({ level: 'warn', message: 'DR2E_LIMITS_TABLE is not set: per-tenant limits are off' }),
    );
  }
  const ownClients = [
    overrides.s3Client ? undefined : s3,
    overrides.sqsClient ? undefined : sqs,
    overrides.secretsClient ? undefined : secrets,
    dynamo,
  ];
  return {
    ...common,
    mode: 'aws',
    blobs: overrides.blobs ?? new aws.S3BlobStore({ client: s3, bucket }),
    jobs: overrides.jobs ?? new aws.S3JobStore({ client: s3, bucket, prefix: 'job-store/' }),
    queue:
      overrides.queue ??
      new aws.SqsQueue({
        client: sqs,
        queueUrl: required(config.DR2E_QUEUE_URL, 'DR2E_QUEUE_URL'),
        deadLetterQueueUrl: required(config.DR2E_DLQ_URL, 'DR2E_DLQ_URL'),
        schema: JobQueueMessageSchema,
        onUnreadable: reportUnreadable('jobs'),
      }),
    webhookQueue:
      overrides.webhookQueue ??
      new aws.SqsQueue({
        client: sqs,
        queueUrl: required(config.DR2E_WEBHOOK_QUEUE_URL, 'DR2E_WEBHOOK_QUEUE_URL'),
        deadLetterQueueUrl: required(config.DR2E_WEBHOOK_DLQ_URL, 'DR2E_WEBHOOK_DLQ_URL'),
        schema: WebhookDeliveryMessageSchema,
        onUnreadable: reportUnreadable('webhooks'),
      }),
    // Sums kept a minute (CachedUsageSums): each lists the period's records on S3.
    usage:
      overrides.usage ??
      new CachedUsageSums(
        new S3UsageLedger({
          client: s3,
          bucket,
          prefix: 'usage/',
          dayTotalsPrefix: 'usage-days/',
          onDayTotalError: reportDayTotalError,
        }),
        { ttlMs: USAGE_SUM_CACHE_MS, clock: common.clock },
      ),
    tenants:
      overrides.tenants ??
      new SecretsManagerTenantDirectory({
        client: secrets,
        secretId: required(config.DR2E_TENANTS_SECRET_ARN, 'DR2E_TENANTS_SECRET_ARN'),
        clock: common.clock,
      }),
    jobMetrics:
      overrides.jobMetrics ??
      (config.DR2E_METRICS_NAMESPACE
        ? new aws.EmfJobMetrics({ namespace: config.DR2E_METRICS_NAMESPACE })
        : noJobMetrics),
    ...(limits ? { limits } : {}),
    close: async () => {
      for (const client of ownClients) client?.destroy();
    },
  };
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new Error(`${name} is required in aws mode`);
  return value;
}
