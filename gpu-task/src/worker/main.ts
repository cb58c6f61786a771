/**
 * The GPU worker process: `node dist/gpu-task/src/worker/main.js` in the container, or
 * `node --import tsx gpu-task/src/worker/main.ts` from a checkout.
 *
 * Reads the runtime configuration (shared/runtime/config.ts; `DR2E_MODE=aws` on ECS), downloads
 * the models when `DR2E_MODELS_S3_URI` is set, loads the engine, builds the services and runs
 * the worker until SIGTERM or SIGINT; then drains within `DR2E_SHUTDOWN_DEADLINE_SECONDS` (the
 * running batch finishes, or its jobs are put back in the queue) and exits 0. A second signal
 * exits at once (the queue redelivers whatever was held). Exits 1 when it cannot start (bad
 * configuration, model not loadable), and 78 when the configured execution provider cannot run
 * a one-node model (see provider-check.ts) or the engine refuses the configured model for good
 * (a broken model contract, weights licensed for non-commercial use where DR2E_COMMERCIAL_USE
 * declares commercial use): a restart would only fail the same way, so on ECS it holds first.
 *
 * In local mode (a worker process next to `node-server`, sharing a data directory) it also runs
 * the webhook delivery loop; on AWS the delivery Lambda consumes the webhook queue instead.
 */
import { pathToFileURL } from 'node:url';
import {
  loadRuntimeConfig,
  createServices,
  createWebhookDeliveryLoop,
} from '../../../shared/runtime/index.js';
import { type Device, EngineError } from '../engine/index.js';
import {
  sleep,
  createJsonLogger,
  errorFields,
  type Logger,
  type LogLevel,
} from '../../../shared/src/index.js';
import {
  checkExecutionProvider,
  markUnhealthy,
  PROVIDER_UNAVAILABLE_EXIT_CODE,
  PROVIDER_FAILURE_HOLD_SECONDS,
} from './provider-check.js';
import { createWorker, loadWorkerEngine, taskProtectionFromEnv } from './runtime.js';

async function main(log: Logger): Promise<void> {
  const config = loadRuntimeConfig(process.env);
  if (!(await providerWorks(config.DR2E_DEVICE, config.DR2E_MODE, log))) return;
  const engine = await loadWorkerEngine(config, log).catch(async (error: unknown) => {
    // Only a final refusal: a retryable failure (a device hiccup) exits 1 and is restarted.
    if (!(error instanceof EngineError) || error.retryable) throw error;
    log.error('model refused at start: this worker takes no job', {
      ...errorFields(error),
      exitCode: PROVIDER_UNAVAILABLE_EXIT_CODE,
    });
    await holdBeforeExit(config.DR2E_MODE, `model refused: ${error.code}: ${error.message}`);
    return null;
  });
  if (!engine) return;
  const services = await createServices(config);
  const worker = createWorker({
    config,
    services,
    engine,
    log,
    taskProtection: taskProtectionFromEnv(process.env, log),
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(130);
    }
    void worker.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  engine.onExit((error) => {
    // Without its engine the worker can only fail jobs: stop, and let the platform restart it.
    log.error('engine thread died', errorFields(error));
    process.exitCode = 1;
    void worker.stop('engine_died');
  });
  const webhookLoop =
    config.DR2E_MODE === 'local'
      ? createWebhookDeliveryLoop(services, { logger: log.child({ component: 'webhooks' }) })
      : undefined;
  const webhooksDone = webhookLoop?.run();
  log.info('worker process ready', { mode: config.DR2E_MODE, pid: process.pid });
  await worker.run();
  if (webhookLoop) {
    webhookLoop.stop();
    await webhooksDone;
    // Events the drain just queued: first attempts now; retries stay queued for the next start.
    await webhookLoop.drain();
  }
  await engine.dispose();
  await services.close();
}

/**
 * The start-up provider check (provider-check.ts). On failure: one error line with the reason,
 * the reason in the health-check file, no job taken; on ECS the process then waits
 * {@link PROVIDER_FAILURE_HOLD_SECONDS} (a SIGTERM ends the wait) so the unhealthy task is
 * replaced slowly rather than crash-looping, and exits with {@link PROVIDER_UNAVAILABLE_EXIT_CODE}.
 */
async function providerWorks(device: Device, mode: 'local' | 'aws', log: Logger): Promise<boolean> {
  const check = await checkExecutionProvider(device);
  if (check.ok) {
    log.info('execution provider ready', { device, ms: check.ms });
    return true;
  }
  log.error('execution provider unavailable: this worker takes no job', {
    device,
    reason: check.reason,
    exitCode: PROVIDER_UNAVAILABLE_EXIT_CODE,
  });
  await holdBeforeExit(mode, `execution provider ${device} unavailable: ${check.reason}`);
  return false;
}

/**
 * A worker that cannot take jobs (no provider, a refused model) sets exit status
 * PROVIDER_UNAVAILABLE_EXIT_CODE and, on ECS, marks itself unhealthy with `reason` and waits
 * PROVIDER_FAILURE_HOLD_SECONDS (a SIGTERM ends the wait): replaced slowly, not crash-looping.
 */
async function holdBeforeExit(mode: 'local' | 'aws', reason: string): Promise<void> {
  process.exitCode = PROVIDER_UNAVAILABLE_EXIT_CODE;
  if (mode !== 'aws') return;
  await markUnhealthy(reason);
  const sigterm = new AbortController();
  process.once('SIGTERM', () => sigterm.abort());
  await sleep(PROVIDER_FAILURE_HOLD_SECONDS * 1000, sigterm.signal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const levels: readonly string[] = ['debug', 'info', 'warn', 'error'];
  const wanted = process.env.DR2E_LOG_LEVEL ?? 'info';
  const log = createJsonLogger({
    level: (levels.includes(wanted) ? wanted : 'info') as LogLevel,
    base: { service: 'worker' },
  });
  main(log).then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      log.error('worker failed to start or crashed', errorFields(error, true));
      process.exit(1);
    },
  );
}
