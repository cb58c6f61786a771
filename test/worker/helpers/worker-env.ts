/**
 * A worker on the local adapters in a temporary directory, with a recording webhook sender and
 * a scripted wrapper around the real (tiny) engine, for the worker's unit tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DiskJobStore, FilesystemBlobStore, LocalQueue } from '../../../shared/adapters/local/index.js';
import {
  batchKeyFor,
  blobKeys,
  generateWebhookSecret,
  hashApiKey,
  InMemoryUsageLedger,
  JobQueueMessageSchema,
  newJob,
  newJobId,
  StaticTenantDirectory,
  transitionJob,
  webhookHeaders,
  type Job,
  type JobParams,
  type JobQueue,
  type Tenant,
  type WebhookConfig,
  type WebhookDeliveryResult,
  type WebhookHeaders,
  type WebhookQueue,
  type WebhookSendRequest,
  type WebhookSender,
  WebhookDeliverer,
  WebhookDeliveryLoop,
  WebhookDeliveryMessageSchema,
  createJsonLogger,
  jobOutcome,
  type Logger,
} from '../../../shared/src/index.js';
import type {
  Dr2eEngine,
  EngineImageInput,
  ImageRestoration,
  RestoreImagesOptions,
} from '../../../gpu-task/src/engine/index.js';
import { Dr2eWorker, type RestoreEngine, type WorkerSettings } from '../../../gpu-task/src/worker/worker.js';
import type { TaskProtection } from '../../../gpu-task/src/worker/task-protection.js';

export const TINY_MODEL = path.resolve(import.meta.dirname, '../../../gpu-task/models/tiny/pipeline.json');

/** Fast settings: short leases and polls, no backoff waits. */
export const FAST_SETTINGS: Partial<WorkerSettings> = {
  batchSize: 4,
  visibilityTimeoutSeconds: 6,
  maxReceives: 3,
  shutdownDeadlineSeconds: 30,
  pollWaitSeconds: 0.2,
  batchWindowMs: 50,
  progressIntervalMs: 0,
  retryBackoff: { baseMs: 0, maxMs: 0, jitter: 0 },
  deadLetterSweepIntervalMs: 0,
};

/** One webhook the recording sender was asked to deliver, as signed bytes on the wire. */
export interface SentWebhook {
  request: WebhookSendRequest;
  body: string;
  headers: WebhookHeaders;
}

/** A {@link WebhookSender} that signs like the real one and records instead of POSTing. */
export class RecordingWebhookSender implements WebhookSender {
  readonly sent: SentWebhook[] = [];
  /** What each attempt returns (default: 200). */
  answer: (request: WebhookSendRequest) => WebhookDeliveryResult = () => ({
    ok: true,
    status: 200,
    durationMs: 1,
  });

  async send(request: WebhookSendRequest): Promise<WebhookDeliveryResult> {
    const body = JSON.stringify(request.payload);
    const headers = await webhookHeaders({
      id: request.messageId,
      timestamp: new Date(),
      body,
      secret: request.secret,
    });
    this.sent.push({ request, body, headers });
    return this.answer(request);
  }

  forJob(jobId: string): SentWebhook[] {
    return this.sent.filter((sent) => sent.request.payload.data.id === jobId);
  }
}

type StepHook = (
  step: number,
  ids: readonly string[],
  signal: AbortSignal | undefined,
) => void | Promise<void>;

/**
 * The real engine behind hooks: counts calls and finished images per job, can fail a call
 * before it starts, and can pause at a step (the worker's progress writes run in between).
 */
export class ScriptedEngine implements RestoreEngine {
  /** Job ids of each call, in order. */
  readonly calls: string[][] = [];
  /** Per job id: how many times the engine returned a restored image for it. */
  readonly restored = new Map<string, number>();
  /** Return an error to throw it instead of running the call. */
  failCall: ((ids: readonly string[]) => Error | undefined) | undefined;
  /** Awaited after each step. */
  onStep: StepHook | undefined;
  /** Awaited before each call runs (detection and alignment would take this time). */
  beforeCall: (() => Promise<void>) | undefined;

