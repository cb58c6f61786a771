/**
 * S3 `ObjectCreated` handler (the dispatcher on AWS): for each record whose key is a job input
 * (`tenants/<tenant>/jobs/<jobId>/input`), checks the object and queues the job exactly once
 * (see functions/src/services/dispatch.ts). Other keys (outputs under the same prefix) are
 * ignored. Keys arrive URL-encoded (`+` for spaces) and are decoded first.
 *
 * Errors: a record whose dispatch fails for a transient reason (queue or store unavailable)
 * makes the invocation fail after every record was tried, so Lambda's asynchronous retries run
 * it again; dispatch is idempotent, so records that already succeeded change nothing.
 */
import type { S3Event } from 'aws-lambda';
import { loadRuntimeConfig, createServices } from '../../../shared/runtime/index.js';
import { appOptionsFromConfig, createDispatcher } from '../app.js';
import { createJsonLogger, errorFields, type Logger } from '../../../shared/src/index.js';
import { parseInputKey, type Dispatcher, type DispatchOutcome } from '../services/dispatch.js';

/** `record.s3.object.key` as stored: S3 event keys are URL-encoded with `+` for spaces. */
export function decodeS3EventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** What happened to each record. */
export interface S3EventResult {
  results: { key: string; outcome: DispatchOutcome['outcome'] | 'skipped' | 'error'; jobId?: string }[];
}

/**
 * Dispatches every input key of an event (exported for tests; the handler binds services).
 *
 * @throws the first error after trying every record, so Lambda retries the event.
 */
export async function dispatchS3Event(
  event: S3Event,
  dispatcher: Dispatcher,
  logger: Logger,
): Promise<S3EventResult> {
  const results: S3EventResult['results'] = [];
  let firstError: unknown;
  for (const record of event.Records ?? []) {
    let key: string;
    try {
      key = decodeS3EventKey(record.s3.object.key);
    } catch {
      logger.warn('undecodable S3 key', { key: record.s3.object.key });
      results.push({ key: record.s3.object.key, outcome: 'skipped' });
      continue;
    }
    const input = parseInputKey(key);
    if (!record.eventName?.startsWith('ObjectCreated') || !input) {
      results.push({ key, outcome: 'skipped' });
      continue;
    }
    try {
      const outcome = await dispatcher.handleObjectCreated(key);
      logger.info('dispatched', { jobId: input.jobId, outcome: outcome.outcome });
      results.push({ key, outcome: outcome.outcome, jobId: input.jobId });
    } catch (error) {
      logger.error('dispatch failed', { jobId: input.jobId, ...errorFields(error, true) });
      results.push({ key, outcome: 'error', jobId: input.jobId });
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
  return { results };
}

let dispatcherPromise: Promise<{ dispatcher: Dispatcher; logger: Logger }> | undefined;

async function build(): Promise<{ dispatcher: Dispatcher; logger: Logger }> {
  const config = loadRuntimeConfig(process.env);
  const logger = createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'dispatcher' } });
  const services = await createServices(config);
  return { dispatcher: createDispatcher(services, appOptionsFromConfig(config, { logger })), logger };
}

/** The Lambda handler (`functions/src/entry/lambda-s3-events.handler`). */
export async function handler(event: S3Event): Promise<S3EventResult> {
  dispatcherPromise ??= build().catch((error: unknown) => {
    dispatcherPromise = undefined;
    throw error;
  });
  const { dispatcher, logger } = await dispatcherPromise;
  return dispatchS3Event(event, dispatcher, logger);
}
