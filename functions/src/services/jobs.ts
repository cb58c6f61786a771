/**
 * The job operations behind the `/v1/jobs` routes, free of HTTP: create (with idempotency and
 * the webhook SSRF check), read, list, start, cancel, delete. Routes translate results and
 * thrown domain errors into responses.
 */
import {
  type Clock,
  newJobId,
  blobKeys,
  newBlobToken,
  encodeJobCursor,
  faceCropKeys,
  fingerprintCreateJobRequest,
  legacyFingerprintCreateJobRequest,
  isTerminalStatus,
  mutateJob,
  newJob,
  resolveJobParams,
  transitionJob,
  type BlobStore,
  type UploadForm,
  type JobStore,
  OUTPUT_FORMATS,
  type CreateJobRequest,
  type Job,
  NotFoundError,
  PreconditionFailedError,
  errorFields,
  type JobStatus,
  type WebhookTargetChecker,
  silentLogger,
  type JobMetrics,
  type Logger,
  type Tenant,
  type JobNotifier,
  type JobWebhooks,
} from '../../../shared/src/index.js';
import { ApiError } from '../http/errors.js';
import type { JobAdmission } from './admission.js';
import type { Dispatcher } from './dispatch.js';
import type { CreatedJobExpiry } from './expiry.js';
import { DELETED_JOB_CODE, getTenantJob, isDeletedJob } from './job-views.js';

export interface JobServiceOptions {
  blobs: BlobStore;
  jobs: JobStore;
  clock: Clock;
  dispatcher: Dispatcher;
  /** Queues the terminal event of jobs the API makes terminal (cancel). */
  notifier: JobNotifier;
  /** Redelivery of a job's terminal event on request. */
  webhooks: Pick<JobWebhooks, 'redeliver'>;
  webhookTargets: WebhookTargetChecker;
  /** Model name recorded on jobs (part of the batch key). */
  model: string;
  uploadMaxBytes: number;
  uploadUrlTtlSeconds: number;
  uploadContentTypes: readonly string[];
  /** Expires jobs left in `created` (reads and lists expire them lazily). */
  expiry?: CreatedJobExpiry;
  /** Caps of jobs in flight and monthly quotas (none: no caps). */
  admission?: JobAdmission;
  /**
   * Told of a job a deletion finished (canceled in the same write; no webhook goes out, so the
   * notifier's count does not see it). Default none.
   */
  metrics?: JobMetrics;
  logger?: Logger;
}

/** Result of {@link JobService.create}. */
export interface CreateJobResult {
  job: Job;
  /** False when an earlier request with the same `Idempotency-Key` created the job. */
  created: boolean;
  /** A fresh signed upload form while the job waits for its input (`created`); else absent. */
  upload?: UploadForm;
}

/** Options of {@link JobService.list}. */
export interface ListOptions {
  limit: number;
  cursor?: string;
  status?: JobStatus;
}

/**
 * Most job records one filtered list call reads (each is a storage read): a filter matching
 * nothing made every call read 1000, ten times an unfiltered page, at the tenant's request rate
 * (security review). The page then comes back short, with a `nextCursor` to go on from.
 */
export const MAX_SCANNED_RECORDS = 200;

/** Least time between two sweeps of one tenant's abandoned jobs on a refused create (per instance). */
const SWEEP_INTERVAL_MS = 60_000;

export class JobService {
  private readonly options: JobServiceOptions;
  private readonly logger: Logger;
  /** When each tenant's jobs were last swept on a refused create (see sweepMayHelp). */
  private readonly lastSweepAt = new Map<string, number>();