  constructor(private readonly inner: Dr2eEngine) {}

  /** The model's name, as the worker's real engines give it. */
  get name(): string {
    return this.inner.name;
  }

  async restoreImages(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions = {},
  ): Promise<ImageRestoration[]> {
    const ids = inputs.map((input) => input.id);
    this.calls.push(ids);
    const failure = this.failCall?.(ids);
    if (failure) throw failure;
    await this.beforeCall?.();
    const results = await this.inner.restoreImages(inputs, {
      ...options,
      onStep: async (progress) => {
        await options.onStep?.(progress);
        await this.onStep?.(progress.step, ids, options.signal);
      },
    });
    for (const result of results) {
      if (result.ok) this.restored.set(result.id, (this.restored.get(result.id) ?? 0) + 1);
    }
    return results;
  }
}

/** Records the protection switches the worker makes. */
export class RecordingTaskProtection implements TaskProtection {
  readonly calls: ('enable' | 'disable')[] = [];
  protected = false;
  async enable(): Promise<void> {
    this.calls.push('enable');
    this.protected = true;
  }
  async disable(): Promise<void> {
    this.calls.push('disable');
    this.protected = false;
  }
}

export interface QueueJobOptions {
  bytes: Uint8Array;
  contentType?: string;
  params?: Partial<JobParams>;
  webhook?: WebhookConfig;
  /** Send the queue message (default true). */
  send?: boolean;
}

export interface WorkerEnv {
  dir: string;
  tenant: Tenant;
  blobs: FilesystemBlobStore;
  jobs: DiskJobStore;
  queue: JobQueue;
  usage: InMemoryUsageLedger;
  tenants: StaticTenantDirectory;
  /** Where the worker queues terminal events. */
  webhookQueue: WebhookQueue;
  /** Records what the delivery consumer sends. */
  webhooks: RecordingWebhookSender;
  /**
   * Runs the webhook delivery consumer until the webhook queue is empty (three attempts, no
   * waits between them), as the delivery Lambda or the local loop would.
   */
  deliverWebhooks(): Promise<void>;
  logLines: Record<string, unknown>[];
  log: Logger;
  /** The jobs the worker reported finished to its metrics, in order: `<job id> <outcome>`. */
  finished: string[];
  /** A job in `queued` with its input stored and (by default) its message sent. */
  queueJob(options: QueueJobOptions): Promise<Job>;
  worker(engine: RestoreEngine, settings?: Partial<WorkerSettings>, protection?: TaskProtection): Dr2eWorker;
  job(jobId: string): Promise<Job>;
  close(): Promise<void>;
}

export const WEBHOOK: WebhookConfig = {
  url: 'https://hooks.example.com/dr2e',
  events: ['job.succeeded', 'job.failed', 'job.canceled'],
};

/**
 * @param maxReceives deliveries per message (the local queue's and the worker's setting)
 * @param queueOverride another queue (SQS on local-aws-sqs) instead of the local one
 */
