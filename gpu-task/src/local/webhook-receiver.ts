/**
 * A webhook endpoint on 127.0.0.1 that verifies Standard Webhooks signatures with the tenant's
 * secret, as a client's backend would: the raw body and the three `webhook-*` headers are
 * checked before the JSON is trusted. Used by the demo and the end-to-end tests.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WebhookEventSchema, type WebhookEvent } from '../../../shared/src/index.js';

/** One request the receiver got. */
export interface ReceivedWebhook {
  /** `webhook-id` (the same on every retry of one event). */
  id: string | undefined;
  /** True when the signature and timestamp verified with the secret. */
  verified: boolean;
  /** Why verification failed. */
  error?: string;
  /** The parsed event (only when verified). */
  event?: WebhookEvent;
  receivedAt: Date;
}

export interface WebhookReceiver {
  /** POST target, e.g. `http://127.0.0.1:54321/hooks`. */
  url: string;
  readonly received: ReceivedWebhook[];
  /** Verified events of one job. */
  eventsFor(jobId: string): WebhookEvent[];
  /** Resolves with the first verified event matching `match`, or rejects after `timeoutMs`. */
  waitFor(match: (event: WebhookEvent) => boolean, timeoutMs?: number): Promise<WebhookEvent>;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** The tenant's `whsec_` secret (a function when it is known only after start). */
  secret: string | (() => string);
  /** Status for a verified event (default 204): tests answer 500 to exercise retries. */
  answer?: (event: WebhookEvent) => number;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1024 * 1024) request.destroy(new Error('webhook body over 1 MiB'));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/**
 * @example
 * ```ts
 * const receiver = await startWebhookReceiver({ secret: tenant.webhookSecret });
 * await client.createJob({ webhook: { url: receiver.url, events: ['job.succeeded'] } });
 * const event = await receiver.waitFor((e) => e.data.id === jobId);
 * ```
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value[0] : value,
        ]),
      );
      const id = headers['webhook-id'];
      const secret = typeof options.secret === 'function' ? options.secret() : options.secret;
      let record: ReceivedWebhook;
      try {
        await verifyWebhook({ secret, headers, body });
        const event = WebhookEventSchema.parse(JSON.parse(body));
        record = { id, verified: true, event, receivedAt: new Date() };
      } catch (error) {
        record = {
          id,
          verified: false,
          error: error instanceof Error ? error.message : String(error),
          receivedAt: new Date(),
        };
      }
      received.push(record);
      for (const wake of waiters) wake();
      const status = record.event ? (options.answer?.(record.event) ?? 204) : 400;
      response.writeHead(status).end();
    })().catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const eventsFor = (jobId: string) =>
    received.flatMap((entry) => (entry.event && entry.event.data.id === jobId ? [entry.event] : []));

  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    eventsFor,
    waitFor(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find((entry) => entry.event && match(entry.event))?.event;
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error('no matching webhook arrived in time'));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
