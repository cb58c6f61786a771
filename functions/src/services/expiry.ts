/**
 * Jobs left in `created` (no input ever uploaded) expire after a configurable time
 * (`DR2E_CREATED_JOB_TTL_SECONDS`, 24 h by default): they become `canceled` with error code
 * `upload_expired`, their `job.canceled` webhook is sent, and whatever their forms stored is
 * deleted. A tenant's abandoned jobs thus stop counting as jobs in flight.
 *
 * Expiry happens wherever a stale job is met: reads and lists (the API), uploads arriving late
 * (the dispatcher), and a sweep of a tenant's jobs ({@link CreatedJobExpiry.sweepTenant}) when a
 * create finds the tenant at its cap on jobs in flight or its monthly quota (`JobService`), so
 * jobs an app abandoned without reading them never block its new ones. A scheduled sweep
 * ({@link CreatedJobExpiry.sweepDue}: hourly in `npm start` and, on AWS, an EventBridge rule
 * that invokes the dispatcher) expires the rest about when they go stale, so an integration
 * that only listens for webhooks gets their `job.canceled`. In AWS the bucket's lifecycle rule
 * also removes stray objects.
 */
import {
  type Clock,
  mutateJob,
  transitionJob,
  type BlobStore,
  type JobStore,
  type Job,
  errorFields,
  silentLogger,
  type Logger,
  type JobNotifier,
} from '../../../shared/src/index.js';

/** Error code of a job that waited for its upload longer than the configured time. */
export const UPLOAD_EXPIRED_CODE = 'upload_expired';

/** Default time a job may wait in `created` for its upload. */
export const DEFAULT_CREATED_JOB_TTL_SECONDS = 24 * 3600;

/** How far back the scheduled sweep looks (see CreatedJobExpiry.sweepDue). */
export const DEFAULT_SWEEP_LOOKBACK_SECONDS = 3 * 3600;

/** Jobs the sweep expires at once (each expiry is a few store, storage and queue calls). */
export const SWEEP_CONCURRENCY = 8;

export interface SweepOptions {
  /** Default DEFAULT_SWEEP_LOOKBACK_SECONDS. */
  lookbackSeconds?: number;
  /** Start no new page after this many milliseconds (the next run goes on). */
  timeBudgetMs?: number;
}

export interface CreatedJobExpiryOptions {
  jobs: JobStore;
  blobs: BlobStore;
  clock: Clock;
  notifier: JobNotifier;
  ttlSeconds: number;
  logger?: Logger;
}

/**
 * @example
 * ```ts
 * const expiry = new CreatedJobExpiry({ jobs, blobs, clock, notifier, ttlSeconds: 86400 });
 * const job = await expiry.expireIfStale(await jobs.get(id)); // canceled/upload_expired if it waited too long
 * ```
 */
export class CreatedJobExpiry {
  private readonly logger: Logger;

