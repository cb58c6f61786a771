/**
 * Job metrics: how a finished job is classified for operators (a refused input is not a service
 * failure), the CloudWatch EMF line a job becomes, and the API's notifier that counts the jobs
 * it finishes.
 */
import { describe, expect, it } from 'vitest';
import { EmfJobMetrics } from '../../shared/adapters/aws/emf-job-metrics.js';
import {
  countingFinishedJobs,
  INPUT_FAULT_CODES,
  jobOutcome,
  jobWaitSeconds,
  noJobMetrics,
  transitionJob,
  type Job,
  type JobNotifier,
} from '../../shared/src/index.js';
import { UPLOAD_ERROR_CODES } from '../../functions/src/index.js';
import {
  ImageDecodeError,
  ImageTooLargeError,
  ImageTooSmallError,
  InferenceError,
  InvalidParametersError,
  ModelContractError,
  UnexpectedEngineError,
  UnsupportedImageFormatError,
} from '../../gpu-task/src/engine/index.js';
import { sampleJob } from './helpers/jobs.js';

const T0 = new Date('2025-03-01T10:00:00.000Z');
const after = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** A job queued at T0 (uploaded then queued) and running from T0 + 2 s. */
function runningJob(): Job {
  const created = sampleJob('acme');
  const uploaded = transitionJob(created, { to: 'uploaded', at: T0, input: { bytes: 1000 } });
  const queued = transitionJob(uploaded, { to: 'queued', at: T0 });
  return transitionJob(queued, { to: 'running', at: after(2) });
}

function failed(code: string): Job {
  return transitionJob(runningJob(), { to: 'failed', at: after(5), error: { code, message: code } });
}

describe('jobOutcome', () => {
  it('tells a refused input from a failure the service owes', () => {
    // Act / Assess
    expect(jobOutcome(failed('image_decode_failed'))).toBe('rejected');
    expect(jobOutcome(failed('not_an_image'))).toBe('rejected');
    expect(jobOutcome(failed('retries_exhausted'))).toBe('failed');
    expect(jobOutcome(failed('model_contract'))).toBe('failed');
    expect(jobOutcome(failed('internal_error'))).toBe('failed');
    // The accepted copy is the service's to keep; parameters the API let through are its to run.
    expect(jobOutcome(failed('input_missing'))).toBe('failed');
    expect(jobOutcome(failed('invalid_parameters'))).toBe('failed');
    expect(jobOutcome(runningJob())).toBeUndefined();
  });

  it('knows every input code the dispatcher and the engine refuse with, and none of the service faults', () => {
    // Prepare: the codes as their owners define them.
    const inputCodes = [
      ...Object.values(UPLOAD_ERROR_CODES),
      ...[ImageDecodeError, UnsupportedImageFormatError, ImageTooLargeError, ImageTooSmallError].map(
        (type) => new type('x').code,
      ),
    ];
    const serviceCodes = [
      ModelContractError,
      InferenceError,
      UnexpectedEngineError,
      InvalidParametersError,
    ].map((type) => new type('x').code);
    // Assess
    for (const code of inputCodes) expect(INPUT_FAULT_CODES.has(code), code).toBe(true);
    for (const code of [...serviceCodes, 'retries_exhausted', 'worker_lost']) {
      expect(INPUT_FAULT_CODES.has(code), code).toBe(false);
    }
  });
});

describe('jobWaitSeconds', () => {
  it('counts from the upload, not from the last time a retry queued the job again', () => {
    // Prepare: uploaded and queued at T0, failed over at 60 s (queued again at 70 s), done at 100 s.
    const retried = transitionJob(transitionJob(runningJob(), { to: 'queued', at: after(70) }), {
      to: 'running',
      at: after(71),
    });
    const done = transitionJob(retried, {
      to: 'succeeded',
      at: after(100),
      output: { restoredKey: 'k', format: 'png', width: 64, height: 64 },
      usage: { images: 1, faces: 1, modelSeconds: 1 },
    });
    // Act / Assess
    expect(done.timestamps.queued).toBe(after(70).toISOString());
    expect(jobWaitSeconds(done)).toBe(100);
  });
});

