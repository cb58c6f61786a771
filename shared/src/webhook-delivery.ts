/**
 * Webhook delivery of a job's terminal event, the one module the API, the dispatcher and the
 * worker share. Nobody POSTs to a tenant's endpoint on a request path: whoever makes a job
 * terminal calls {@link JobWebhooks.jobFinished}, which only puts a message on the webhook queue
 * (milliseconds), and a delivery consumer (a Lambda on SQS in AWS, a loop in `npm start`) makes
 * the attempts with {@link WebhookDeliverer}.
 *
 * ## Rules
 * - One event per job (the terminal status), one Standard Webhooks `webhook-id` for it
 *   (`webhookMessageId`), the same on every attempt and every redelivery: receivers deduplicate.
 * - Attempts follow {@link DEFAULT_WEBHOOK_SCHEDULE} (Svix-like: 5 s, 5 min, 30 min, 2 h, 5 h,
 *   10 h, 10 h between attempts, each +-10 % jitter): 8 attempts over 24.8 to 30.3 hours, so a
 *   receiver down for a day still gets the event. Waits longer than a queue delay (15 minutes
 *   on SQS) are chained: the message carries `notBefore` and is re-sent until it is due.
 * - Any non-2xx answer, timeout or network error is retried, except a target the SSRF guard
 *   refuses and `410 Gone` (the receiver says the endpoint is gone for good).
 * - Each attempt is recorded on the job (`webhookDeliveries`, the newest 50) and the job's
 *   `webhookStatus` says `pending`, `delivered` or `failed`. A failing webhook never changes
 *   the job's status.
 * - {@link JobWebhooks.redeliver} starts a new round (`round + 1`) of the same event; messages of
 *   an older round are dropped when they come up.
 * - At least once: a consumer that crashes after sending but before recording repeats the
 *   attempt (same `webhook-id`). The next attempt's message is sent before the current one is
 *   recorded, and a message whose attempt is already recorded is dropped, so a crash can
 *   neither stop the chain nor fork it for long.
 */
import type { Clock } from './clock.js';
import { ConflictError, NotFoundError } from './errors.js';
import {
  isDeletedJob,
  mutateJob,
  webhookEventFor,
  webhookEventTypeFor,
  webhookMessageId,
  type JobViewLinks,
} from './job.js';
import { signJobLinks } from './job-links.js';
import type { BlobStore } from './ports/blob-store.js';
import type { JobStore } from './ports/job-store.js';
import type { TenantDirectory } from './ports/tenant-directory.js';
import type { WebhookQueue } from './ports/webhook-queue.js';
import type { WebhookDeliveryResult, WebhookSender } from './ports/webhook-sender.js';
import type {
  Job,
  WebhookDelivery,
  WebhookDeliveryMessage,
  WebhookEventType,
  WebhookStatus,
} from './schemas.js';

/** The logging the delivery code needs (shared/src/log.ts `Logger` fits). */
export interface DeliveryLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): DeliveryLogger;
}

const quietLogger: DeliveryLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quietLogger,
};

