/**
 * S3 `ObjectCreated` handler (the dispatcher on AWS): for each record whose key is a job input
 * (`tenants/<tenant>/jobs/<jobId>/input`), checks the object and queues the job exactly once
 * (see functions/src/services/dispatch.ts). Other keys (outputs under the same prefix) are
 * ignored. Keys arrive URL-encoded (`+` for spaces) and are decoded first.
 *
 * The same function runs the hourly expiry sweep of jobs that never got an upload, on the
 * scheduled event of an EventBridge rule (see {@link isScheduledSweep}).
 *
 * Errors: a record whose dispatch fails for a transient reason (queue or store unavailable)
 * makes the invocation fail after every record was tried, so Lambda's asynchronous retries run
 * it again; dispatch is idempotent, so records that already succeeded change nothing.
 */
import type { Context, S3Event } from 'aws-lambda';
import { loadRuntimeConfig, createServices } from '../../../shared/runtime/index.js';
import { appOptionsFromConfig, createDispatcher, createExpiry, DEFAULT_APP_OPTIONS } from '../app.js';
import type { CreatedJobExpiry } from '../services/expiry.js';
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

/**
 * The hourly EventBridge rule's event (`source: aws.events`, `detail-type: Scheduled Event`):
 * the dispatcher then runs the expiry sweep (`CreatedJobExpiry.sweepDue`) instead of dispatching.
 */
export interface ScheduledSweepEvent {
  source: 'aws.events';
  'detail-type': 'Scheduled Event';
}

/** True for the scheduled rule's event (anything else is handled as an S3 event). */
export function isScheduledSweep(event: unknown): event is ScheduledSweepEvent {
  const candidate = event as Partial<Record<string, unknown>> | null;
  return candidate?.source === 'aws.events' && candidate['detail-type'] === 'Scheduled Event';
}

/** Time kept back from the sweep's budget: the page under way and the answer. */
const SWEEP_MARGIN_MS = 20_000;

interface DispatcherParts {
  dispatcher: Dispatcher;
  expiry: CreatedJobExpiry;
  logger: Logger;
}

let partsPromise: Promise<DispatcherParts> | undefined;

async function build(): Promise<DispatcherParts> {
  const config = loadRuntimeConfig(process.env);
  const logger = createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'dispatcher' } });
  const services = await createServices(config);
  const options = { ...DEFAULT_APP_OPTIONS, ...appOptionsFromConfig(config, { logger }) };
  return { dispatcher: createDispatcher(services, options), expiry: createExpiry(services, options), logger };
}

/**
 * The Lambda handler (`functions/src/entry/lambda-s3-events.handler`): S3 events dispatch
 * uploads; the hourly scheduled event expires jobs that never got one.
 */
export async function handler(
  event: S3Event | ScheduledSweepEvent,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<S3EventResult | { expired: number }> {
  partsPromise ??= build().catch((error: unknown) => {
    partsPromise = undefined;
    throw error;
  });
  const { dispatcher, expiry, logger } = await partsPromise;
  if (isScheduledSweep(event)) {
    // Within the function's timeout, with room to finish the page under way; the next hourly
    // run goes on where this one stopped.
    const remaining = context?.getRemainingTimeInMillis();
    const timeBudgetMs = remaining === undefined ? undefined : Math.max(1000, remaining - SWEEP_MARGIN_MS);
    return { expired: await expiry.sweepDue(timeBudgetMs === undefined ? {} : { timeBudgetMs }) };
  }
  return dispatchS3Event(event, dispatcher, logger);
}
