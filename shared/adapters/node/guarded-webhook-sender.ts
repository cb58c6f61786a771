/**
 * The network half of the SSRF guard (Node): a {@link WebhookSender} that resolves the target
 * host, refuses it when ANY resolved address is forbidden by the policy (see
 * `shared/src/webhook-target.ts`), and connects to the vetted address itself, so a DNS answer
 * that changes between the check and the connection (DNS rebinding) cannot redirect the
 * request. Host header and TLS SNI/certificate checks still use the URL's host name.
 *
 * Redirects are not followed (a 3xx answer is a failed delivery), each attempt has a deadline,
 * at most `maxResponseBytes` of the answer are read, and `send` never throws: every failure is
 * a result with `ok: false` and an `error` text. Retries are the caller's (the worker records
 * each attempt on the job).
 *
 * {@link NodeWebhookTargetChecker} runs the same checks without sending, for the API to refuse
 * a webhook URL when a job is created.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress, lookup as dnsLookup } from 'node:dns';
import { systemClock, type Clock } from '../../src/clock.js';
import type {
  WebhookDeliveryResult,
  WebhookSendRequest,
  WebhookSender,
} from '../../src/ports/webhook-sender.js';
import {
  checkResolvedAddresses,
  checkWebhookUrl,
  formatIpAddress,
  WebhookTargetRefusedError,
  type IpAddress,
  type WebhookTarget,
  type WebhookTargetChecker,
  type WebhookTargetPolicy,
  type WebhookTargetRefusal,
} from '../../src/webhook-target.js';
import { webhookHeaders } from '../../src/webhooks.js';

/** Resolves a host name to every address it has (IPv4 and IPv6). Injected in tests. */
export type HostResolver = (host: string) => Promise<readonly string[]>;

/** `dns.lookup(host, { all: true })`: the system resolver, as `http.request` would use it. */
export const systemHostResolver: HostResolver = async (host) => {
  const results: LookupAddress[] = await lookup(host, { all: true, verbatim: true });
  return results.map((result) => result.address);
};

/** A target whose addresses passed the policy. */
export interface VettedWebhookTarget {
  target: WebhookTarget;
  /** Addresses that may be connected to; the first is used. */
  addresses: IpAddress[];
}

/**
 * Static checks, then DNS, then every resolved address. Never throws: resolver failures are
 * refusals with reason `unresolvable_host` (final when a job is created; a retried failure
 * when a delivery meets one, see GuardedWebhookSender.send).
 *
 * @example
 * ```ts
 * const verdict = await vetWebhookTarget('https://hooks.example.com/x', { mode: 'aws', allowHosts: [] });
 * if ('reason' in verdict) console.log(verdict.reason); // e.g. 'forbidden_address'
 * ```
 */
