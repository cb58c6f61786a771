/**
 * {@link WebhookSender} over the Web-standard `fetch`, usable in Lambda, Node and the worker.
 *
 * It does not follow redirects (a redirect could point a signed payload somewhere the tenant
 * did not register) and gives up after `timeoutMs`. Checking that webhook URLs do not point at
 * private networks is the API's job when it accepts the URL.
 */
import { systemClock, type Clock } from './clock.js';
import type { WebhookDeliveryResult, WebhookSendRequest, WebhookSender } from './ports/webhook-sender.js';
import { webhookHeaders } from './webhooks.js';

export interface FetchWebhookSenderOptions {
  /** Per-attempt limit (default 10 s). */
  timeoutMs?: number;
  clock?: Clock;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  userAgent?: string;
}

/**
 * @example
 * ```ts
 * const sender = new FetchWebhookSender({ timeoutMs: 5000 });
 * const result = await sender.send({ url, payload: event, secret, messageId });
 * ```
 */
export class FetchWebhookSender implements WebhookSender {
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly fetchImpl: typeof fetch;
  private readonly userAgent: string;

  constructor(options: FetchWebhookSenderOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.userAgent = options.userAgent ?? 'dr2e-webhooks/1';
  }

  async send(request: WebhookSendRequest): Promise<WebhookDeliveryResult> {
    const body = JSON.stringify(request.payload);
    const started = Date.now();
    try {
      const signed = await webhookHeaders({
        id: request.messageId,
        timestamp: this.clock.now(),
        body,
        secret: request.secret,
      });
      const response = await this.fetchImpl(request.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { ...signed, 'content-type': 'application/json', 'user-agent': this.userAgent },
      });
      // The body is not needed; cancel it so the connection is released.
      await response.body?.cancel().catch(() => undefined);
      return {
        ok: response.status >= 200 && response.status < 300,
        status: response.status,
        durationMs: Date.now() - started,
      };
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { ok: false, error: message, durationMs: Date.now() - started };
    }
  }
}
