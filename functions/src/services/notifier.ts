/**
 * Telling a tenant that a job reached a terminal status, for the terminal transitions made
 * outside the worker: the dispatcher failing a bad upload, the API canceling a job.
 *
 * Rule (shared with the worker): whoever makes a job terminal sends its webhook. The worker
 * sends `job.succeeded`/`job.failed` for jobs it ran; the API sends `job.canceled` for cancels
 * it performs and the dispatcher sends `job.failed` for uploads it rejects.
 *
 * Delivery goes through the guarded sender (SSRF guard), a few attempts with short backoff
 * (the API and the dispatcher Lambda cannot wait long), each recorded on the job. A failing
 * webhook never changes the job's status.
 */
import {
  mutateJob,
  recordWebhookDelivery,
  webhookEventFor,
  webhookMessageId,
} from '../../../shared/src/job.js';
import type { Clock } from '../../../shared/src/clock.js';
import type { BlobStore } from '../../../shared/src/ports/blob-store.js';
import type { JobStore } from '../../../shared/src/ports/job-store.js';
import type { TenantDirectory } from '../../../shared/src/ports/tenant-directory.js';
import type { WebhookSender } from '../../../shared/src/ports/webhook-sender.js';
import type { Job } from '../../../shared/src/schemas.js';
import { errorFields, silentLogger, type Logger } from '../log.js';
import { outputLinks } from './job-views.js';

/** Port: something that tells the tenant about a job that just became terminal. */
export interface JobNotifier {
  /** Never throws; failures are logged and recorded on the job. */
  jobFinished(job: Job): Promise<void>;
}

export interface WebhookNotifierOptions {
  jobs: JobStore;
  blobs: BlobStore;
  tenants: TenantDirectory;
  sender: WebhookSender;
  clock: Clock;
  /** Lifetime of output links in the event (default 3600 s). */
  downloadUrlTtlSeconds?: number;
  /** Pauses before the 2nd, 3rd... attempt (default [500, 2000] ms: three attempts). */
  retryDelaysMs?: readonly number[];
  logger?: Logger;
  sleep?: (milliseconds: number) => Promise<void>;
}

const defaultSleep = (milliseconds: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/**
 * @example
 * ```ts
 * const notifier = new WebhookNotifier({ jobs, blobs, tenants, sender: services.webhookSender, clock });
 * await notifier.jobFinished(canceledJob); // POSTs job.canceled if the job's webhook subscribes to it
 * ```
 */
export class WebhookNotifier implements JobNotifier {
  private readonly options: WebhookNotifierOptions;
  private readonly logger: Logger;
  private readonly sleep: (milliseconds: number) => Promise<void>;

  constructor(options: WebhookNotifierOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.sleep = options.sleep ?? defaultSleep;
  }

  async jobFinished(job: Job): Promise<void> {
    const log = this.logger.child({ jobId: job.id, tenantId: job.tenantId });
    try {
      await this.deliver(job, log);
    } catch (error) {
      log.error('webhook delivery crashed', errorFields(error, true));
    }
  }

  private async deliver(job: Job, log: Logger): Promise<void> {
    const { jobs, blobs, tenants, sender, clock } = this.options;
    const links = await outputLinks(blobs, job, this.options.downloadUrlTtlSeconds ?? 3600);
    const event = webhookEventFor(job, clock.now(), links);
    if (!event || !job.webhook) return;
    const tenant = await tenants.get(job.tenantId);
    if (!tenant) {
      log.warn('webhook not sent: tenant unknown');
      return;
    }
    const messageId = webhookMessageId(job.id, event.type);
    const delays = this.options.retryDelaysMs ?? [500, 2000];
    const previous = job.webhookDeliveries.filter((delivery) => delivery.event === event.type).length;
    for (let attempt = 1; attempt <= delays.length + 1; attempt++) {
      const result = await sender.send({
        url: job.webhook.url,
        payload: event,
        secret: tenant.webhookSecret,
        messageId,
      });
      await mutateJob(jobs, job.id, (current) =>
        recordWebhookDelivery(current, {
          at: clock.now().toISOString(),
          event: event.type,
          attempt: previous + attempt,
          messageId,
          ok: result.ok,
          ...(result.status === undefined ? {} : { status: result.status }),
          ...(result.error === undefined ? {} : { error: result.error.slice(0, 500) }),
        }),
      );
      log.info(result.ok ? 'webhook delivered' : 'webhook delivery failed', {
        event: event.type,
        attempt: previous + attempt,
        status: result.status,
        deliveryError: result.error,
        durationMs: result.durationMs,
      });
      // A refused target will be refused again; 4xx other than 408/429 means the receiver said no.
      const final =
        result.ok ||
        result.error?.startsWith('refused') ||
        (result.status !== undefined &&
          result.status >= 400 &&
          result.status < 500 &&
          result.status !== 408 &&
          result.status !== 429);
      if (final) return;
      const delay = delays[attempt - 1];
      if (delay === undefined) return;
      await this.sleep(delay);
    }
  }
}

/** Sends nothing (tests, or an embedding that notifies elsewhere). */
export const noopNotifier: JobNotifier = { jobFinished: async () => undefined };
