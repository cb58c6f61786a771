/**
 * The local embedded stack (`npm start`, which runs start.ts): the API, the worker and the webhook delivery loop in
 * ONE process on 127.0.0.1, on the local adapters (everything under `DR2E_DATA_DIR`) with the default model.
 *
 * Reads `PORT` (default 8787), `DR2E_DATA_DIR` (default `.data`), `DR2E_API_KEYS`
 * (comma-separated; with none set one key is generated, kept in the data dir and printed), and
 * the other variables of shared/runtime/config.ts. `DR2E_MODE` is always `local` here.
 *
 * Jobs survive a restart: the queue, job records and files are on disk. Ctrl-C drains like the
 * worker does on SIGTERM (the running batch finishes, or its jobs go back to the queue); a
 * second Ctrl-C exits at once, and the queue redelivers whatever was held once its lease
 * (`DR2E_VISIBILITY_TIMEOUT_SECONDS`, 30 s by default here) runs out.
 *
 * {@link startLocalStack} is what the demo and the end-to-end tests start in-process.
 */
import path from 'node:path';
import { startApiServer, type ApiServer } from '../../../functions/src/index.js';
import {
  loadRuntimeConfig,
  type RuntimeConfig,
  createWebhookDeliveryLoop,
} from '../../../shared/runtime/index.js';
import {
  type WebhookRetrySchedule,
  type WebhookDeliveryLoop,
  createJsonLogger,
  errorFields,
  type Logger,
  type LogLevel,
} from '../../../shared/src/index.js';
import {
  createWorker,
  loadWorkerEngine,
  type ThreadedEngine,
  type Dr2eWorker,
  type RestoreEngine,
  type WorkerSettings,
} from '../worker/index.js';

/** Shorter than on AWS: a restarted laptop process should pick up interrupted jobs quickly. */
const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 30;
/** Short polls, so Ctrl-C does not wait on a long poll (the local queue is a folder scan). */
const LOCAL_POLL_WAIT_SECONDS = 1;

export interface LocalStack {
  /** Base URL of the API, e.g. `http://127.0.0.1:8787`. */
  url: string;
  server: ApiServer;
  worker: Dr2eWorker;
  /** Sends the webhooks the API and the worker queue (with retries over about a day). */
  webhookLoop: WebhookDeliveryLoop;
  /** Resolves when the worker has stopped (after {@link LocalStack.close}). */
  workerDone: Promise<void>;
  /** The key generated because `DR2E_API_KEYS` was empty. */
  generatedApiKey?: string;
  /** Drains the worker (see the module comment), then stops the API. */
  close(reason?: string): Promise<void>;
}

export interface StartLocalStackOptions {
  /** Environment to read (default `process.env`). */
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** An engine to use instead of loading the configured model (tests share one). */
  engine?: RestoreEngine;
  /** Worker settings on top of the configuration's. */
  workerSettings?: Partial<WorkerSettings>;
  /** Webhook retry schedule (tests shorten it; default about 27 hours). */
  webhookSchedule?: WebhookRetrySchedule;
}

/**
 * Starts API + worker on the local adapters.
 *
 * @example
 * ```ts
 * const stack = await startLocalStack({ env: { PORT: '0', DR2E_DATA_DIR: dir, DR2E_API_KEYS: key } });
 * await fetch(`${stack.url}/healthz`);
 * await stack.close();
 * ```
 */
export async function startLocalStack(options: StartLocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const config = localConfig(env);
  const log = options.log ?? createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'local' } });
  let ownEngine: ThreadedEngine | undefined;
  const engine =
    options.engine ?? (ownEngine = await loadWorkerEngine(config, log.child({ component: 'worker' })));
  const server = await startApiServer({ config, logger: log.child({ component: 'api' }) });
  const worker = createWorker({
    config,
    services: server.services,
    engine,
    log: log.child({ component: 'worker' }),
    // One process on a laptop: its liveness is the API answering, not a file in /tmp.
    heartbeatFile: null,
    settings: {
      ...(env.DR2E_VISIBILITY_TIMEOUT_SECONDS
        ? {}
        : { visibilityTimeoutSeconds: LOCAL_VISIBILITY_TIMEOUT_SECONDS }),
      ...(env.DR2E_POLL_WAIT_SECONDS ? {} : { pollWaitSeconds: LOCAL_POLL_WAIT_SECONDS }),
      ...options.workerSettings,
    },
  });
  const workerDone = worker.run();
  const webhookLoop = createWebhookDeliveryLoop(server.services, {
    logger: log.child({ component: 'webhooks' }),
    pollWaitSeconds: LOCAL_POLL_WAIT_SECONDS,
    ...(options.webhookSchedule ? { schedule: options.webhookSchedule } : {}),
  });
  const webhooksDone = webhookLoop.run();
  ownEngine?.onExit((error) => {
    log.error('engine thread died; the API keeps answering but no job will run', errorFields(error));
    void worker.stop('engine_died');
  });
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    server,
    worker,
    webhookLoop,
    workerDone,
    ...(server.services.generatedApiKey ? { generatedApiKey: server.services.generatedApiKey } : {}),
    close(reason = 'close') {
      closing ??= (async () => {
        await worker.stop(reason);
        await workerDone;
        // Deliveries in flight finish, events the drain queued get their first attempt; retries
        // stay on disk for the next start.
        webhookLoop.stop();
        await webhooksDone;
        await webhookLoop.drain();
        await server.close();
        await ownEngine?.dispose();
      })();
      return closing;
    },
  };
}

