/**
 * Port: durable job records with optimistic concurrency (JSON objects with conditional writes
 * on S3, files locally).
 */
import type { Job } from '../schemas.js';

/** Result of {@link JobStore.create}. */
export type CreateJobResult =
  /** The job was stored. */
  | { created: true; job: Job }
  /** The tenant already used the idempotency key: the job created then, nothing stored now. */
  | { created: false; job: Job };

export interface ListJobsOptions {
  /** Page size, 1 to 100 (default 20). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** A page of jobs (newest first for a tenant's list; oldest first for a time range). */
export interface JobPage {
  jobs: Job[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface JobStore {
  /**
   * Stores a new job if its id is free. With an `idempotencyKey`, the key is claimed for the
   * tenant atomically: if it was already claimed, nothing is stored and the earlier job is
   * returned with `created: false` (compare `requestFingerprint` to detect a different body).
   *
   * @throws {ConflictError} when a job with this id already exists.
   * @throws {InvalidTransitionError} when the job is not in `created` (`checkNewJob`).
   * @example
   * ```ts
   * const { created, job } = await jobs.create(newJob({ ...,  idempotencyKey: 'abc' }));
   * if (!created && job.requestFingerprint !== fingerprint) throw new ConflictError('key reused');
   * ```
   */
  create(job: Job): Promise<CreateJobResult>;
  /** The job, or `undefined`. Callers check `tenantId` before showing it to a tenant. */
  get(jobId: string): Promise<Job | undefined>;
  /**
   * Compare-and-set: writes `next` (same id) if the stored version is still `expectedVersion`,
   * and returns it as stored, with `version` = `expectedVersion + 1`.
   *
   * @throws {PreconditionFailedError} when the stored version differs (someone wrote first).
   * @throws {NotFoundError} when there is no such job.
   * @throws {InvalidTransitionError} when `next` changes the status other than through
   *   `transitionJob` from the stored status (`checkJobWrite`, made by every adapter).
   * @example
   * ```ts
   * const stored = await jobs.update(transitionJob(job, { to: 'queued', at }), job.version);
   * ```
   */
  update(next: Job, expectedVersion: number): Promise<Job>;
  /** A tenant's jobs, newest first, with cursor pagination. */
  listByTenant(tenantId: string, options?: ListJobsOptions): Promise<JobPage>;
  /**
   * Every tenant's jobs created in `[from, to)` (by the time in their ids), oldest first, with
   * cursor pagination (`nextCursor` from the previous page). For sweeps over recent jobs (the
   * expiry of jobs that never got an upload): the cost follows the jobs in the range, not the
   * store's size. A record that does not parse is left out (one must not stop a sweep; `get`
   * still reports it).
   *
   * @example
   * ```ts
   * const page = await jobs.listCreatedBetween(dayAgo, dayAgoPlusHour, { limit: 100 });
   * ```
   */
  listCreatedBetween(from: Date, to: Date, options?: ListJobsOptions): Promise<JobPage>;
  /** The tenant's job created with this idempotency key, or `undefined`. */
  findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined>;
}