describe('EmfJobMetrics', () => {
  it('writes one EMF line per finished job: Jobs, Faces, ModelSeconds, WaitSeconds by Outcome', () => {
    // Prepare
    const lines: string[] = [];
    const metrics = new EmfJobMetrics({
      namespace: 'dr2e/Test',
      write: (line) => lines.push(line),
      now: () => 1234,
    });
    const succeeded = transitionJob(runningJob(), {
      to: 'succeeded',
      at: after(12.5),
      output: { restoredKey: 'k', format: 'png', width: 64, height: 64, model: 'utkface-64' },
      usage: { images: 1, faces: 3, modelSeconds: 4.25 },
    });
    // Act
    metrics.jobFinished(succeeded);
    metrics.jobFinished(runningJob());
    // Assess: only the finished job; every metric declared is a number on the line.
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown> & {
      _aws: {
        Timestamp: number;
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    };
    const [directive] = line._aws.CloudWatchMetrics;
    expect(line._aws.Timestamp).toBe(1234);
    expect(directive?.Namespace).toBe('dr2e/Test');
    expect(directive?.Dimensions).toEqual([['Outcome']]);
    expect(directive?.Metrics.map((metric) => metric.Name)).toEqual([
      'Jobs',
      'Faces',
      'ModelSeconds',
      'WaitSeconds',
    ]);
    expect(line).toMatchObject({
      Outcome: 'succeeded',
      Jobs: 1,
      Faces: 3,
      ModelSeconds: 4.25,
      WaitSeconds: 12.5,
      jobId: succeeded.id,
      tenantId: 'acme',
      // The model that restored it, not the name the job was created under.
      model: 'utkface-64',
    });
  });

  it('leaves WaitSeconds out for a job refused before it was queued, and names its error', () => {
    // Prepare: the dispatcher fails an upload straight from `uploaded`.
    const lines: string[] = [];
    const metrics = new EmfJobMetrics({ namespace: 'dr2e/Test', write: (line) => lines.push(line) });
    const uploaded = transitionJob(sampleJob('acme'), { to: 'uploaded', at: T0, input: { bytes: 10 } });
    const refused = transitionJob(uploaded, {
      to: 'failed',
      at: T0,
      error: { code: 'not_an_image', message: 'x' },
    });
    // Act
    metrics.jobFinished(refused);
    // Assess
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
    };
    expect(jobWaitSeconds(refused)).toBeUndefined();
    expect(line._aws.CloudWatchMetrics[0]?.Metrics.map((metric) => metric.Name)).not.toContain('WaitSeconds');
    expect(line).toMatchObject({ Outcome: 'rejected', Faces: 0, ModelSeconds: 0, errorCode: 'not_an_image' });
    expect(line).not.toHaveProperty('WaitSeconds');
  });

  it('refuses an empty namespace', () => {
    // Act / Assess
    expect(() => new EmfJobMetrics({ namespace: ' ' })).toThrow(/namespace/);
  });
});

describe('countingFinishedJobs', () => {
  it('counts each job it is told of, then notifies as before; without metrics it is the notifier itself', async () => {
    // Prepare
    const notified: string[] = [];
    const counted: string[] = [];
    const notifier: JobNotifier = { jobFinished: async (job) => notified.push(job.id) };
    const job = failed('image_too_large');
    // Act
    await countingFinishedJobs(notifier, {
      jobFinished: (finished) => counted.push(finished.id),
    }).jobFinished(job);
    // Assess
    expect([counted, notified]).toEqual([[job.id], [job.id]]);
    expect(countingFinishedJobs(notifier, noJobMetrics)).toBe(notifier);
  });
});