/** The runtime configuration with `DR2E_MODE` forced to `local`. */
export function localConfig(env: Record<string, string | undefined>): RuntimeConfig {
  return loadRuntimeConfig({ ...env, DR2E_MODE: 'local' });
}

/** What to print after start: where it listens and a curl walk-through. */
export function usageText(
  url: string,
  dataDir: string,
  apiKey: string | undefined,
  tenantsFile?: string,
): string {
  const key = apiKey ?? (tenantsFile ? '<a key of a tenant in the file>' : '<one of DR2E_API_KEYS>');
  return [
    '',
    `dr2e local stack: API and worker on ${url} (data in ${path.resolve(dataDir)})`,
    apiKey
      ? `API key (kept in ${path.join(dataDir, 'local-api-key')}): ${apiKey}`
      : tenantsFile
        ? `API keys: those of the tenants in ${path.resolve(tenantsFile)} (DR2E_TENANTS_FILE)`
        : 'API keys: from DR2E_API_KEYS',
    '',
    `Playground: open ${url}/ in a browser and paste the key.`,
    '',
    'Or with curl:',
    `  export DR2E_URL=${url} DR2E_KEY=${key}`,
    `  curl -s -X POST "$DR2E_URL/v1/jobs" -H "Authorization: Bearer $DR2E_KEY" \\`,
    `       -H 'content-type: application/json' -d '{}'      # a whole photo; {"aligned":true} for one aligned face crop`,
    '  # -> {"id":"job_...","upload":{"url":...,"fields":{...}}}: POST the fields and the file as',
    "  #    multipart form data with the photo's type, file last:",
    '  #    curl -F key=... -F <each field>=... -F Content-Type=image/jpeg -F file=@photo.jpg <upload.url>',
    `  curl -s "$DR2E_URL/v1/jobs/<id>" -H "Authorization: Bearer $DR2E_KEY"   # status, progress, output links`,
    '  npm run demo    # the whole flow with the sample faces and a webhook receiver',
    '',
  ].join('\n');
}

/**
 * A signal this soon after the first is the first one again (see runLocalStack), not a second
 * Ctrl-C: a person pressing twice takes longer.
 */
const REPEATED_SIGNAL_MS = 300;

/** Run the local stack until Ctrl-C or SIGTERM (`npm start`, through start.ts). */
export async function runLocalStack(): Promise<void> {
  const env = { ...process.env };
  const config = localConfig(env);
  const log = createJsonLogger({ level: config.DR2E_LOG_LEVEL as LogLevel, base: { service: 'local' } });
  const stack = await startLocalStack({ env, log });
  log.info('local stack listening', { url: stack.url, dataDir: path.resolve(config.DR2E_DATA_DIR) });
  // Plain text (not JSON) so a person can copy the key and the commands.
  console.log(usageText(stack.url, config.DR2E_DATA_DIR, stack.generatedApiKey, config.DR2E_TENANTS_FILE));
  let firstSignalAt: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (firstSignalAt !== null) {
      // The same Ctrl-C or group signal, delivered twice: once by the terminal or supervisor to
      // the process group, once passed on by the process that relaunched this one (start.ts).
      if (now - firstSignalAt < REPEATED_SIGNAL_MS) return;
      process.exit(130);
    }
    firstSignalAt = now;
    log.info('stopping (Ctrl-C again to exit at once)', { signal });
    stack.close(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', errorFields(error));
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
