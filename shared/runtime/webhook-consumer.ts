/**
 * The webhook delivery consumer wired from {@link Services}: the Lambda on the SQS webhook queue
 * (functions/src/entry/lambda-webhooks.ts) and the loop of the local stack (`npm start`) build
 * their {@link WebhookDeliverer} here, so both send with the guarded sender (SSRF guard) under
 * the same schedule.
 */
import type { Services } from './services.js';
import { WebhookDeliverer, type DeliveryLogger, type WebhookRetrySchedule } from '../src/webhook-delivery.js';
import { WebhookDeliveryLoop } from '../src/webhook-delivery-loop.js';

export interface WebhookConsumerOptions {
  logger: DeliveryLogger;
  /** Defaults to the Svix-like schedule of about 27 hours. */
  schedule?: WebhookRetrySchedule;
}

/**
 * @example
 * ```ts
 * const deliverer = createWebhookDeliverer(services, { logger });
 * await deliverer.handle(message); // one attempt; the next one queued if it failed
 * ```
 */
export function createWebhookDeliverer(
  services: Pick<
    Services,
    'jobs' | 'blobs' | 'tenants' | 'webhookSender' | 'webhookQueue' | 'clock' | 'config'
  >,
  options: WebhookConsumerOptions,
): WebhookDeliverer {
  return new WebhookDeliverer({
    jobs: services.jobs,
    blobs: services.blobs,
    tenants: services.tenants,
    sender: services.webhookSender,
    queue: services.webhookQueue,
    clock: services.clock,
    downloadUrlTtlSeconds: services.config.DR2E_DOWNLOAD_URL_TTL_SECONDS,
    logger: options.logger,
    ...(options.schedule ? { schedule: options.schedule } : {}),
  });
}

/**
 * A consumer loop over the services' webhook queue (local stack).
 *
 * @example
 * ```ts
 * const loop = createWebhookDeliveryLoop(services, { logger });
 * const done = loop.run(); // ... loop.stop(); await done;
 * ```
 */
export function createWebhookDeliveryLoop(
  services: Parameters<typeof createWebhookDeliverer>[0],
  options: WebhookConsumerOptions & { pollWaitSeconds?: number },
): WebhookDeliveryLoop {
  return new WebhookDeliveryLoop({
    queue: services.webhookQueue,
    deliverer: createWebhookDeliverer(services, options),
    logger: options.logger,
    // Longer than one attempt's deadline, so a slow receiver's message is not handed out twice.
    visibilityTimeoutSeconds: Math.max(30, Math.ceil(services.config.DR2E_WEBHOOK_TIMEOUT_MS / 1000) * 3),
    ...(options.pollWaitSeconds === undefined ? {} : { pollWaitSeconds: options.pollWaitSeconds }),
  });
}