export async function vetWebhookTarget(
  url: string,
  policy: WebhookTargetPolicy,
  resolve: HostResolver = systemHostResolver,
): Promise<VettedWebhookTarget | WebhookTargetRefusal> {
  const target = checkWebhookUrl(url, policy);
  if (!target.ok) return target;
  if (target.literal) return { target, addresses: [target.literal] };
  let resolved: readonly string[];
  try {
    resolved = await resolve(target.host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'lookup failed';
    return { ok: false, reason: 'unresolvable_host', message: `${target.host} does not resolve (${code})` };
  }
  const verdict = checkResolvedAddresses(target, resolved, policy);
  return verdict.ok ? { target, addresses: verdict.addresses } : verdict;
}

/**
 * {@link WebhookTargetChecker} with DNS: the static checks, then every resolved address.
 *
 * @example
 * ```ts
 * const checker = new NodeWebhookTargetChecker({ mode: 'aws', allowHosts: [] });
 * await checker.assertAllowed('https://169.254.169.254/'); // throws WebhookTargetRefusedError
 * ```
 */
export class NodeWebhookTargetChecker implements WebhookTargetChecker {
  constructor(
    private readonly policy: WebhookTargetPolicy,
    private readonly resolve: HostResolver = systemHostResolver,
  ) {}

  async assertAllowed(url: string): Promise<void> {
    const verdict = await vetWebhookTarget(url, this.policy, this.resolve);
    if ('reason' in verdict) throw new WebhookTargetRefusedError(verdict);
  }
}

export interface GuardedWebhookSenderOptions {
  policy: WebhookTargetPolicy;
  /** Whole-attempt deadline: connect, send, answer (default 5 s). */
  timeoutMs?: number;
  /** Most bytes of the answer read before hanging up (default 64 KiB). */
  maxResponseBytes?: number;
  /** Defaults to {@link systemHostResolver}. */
  resolve?: HostResolver;
  clock?: Clock;
  userAgent?: string;
}

/**
 * @example
 * ```ts
 * const sender = new GuardedWebhookSender({ policy: { mode: 'aws', allowHosts: [] }, timeoutMs: 5000 });
 * const result = await sender.send({ url: job.webhook.url, payload: event, secret, messageId });
 * if (!result.ok) console.log(result.status ?? result.error); // e.g. 'refused (forbidden_address): ...'
 * ```
 */
export class GuardedWebhookSender implements WebhookSender {
  private readonly policy: WebhookTargetPolicy;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly resolve: HostResolver;
  private readonly clock: Clock;
  private readonly userAgent: string;

  constructor(options: GuardedWebhookSenderOptions) {
    this.policy = options.policy;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
    this.resolve = options.resolve ?? systemHostResolver;
    this.clock = options.clock ?? systemClock;
    this.userAgent = options.userAgent ?? 'dr2e-webhooks/1';
  }

  async send(request: WebhookSendRequest): Promise<WebhookDeliveryResult> {
    const started = Date.now();
    const elapsed = () => Date.now() - started;
    try {
      const vetted = await vetWebhookTarget(request.url, this.policy, this.resolve);
      if ('reason' in vetted) {
        // A name that does not resolve now may resolve on the next attempt (a resolver timeout,
        // a record missing during a DNS move): a failed attempt, retried on schedule. Every
        // other refusal is about the target itself and final ("refused ...").
        const error =
          vetted.reason === 'unresolvable_host'
            ? `unresolvable host: ${vetted.message}`
            : `refused (${vetted.reason}): ${vetted.message}`;
        return { ok: false, error, durationMs: elapsed() };
      }
      const body = JSON.stringify(request.payload);
      const signed = await webhookHeaders({
        id: request.messageId,
        timestamp: this.clock.now(),
        body,
        secret: request.secret,
      });
      const status = await this.post(vetted, body, {
        ...signed,
        'content-type': 'application/json',
        'user-agent': this.userAgent,
      });
      if (status >= 300 && status < 400) {
        return { ok: false, status, error: 'redirect not followed', durationMs: elapsed() };
      }
      return { ok: status >= 200 && status < 300, status, durationMs: elapsed() };
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { ok: false, error: message, durationMs: elapsed() };
    }
  }

  /** One POST to the first vetted address; resolves with the status, rejects on network errors. */
  private post(vetted: VettedWebhookTarget, body: string, headers: Record<string, string>): Promise<number> {
    const { url } = vetted.target;
    const pinned = vetted.addresses[0];
    if (!pinned) return Promise.reject(new Error('no vetted address'));
    const pinnedText = formatIpAddress(pinned);
    const family = pinned.family;
    // Called by net.connect instead of DNS: always the vetted address, whatever DNS says now.
    const pinnedLookup = (
      _hostname: string,
      options: { all?: boolean } | number | undefined,
      callback: (...args: unknown[]) => void,
    ): void => {
      if (typeof options === 'object' && options?.all) callback(null, [{ address: pinnedText, family }]);
      else callback(null, pinnedText, family);
    };
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        outcome();
      };
      const req = transport.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          // A fresh connection per delivery: a pooled socket could be bound to another address.
          agent: false,
          lookup: pinnedLookup as unknown as typeof dnsLookup,
        },
        (response) => {
          const status = response.statusCode ?? 0;
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            // The status is all we need; a huge or endless answer must not hold memory or time.
            if (received > this.maxResponseBytes) response.destroy();
          });
          // Once the status line arrived the attempt has an answer, however the body ends.
          response.on('end', () => settle(() => resolve(status)));
          response.on('close', () => settle(() => resolve(status)));
          response.on('error', () => settle(() => resolve(status)));
        },
      );
      const deadline = setTimeout(
        () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      req.on('error', (error) => settle(() => reject(error)));
      req.end(body);
    });
  }
}
