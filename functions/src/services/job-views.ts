/**
 * Jobs as tenants see them: the public view with signed, expiring download links for the
 * outputs, and the webhook delivery attempts. Deleted jobs (see `markDeleted`) are invisible.
 */
import {
  isDeletedJob,
  NotFoundError,
  toJobView,
  type JobViewLinks,
  signJobLinks,
  type BlobStore,
  type JobStore,
  type Job,
  type JobView,
  type WebhookDelivery,
  type WebhookStatus,
} from '../../../shared/src/index.js';

/** A job view as the API returns it (`JobResponseSchema`). */
export type JobResponse = JobView & { webhookDeliveries: WebhookDelivery[]; webhookStatus?: WebhookStatus };

// The tombstone's marker is domain knowledge (the webhook consumer drops a deleted job's events).
export { DELETED_JOB_CODE, isDeletedJob } from '../../../shared/src/index.js';

/**
 * The tenant's job, or {@link NotFoundError} when it does not exist, belongs to another tenant
 * (the same answer, so ids of other tenants cannot be probed) or was deleted.
 */
export async function getTenantJob(jobs: JobStore, tenantId: string, jobId: string): Promise<Job> {
  const job = await jobs.get(jobId);
  if (!job || job.tenantId !== tenantId || isDeletedJob(job))
    throw new NotFoundError(`job ${jobId} not found`);
  return job;
}

/** Signed GET links for a job's outputs and face crops (none until it succeeded). */
export function outputLinks(blobs: BlobStore, job: Job, ttlSeconds: number): Promise<JobViewLinks> {
  return signJobLinks(blobs, job, ttlSeconds);
}

/** The API's view of a job: public fields, signed output links, webhook delivery state and attempts. */
export async function jobResponse(blobs: BlobStore, job: Job, ttlSeconds: number): Promise<JobResponse> {
  return {
    ...toJobView(job, await outputLinks(blobs, job, ttlSeconds)),
    webhookDeliveries: job.webhookDeliveries,
    ...(job.webhookStatus ? { webhookStatus: job.webhookStatus } : {}),
  };
}
