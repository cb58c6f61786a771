/**
 * Admission of new jobs against a tenant's caps: jobs in flight (a slot per unfinished job in
 * the `LimitStore`, freed when the job becomes terminal) and the optional monthly image quota
 * (usage of finished jobs this calendar month, UTC, plus jobs in flight, which may each become
 * one image). Refusals are `429` with `Retry-After`, so clients back off the same way as for
 * rate limits: seconds while unfinished jobs hold the slots or the images left
 * (`too_many_jobs_in_flight`, `monthly_quota_in_flight`), until the next month once the quota is
 * used up (`monthly_quota_exceeded`).
 *
 * The quota is enforced by the slot store's atomic cap, so creates that race cannot together
 * take more than the images left. One window remains: a job that has just finished has left
 * its slot but its usage record may not be written yet (the worker records it right after the
 * terminal write), so creates at that moment can exceed the quota by the jobs finishing then.
 */
import {
  type Clock,
  type LimitStore,
  type Tenant,
  type UsageLedger,
  resolveTenantLimits,
  type TenantLimits,
} from '../../../shared/src/index.js';
import { ApiError } from '../http/errors.js';

export interface JobAdmissionOptions {
  limits: LimitStore;
  usage: UsageLedger;
  defaults: TenantLimits;
  clock: Clock;
  /**
   * How long a slot is held at most: a job that never reports its end (a crash) stops counting
   * after this. Default: 48 h (the 24 h a job may wait for its upload, plus a day to run).
   */
  slotLeaseSeconds?: number;
}

/** Seconds clients are told to wait when all their slots are taken (jobs finish in seconds to minutes). */
const IN_FLIGHT_RETRY_AFTER_SECONDS = 5;

/**
 * @example
 * ```ts
 * const admission = new JobAdmission({ limits, usage, defaults: DEFAULT_TENANT_LIMITS, clock });
 * await admission.admit(tenant, jobId); // throws 429 too_many_jobs_in_flight at the cap
 * ```
 */
export class JobAdmission {
  constructor(private readonly options: JobAdmissionOptions) {}

  /**
   * Takes a slot for `jobId` or refuses.
   *
   * @throws {ApiError} 403 `tenant_suspended`; 429 `too_many_jobs_in_flight`,
   * `monthly_quota_in_flight` (the images left are held by unfinished jobs) or
   * `monthly_quota_exceeded` (images or model seconds used up; `details.quotaKind`), with
   * `details.retryAfterSeconds` (the route sets `Retry-After` from it).
   */
  async admit(tenant: Tenant, jobId: string): Promise<void> {
    const { limits, clock } = this.options;
    const caps = resolveTenantLimits(this.options.defaults, tenant.limits);
    const now = clock.now();
    const month = monthOf(now);
    // The quota is enforced by the slot store's own atomic cap: concurrent creates each read
    // the same usage, so a check before taking the slot would let all of them through. With the
    // images left this month as a second cap on slots, at most that many jobs can be in flight,
    // whoever races.
    if (caps.suspended) throw suspendedError();
    const quotas = caps.monthlyImageQuota !== undefined || caps.monthlyModelSecondsQuota !== undefined;
    const monthUsage = quotas
      ? await this.options.usage.sum(tenant.id, { from: month.from, to: month.next })
      : undefined;
    // Model seconds are known only once a job has run, so the quota cannot be held for jobs in
    // flight: it refuses new jobs once the finished ones reach it (those admitted before may
    // take the month past it).
    if (monthUsage && caps.monthlyModelSecondsQuota !== undefined) {
      const spent = monthUsage.modelSeconds;
      if (spent >= caps.monthlyModelSecondsQuota) {
        throw modelSecondsExceeded(caps.monthlyModelSecondsQuota, spent, now, month.next);
      }
    }
    const used = caps.monthlyImageQuota === undefined ? undefined : monthUsage?.images;
    const imagesLeft = used === undefined ? Infinity : (caps.monthlyImageQuota as number) - used;
    const lease = new Date(now.getTime() + (this.options.slotLeaseSeconds ?? 48 * 3600) * 1000);
    const cap = Math.min(caps.maxJobsInFlight, imagesLeft);
    const slot =
      cap > 0
        ? await limits.acquireSlot(tenant.id, jobId, cap, lease, now)
        : { acquired: false, inFlight: await limits.slotsInUse(tenant.id, now) };
    if (slot.acquired) return;
    if (used !== undefined && caps.monthlyImageQuota !== undefined) {
      if (used >= caps.monthlyImageQuota) {
        throw quotaExceeded(caps.monthlyImageQuota, used, slot.inFlight, now, month.next);
      }
      // Not used up: the images left are held by jobs in flight. A cancel or a failure gives one
      // back, so the client is told to retry soon, not at the next month.
      if (used + slot.inFlight >= caps.monthlyImageQuota) {
        throw quotaHeldInFlight(caps.monthlyImageQuota, used, slot.inFlight, month.next);
      }
    }
    throw new ApiError(
      'too_many_jobs_in_flight',
      429,
      `this API key has ${slot.inFlight} unfinished jobs, the most it may have at once (${caps.maxJobsInFlight}); wait for some to finish, or cancel jobs that will not be uploaded`,
      {
        inFlight: slot.inFlight,
        maxJobsInFlight: caps.maxJobsInFlight,
        retryAfterSeconds: IN_FLIGHT_RETRY_AFTER_SECONDS,
      },
    );
  }

