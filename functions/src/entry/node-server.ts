/**
 * The API on Node (`@hono/node-server`) with the adapters of the configured mode (local by
 * default): `node --import tsx functions/src/entry/node-server.ts`. Reads `HOST`, `PORT`
 * (0 picks a free port), `DR2E_DATA_DIR`, `DR2E_API_KEYS`... (see shared/runtime/config.ts) and
 * prints the URL and, when it generated one, the API key.
 *
 * {@link startApiServer} is also what tests, the benchmark and the local stack (API + worker in
 * one process) use: it listens first, so signed local links can name the real port, then
 * builds the services and the app.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import {
  EXPIRY_SWEEP_INTERVAL_SECONDS,
  loadRuntimeConfig,
  type RuntimeConfig,
  createServices,
  localPublicUrl,
  type ServiceOverrides,
  type Services,
} from '../../../shared/runtime/index.js';
import {
  appOptionsFromConfig,
  createApp,
  createExpiry,
  DEFAULT_APP_OPTIONS,
  type AppOptions,
} from '../app.js';
import { createJsonLogger, errorFields, type Logger } from '../../../shared/src/index.js';

export interface StartApiServerOptions {
  config: RuntimeConfig;
  overrides?: ServiceOverrides;
  /** App options on top of those from the configuration. */
  app?: Partial<AppOptions>;
  logger?: Logger;
  /** Use these services instead of building them (their local links must match the port). */
  services?: (publicUrl: string) => Promise<Services>;
  /**
   * How often jobs that never got an upload are expired on schedule (their `job.canceled` sent;
   * `CreatedJobExpiry.sweepDue`), from start; default hourly, 0 turns it off.
   */
  expirySweepIntervalMs?: number;
}

export interface ApiServer {
  /** Base URL of the server, e.g. `http://127.0.0.1:8787`. */
  url: string;
  port: number;
  services: Services;
  app: Hono;
  /** Stops accepting connections, ends open ones, releases the services. */
  close(): Promise<void>;
}

/**
 * @example
 * ```ts
 * const server = await startApiServer({ config: loadRuntimeConfig({ PORT: '0', DR2E_DATA_DIR: dir }) });
 * await fetch(`${server.url}/healthz`);
 * await server.close();
 * ```
 */
export async function startApiServer(options: StartApiServerOptions): Promise<ApiServer> {
  const { config } = options;
  const logger =
    options.logger ?? createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'api' } });
  let handler: ((request: Request) => Response | Promise<Response>) | undefined;
  const server: ServerType = await new Promise((resolve, reject) => {
    const started = serve(
      {
        // Requests that arrive before the app is built (a few ms) are told to come back.
        fetch: (request: Request) =>
          handler
            ? handler(request)
            : Response.json({ error: { code: 'starting', message: 'server is starting' } }, { status: 503 }),
        port: config.PORT,
        hostname: config.HOST,
      },
      () => resolve(started),
    );
    started.once('error', reject);
  });
  try {
    const port = (server.address() as AddressInfo).port;
    const publicUrl = localPublicUrl(config, port);
    const services = options.services
      ? await options.services(publicUrl)
      : await createServices(config, { ...options.overrides, publicUrl });
    const appOptions = appOptionsFromConfig(config, { logger, ...options.app });
    const app = createApp(services, appOptions);
    handler = (request) => app.fetch(request);
    const stopSweeps = startExpirySweeps(
      services,
      appOptions,
      options.expirySweepIntervalMs ?? EXPIRY_SWEEP_INTERVAL_SECONDS * 1000,
    );
    const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    let closed = false;
    return {
      url: `http://${host}:${port}`,
      port,
      services,
      app,
      close: async () => {
        if (closed) return;
        closed = true;
        await stopSweeps();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
        await services.close();
      },
    };
  } catch (error) {
    server.close();
    throw error;
  }
}

/**
 * Runs the scheduled expiry sweep (at start, then every `intervalMs`) one at a time; returns a
 * stop function that waits for a sweep under way. A failing sweep is logged and tried again at
 * the next tick.
 */
function startExpirySweeps(
  services: Services,
  options: Partial<AppOptions>,
  intervalMs: number,
): () => Promise<void> {
  if (!(intervalMs > 0)) return async () => undefined;
  const appOptions: AppOptions = { ...DEFAULT_APP_OPTIONS, ...options };
  const logger = appOptions.logger.child({ component: 'expiry' });
  const expiry = createExpiry(services, appOptions);
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const sweep = () => {
    if (stopped) return;
    running = running
      .then(() => expiry.sweepDue())
      .catch((error: unknown) => logger.warn('expiry sweep failed', errorFields(error)));
  };
  sweep();
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

async function main(): Promise<void> {
  const config = loadRuntimeConfig(process.env);
  const logger = createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'api' } });
  const server = await startApiServer({ config, logger });
  logger.info('API listening', { url: server.url, mode: server.services.mode });
  if (server.services.generatedApiKey) {
    // Printed plainly (not only as JSON) so a person can copy it.
    console.log(
      `\nAPI key (kept in ${config.DR2E_DATA_DIR}/local-api-key): ${server.services.generatedApiKey}\n`,
    );
  }
  const stop = (signal: string) => {
    logger.info('shutting down', { signal });
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', errorFields(error));
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
