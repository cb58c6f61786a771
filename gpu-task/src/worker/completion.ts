/**
 * Completion: what happens after a job reached a terminal status, in the background so the next
 * batch can start. Record usage (succeeded jobs, and failed ones billed their model time; the
 * model time of jobs canceled while they ran), queue the webhook the worker owes, then delete
 * the messages: the job's own and duplicates attached meanwhile. Messages stay held (leases
 * extended) until then; when the webhook queue is down they are released, so a later delivery
 * queues the event again.
 *
 * The worker never waits on a tenant's endpoint: it puts the terminal event on the webhook queue
 * (shared/src/webhook-delivery.ts), whose consumer makes the attempts and retries them for
 * about a day.
 */
import {
  type Job,
  type JobWebhooks,
  type QueueWebhookOutcome,
  type UsageLedger,
  type JobStore,
  errorFields,
  mutateJob,
  type Logger,
} from '../../../shared/src/index.js';
import { ledgerUsage, webhookToQueue } from './delivery.js';
import type { Held, Leases } from './leases.js';
import type { ActiveJob } from './ownership.js';

/** Writes of a canceled run's usage before it is given up and logged (see recordCanceledRun). */
export const CANCELED_USAGE_ATTEMPTS = 3;

/** Wait before the second and third write (ms): a throttled ledger gets a moment. */
const CANCELED_USAGE_BACKOFF_MS = [200, 600];

export interface CompletionOptions {
  usage: Pick<UsageLedger, 'record'>;
  /** Where a canceled run's usage is also written onto its record, so the job view shows what was billed. */
  jobs: Pick<JobStore, 'get' | 'update'>;
  webhooks: Pick<JobWebhooks, 'jobFinished'>;
  leases: Leases;
  /** Claimed jobs by id; a completed job leaves it. */
  active: Map<string, ActiveJob>;
  /** Messages whose completion failed come back after one lease. */
  visibilityTimeoutSeconds: number;
}

export class Completion {
  /** Completions in flight. */
  private readonly finishing = new Set<Promise<void>>();

  constructor(private readonly options: CompletionOptions) {}

  /**
   * Starts completing `job` in the background. `owner` is the claimed job (its messages go)
   * or, for a finished job's stray delivery, that message.
   */
  complete(job: Job, log: Logger, owner: ActiveJob | Held): void {
    const { leases, active: activeJobs, visibilityTimeoutSeconds } = this.options;
    const active = 'attempt' in owner ? owner : undefined;
    if (active) active.state = 'done';
    // Detach from `active` and list the messages in one synchronous step, so a duplicate that
    // arrives later is not attached to a list already handled.
    const detach = (): Held[] => {
      if (!active) return [owner as Held];
      if (activeJobs.get(job.id) === active) activeJobs.delete(job.id);
      return [active.held, ...active.duplicates];
    };
    const task = (async (): Promise<void> => {
      let outcome: QueueWebhookOutcome;
      try {
        if (ledgerUsage(job)) await this.recordUsage(job);
        else if (job.status === 'canceled' && active) await this.recordCanceledRun(job, active, log);
        outcome = await this.queueWebhook(job);
      } catch (error) {
        log.error('completion failed', errorFields(error));
        await leases.release(detach(), visibilityTimeoutSeconds, 'completion_failed');
        return;
      }
      const helds = detach();
      if (outcome === 'queue_failed') {
        await leases.release(helds, visibilityTimeoutSeconds, 'webhook_not_queued');
        return;
      }
      try {
        await Promise.all(helds.map((held) => leases.delete(held)));
        log.debug('messages deleted', { count: helds.length });
      } catch (error) {
        log.error('message delete failed', errorFields(error));
      }
    })();
    this.finishing.add(task);
    void task.finally(() => this.finishing.delete(task));
  }

  /** Resolves when every completion started so far has finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.finishing]);
  }

  /** Queues the job's webhook if the worker owes it (see `webhookToQueue`). */
  async queueWebhook(job: Job): Promise<QueueWebhookOutcome> {
    return webhookToQueue(job) ? this.options.webhooks.jobFinished(job) : 'not_subscribed';
  }

  /**
   * Records the model time of a job canceled while this worker ran it: no image or face (it
   * produced none, so the image quota is not used), only the engine seconds it took, in the
   * ledger and on the job's record (`usage`, as the job view shows it). Without it
   * a tenant could run work and cancel it before the end at no charge. A job canceled before
   * any engine call took part records nothing.
   *
   * The seconds live only in this worker's memory (the API wrote the canceled record without them), so
   * a failed write is tried CANCELED_USAGE_ATTEMPTS times, with a short backoff, and then logged with the seconds
   * instead of failing the completion: released, the message would come back as a stray
   * delivery of a finished job, which knows no seconds to record.
   */
  async recordCanceledRun(job: Job, active: ActiveJob, log: Logger): Promise<void> {
    const seconds = active.engineSeconds ?? 0;
    if (!(seconds > 0)) return;
    const usage = { images: 0, faces: 0, modelSeconds: Math.round(seconds * 1000) / 1000 };
    const entry = {
      tenantId: job.tenantId,
      jobId: job.id,
      at: new Date(job.timestamps.canceled ?? job.updatedAt),
      ...usage,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.usage.record(entry);
        break;
      } catch (error) {
        if (attempt >= CANCELED_USAGE_ATTEMPTS) {
          log.error('usage of a canceled run not recorded', {
            modelSeconds: entry.modelSeconds,
            ...errorFields(error),
          });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, CANCELED_USAGE_BACKOFF_MS[attempt - 1] ?? 600));
      }
    }
    // The job view shows what the ledger billed (GET /v1/usage counts it): the canceled record
    // takes the usage, as a succeeded one does. Only usage changes; a failed write is logged, as
    // the ledger, which bills, has the entry.
    try {
      await mutateJob(this.options.jobs, job.id, (current) =>
        current.status === 'canceled' && current.usage === undefined
          ? { ...current, usage, updatedAt: new Date().toISOString() }
          : undefined,
      );
    } catch (error) {
      log.warn('usage of a canceled run not shown on its job', {
        modelSeconds: usage.modelSeconds,
        ...errorFields(error),
      });
    }
  }

  /** Records a finished job's usage (see ledgerUsage; the ledger keeps one record per job). */
  async recordUsage(job: Job): Promise<void> {
    if (!job.usage) return;
    await this.options.usage.record({
      tenantId: job.tenantId,
      jobId: job.id,
      at: new Date(job.timestamps.succeeded ?? job.timestamps.failed ?? job.updatedAt),
      images: job.usage.images,
      ...(job.usage.faces === undefined ? {} : { faces: job.usage.faces }),
      modelSeconds: job.usage.modelSeconds,
    });
  }
}
