/** Port: delivers a signed webhook event to a tenant's endpoint. */
import type { WebhookEvent } from '../schemas.js';

export interface WebhookSendRequest {
  url: string;
  payload: WebhookEvent;
  /** The tenant's `whsec_...` secret. */
  secret: string;
  /** Standard Webhooks `webhook-id`; the same on every retry of one event (`webhookMessageId`). */
  messageId: string;
}

/** Outcome of one delivery attempt. `ok` is true for a 2xx answer. */
export interface WebhookDeliveryResult {
  ok: boolean;
  /** HTTP status when the endpoint answered. */
  status?: number;
  /** Network error or timeout when it did not. */
  error?: string;
  durationMs: number;
}

export interface WebhookSender {
  /**
   * POSTs the JSON payload with `webhook-id`, `webhook-timestamp` and `webhook-signature`
   * headers. Never throws for delivery failures; they are reported in the result.
   *
   * @example
   * ```ts
   * const result = await sender.send({ url: job.webhook.url, payload: event, secret: tenant.webhookSecret,
   *   messageId: webhookMessageId(job.id, event.type) });
   * ```
   */
  send(request: WebhookSendRequest): Promise<WebhookDeliveryResult>;
}
