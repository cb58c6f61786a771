/** What the worker runs on: its ports, its engine, and its settings with their defaults. */
import type { Dr2eEngine } from '../engine/index.js';
import {
  dropUndefined,
  type BlobStore,
  type JobMetrics,
  type JobQueue,
  type JobStore,
  type TenantDirectory,
  type UsageLedger,
  type WebhookQueue,
} from '../../../shared/src/index.js';
import type { BackoffPolicy } from './backoff.js';

/**
 * What the worker needs of an engine (tests wrap or fake it): its restore call, and the model's
 * name (recorded in each job's output as the model that restored it) where the engine has one.
 */
export type RestoreEngine = Pick<Dr2eEngine, 'restoreImages'> & { readonly name?: string };

/** The ports the worker runs on (built by `createServices` from the runtime configuration). */
export interface WorkerServices {
  queue: JobQueue;
  jobs: JobStore;
  blobs: BlobStore;
  usage: UsageLedger;
  tenants: TenantDirectory;
  /** Where terminal events go; a delivery consumer (not the worker) sends them. */
  webhookQueue: WebhookQueue;
  /** Metrics of the jobs this worker finishes (default none). */
  metrics?: JobMetrics;
}

export interface WorkerSettings {
  /** Photos (jobs) per engine call (`DR2E_BATCH_SIZE`); aligned crops: also images per sampler run. */
  batchSize: number;
  /**
   * Faces per sampler run (`DR2E_FACES_PER_RUN`): all faces of all photos of an engine call
   * share runs of this size, so a group photo of six is one run at batch 6.
   */
  facesPerRun: number;
  /** Message lease (`DR2E_VISIBILITY_TIMEOUT_SECONDS`), extended every third of it. */
  visibilityTimeoutSeconds: number;
  /** Deliveries per message before it dead-letters (`DR2E_MAX_RECEIVES`; equal to the queue's). */
  maxReceives: number;
  /**
   * Longest an engine call may run for one photo (`DR2E_MAX_ENGINE_SECONDS`; 0 for no cap): a
   * call past it is aborted at its next sampler step, its jobs each run alone, and a job that
   * outlasts it alone fails with `engine_timeout` (it would take as long on every delivery).
   */
  maxEngineSeconds: number;
  /** Time to finish or release held work after `Dr2eWorker.stop` (`DR2E_SHUTDOWN_DEADLINE_SECONDS`). */
  shutdownDeadlineSeconds: number;
  /** Long-poll wait per receive, 0 to 20 s (`DR2E_POLL_WAIT_SECONDS`). */
  pollWaitSeconds: number;
  /** After a receive that filled less than a batch, wait this long and top up once. */
  batchWindowMs: number;
  /** Least time between progress writes of a job during sampling. */
  progressIntervalMs: number;
  /** Delay before a job released for a transient error is delivered again. */
  retryBackoff: BackoffPolicy;
  /** How often the dead-letter queue is swept (0 = never; tests call the sweep directly). */
  deadLetterSweepIntervalMs: number;
  /**
   * Liveness file for the container health check, touched every poll loop and, while a batch
   * runs, at sampler steps (at most every 5 s): it goes stale when the loop or the model hangs.
   * Undefined for none.
   */
  heartbeatFile: string | undefined;
}

/**
 * Largest engine cap (s): a day. Node's timers take at most 2^31 - 1 ms (24.8 days) and fire at
 * once beyond it, which would fail every job.
 */
export const MAX_ENGINE_SECONDS_LIMIT = 86_400;

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  batchSize: 4,
  facesPerRun: 32,
  visibilityTimeoutSeconds: 120,
  maxReceives: 3,
  maxEngineSeconds: 600,
  shutdownDeadlineSeconds: 100,
  pollWaitSeconds: 20,
  batchWindowMs: 250,
  progressIntervalMs: 1000,
  retryBackoff: { baseMs: 5000, maxMs: 300_000, jitter: 0.5 },
  deadLetterSweepIntervalMs: 30_000,
  heartbeatFile: undefined,
};

/**
 * The defaults overridden by the given settings (undefined ones ignored), checked.
 *
 * @throws {RangeError} for a batch size, faces per run, lease, receive count or engine cap out of range.
 * @example resolveWorkerSettings({ batchSize: 8 }).visibilityTimeoutSeconds // 120
 */
export function resolveWorkerSettings(overrides: Partial<WorkerSettings> = {}): WorkerSettings {
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...dropUndefined(overrides) };
  const { batchSize, facesPerRun, visibilityTimeoutSeconds, maxReceives, maxEngineSeconds } = settings;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be >= 1');
  if (!Number.isInteger(facesPerRun) || facesPerRun < 1) throw new RangeError('facesPerRun must be >= 1');
  if (!Number.isInteger(visibilityTimeoutSeconds) || visibilityTimeoutSeconds < 3) {
    throw new RangeError('visibilityTimeoutSeconds must be an integer >= 3');
  }
  if (!Number.isInteger(maxReceives) || maxReceives < 1) throw new RangeError('maxReceives must be >= 1');
  if (!(maxEngineSeconds >= 0 && maxEngineSeconds <= MAX_ENGINE_SECONDS_LIMIT)) {
    throw new RangeError(`maxEngineSeconds must be 0 (no cap) to ${MAX_ENGINE_SECONDS_LIMIT}`);
  }
  return settings;
}

/**
 * How long a `running` job may go untouched before its worker counts as dead: half a lease
 * (a live worker touches its jobs every third of one).
 */
export function staleAfterMs(settings: Pick<WorkerSettings, 'visibilityTimeoutSeconds'>): number {
  return (settings.visibilityTimeoutSeconds * 1000) / 2;
}
