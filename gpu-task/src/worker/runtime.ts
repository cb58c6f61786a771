/**
 * Wiring the worker from the runtime configuration: the worker entry point
 * (`gpu-task/src/worker/main.ts`) and the local stack (`npm start`) both start it here.
 */
import os from 'node:os';
import path from 'node:path';
import type { RuntimeConfig, Services } from '../../../shared/runtime/index.js';
import { DEFAULT_HEARTBEAT_FILE } from './heartbeat-file.js';
import type { Logger } from '../../../shared/src/index.js';
import { downloadModels } from './model-download.js';
import { ThreadedEngine } from './threaded-engine.js';
import { EcsTaskProtection, noTaskProtection, type TaskProtection } from './task-protection.js';
import { Dr2eWorker, type RestoreEngine, type WorkerSettings } from './worker.js';

/** Worker settings from `DR2E_*` variables (the rest keep their defaults). */
export function workerSettingsFromConfig(config: RuntimeConfig): Partial<WorkerSettings> {
  return {
    batchSize: config.DR2E_BATCH_SIZE,
    facesPerRun: config.DR2E_FACES_PER_RUN,
    visibilityTimeoutSeconds: config.DR2E_VISIBILITY_TIMEOUT_SECONDS,
    maxReceives: config.DR2E_MAX_RECEIVES,
    maxEngineSeconds: config.DR2E_MAX_ENGINE_SECONDS,
    shutdownDeadlineSeconds: config.DR2E_SHUTDOWN_DEADLINE_SECONDS,
    pollWaitSeconds: config.DR2E_POLL_WAIT_SECONDS,
  };
}

/**
 * The pipeline manifest to load: with `DR2E_MODELS_S3_URI`, the prefix is downloaded first and
 * `DR2E_MODEL` (default `pipeline.json`) is relative to it; else `DR2E_MODEL` as given, or
 * undefined for the embedded default.
 */
export async function resolveModelManifest(
  config: RuntimeConfig,
  log: Logger,
  modelsDir: string = path.join(os.tmpdir(), 'dr2e-models'),
): Promise<string | undefined> {
  if (!config.DR2E_MODELS_S3_URI) return config.DR2E_MODEL ? path.resolve(config.DR2E_MODEL) : undefined;
  const { S3Client } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client(config.AWS_REGION ? { region: config.AWS_REGION } : {});
  try {
    await downloadModels({ s3, uri: config.DR2E_MODELS_S3_URI, dir: modelsDir, log });
  } finally {
    s3.destroy();
  }
  return path.resolve(modelsDir, config.DR2E_MODEL ?? 'pipeline.json');
}

/**
 * Loads the configured model on the configured device in a worker thread (see
 * threaded-engine.ts); manifests and checksums are verified there. Logs a warning when `auto`'s
 * calibration was fitted on another model (the ECS worker and the local stack alike).
 */
export async function loadWorkerEngine(config: RuntimeConfig, log: Logger): Promise<ThreadedEngine> {
  const model = await resolveModelManifest(config, log);
  const started = Date.now();
  const engine = await ThreadedEngine.start({
    ...(model ? { model } : {}),
    device: config.DR2E_DEVICE,
    ...(config.DR2E_THREADS ? { intraOpThreads: config.DR2E_THREADS } : {}),
    ...(config.DR2E_COMMERCIAL_USE ? { commercialUse: true } : {}),
  });
  log.info('model loaded', {
    model: engine.name,
    device: config.DR2E_DEVICE,
    resolution: engine.resolution,
    outputSize: engine.outputSize,
    commercialUse: config.DR2E_COMMERCIAL_USE,
    ms: Date.now() - started,
  });
  if (!engine.autoCalibrated) {
    // Jobs default to `auto`; with another model's table its choices may keep faces this one could restore.
    log.warn(
      "auto's calibration was not fitted on this model: jobs with preset auto get the embedded default's per-face choices",
      {
        model: engine.name,
        fix: 'jobs pass preset mild|medium|severe, or fit a table with scripts/calibrate-quality.ts (docs/quality/README.md)',
      },
    );
  }
  return engine;
}

/** Scale-in protection through the ECS agent when running on ECS (`ECS_AGENT_URI` is set). */
export function taskProtectionFromEnv(env: NodeJS.ProcessEnv, log: Logger): TaskProtection {
  const agentUri = env.ECS_AGENT_URI;
  return agentUri ? new EcsTaskProtection({ agentUri, log }) : noTaskProtection;
}

export interface CreateWorkerOptions {
  config: RuntimeConfig;
  services: Services;
  engine: RestoreEngine;
  log: Logger;
  /** Liveness file (default `/tmp/dr2e-worker-heartbeat`; `null` for none). */
  heartbeatFile?: string | null;
  taskProtection?: TaskProtection;
  /** Extra settings on top of the configuration's (tests, the local stack). */
  settings?: Partial<WorkerSettings>;
}

/**
 * A worker on the given services (it queues webhooks on `services.webhookQueue`).
 *
 * @example
 * ```ts
 * const worker = createWorker({ config, services, engine, log });
 * process.once('SIGTERM', () => void worker.stop('SIGTERM'));
 * await worker.run();
 * ```
 */
export function createWorker(options: CreateWorkerOptions): Dr2eWorker {
  const { config, services, log } = options;
  const heartbeatFile = options.heartbeatFile === undefined ? DEFAULT_HEARTBEAT_FILE : options.heartbeatFile;
  return new Dr2eWorker({
    services: {
      queue: services.queue,
      jobs: services.jobs,
      blobs: services.blobs,
      usage: services.usage,
      tenants: services.tenants,
      webhookQueue: services.webhookQueue,
      metrics: services.jobMetrics,
    },
    engine: options.engine,
    settings: {
      ...workerSettingsFromConfig(config),
      heartbeatFile: heartbeatFile ?? undefined,
      ...options.settings,
    },
    clock: services.clock,
    log,
    taskProtection: options.taskProtection ?? noTaskProtection,
  });
}