/** When the attempts of one round are made. */
export interface WebhookRetrySchedule {
  /** Wait after attempt i (0-based) failed before attempt i + 2; attempts = length + 1. */
  delaysMs: readonly number[];
  /** Share of each wait drawn at random, either way (0.1: 90 % to 110 %). */
  jitter: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** 8 attempts: at 0, 5 s, ~5 min, ~35 min, ~2.6 h, ~7.6 h, ~17.6 h and ~27.6 h. */
export const DEFAULT_WEBHOOK_SCHEDULE: WebhookRetrySchedule = {
  delaysMs: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
  // +-10 %: spreads receivers' retries apart, and even the shortest draw spans 24.8 hours.
  jitter: 0.1,
};

/** The longest delay a queue message can have (SQS: 900 s). */
export const MAX_QUEUE_DELAY_SECONDS = 900;

/** Attempts in one round under `schedule`. */
export function maxWebhookAttempts(schedule: WebhookRetrySchedule = DEFAULT_WEBHOOK_SCHEDULE): number {
  return schedule.delaysMs.length + 1;
}

/**
 * Wait before the attempt after `attempt` (1-based) failed, jittered; undefined after the last.
 *
 * @example
 * ```ts
 * webhookRetryDelayMs(1, DEFAULT_WEBHOOK_SCHEDULE, () => 0.5); // 5000
 * webhookRetryDelayMs(8, DEFAULT_WEBHOOK_SCHEDULE); // undefined: that was the last attempt
 * ```
 */
export function webhookRetryDelayMs(
  attempt: number,
  schedule: WebhookRetrySchedule = DEFAULT_WEBHOOK_SCHEDULE,
  random: () => number = Math.random,
): number | undefined {
  const base = schedule.delaysMs[attempt - 1];
  if (base === undefined) return undefined;
  const jitter = Math.min(1, Math.max(0, schedule.jitter));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/**
 * A failed attempt that another attempt would repeat: the SSRF guard refused the target, or the
 * receiver answered `410 Gone`. Everything else (5xx, 4xx, timeouts) is retried on schedule.
 */
export function isFinalWebhookFailure(
  result: Pick<WebhookDeliveryResult, 'ok' | 'status' | 'error'>,
): boolean {
  if (result.ok) return false;
  return result.error?.startsWith('refused') === true || result.status === 410;
}

/** The terminal event a job's webhook subscribes to, or undefined. */
export function subscribedWebhookEvent(job: Job): WebhookEventType | undefined {
  const type = webhookEventTypeFor(job.status);
  return type && job.webhook?.events.includes(type) ? type : undefined;
}

/**
 * True when the job's terminal event should be queued and has not been: the job may have become
 * terminal in a process that died before queueing (the worker checks on redelivered messages).
 */
export function webhookNotQueued(job: Job): boolean {
  const type = subscribedWebhookEvent(job);
  return type !== undefined && job.webhookStatus?.event !== type;
}

/** Attempts kept on a job record; older ones are dropped (the status keeps the counts). */
export const MAX_RECORDED_WEBHOOK_ATTEMPTS = 50;

/**
 * What the API, the dispatcher and the worker call when they made a job terminal
 * ({@link JobWebhooks} in production; tests record calls). Never throws.
 */
export interface JobNotifier {
  jobFinished(job: Job): Promise<unknown>;
}

/** Sends nothing (tests, or an embedding that notifies elsewhere). */
export const noopNotifier: JobNotifier = { jobFinished: async () => undefined };

/** Outcome of {@link JobWebhooks.jobFinished}. */
export type QueueWebhookOutcome = 'queued' | 'already_queued' | 'not_subscribed' | 'queue_failed';

export interface JobWebhooksOptions {
  jobs: JobStore;
  queue: WebhookQueue;
  clock: Clock;
  logger?: DeliveryLogger;
}

/**
 * The producer side: queues a job's terminal event, and redelivers it on request.
 *
 * @example
 * ```ts
 * const webhooks = new JobWebhooks({ jobs, queue: services.webhookQueue, clock });
 * await webhooks.jobFinished(canceledJob); // 'queued' in a few ms; the consumer POSTs it
 * ```
 */
export class JobWebhooks implements JobNotifier {
  private readonly logger: DeliveryLogger;

  constructor(private readonly options: JobWebhooksOptions) {
    this.logger = options.logger ?? quietLogger;
  }

  /**
   * Queues the first attempt of the job's terminal event if its webhook subscribes to it and it
   * was not queued before, then marks it `pending` on the job. Never throws: a queue that is down
   * is logged (`queue_failed`) and the tenant can ask for a redelivery.
   */
  async jobFinished(job: Job): Promise<QueueWebhookOutcome> {
    const event = subscribedWebhookEvent(job);
    if (!event) return 'not_subscribed';
    if (job.webhookStatus?.event === event) return 'already_queued';
    const log = this.logger.child({ jobId: job.id, tenantId: job.tenantId, webhookEvent: event });
    try {
      // Queue first, then mark: a crash in between leaves a message without a mark, and a
      // second jobFinished then queues a duplicate (same webhook-id), never nothing.
      await this.options.queue.send({ jobId: job.id, tenantId: job.tenantId, event, round: 1, attempt: 1 });
      const queuedAt = this.options.clock.now().toISOString();
      await mutateJob(this.options.jobs, job.id, (current) =>
        current.webhookStatus?.event === event
          ? undefined
          : {
              ...current,
              webhookStatus: {
                event,
                messageId: webhookMessageId(job.id, event),
                state: 'pending',
                round: 1,
                attempts: 0,
                queuedAt,
              },
            },
      );
      log.info('webhook queued');
      return 'queued';
    } catch (error) {
      log.error('webhook not queued', { error: error instanceof Error ? error.message : String(error) });
      return 'queue_failed';
    }
  }

  /**
   * Sends the job's terminal event again: a new round of attempts (same `webhook-id`), whatever
   * the state of the previous one. Returns the job with its new `webhookStatus`.
   *
   * @throws {NotFoundError} when the job does not exist.
   * @throws {WebhookNotRedeliverableError} when the job is not terminal or its webhook does not
   * subscribe to the event of its status.
   */
  async redeliver(jobId: string): Promise<Job> {
    const current = await this.options.jobs.get(jobId);
    if (!current) throw new NotFoundError(`job ${jobId} not found`);
    const event = subscribedWebhookEvent(current);
    if (!event) throw new WebhookNotRedeliverableError(current);
    const queuedAt = this.options.clock.now().toISOString();
    // Mark first, then queue: the new round's message must find its round on the job.
    let round = 1;
    const marked = await mutateJob(this.options.jobs, jobId, (job) => {
      round = (job.webhookStatus?.event === event ? job.webhookStatus.round : 0) + 1;
      return {
        ...job,
        webhookStatus: {
          event,
          messageId: webhookMessageId(job.id, event),
          state: 'pending',
          round,
          attempts: 0,
          queuedAt,
        },
      };
    });
    await this.options.queue.send({ jobId, tenantId: marked.tenantId, event, round, attempt: 1 });
    this.logger.info('webhook redelivery queued', { jobId, tenantId: marked.tenantId, round });
    return marked;
  }
}

/** `POST /v1/jobs/{id}/webhook/redeliver` on a job that has no terminal event to send (409). */
export class WebhookNotRedeliverableError extends ConflictError {
  override readonly code = 'webhook_not_redeliverable';

  constructor(job: Job) {
    super(
      webhookEventTypeFor(job.status)
        ? `job ${job.id} has no webhook subscribed to job.${job.status}`
        : `job ${job.id} is ${job.status}; webhooks are sent when a job finishes`,
      { details: { status: job.status } },
    );
  }
}

export interface WebhookDelivererOptions {
  jobs: JobStore;
  blobs: BlobStore;
  tenants: TenantDirectory;
  sender: WebhookSender;
  queue: WebhookQueue;
  clock: Clock;
  /** Lifetime of the signed output links in a `job.succeeded` payload (seconds). */
  downloadUrlTtlSeconds: number;
  schedule?: WebhookRetrySchedule;
  random?: () => number;
  logger?: DeliveryLogger;
}

/** What {@link WebhookDeliverer.handle} did with a message. */
export type WebhookMessageOutcome =
  | 'delivered'
  /** Failed; the next attempt is queued. */
  | 'retry_queued'
  /** Failed for good (last attempt, refused target, 410, tenant gone): state `failed`. */
  | 'failed'
  /** Not due yet: sent again with the remaining delay (chained delays). */
  | 'deferred'
  /** Nothing to do: job gone, another round, already settled or attempt already made. */
  | 'dropped';

/**
 * The consumer side: makes one attempt per queue message. Throws only for transient trouble
 * (job store, tenant directory or queue unavailable), so the queue delivers the message again;
 * every answer of the receiver, good or bad, is a normal outcome.
 *
 * @example
 * ```ts
 * const deliverer = new WebhookDeliverer({ jobs, blobs, tenants, sender, queue, clock, downloadUrlTtlSeconds: 3600 });
 * for (const message of await queue.receive({ maxMessages: 10, waitSeconds: 20, visibilityTimeoutSeconds: 60 })) {
 *   await deliverer.handle(message.body);
 *   await queue.delete(message.receiptHandle);
 * }
 * ```
 */
export class WebhookDeliverer {
  private readonly schedule: WebhookRetrySchedule;
  private readonly random: () => number;
  private readonly logger: DeliveryLogger;

  constructor(private readonly options: WebhookDelivererOptions) {
    this.schedule = options.schedule ?? DEFAULT_WEBHOOK_SCHEDULE;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? quietLogger;
  }

  async handle(message: WebhookDeliveryMessage): Promise<WebhookMessageOutcome> {
    const { jobs, clock, queue } = this.options;
    const log = this.logger.child({
      jobId: message.jobId,
      tenantId: message.tenantId,
      webhookEvent: message.event,
      round: message.round,
      attempt: message.attempt,
    });
    const job = await jobs.get(message.jobId);
    // A deleted job's pending attempts stop: its record is a tombstone without outputs, and
    // the tenant asked for it (and its event) to be gone.
    if (!job || job.tenantId !== message.tenantId || isDeletedJob(job) || !this.isCurrent(job, message)) {
      return 'dropped';
    }

    const now = clock.now();
    const dueIn = message.notBefore ? Date.parse(message.notBefore) - now.getTime() : 0;
    if (dueIn > 0) {
      await queue.send(message, { delaySeconds: queueDelaySeconds(dueIn) });
      return 'deferred';
    }

    const event = webhookEventFor(job, now, await this.links(job));
    if (!event || event.type !== message.event || !job.webhook) return 'dropped';
    const messageId = webhookMessageId(job.id, message.event);
    const tenant = await this.options.tenants.get(job.tenantId);
    const result: WebhookDeliveryResult = tenant
      ? await this.options.sender.send({
          url: job.webhook.url,
          payload: event,
          secret: tenant.webhookSecret,
          messageId,
        })
      : { ok: false, error: 'refused (tenant_unknown): nobody holds the signing secret', durationMs: 0 };

    const delay = result.ok || isFinalWebhookFailure(result) ? undefined : this.retryDelay(message.attempt);
    const nextAttemptAt = delay === undefined ? undefined : new Date(now.getTime() + delay);
    if (nextAttemptAt && delay !== undefined) {
      // Before recording: if we crash after this, the next attempt still happens.
      await queue.send(
        { ...message, attempt: message.attempt + 1, notBefore: nextAttemptAt.toISOString() },
        { delaySeconds: queueDelaySeconds(delay) },
      );
    }
    const outcome: WebhookMessageOutcome = result.ok
      ? 'delivered'
      : nextAttemptAt
        ? 'retry_queued'
        : 'failed';
    await this.record(job.id, message, messageId, now, result, outcome, nextAttemptAt);
    const fields = {
      status: result.status,
      deliveryError: result.error,
      durationMs: result.durationMs,
      ...(nextAttemptAt ? { nextAttemptAt: nextAttemptAt.toISOString() } : {}),
    };
    if (outcome === 'delivered') log.info('webhook delivered', fields);
    else if (outcome === 'retry_queued') log.warn('webhook attempt failed', fields);
    else log.warn('webhook failed for good', fields);
    return outcome;
  }

  /** The message is for the job's current round, not settled, and its attempt not yet made. */
  private isCurrent(job: Job, message: WebhookDeliveryMessage): boolean {
    const status = job.webhookStatus;
    // No status yet: the producer queued and has not marked; only round 1 can exist then.
    if (!status) return message.round === 1;
    return (
      status.event === message.event &&
      status.round === message.round &&
      status.state === 'pending' &&
      status.attempts < message.attempt
    );
  }

  private retryDelay(attempt: number): number | undefined {
    return webhookRetryDelayMs(attempt, this.schedule, this.random);
  }

  /** Signed links to the results of a succeeded job, face crops included (the payload is the API's job view). */
  private async links(job: Job): Promise<JobViewLinks> {
    if (job.status !== 'succeeded') return {};
    return signJobLinks(this.options.blobs, job, this.options.downloadUrlTtlSeconds);
  }

  private async record(
    jobId: string,
    message: WebhookDeliveryMessage,
    messageId: string,
    at: Date,
    result: WebhookDeliveryResult,
    outcome: WebhookMessageOutcome,
    nextAttemptAt: Date | undefined,
  ): Promise<void> {
    const iso = at.toISOString();
    const delivery: WebhookDelivery = {
      at: iso,
      event: message.event,
      attempt: message.attempt,
      messageId,
      ok: result.ok,
      ...(result.status !== undefined ? { status: result.status } : {}),
      ...(result.error !== undefined ? { error: result.error.slice(0, 500) } : {}),
    };
    await mutateJob(this.options.jobs, jobId, (job) => {
      // Another consumer recorded this attempt, or a redelivery started a new round meanwhile.
      if (!this.isCurrent(job, message)) return undefined;
      const previous = job.webhookStatus;
      const status: WebhookStatus = {
        event: message.event,
        messageId,
        state: outcome === 'delivered' ? 'delivered' : outcome === 'failed' ? 'failed' : 'pending',
        round: message.round,
        attempts: message.attempt,
        queuedAt: previous?.queuedAt ?? iso,
        lastAttemptAt: iso,
        ...(nextAttemptAt ? { nextAttemptAt: nextAttemptAt.toISOString() } : {}),
        ...(outcome === 'delivered' ? { deliveredAt: iso } : {}),
        ...(outcome === 'failed' ? { failedAt: iso } : {}),
        ...(!result.ok && result.status !== undefined ? { lastStatus: result.status } : {}),
        ...(!result.ok && result.error !== undefined ? { lastError: result.error.slice(0, 500) } : {}),
      };
      return {
        ...job,
        webhookDeliveries: [...job.webhookDeliveries, delivery].slice(-MAX_RECORDED_WEBHOOK_ATTEMPTS),
        webhookStatus: status,
      };
    });
  }
}

/** Queue delay for a wait: whole seconds, at most {@link MAX_QUEUE_DELAY_SECONDS}. */
function queueDelaySeconds(waitMs: number): number {
  return Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil(waitMs / 1000)));
}
