/**
 * Frees a job's in-flight slot (see `LimitStore`) whenever the job becomes terminal, wherever
 * that happens: the API (cancel, delete, expiry), the dispatcher (a refused upload) or the
 * worker (succeeded, failed, canceled). Done as a {@link JobStore} wrapper so no caller can
 * forget it. A release that fails is reported and left to the slot's lease to end.
 */
import { isTerminalStatus } from './job.js';
import type { JobStore } from './ports/job-store.js';
import type { LimitStore } from './ports/limit-store.js';
import type { Job } from './schemas.js';

/** True when this stored version is the one that made the job terminal. */
export function becameTerminal(job: Job): boolean {
  return isTerminalStatus(job.status) && job.timestamps[job.status] === job.updatedAt;
}

/**
 * @example
 * ```ts
 * const jobs = releaseSlotsOnFinish(new DiskJobStore({ dir }), limits, (error) => log.warn('release failed', { error }));
 * ```
 */
export function releaseSlotsOnFinish(
  store: JobStore,
  limits: Pick<LimitStore, 'releaseSlot'>,
  onError: (error: unknown, job: Job) => void = () => undefined,
): JobStore {
  return {
    create: (job) => store.create(job),
    get: (jobId) => store.get(jobId),
    listByTenant: (tenantId, options) => store.listByTenant(tenantId, options),
    listCreatedBetween: (from, to, options) => store.listCreatedBetween(from, to, options),
    findByIdempotencyKey: (tenantId, key) => store.findByIdempotencyKey(tenantId, key),
    async update(next, expectedVersion) {
      const stored = await store.update(next, expectedVersion);
      if (becameTerminal(stored)) {
        await limits
          .releaseSlot(stored.tenantId, stored.id)
          .catch((error: unknown) => onError(error, stored));
      }
      return stored;
    },
  };
}
