/**
 * How a finished job ended, as an operator counts it: a failure the service owes (a model or
 * system fault, retries exhausted) is told apart from a job refused for its own input (a file
 * that is not an image, too large, gone), which no fix on the service side would have saved.
 */
import type { JobMetrics } from './ports/job-metrics.js';
import type { Job } from './schemas.js';
import type { JobNotifier } from './webhook-delivery.js';

export const JOB_OUTCOMES = ['succeeded', 'rejected', 'failed', 'canceled'] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/**
 * Error codes of a failed job that blame its input or parameters (the engine's non-retryable
 * image errors, the dispatcher's refusals of an upload): such a job is `rejected`. Every other
 * code (`retries_exhausted`, `model_contract`, `internal_error`, ...) is a service failure.
 */
export const INPUT_FAULT_CODES: ReadonlySet<string> = new Set([
  // The dispatcher's refusals (functions/src/services/uploads.ts UPLOAD_ERROR_CODES).
  'empty_upload',
  'upload_too_large',
  'not_an_image',
  'unsupported_image_format',
  'image_too_small',
  'image_too_large',
  'image_aspect_ratio_unsupported',
  // The engine's (gpu-task/src/engine/errors.ts). Not `invalid_parameters` (the API validated
  // them: the engine refusing them is the service's mismatch) nor `input_missing` (clients
  // cannot delete the accepted copy: it went missing on the service's side).
  'image_decode_failed',
  // The worker's: a photo that took longer than the service's engine cap alone (too many or
  // too large faces for it; fewer, or a smaller upscale, fit).
  'engine_timeout',
]);

/**
 * The outcome of a terminal job, undefined while it is not finished.
 *
 * @example
 * ```ts
 * jobOutcome(failedJob); // 'rejected' for image_decode_failed, 'failed' for retries_exhausted
 * ```
 */
export function jobOutcome(job: Job): JobOutcome | undefined {
  switch (job.status) {
    case 'succeeded':
    case 'canceled':
      return job.status;
    case 'failed':
      return job.error && INPUT_FAULT_CODES.has(job.error.code) ? 'rejected' : 'failed';
    default:
      return undefined;
  }
}

/**
 * Seconds from the upload to the job's end: what a client waits once its upload is in (from
 * `uploaded`, which is written once: `queued` is written again by every retry, takeover and
 * hand-back). Undefined for a job that never got queued (refused at upload, expired) or is not
 * finished.
 */
export function jobWaitSeconds(job: Job): number | undefined {
  const end = job.timestamps.succeeded ?? job.timestamps.failed ?? job.timestamps.canceled;
  if (end === undefined || job.timestamps.queued === undefined) return undefined;
  const start = job.timestamps.uploaded ?? job.timestamps.queued;
  return Math.max(0, (Date.parse(end) - Date.parse(start)) / 1000);
}

/** Metrics that go nowhere (local runs, tests). */
export const noJobMetrics: JobMetrics = { jobFinished: () => undefined };

/**
 * A notifier that also counts each job it is told of in `metrics`: the API and the dispatcher
 * tell their notifier of exactly the jobs they made terminal (cancels, expiries, refused
 * uploads), so their metrics need no call sites of their own.
 *
 * @example
 * ```ts
 * const notifier = countingFinishedJobs(webhooks, services.jobMetrics);
 * ```
 */
export function countingFinishedJobs(notifier: JobNotifier, metrics: JobMetrics | undefined): JobNotifier {
  if (!metrics || metrics === noJobMetrics) return notifier;
  return {
    jobFinished: async (job) => {
      metrics.jobFinished(job);
      return notifier.jobFinished(job);
    },
  };
}
