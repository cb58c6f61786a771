/**
 * Delivering a job's terminal webhook event with retries, recording every attempt on the job.
 *
 * Rule shared with the API (functions/src/services/notifier.ts): whoever makes a job terminal
 * sends its webhook. The worker sends `job.succeeded` and `job.failed` for jobs it finished (or
 * dead-lettered); the API sends `job.canceled` for the cancels it performs, so the worker never
 * sends that one.
 *
 * Delivery is at least once: the event keeps one Standard Webhooks `webhook-id` across retries
 * and across workers (`webhookMessageId`), so receivers drop duplicates. A failing endpoint never
 * changes the job's status; it only adds failed attempts to `webhookDeliveries`. A target the
 * SSRF guard refuses, or a 4xx answer other than 408/429, is final: retrying cannot help.
 */
import {
  mutateJob,
  recordWebhookDelivery,
  webhookEventFor,
  webhookEventTypeFor,
  webhookMessageId,
  type BlobStore,
  type Clock,
  type Job,
  type JobStore,
  type JobViewLinks,
  type TenantDirectory,
  type WebhookDelivery,
  type WebhookEventType,
  type WebhookSender,
} from '../../../shared/src/index.js';
import { backoffDelayMs, sleep, type BackoffPolicy } from './backoff.js';
import { errorFields, type Logger } from './log.js';

export interface WebhookRetryPolicy extends BackoffPolicy {
  /** Attempts per event, first try included. */
  maxAttempts: number;
}

/** Default: 4 attempts, 1 s, 2 s, 4 s apart (half jittered): done within ~7 s plus timeouts. */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = {
  maxAttempts: 4,
  baseMs: 1000,
  maxMs: 8000,
  jitter: 0.5,
};

/**
 * The event the worker sends for the job's status, if its webhook subscribes to it: only
 * `job.succeeded` and `job.failed` (the API sends `job.canceled`).
 */
export function subscribedEvent(job: Job): WebhookEventType | undefined {
  const type = webhookEventTypeFor(job.status);
  if (type !== 'job.succeeded' && type !== 'job.failed') return undefined;
  return job.webhook?.events.includes(type) ? type : undefined;
}

/**
 * True when the job's terminal event still has to be delivered by a worker: subscribed, no
 * attempt succeeded or was final, and attempts are left.
 */
export function webhookPending(job: Job, maxAttempts: number): boolean {
  const type = subscribedEvent(job);
  if (!type) return false;
  const attempts = job.webhookDeliveries.filter((delivery) => delivery.event === type);
  const settled = attempts.some((delivery) => delivery.ok || isFinalFailure(delivery));
  return !settled && attempts.length < maxAttempts;
}

/** A failed attempt that another attempt would repeat: refused by the guard, or a definite 4xx. */
export function isFinalFailure(result: { ok: boolean; status?: number; error?: string }): boolean {
  if (result.ok) return false;
  if (result.error?.startsWith('refused')) return true;
  const status = result.status;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface WebhookDeliveryDeps {
  jobs: JobStore;
  blobs: BlobStore;
  tenants: TenantDirectory;
  sender: WebhookSender;
  clock: Clock;
  log: Logger;
  /** Lifetime of the signed result links in a `job.succeeded` payload. */
  downloadUrlTtlSeconds: number;
  retry: WebhookRetryPolicy;
  random?: () => number;
}

/** Outcome of {@link deliverJobWebhook}. */
export type WebhookOutcome =
  | 'not_subscribed'
  | 'delivered'
  | 'gave_up'
  /** The signal aborted between attempts (shutdown): the event is still pending. */
  | 'interrupted'
  /** The tenant is gone: nobody holds the secret, so nothing can be signed. */
  | 'no_tenant';

/**
 * Sends the job's terminal event if it subscribes to it and it is still pending, retrying with
 * backoff; each attempt is recorded on the job (`webhookDeliveries`). Attempt numbers continue
 * from those already recorded, so a second worker finishing an interrupted delivery does not
 * start over.
 *
 * @example
 * ```ts
 * const outcome = await deliverJobWebhook(finishedJob, deps, shutdownSignal); // 'delivered'
 * ```
 */
export async function deliverJobWebhook(
  job: Job,
  deps: WebhookDeliveryDeps,
  signal?: AbortSignal,
): Promise<WebhookOutcome> {
  const type = subscribedEvent(job);
  const url = job.webhook?.url;
  if (!type || !url) return 'not_subscribed';
  const log = deps.log.child({ jobId: job.id, webhookEvent: type });
  const tenant = await deps.tenants.get(job.tenantId);
  if (!tenant) {
    log.warn('webhook not sent: tenant unknown', { tenantId: job.tenantId });
    return 'no_tenant';
  }
  const messageId = webhookMessageId(job.id, type);
  let current = job;
  for (;;) {
    const previous = current.webhookDeliveries.filter((delivery) => delivery.event === type);
    if (previous.some((delivery) => delivery.ok)) return 'delivered';
    if (previous.some(isFinalFailure)) return 'gave_up';
    if (previous.length >= deps.retry.maxAttempts) {
      log.warn('webhook gave up', { attempts: previous.length });
      return 'gave_up';
    }
    if (signal?.aborted) return 'interrupted';
    const attempt = previous.length + 1;
    if (attempt > 1) {
      const delay = backoffDelayMs(attempt - 1, deps.retry, deps.random);
      if (!(await sleep(delay, signal))) return 'interrupted';
    }
    const at = deps.clock.now();
    const payload = webhookEventFor(current, at, await resultLinks(current, deps));
    if (!payload) return 'not_subscribed';
    const result = await deps.sender.send({ url, payload, secret: tenant.webhookSecret, messageId });
    const delivery: WebhookDelivery = {
      at: at.toISOString(),
      event: type,
      attempt,
      messageId,
      ok: result.ok,
      ...(result.status !== undefined ? { status: result.status } : {}),
      ...(result.error !== undefined ? { error: result.error.slice(0, 500) } : {}),
    };
    log[result.ok ? 'info' : 'warn'](result.ok ? 'webhook delivered' : 'webhook delivery failed', {
      attempt,
      status: result.status,
      deliveryError: result.error,
      durationMs: result.durationMs,
    });
    try {
      current = await mutateJob(deps.jobs, job.id, (stored) => recordWebhookDelivery(stored, delivery));
    } catch (error) {
      // Not being able to record an attempt must not turn into another delivery loop: stop here.
      log.error('webhook attempt not recorded', errorFields(error));
      return result.ok ? 'delivered' : 'gave_up';
    }
  }
}

/** Signed links to the results of a succeeded job (the payload is the API's job view). */
async function resultLinks(job: Job, deps: WebhookDeliveryDeps): Promise<JobViewLinks> {
  if (job.status !== 'succeeded' || !job.output) return {};
  const ttl = deps.downloadUrlTtlSeconds;
  return {
    restored: await deps.blobs.createDownloadUrl(job.output.restoredKey, ttl),
    ...(job.output.dr2Key ? { dr2: await deps.blobs.createDownloadUrl(job.output.dr2Key, ttl) } : {}),
  };
}