  /**
   * Refuses a suspended tenant what would start work: a create (admit does it) or a new upload
   * form for a job made before the suspension.
   *
   * @throws {ApiError} 403 `tenant_suspended`.
   */
  assertActive(tenant: Tenant): void {
    if (resolveTenantLimits(this.options.defaults, tenant.limits).suspended) throw suspendedError();
  }

  /** Gives a slot back (a create that did not store its job). */
  release(tenantId: string, jobId: string): Promise<void> {
    return this.options.limits.releaseSlot(tenantId, jobId);
  }
}

/** The calendar month (UTC) of `now`: its first instant and the next month's. */
function monthOf(now: Date): { from: Date; next: Date } {
  return {
    from: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)),
    next: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)),
  };
}

function suspendedError(): ApiError {
  return new ApiError(
    'tenant_suspended',
    403,
    "this API key's account is suspended: new jobs and uploads are refused; its jobs, results and usage stay readable. Contact the operator of this service",
  );
}

function modelSecondsExceeded(quota: number, used: number, now: Date, next: Date): ApiError {
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return new ApiError(
    'monthly_quota_exceeded',
    429,
    `this API key used ${round(used)} of its ${quota} model seconds this month; the quota renews on ${next.toISOString().slice(0, 10)}`,
    {
      quotaKind: 'modelSeconds',
      quota,
      used: round(used),
      renewsAt: next.toISOString(),
      retryAfterSeconds: Math.ceil((next.getTime() - now.getTime()) / 1000),
    },
  );
}

function quotaHeldInFlight(quota: number, used: number, inFlight: number, next: Date): ApiError {
  const left = quota - used;
  return new ApiError(
    'monthly_quota_in_flight',
    429,
    `this API key has ${inFlight} unfinished jobs, which hold the ${left} images left of its monthly quota of ${quota} (${used} used); wait for them to finish (if they succeed, the quota is used up until ${next.toISOString().slice(0, 10)}), or cancel jobs that will not be uploaded`,
    {
      quota,
      used,
      inFlight,
      renewsAt: next.toISOString(),
      retryAfterSeconds: IN_FLIGHT_RETRY_AFTER_SECONDS,
    },
  );
}

function quotaExceeded(quota: number, used: number, inFlight: number, now: Date, next: Date): ApiError {
  return new ApiError(
    'monthly_quota_exceeded',
    429,
    `this API key used ${used} of its ${quota} images this month (${inFlight} more in flight); the quota renews on ${next.toISOString().slice(0, 10)}`,
    {
      quotaKind: 'images',
      quota,
      used,
      inFlight,
      renewsAt: next.toISOString(),
      retryAfterSeconds: Math.ceil((next.getTime() - now.getTime()) / 1000),
    },
  );
}
