/**
 * API Gateway HTTP API (payload v2) handler: the Hono app over the AWS adapters. Services are
 * built once per container (cold start) from the environment (`DR2E_MODE=aws`, bucket, queue,
 * tenants secret; see shared/runtime/config.ts) and reused by later invocations.
 */
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { loadRuntimeConfig, createServices } from '../../../shared/runtime/index.js';
import { appOptionsFromConfig, createApp } from '../app.js';
import { createJsonLogger } from '../../../shared/src/index.js';

let appPromise: Promise<Hono> | undefined;

async function buildApp(): Promise<Hono> {
  const config = loadRuntimeConfig(process.env);
  const logger = createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'api' } });
  const services = await createServices(config);
  return createApp(services, appOptionsFromConfig(config, { logger }));
}

type LambdaHandler = ReturnType<typeof handle>;

/** The Lambda handler (`functions/src/entry/lambda-http.handler`). */
export const handler = (async (event, context) => {
  appPromise ??= buildApp().catch((error: unknown) => {
    // A failed cold start must not be cached: the next invocation tries again.
    appPromise = undefined;
    throw error;
  });
  const app = await appPromise;
  return handle(app)(event, context);
}) as LambdaHandler;