  constructor(options: JobServiceOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Creates a job and its signed upload form.
   *
   * Idempotency: with `idempotencyKey`, the same key and the same (parsed) body return the job
   * created first (`created: false`; the API answers 200 instead of 201); the same key with a
   * different body is refused with 422 `idempotency_key_reused`. Keys are per tenant and kept
   * as long as the job record.
   *
   * A new job takes one of the tenant's in-flight slots (given back when it finishes).
   *
   * @throws {WebhookTargetRefusedError} (400) when the webhook URL is not allowed.
   * @throws {ApiError} 422 `idempotency_key_reused`, 409 `idempotency_key_deleted`, 429
   * `too_many_jobs_in_flight` / `monthly_quota_in_flight` / `monthly_quota_exceeded`.
   */
  async create(
    tenant: Tenant | string,
    request: CreateJobRequest,
    idempotencyKey?: string,
  ): Promise<CreateJobResult> {
    const tenantId = typeof tenant === 'string' ? tenant : tenant.id;
    const { jobs, clock } = this.options;
    const fingerprint = await fingerprintCreateJobRequest(request);
    // First: a suspended tenant's idempotent replay must not hand out a fresh upload form.
    if (typeof tenant !== 'string') this.options.admission?.assertActive(tenant);
    if (idempotencyKey !== undefined) {
      const earlier = await jobs.findByIdempotencyKey(tenantId, idempotencyKey);
      if (earlier) return this.replay(earlier, fingerprint, request);
    }
    if (request.webhook) await this.options.webhookTargets.assertAllowed(request.webhook.url);
    const at = clock.now();
    const id = newJobId(at);
    const job = newJob({
      id,
      tenantId,
      model: this.options.model,
      params: resolveJobParams(request),
      // Each form gets its own key; see blobKeys.upload and the dispatcher.
      inputKey: blobKeys.upload(tenantId, id, newBlobToken()),
      at,
      ...(request.webhook ? { webhook: request.webhook } : {}),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey, requestFingerprint: fingerprint }),
    });
    const { admission } = this.options;
    if (admission)
      await this.admitExpiringAbandoned(
        admission,
        typeof tenant === 'string' ? { id: tenant, name: tenant, webhookSecret: '' } : tenant,
        id,
      );
    let stored;
    try {
      stored = await jobs.create(job);
    } catch (error) {
      await admission?.release(tenantId, id);
      throw error;
    }
    if (!stored.created) {
      await admission?.release(tenantId, id);
      return this.replay(stored.job, fingerprint, request);
    }
    this.logger.info('job created', { jobId: id, tenantId });
    return { job: stored.job, created: true, upload: await this.uploadForm(stored.job) };
  }

  private async replay(job: Job, fingerprint: string, request: CreateJobRequest): Promise<CreateJobResult> {
    // A key stored before the comparison learned sets and defaults kept the older fingerprint:
    // the very same body must still replay.
    const same =
      job.requestFingerprint === fingerprint ||
      job.requestFingerprint === (await legacyFingerprintCreateJobRequest(request));
    if (!same) {
      throw new ApiError(
        'idempotency_key_reused',
        422,
        'this Idempotency-Key was used with a different request body',
        { jobId: job.id },
      );
    }
    if (isDeletedJob(job)) {
      throw new ApiError(
        'idempotency_key_deleted',
        409,
        'the job created with this Idempotency-Key was deleted',
      );
    }
    if (job.status !== 'created') return { job, created: false };
    const current = await this.expireIfStale(job);
    if (current.status !== 'created') return { job: current, created: false };
    const renewed = await this.renewUploadKey(current);
    return renewed.status === 'created'
      ? { job: renewed, created: false, upload: await this.uploadForm(renewed) }
      : { job: renewed, created: false };
  }

  private expireIfStale(job: Job): Promise<Job> {
    return this.options.expiry ? this.options.expiry.expireIfStale(job) : Promise.resolve(job);
  }

  /**
   * Gives a `created` job a fresh upload key (compare-and-set); other jobs are returned as they
   * are. When concurrent calls keep winning the write (a client retrying a create in parallel
   * with one Idempotency-Key), the key one of them just wrote serves as well: the job is returned
   * as it now is, rather than the conflict reaching the client as a 412.
   */
  private async renewUploadKey(job: Job): Promise<Job> {
    try {
      return await mutateJob(this.options.jobs, job.id, (current) =>
        current.status === 'created'
          ? {
              ...current,
              updatedAt: this.options.clock.now().toISOString(),
              input: { ...current.input, key: blobKeys.upload(current.tenantId, current.id, newBlobToken()) },
            }
          : undefined,
      );
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      const current = await this.options.jobs.get(job.id);
      if (!current) throw new NotFoundError(`job ${job.id} not found`);
      return current;
    }
  }

  /**
   * A new upload form for a job still waiting for its input (`POST /v1/jobs/{id}/upload`), e.g.
   * after the first form expired. The new form has its own key; an upload through an older form
   * that is still valid is accepted too, whichever arrives first wins, later ones are deleted.
   *
   * @throws {ApiError} 409 `upload_closed` once the job accepted an input, finished or expired;
   * 403 `tenant_suspended` when the tenant is suspended (its jobs waiting for an upload stay so).
   */
  async newUploadForm(tenant: Tenant | string, jobId: string): Promise<{ job: Job; upload: UploadForm }> {
    const tenantId = typeof tenant === 'string' ? tenant : tenant.id;
    if (typeof tenant !== 'string') this.options.admission?.assertActive(tenant);
    const job = await this.get(tenantId, jobId);
    const renewed = job.status === 'created' ? await this.renewUploadKey(job) : job;
    if (renewed.status !== 'created') {
      throw new ApiError(
        'upload_closed',
        409,
        `job ${jobId} is ${renewed.status}; it takes no (other) upload`,
        { status: renewed.status, ...(renewed.error ? { reason: renewed.error.code } : {}) },
      );
    }
    return { job: renewed, upload: await this.uploadForm(renewed) };
  }

  private uploadForm(job: Job): Promise<UploadForm> {
    return this.options.blobs.createUploadForm({
      key: job.input.key,
      maxBytes: this.options.uploadMaxBytes,
      contentTypes: this.options.uploadContentTypes,
      expiresInSeconds: this.options.uploadUrlTtlSeconds,
    });
  }

  /**
   * Admits a new job; when the tenant is at a cap with jobs in flight, first expires its jobs
   * that waited too long for their upload (they hold slots until something reads them, and an
   * app that gave up on them never will) and tries once more. The sweep lists the tenant's jobs,
   * so it runs at most once per SWEEP_INTERVAL_MS per tenant and instance, never when nothing it
   * could free would help (no job in flight, or the month's images used up), and a sweep that
   * fails leaves the 429 as it was.
   */
  private async admitExpiringAbandoned(
    admission: JobAdmission,
    tenant: Tenant,
    jobId: string,
  ): Promise<void> {
    try {
      await admission.admit(tenant, jobId);
    } catch (error) {
      if (!(await this.sweepMayHelp(error, tenant.id))) throw error;
      await admission.admit(tenant, jobId);
    }
  }

  /** Whether a refusal may be lifted by expiring abandoned jobs; runs the sweep if so. */
  private async sweepMayHelp(error: unknown, tenantId: string): Promise<boolean> {
    const { expiry, clock } = this.options;
    if (!(error instanceof ApiError) || !expiry) return false;
    const details = error.details ?? {};
    const inFlight = Number(details['inFlight'] ?? 0);
    const quotaLeft =
      error.code === 'monthly_quota_exceeded' || error.code === 'monthly_quota_in_flight'
        ? Number(details['quota'] ?? 0) - Number(details['used'] ?? 0)
        : error.code === 'too_many_jobs_in_flight'
          ? Infinity
          : 0;
    if (!(inFlight > 0 && quotaLeft > 0)) return false;
    const now = clock.now().getTime();
    if (now - (this.lastSweepAt.get(tenantId) ?? -Infinity) < SWEEP_INTERVAL_MS) return false;
    this.lastSweepAt.set(tenantId, now);
    try {
      return (await expiry.sweepTenant(tenantId)) > 0;
    } catch (sweepError) {
      this.logger.warn('could not sweep abandoned jobs', { tenantId, ...errorFields(sweepError) });
      return false;
    }
  }

  /** The tenant's job (expired first if it waited too long); `NotFoundError` for others' and deleted jobs. */
  async get(tenantId: string, jobId: string): Promise<Job> {
    return this.expireIfStale(await getTenantJob(this.options.jobs, tenantId, jobId));
  }

  /**
   * The tenant's jobs, newest first. With a `status` filter a page may hold fewer than `limit`
   * jobs (even none) and still have a `nextCursor`: a call reads at most MAX_SCANNED_RECORDS
   * records (or one page, if `limit` is larger).
   */
  async list(tenantId: string, options: ListOptions): Promise<{ jobs: Job[]; nextCursor?: string }> {
    const found: Job[] = [];
    let cursor = options.cursor;
    const pages = Math.max(1, Math.floor(MAX_SCANNED_RECORDS / options.limit));
    for (let page = 0; page < pages; page++) {
      const result = await this.options.jobs.listByTenant(tenantId, {
        limit: options.limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const stored of result.jobs) {
        const job = await this.expireIfStale(stored);
        if (isDeletedJob(job) || (options.status && job.status !== options.status)) continue;
        found.push(job);
      }
      cursor = result.nextCursor;
      if (!options.status || found.length >= options.limit || cursor === undefined) break;
    }
    // A filtered scan can overshoot: keep `limit` jobs and resume after the last one kept.
    if (found.length > options.limit) {
      const kept = found.slice(0, options.limit);
      const last = kept.at(-1);
      return { jobs: kept, ...(last ? { nextCursor: encodeJobCursor(last.id) } : {}) };
    }
    return cursor === undefined ? { jobs: found } : { jobs: found, nextCursor: cursor };
  }

  /**
   * Explicit dispatch (`POST /v1/jobs/{id}/start`): queues the job once its input is uploaded.
   *
   * @throws {ApiError} 409 `upload_missing` before the upload; 409 `job_finished` for a
   * terminal job; `DispatchFailedError` (503) when the queue is unavailable.
   */
  async start(tenant: Tenant | string, jobId: string): Promise<{ job: Job; queuedNow: boolean }> {
    const tenantId = typeof tenant === 'string' ? tenant : tenant.id;
    if (typeof tenant !== 'string') this.options.admission?.assertActive(tenant);
    const job = await this.get(tenantId, jobId);
    const outcome = await this.options.dispatcher.dispatch(job);
    switch (outcome.outcome) {
      case 'queued':
        return { job: outcome.job, queuedNow: true };
      case 'already_dispatched':
      case 'rejected':
        return { job: outcome.job, queuedNow: false };
      case 'not_uploaded':
        throw new ApiError(
          'upload_missing',
          409,
          'the input has not been uploaded yet; POST it to the upload form first',
        );
      case 'ignored':
        throw new ApiError('job_finished', 409, `job ${jobId} is ${job.status}; nothing to start`, {
          status: job.status,
        });
    }
  }

  /**
   * Cancels a job that has not finished. Canceling a canceled job returns it unchanged; a
   * succeeded or failed job answers 409 `invalid_transition`. A running job is canceled in
   * the store; the worker notices between sampler steps and stops. The `job.canceled` webhook
   * is queued here (the API made the job terminal); the delivery consumer sends it, so a slow
   * receiver never holds this request.
   */
  async cancel(tenantId: string, jobId: string, reason = 'canceled by request'): Promise<Job> {
    await this.get(tenantId, jobId);
    let canceledNow = false;
    const job = await mutateJob(this.options.jobs, jobId, (current) => {
      canceledNow = false;
      if (current.status === 'canceled') return undefined;
      canceledNow = true;
      return transitionJob(current, { to: 'canceled', at: this.options.clock.now(), reason });
    });
    if (!canceledNow) return job;
    this.logger.info('job canceled', { jobId, tenantId });
    await this.options.notifier.jobFinished(job);
    // Read again: the notifier marked the queued event (`webhookStatus: pending`) on the record.
    return (await this.options.jobs.get(jobId)) ?? job;
  }

  /**
   * Sends the job's terminal webhook event again (a new round of attempts, same `webhook-id`).
   *
   * @throws {NotFoundError} for other tenants' and deleted jobs.
   * @throws {WebhookNotRedeliverableError} (409) when the job is not finished or its webhook does
   * not subscribe to its event.
   */
  async redeliverWebhook(tenantId: string, jobId: string): Promise<Job> {
    await this.get(tenantId, jobId);
    return this.options.webhooks.redeliver(jobId);
  }

  /**
   * Deletes a job's data: the input and every output (including outputs a worker might still
   * be writing for a job canceled here). The record stays as a tombstone (status terminal,
   * `error.code = 'deleted'`, no output keys): reads answer 404, lists skip it, its usage stays
   * billed and its idempotency key stays taken. A job that was not finished is canceled first
   * (no webhook: the client asked for the deletion). Deleting twice is a 404, but removes the
   * files again first: a DELETE whose file removal failed (a 5xx after the tombstone was
   * written) finishes when the client retries it.
   */
  async delete(tenantId: string, jobId: string): Promise<void> {
    const stored = await this.options.jobs.get(jobId);
    if (stored && stored.tenantId === tenantId && isDeletedJob(stored)) {
      await this.options.blobs.deleteMany(jobBlobKeys(stored));
      throw new NotFoundError(`job ${jobId} not found`);
    }
    const job = await this.get(tenantId, jobId);
    const at = this.options.clock.now();
    let finishedHere = false;
    const written = await mutateJob(this.options.jobs, jobId, (current) => {
      finishedHere = false;
      if (isDeletedJob(current)) return undefined;
      finishedHere = !isTerminalStatus(current.status);
      const { output: _output, progress: _progress, ...rest } = current;
      const message = 'the job and its files were deleted on request';
      // A job still in flight is canceled in the same write (the transition comes last: the
      // store takes a status change only as the record transitionJob returns).
      return isTerminalStatus(current.status)
        ? { ...rest, updatedAt: at.toISOString(), error: { code: DELETED_JOB_CODE, message } }
        : transitionJob(rest, { to: 'canceled', at, code: DELETED_JOB_CODE, reason: message });
    });
    if (finishedHere) this.options.metrics?.jobFinished(written);
    await this.options.blobs.deleteMany(jobBlobKeys(job));
    this.logger.info('job deleted', { jobId, tenantId });
  }
}

/**
 * Every blob a job may have: its input (upload and accepted copy), every output format, DR2's
 * output and the face crops. All but the recorded output keys follow from the job's ids and
 * parameters, so a tombstone (which keeps no output) still names them.
 */
function jobBlobKeys(job: Job): string[] {
  const keys = new Set<string>([
    job.input.key,
    ...(job.input.uploadKey ? [job.input.uploadKey] : []),
    blobKeys.input(job.tenantId, job.id),
    ...OUTPUT_FORMATS.map((format) => blobKeys.restored(job.tenantId, job.id, format)),
    blobKeys.dr2(job.tenantId, job.id),
  ]);
  if (job.output?.restoredKey) keys.add(job.output.restoredKey);
  if (job.output?.dr2Key) keys.add(job.output.dr2Key);
  for (const key of faceCropKeys(job)) keys.add(key);
  return [...keys];
}
