/**
 * Per-tenant limits: what each API key may do, with defaults that apply out of the box.
 *
 * | limit | default | why |
 * | --- | --- | --- |
 * | job creation rate | 10/s, burst 100 | a mobile backend's peak (a batch of 100 photos at once), far above a person's pace; creates cost storage writes and a slot |
 * | other requests | 50/s, burst 500 | polling many jobs (GET) stays cheap but one key cannot flood the API |
 * | jobs in flight | 50 | jobs not finished (created through running): one tenant cannot fill the GPU queue for everyone |
 * | monthly images | none | pay-per-use plans set a cap; usage of finished jobs plus jobs in flight count |
 * | monthly model seconds | none | the cost a plan pays for: a job's steps, faces and size vary its model time 25-fold and more; finished jobs count (a job's cost is not known before it runs) |
 * | suspended | no | an operator stops a tenant's new jobs (unpaid plan, abuse) without deleting its record: its jobs, results and usage stay readable |
 *
 * Defaults come from the configuration (`DR2E_CREATE_RATE_PER_SECOND`, `DR2E_CREATE_BURST`,
 * `DR2E_REQUEST_RATE_PER_SECOND`, `DR2E_REQUEST_BURST`, `DR2E_MAX_JOBS_IN_FLIGHT`,
 * `DR2E_MONTHLY_IMAGE_QUOTA`, `DR2E_MONTHLY_MODEL_SECONDS_QUOTA`); a tenant's record may override any of them (`limits` in the
 * tenants secret in AWS, in `tenants.json` locally).
 */
import { z } from 'zod';
import type { RatePolicy } from './ports/limit-store.js';

/**
 * Highest cap of a tenant's jobs in flight. The DynamoDB limit store keeps a tenant's slots in
 * one item (one entry of about 50 bytes per job), and an item holds at most 400 KB: a cap of
 * 8,000 or so could no longer be reached, and long before that every create rewrites a large,
 * hot item. 5,000 leaves room.
 */
export const MAX_JOBS_IN_FLIGHT = 5_000;

export interface TenantLimits {
  /** `POST /v1/jobs`. */
  create: RatePolicy;
  /** Every other `/v1` request. */
  requests: RatePolicy;
  /** Jobs not yet finished (created, uploaded, queued, running). */
  maxJobsInFlight: number;
  /** Images per calendar month (UTC); undefined = no cap. */
  monthlyImageQuota?: number;
  /** Model seconds per calendar month (UTC); undefined = no cap. */
  monthlyModelSecondsQuota?: number;
  /** New jobs refused (403 `tenant_suspended`); everything else still works. */
  suspended?: boolean;
}

export const DEFAULT_TENANT_LIMITS: Readonly<TenantLimits> = Object.freeze({
  create: Object.freeze({ ratePerSecond: 10, burst: 100 }),
  requests: Object.freeze({ ratePerSecond: 50, burst: 500 }),
  maxJobsInFlight: 50,
});

const RatePolicySchema = z.strictObject({
  ratePerSecond: z.number().positive().max(100_000),
  burst: z.int().min(1).max(1_000_000),
});

/** A tenant's overrides, as stored in its record. */
export const TenantLimitsOverrideSchema = z.strictObject({
  create: RatePolicySchema.partial().optional(),
  requests: RatePolicySchema.partial().optional(),
  maxJobsInFlight: z.int().min(1).max(MAX_JOBS_IN_FLIGHT).optional(),
  /** `null` removes a default cap for this tenant. */
  monthlyImageQuota: z.int().min(1).nullable().optional(),
  /** `null` removes a default cap for this tenant. */
  monthlyModelSecondsQuota: z.number().positive().max(1e9).nullable().optional(),
  suspended: z.boolean().optional(),
});
export type TenantLimitsOverride = z.infer<typeof TenantLimitsOverrideSchema>;

/**
 * The limits that apply to a tenant: its overrides on top of the deployment's defaults.
 *
 * @example resolveTenantLimits(DEFAULT_TENANT_LIMITS, { maxJobsInFlight: 5 }).maxJobsInFlight === 5
 */
export function resolveTenantLimits(defaults: TenantLimits, override?: TenantLimitsOverride): TenantLimits {
  const quota =
    override?.monthlyImageQuota === null
      ? undefined
      : (override?.monthlyImageQuota ?? defaults.monthlyImageQuota);
  const seconds =
    override?.monthlyModelSecondsQuota === null
      ? undefined
      : (override?.monthlyModelSecondsQuota ?? defaults.monthlyModelSecondsQuota);
  const suspended = override?.suspended ?? defaults.suspended ?? false;
  return {
    create: { ...defaults.create, ...override?.create },
    requests: { ...defaults.requests, ...override?.requests },
    maxJobsInFlight: override?.maxJobsInFlight ?? defaults.maxJobsInFlight,
    ...(quota === undefined ? {} : { monthlyImageQuota: quota }),
    ...(seconds === undefined ? {} : { monthlyModelSecondsQuota: seconds }),
    ...(suspended ? { suspended: true } : {}),
  };
}
