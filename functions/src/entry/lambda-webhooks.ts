/**
 * SQS handler of the webhook queue (the delivery consumer on AWS): one attempt per message with
 * the shared {@link WebhookDeliverer}; a failed attempt queues the next one itself (chained SQS
 * delays up to ~27 hours), so the message is consumed either way. Only transient trouble (job
 * store, tenants secret or queue unavailable) and unreadable bodies are reported back as
 * `batchItemFailures`: SQS redelivers those after the visibility timeout and dead-letters them
 * after the queue's max receives (the event source mapping has `ReportBatchItemFailures`).
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadRuntimeConfig, createServices, createWebhookDeliverer } from '../../../shared/runtime/index.js';
import {
  WebhookDeliveryMessageSchema,
  type WebhookDeliverer,
  createJsonLogger,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';

/**
 * Handles every record of an event concurrently (exported for tests; the handler binds services).
 *
 * @example
 * ```ts
 * const { batchItemFailures } = await deliverWebhookRecords(event, deliverer, logger);
 * ```
 */
export async function deliverWebhookRecords(
  event: SQSEvent,
  deliverer: Pick<WebhookDeliverer, 'handle'>,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const failures = await Promise.all(
    (event.Records ?? []).map(async (record) => {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        body = undefined;
      }
      const parsed = WebhookDeliveryMessageSchema.safeParse(body);
      if (!parsed.success) {
        logger.error('unreadable webhook message', { messageId: record.messageId });
        return record.messageId;
      }
      try {
        await deliverer.handle(parsed.data);
        return undefined;
      } catch (error) {
        logger.error('webhook message failed', {
          messageId: record.messageId,
          jobId: parsed.data.jobId,
          ...errorFields(error, true),
        });
        return record.messageId;
      }
    }),
  );
  return {
    batchItemFailures: failures
      .filter((id): id is string => id !== undefined)
      .map((itemIdentifier) => ({ itemIdentifier })),
  };
}

let built: Promise<{ deliverer: WebhookDeliverer; logger: Logger }> | undefined;

async function build(): Promise<{ deliverer: WebhookDeliverer; logger: Logger }> {
  const config = loadRuntimeConfig(process.env);
  const logger = createJsonLogger({ level: config.DR2E_LOG_LEVEL, base: { service: 'webhooks' } });
  const services = await createServices(config);
  return { deliverer: createWebhookDeliverer(services, { logger }), logger };
}

/** The Lambda handler (`functions/src/entry/lambda-webhooks.handler`). */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  built ??= build().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  const { deliverer, logger } = await built;
  return deliverWebhookRecords(event, deliverer, logger);
}
