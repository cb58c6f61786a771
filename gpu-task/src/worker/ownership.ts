/**
 * Fencing: the writes a worker makes to a job it claimed. The job's `attempts` right after the
 * claim is the fencing token; every later write (progress, result, release) is a
 * compare-and-set that first checks the job is still `running` with that `attempts`. A write
 * that finds the job canceled (by the API) or lost (taken over by another worker, or finished)
 * writes nothing and says so in its result, and the job's {@link ActiveJob.state} records it.
 */
import {
  mutateJob,
  recordProgress,
  type Clock,
  type Job,
  type JobProgress,
  type JobStore,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';
import type { Held } from './leases.js';

/** A job this worker claimed, from its claim until its message is deleted or released. */
export interface ActiveJob {
  /** The job as last read or written. */
  job: Job;
  /** `job.attempts` right after this worker's claim: the fencing token of every later write. */
  readonly attempt: number;
  readonly held: Held;
  /** Further deliveries of the same job that arrived meanwhile; deleted or released with it. */
  readonly duplicates: Held[];
  readonly log: Logger;
  /** running: ours; canceled / lost: someone else ended or took it; done: settled. */
  state: 'running' | Dropped | 'done';
  input?: Uint8Array;
  /** Aborts the engine call the job is in. */
  abort?: AbortController;
  /** The job write in flight (progress or heartbeat touch), so writes never overlap. */
  writing?: Promise<void>;
  /**
   * Seconds of engine calls this job took part in, as its share of each (a call's time over its
   * jobs): what a job canceled while it ran is metered for (completion.ts).
   */
  engineSeconds?: number;
}

/** Why a claimed job is not this worker's any more. */
export type Dropped =
  /** The API canceled it. */
  | 'canceled'
  /** Another worker took it over, or it finished. */
  | 'lost';

/**
 * Whether the stored job is still the one this worker claimed (`undefined`), or why not.
 *
 * @example
 * ```ts
 * ownershipOf(runningJob, runningJob.attempts); // undefined: still ours
 * ownershipOf(takenOver, takenOver.attempts - 1); // 'lost'
 * ```
 */
export function ownershipOf(stored: Job, attempt: number): Dropped | undefined {
  if (stored.status === 'canceled') return 'canceled';
  if (stored.status !== 'running' || stored.attempts !== attempt) return 'lost';
  return undefined;
}

/** Result of {@link writeOwned}: the job as stored, or why nothing was written. */
export type OwnedWrite = { ok: true; job: Job } | { ok: false; dropped: Dropped; job: Job };

/**
 * Compare-and-set of a job this worker owns: applies `change` to the stored job while it is
 * still ours. When it is not, writes nothing, records why on `active.state` (and the canceled
 * job on `active.job`) and returns `ok: false`. Store errors (and errors `change` throws)
 * propagate.
 */
export async function writeOwned(
  jobs: Pick<JobStore, 'get' | 'update'>,
  active: ActiveJob,
  change: (job: Job) => Job,
): Promise<OwnedWrite> {
  let dropped: Dropped | undefined;
  const stored = await mutateJob(jobs, active.job.id, (current) => {
    dropped = ownershipOf(current, active.attempt);
    return dropped ? undefined : change(current);
  });
  if (dropped === undefined) {
    active.job = stored;
    return { ok: true, job: stored };
  }
  if (active.state === 'running') active.state = dropped;
  if (dropped === 'canceled') active.job = stored;
  return { ok: false, dropped, job: stored };
}

/**
 * Starts an ownership-checked progress write (also the heartbeat's "still alive" touch, with
 * the progress unchanged) and tracks it on `active.writing`. Writes never overlap: one started
 * while another is in flight runs after it (callers start one then only for the call's last
 * step, which must not be lost; the others wait for the next step). A write that finds the job
 * canceled or lost aborts the engine call the job is in; other failures are logged (the next
 * write retries).
 */
export function startProgressWrite(
  jobs: Pick<JobStore, 'get' | 'update'>,
  clock: Clock,
  active: ActiveJob,
  progress: JobProgress | undefined,
): void {
  const before = active.writing ?? Promise.resolve();
  const write = before.then(async (): Promise<void> => {
    // The write before may have found the job canceled or lost: nothing more to write then.
    if (active.state !== 'running') return;
    try {
      const written = await writeOwned(jobs, active, (job) => recordProgress(job, progress, clock.now()));
      if (!written.ok) active.abort?.abort();
    } catch (error) {
      active.log.warn('progress write failed', errorFields(error));
    }
  });
  const tracked: Promise<void> = write.finally(() => {
    if (active.writing === tracked) active.writing = undefined;
  });
  active.writing = tracked;
}