export async function createWorkerEnv(maxReceives = 3, queueOverride?: JobQueue): Promise<WorkerEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-worker-'));
  const tenant: Tenant = { id: 'tenant-a', name: 'Tenant A', webhookSecret: generateWebhookSecret() };
  const tenants = new StaticTenantDirectory([
    { ...tenant, apiKeyHashes: [await hashApiKey('dr2e_sk_test')] },
  ]);
  const blobs = new FilesystemBlobStore({
    rootDir: path.join(dir, 'blobs'),
    signingSecret: 'worker-test-signing-secret',
    uploadUrl: 'http://127.0.0.1:9/local-upload',
    downloadUrl: 'http://127.0.0.1:9/local-download',
  });
  const jobs = new DiskJobStore({ dir: path.join(dir, 'jobs') });
  const queue: JobQueue =
    queueOverride ??
    new LocalQueue({
      dir: path.join(dir, 'queues'),
      name: 'jobs',
      schema: JobQueueMessageSchema,
      maxReceives,
      pollIntervalMs: 20,
    });
  const usage = new InMemoryUsageLedger();
  const webhooks = new RecordingWebhookSender();
  const webhookQueue: WebhookQueue = new LocalQueue({
    dir: path.join(dir, 'queues'),
    name: 'webhooks',
    schema: WebhookDeliveryMessageSchema,
    maxReceives: 5,
    pollIntervalMs: 20,
  });
  const logLines: Record<string, unknown>[] = [];
  const log = createJsonLogger({
    level: 'debug',
    write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>),
  });
  let seed = 100;
  const finished: string[] = [];
  const metrics = { jobFinished: (job: Job) => finished.push(`${job.id} ${jobOutcome(job) ?? job.status}`) };
  const env: WorkerEnv = {
    dir,
    tenant,
    blobs,
    jobs,
    queue,
    usage,
    tenants,
    webhookQueue,
    webhooks,
    async deliverWebhooks() {
      const deliverer = new WebhookDeliverer({
        jobs,
        blobs,
        tenants,
        sender: webhooks,
        queue: webhookQueue,
        clock: { now: () => new Date() },
        downloadUrlTtlSeconds: 3600,
        schedule: { delaysMs: [0, 0], jitter: 0 },
        logger: log,
      });
      const loop = new WebhookDeliveryLoop({ queue: webhookQueue, deliverer, logger: log });
      await waitFor(
        async () => {
          await loop.drain();
          const stats = await webhookQueue.stats();
          return stats.visible + stats.inFlight + stats.delayed === 0;
        },
        10_000,
        'the webhook queue to empty',
      );
    },
    logLines,
    log,
    finished,
    async queueJob(options) {
      const at = new Date();
      // The pattern images stand in for aligned face crops (no face to detect): jobs restore
      // them whole unless a test asks for photo mode.
      // A fixed schedule (the paper's mild setting, N = 4 and tau = 22 of 100, on the 10-step
      // schedule: three sampler steps) unless a test picks one: the tests count steps, and
      // `auto` would choose per image.
      const picksSchedule = ['preset', 'n', 'tau', 'omega'].some((key) => key in (options.params ?? {}));
      const params: JobParams = {
        steps: 10,
        ...(picksSchedule ? {} : { n: 4, tau: 2, omega: 4 }),
        seed: seed++,
        aligned: true,
        output: { format: 'png', keepDr2: false },
        ...options.params,
      };
      const id = newJobId(at);
      const job = newJob({
        id,
        tenantId: tenant.id,
        model: 'tiny',
        params,
        inputKey: blobKeys.input(tenant.id, id),
        at,
        ...(options.webhook ? { webhook: options.webhook } : {}),
      });
      await jobs.create(job);
      await blobs.put(job.input.key, options.bytes, { contentType: options.contentType ?? 'image/png' });
      const uploaded = transitionJob(job, { to: 'uploaded', at, input: { bytes: options.bytes.length } });
      const queued = transitionJob(uploaded, { to: 'queued', at });
      const stored = await jobs.update(queued, job.version);
      if (options.send !== false) {
        await queue.send({ jobId: job.id, tenantId: tenant.id, batchKey: batchKeyFor(params, 'tiny') });
      }
      return stored;
    },
    worker(engine, settings = {}, protection) {
      return new Dr2eWorker({
        services: { queue, jobs, blobs, usage, tenants, webhookQueue, metrics },
        engine,
        settings: { ...FAST_SETTINGS, maxReceives, ...settings },
        log,
        ...(protection ? { taskProtection: protection } : {}),
      });
    },
    async job(jobId) {
      const job = await jobs.get(jobId);
      if (!job) throw new Error(`no job ${jobId}`);
      return job;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
  return env;
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A promise with its resolve function, to pause an engine step until the test says so. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
