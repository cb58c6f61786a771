/**
 * A long-running consumer of the webhook queue (the local stack runs one; in AWS a Lambda on
 * the SQS queue plays this part, see functions/src/entry/lambda-webhooks.ts). Up to
 * `concurrency` deliveries run at once, so one hanging receiver (each attempt has its own
 * timeout in the sender) does not hold the others.
 */
import type { WebhookQueue } from './ports/webhook-queue.js';
import type { ReceivedMessage } from './ports/job-queue.js';
import type { WebhookDeliveryMessage } from './schemas.js';
import { sleep } from './sleep.js';
import type { DeliveryLogger, WebhookDeliverer } from './webhook-delivery.js';

export interface WebhookDeliveryLoopOptions {
  queue: WebhookQueue;
  deliverer: Pick<WebhookDeliverer, 'handle'>;
  logger: DeliveryLogger;
  /** Deliveries in flight at once (default 8). */
  concurrency?: number;
  /** Long-poll wait per receive, 0 to 20 s (default 1). */
  pollWaitSeconds?: number;
  /** Lease of a received message; longer than one attempt's timeout (default 60). */
  visibilityTimeoutSeconds?: number;
}

/**
 * @example
 * ```ts
 * const loop = new WebhookDeliveryLoop({ queue: services.webhookQueue, deliverer, logger });
 * const done = loop.run();
 * // ... on shutdown:
 * await loop.stop(); await done;
 * ```
 */
export class WebhookDeliveryLoop {
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly concurrency: number;

  constructor(private readonly options: WebhookDeliveryLoopOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 8);
  }

  /** Receives and delivers until {@link stop}; resolves once the deliveries in flight ended. */
  async run(): Promise<void> {
    while (!this.stopping) {
      if (this.inFlight.size >= this.concurrency) {
        await Promise.race(this.inFlight);
        continue;
      }
      let messages: ReceivedMessage<WebhookDeliveryMessage>[];
      try {
        messages = await this.receive(Math.min(10, this.concurrency - this.inFlight.size));
      } catch (error) {
        this.options.logger.error('webhook queue receive failed', { error: describe(error) });
        await sleep(1000);
        continue;
      }
      for (const message of messages) this.track(this.handleOne(message));
    }
    await Promise.all(this.inFlight);
  }

  /**
   * Handles what is due now, without waiting (tests drive time with a manual clock).
   * Returns how many messages were handled.
   */
  async drain(): Promise<number> {
    let handled = 0;
    for (;;) {
      const messages = await this.receive(10, 0);
      if (messages.length === 0) return handled;
      await Promise.all(messages.map((message) => this.handleOne(message)));
      handled += messages.length;
    }
  }

  /** Stops receiving; deliveries in flight finish (each is bounded by the sender's timeout). */
  stop(): void {
    this.stopping = true;
  }

  private receive(maxMessages: number, waitSeconds = this.options.pollWaitSeconds ?? 1) {
    return this.options.queue.receive({
      maxMessages,
      waitSeconds,
      visibilityTimeoutSeconds: this.options.visibilityTimeoutSeconds ?? 60,
    });
  }

  private track(task: Promise<void>): void {
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private async handleOne(message: ReceivedMessage<WebhookDeliveryMessage>): Promise<void> {
    try {
      await this.options.deliverer.handle(message.body);
      await this.options.queue.delete(message.receiptHandle);
    } catch (error) {
      // Left in the queue: it comes back after its lease, and dead-letters if it keeps failing.
      this.options.logger.error('webhook message failed', {
        jobId: message.body.jobId,
        receiveCount: message.receiveCount,
        error: describe(error),
      });
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
