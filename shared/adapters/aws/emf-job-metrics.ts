/**
 * {@link JobMetrics} as CloudWatch embedded metric format (EMF): one JSON line per finished job
 * on stdout, which CloudWatch Logs turns into metrics as it ingests the log (no SDK call, no
 * IAM permission beyond writing the log, no request in the job's path). A line the log driver
 * drops (the worker's non-blocking driver when its buffer is full) is a job not counted.
 * The Lambda functions write with `console.log` in their default Text log format; a switch to
 * the JSON log format would wrap each line in a `message` field and CloudWatch would no longer
 * read it as EMF.
 *
 * Metrics, in `namespace`, by the one dimension `Outcome` (`succeeded`, `rejected`, `failed`,
 * `canceled`; see shared/src/job-outcome.ts):
 * - `Jobs` (Count): 1 per job;
 * - `Faces` (Count): faces restored;
 * - `ModelSeconds` (Seconds): the job's metered model time;
 * - `WaitSeconds` (Seconds): from the upload to the end, for jobs that were queued (jobWaitSeconds).
 *
 * The line also carries `jobId`, `tenantId`, `model` and `errorCode` as plain properties
 * (searchable in Logs Insights, not dimensions: a metric per tenant would cost per tenant).
 */
import { restoringModel } from '../../src/job.js';
import { jobOutcome, jobWaitSeconds } from '../../src/job-outcome.js';
import type { JobMetrics } from '../../src/ports/job-metrics.js';
import type { Job } from '../../src/schemas.js';

export interface EmfJobMetricsOptions {
  /** CloudWatch namespace, e.g. `dr2e/Dr2eStack`. */
  namespace: string;
  /** Where lines go (default `console.log`: stdout, which the log driver ships). */
  write?: (line: string) => void;
  /** Epoch milliseconds of a line (default Date.now). */
  now?: () => number;
}

/**
 * @example
 * ```ts
 * const metrics = new EmfJobMetrics({ namespace: 'dr2e/Dr2eStack' });
 * metrics.jobFinished(succeededJob);
 * // {"_aws":{"Timestamp":...,"CloudWatchMetrics":[{"Namespace":"dr2e/Dr2eStack","Dimensions":[["Outcome"]],...}]},"Outcome":"succeeded","Jobs":1,...}
 * ```
 */
export class EmfJobMetrics implements JobMetrics {
  private readonly namespace: string;
  private readonly write: (line: string) => void;
  private readonly now: () => number;

  constructor(options: EmfJobMetricsOptions) {
    if (options.namespace.trim() === '') throw new Error('EmfJobMetrics needs a namespace');
    this.namespace = options.namespace;
    this.write = options.write ?? ((line) => console.log(line));
    this.now = options.now ?? Date.now;
  }

  jobFinished(job: Job): void {
    const outcome = jobOutcome(job);
    if (outcome === undefined) return;
    const wait = jobWaitSeconds(job);
    const metrics = [
      { Name: 'Jobs', Unit: 'Count' },
      { Name: 'Faces', Unit: 'Count' },
      { Name: 'ModelSeconds', Unit: 'Seconds' },
      ...(wait === undefined ? [] : [{ Name: 'WaitSeconds', Unit: 'Seconds' }]),
    ];
    this.write(
      JSON.stringify({
        _aws: {
          Timestamp: this.now(),
          CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: [['Outcome']], Metrics: metrics }],
        },
        msg: 'job metrics',
        Outcome: outcome,
        Jobs: 1,
        Faces: job.usage?.faces ?? 0,
        ModelSeconds: job.usage?.modelSeconds ?? 0,
        ...(wait === undefined ? {} : { WaitSeconds: Math.round(wait * 1000) / 1000 }),
        jobId: job.id,
        tenantId: job.tenantId,
        // Operators compare models by it: the one that restored the job where a worker recorded it.
        model: restoringModel(job),
        ...(job.error ? { errorCode: job.error.code } : {}),
      }),
    );
  }
}