  constructor(private readonly options: CreatedJobExpiryOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** True when the job is still `created` and older than the time limit. */
  isStale(job: Job, at: Date = this.options.clock.now()): boolean {
    return (
      job.status === 'created' && at.getTime() - Date.parse(job.createdAt) >= this.options.ttlSeconds * 1000
    );
  }

  /** The job, expired first if it is stale (see the module comment). */
  async expireIfStale(job: Job): Promise<Job> {
    if (!this.isStale(job)) return job;
    let expiredNow = false;
    const updated = await mutateJob(this.options.jobs, job.id, (current) => {
      expiredNow = false;
      const at = this.options.clock.now();
      if (!this.isStale(current, at)) return undefined;
      expiredNow = true;
      return transitionJob(current, {
        to: 'canceled',
        at,
        code: UPLOAD_EXPIRED_CODE,
        reason: `no input was uploaded within ${describeDuration(this.options.ttlSeconds)} of creating the job; create a new job`,
      });
    });
    if (!expiredNow) return updated;
    this.logger.info('job expired without an upload', { jobId: job.id, tenantId: job.tenantId });
    const keys = [updated.input.key, updated.input.uploadKey].filter((key): key is string => !!key);
    await this.options.blobs
      .deleteMany(keys)
      .catch((error: unknown) =>
        this.logger.warn("could not delete an expired job's upload", errorFields(error)),
      );
    await this.options.notifier.jobFinished(updated);
    // Read again: the notifier marked the queued event (`webhookStatus: pending`) on the record.
    return (await this.options.jobs.get(updated.id)) ?? updated;
  }

  /**
   * The scheduled sweep: expires every tenant's jobs that became stale within the last
   * `lookbackSeconds` (created between `ttl + lookback` and `ttl` ago), so their `job.canceled`
   * webhook goes out about when they expire, whether or not anyone reads them. Run it more
   * often than the lookback (hourly with the default 3 h lookback, so two missed runs lose
   * nothing; an older stale job still expires when it is met). Expires SWEEP_CONCURRENCY jobs
   * at a time; with `timeBudgetMs` (a Lambda's remaining time less a margin) it starts no new
   * page after that long, and the next run goes on (the jobs it expired are no longer stale).
   * Returns how many expired; errors on one job are logged and do not stop the sweep.
   *
   * @example
   * ```ts
   * setInterval(() => void expiry.sweepDue(), 3_600_000); // what `npm start` does
   * await expiry.sweepDue({ timeBudgetMs: context.getRemainingTimeInMillis() - 15_000 }); // Lambda
   * ```
   */
  async sweepDue(options: SweepOptions = {}): Promise<number> {
    const started = performance.now();
    const lookbackSeconds = options.lookbackSeconds ?? DEFAULT_SWEEP_LOOKBACK_SECONDS;
    const now = this.options.clock.now().getTime();
    const to = new Date(now - this.options.ttlSeconds * 1000 + 1);
    const from = new Date(to.getTime() - lookbackSeconds * 1000);
    let expired = 0;
    let cursor: string | undefined;
    let outOfTime = false;
    do {
      const page = await this.options.jobs.listCreatedBetween(from, to, {
        limit: 100,
        ...(cursor === undefined ? {} : { cursor }),
      });
      expired += await this.expireAll(page.jobs);
      cursor = page.nextCursor;
      outOfTime = options.timeBudgetMs !== undefined && performance.now() - started >= options.timeBudgetMs;
    } while (cursor !== undefined && !outOfTime);
    const window = { from: from.toISOString(), to: to.toISOString() };
    if (cursor !== undefined)
      this.logger.warn('expiry sweep stopped at its time budget', { expired, ...window });
    else if (expired > 0) this.logger.info('expiry sweep', { expired, ...window });
    return expired;
  }

  /** Expires the stale ones among `jobs`, SWEEP_CONCURRENCY at a time; returns how many. */
  private async expireAll(jobs: readonly Job[]): Promise<number> {
    const stale = jobs.filter((job) => this.isStale(job));
    let expired = 0;
    let next = 0;
    const worker = async () => {
      while (next < stale.length) {
        const job = stale[next++] as Job;
        try {
          if ((await this.expireIfStale(job)).error?.code === UPLOAD_EXPIRED_CODE) expired++;
        } catch (error) {
          this.logger.warn('could not expire a job', { jobId: job.id, ...errorFields(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, stale.length) }, worker));
    return expired;
  }

  /**
   * Expires every stale job of a tenant (newest first; stops at `maxJobs`). Returns how many
   * expired. Errors on one job are logged and do not stop the sweep.
   */
  async sweepTenant(tenantId: string, maxJobs = 10_000): Promise<number> {
    let expired = 0;
    let seen = 0;
    let cursor: string | undefined;
    do {
      const page = await this.options.jobs.listByTenant(tenantId, {
        limit: 100,
        ...(cursor === undefined ? {} : { cursor }),
      });
      seen += page.jobs.length;
      expired += await this.expireAll(page.jobs);
      cursor = page.nextCursor;
    } while (cursor !== undefined && seen < maxJobs);
    return expired;
  }
}

/**
 * A time limit as a client reads it: hours to a tenth from one hour up, else minutes, else
 * seconds. Hours alone said "within 0 h" for a deployment that expires jobs after 2 minutes.
 *
 * @example describeDuration(86400) === '24 h'; describeDuration(120) === '2 min'; describeDuration(45) === '45 s'
 */
export function describeDuration(seconds: number): string {
  if (seconds >= 3600) return `${Math.round((seconds / 3600) * 10) / 10} h`;
  if (seconds >= 60) return `${Math.round((seconds / 60) * 10) / 10} min`;
  return `${seconds} s`;
}
