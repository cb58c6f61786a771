/**
 * The dispatcher on the local adapters: exactly-once queueing under repeated and concurrent
 * triggers, refusals of bad uploads with stable codes (and their webhook), send failures with
 * the `enqueue_failed` marker, and the S3 event handler's key handling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Event } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskJobStore, FilesystemBlobStore, LocalQueue } from '../../shared/adapters/local/index.js';
import {
  blobKeys,
  newJobId,
  batchKeyFor,
  mutateJob,
  newJob,
  transitionJob,
  type JobQueue,
  JobQueueMessageSchema,
  type Job,
  type JobQueueMessage,
  systemClock,
  silentLogger,
  type JobNotifier,
} from '../../shared/src/index.js';
import {
  decodeS3EventKey,
  dispatchS3Event,
  isScheduledSweep,
} from '../../functions/src/entry/lambda-s3-events.js';
import {
  DispatchFailedError,
  Dispatcher,
  ENQUEUE_FAILED_CODE,
} from '../../functions/src/services/dispatch.js';
import { pngBytes } from './helpers.js';

const TENANT = 'acme';
let dir: string;
let blobs: FilesystemBlobStore;
let jobs: DiskJobStore;
let queue: LocalQueue<JobQueueMessage>;
let notified: Job[];

const notifier: JobNotifier = { jobFinished: async (job) => void notified.push(job) };

function dispatcher(options: { queue?: JobQueue; maxUploadBytes?: number } = {}): Dispatcher {
  return new Dispatcher({
    blobs,
    jobs,
    queue: options.queue ?? queue,
    clock: systemClock,
    maxUploadBytes: options.maxUploadBytes ?? 1024 * 1024,
    notifier,
    sendRetryDelaysMs: [1, 1],
  });
}

async function createdJob(): Promise<Job> {
  const at = new Date();
  const id = newJobId(at);
  const job = newJob({
    id,
    tenantId: TENANT,
    model: 'dr2e-test',
    params: { preset: 'medium', steps: 100, seed: 1, output: { format: 'png', keepDr2: false } },
    inputKey: blobKeys.input(TENANT, id),
    at,
    webhook: { url: 'https://hooks.example.com/x', events: ['job.failed'] },
  });
  return (await jobs.create(job)).job;
}

async function messages(): Promise<JobQueueMessage[]> {
  const received = await queue.receive({ maxMessages: 10, waitSeconds: 0, visibilityTimeoutSeconds: 60 });
  return received.map((message) => message.body);
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-dispatch-'));
  blobs = new FilesystemBlobStore({
    rootDir: path.join(dir, 'blobs'),
    signingSecret: 'test-signing-secret-0123456789',
    uploadUrl: 'http://dr2e.test/local-upload',
    downloadUrl: 'http://dr2e.test/local-download',
  });
  jobs = new DiskJobStore({ dir: path.join(dir, 'jobs') });
  queue = new LocalQueue({
    dir: path.join(dir, 'queues'),
    name: 'jobs',
    schema: JobQueueMessageSchema,
    maxReceives: 3,
  });
  notified = [];
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Dispatcher: a good upload', () => {
  it('queues the job and sends one message with its batch key', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes(), { contentType: 'image/png' });
    // Act
    const outcome = await dispatcher().handleObjectCreated(job.input.key);
    // Assess
    expect(outcome.outcome).toBe('queued');
    const stored = await jobs.get(job.id);
    expect(stored).toMatchObject({
      status: 'queued',
      input: { contentType: 'image/png', bytes: expect.any(Number) },
    });
    // uploaded is stamped between creation and queueing (NaN, when absent, fails both)
    const { created, uploaded, queued } = stored!.timestamps;
    expect(Date.parse(uploaded ?? '')).toBeGreaterThanOrEqual(Date.parse(created));
    expect(Date.parse(queued ?? '')).toBeGreaterThanOrEqual(Date.parse(uploaded ?? ''));
    expect(await messages()).toEqual([
      { jobId: job.id, tenantId: TENANT, batchKey: batchKeyFor(job.params, job.model) },
    ]);
  });

  it('sends nothing for a second event or a start after the event', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes(), { contentType: 'image/png' });
    const subject = dispatcher();
    await subject.handleObjectCreated(job.input.key);
    // Act
    const second = await subject.handleObjectCreated(job.input.key);
    const started = await subject.dispatch((await jobs.get(job.id)) as Job);
    // Assess: the second event is a late upload (deleted), the start finds the job queued.
    expect(second).toMatchObject({ outcome: 'ignored', reason: 'upload_closed' });
    expect(started.outcome).toBe('already_dispatched');
    expect(await messages()).toHaveLength(1);
  });

  it('queues exactly once when triggers race', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes(), { contentType: 'image/png' });
    const subject = dispatcher();
    // Act
    const outcomes = await Promise.all([
      ...Array.from({ length: 4 }, () => subject.handleObjectCreated(job.input.key)),
      subject.dispatch(job),
      subject.dispatch(job),
    ]);
    // Assess
    expect(outcomes.filter((o) => o.outcome === 'queued')).toHaveLength(1);
    expect(
      outcomes.filter((o) => o.outcome !== 'queued').every((o) => o.outcome === 'already_dispatched'),
    ).toBe(true);
    expect(await messages()).toHaveLength(1);
  });

  it('deletes the upload of a job canceled while its upload was inspected', async () => {
    // Prepare: the cancel is written while the dispatcher copies the upload
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes(), { contentType: 'image/png' });
    const copy = blobs.copy.bind(blobs);
    const copies: string[] = [];
    blobs.copy = async (fromKey, toKey) => {
      copies.push(toKey);
      await mutateJob(jobs, job.id, (current) =>
        transitionJob(current, { to: 'canceled', at: new Date(), reason: 'canceled by request' }),
      );
      return copy(fromKey, toKey);
    };
    // Act
    const outcome = await dispatcher().handleObjectCreated(job.input.key);
    // Assess: nothing queued, and neither the upload nor its copy stays
    expect(outcome).toMatchObject({ outcome: 'ignored', reason: 'job_finished' });
    expect((await jobs.get(job.id))?.status).toBe('canceled');
    expect(await blobs.head(job.input.key)).toBeUndefined();
    expect(copies).toHaveLength(1);
    expect(await blobs.head(copies[0]!)).toBeUndefined();
    expect(await messages()).toEqual([]);
  });

  it('lets a truncated PNG through (its magic bytes are fine; the worker fails it on decode)', async () => {
    // Prepare
    const job = await createdJob();
    const png = await pngBytes(64);
    await blobs.put(job.input.key, png.subarray(0, Math.floor(png.length / 2)), { contentType: 'image/png' });
    // Act
    const outcome = await dispatcher().handleObjectCreated(job.input.key);
    // Assess
    expect(outcome.outcome).toBe('queued');
  });
});

describe('Dispatcher: bad uploads fail their job', () => {
  it.each([
    ['an empty file', new Uint8Array(), 'empty_upload'],
    ['a text file', new TextEncoder().encode('hello, this is not a photo\n'), 'not_an_image'],
    ['random bytes', new Uint8Array([0x00, 0x01, 0x02, 0x03, 0xfe, 0x00, 0x7f, 0x10]), 'not_an_image'],
    ['a GIF', new TextEncoder().encode('GIF89a\x01\x00\x01\x00\x00\x00\x00;'), 'unsupported_image_format'],
    ['a file over the limit', new Uint8Array(2048).fill(0xff), 'upload_too_large'],
  ])('%s -> %s, with a job.failed notification and no message', async (_what, bytes, code) => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, bytes, { contentType: 'image/jpeg' });
    // Act
    const outcome = await dispatcher({ maxUploadBytes: 1024 }).handleObjectCreated(job.input.key);
    // Assess
    expect(outcome).toMatchObject({ outcome: 'rejected', error: { code, retryable: false } });
    const stored = await jobs.get(job.id);
    expect(stored).toMatchObject({ status: 'failed', error: { code } });
    expect(Date.parse(stored?.timestamps.failed ?? '')).toBeGreaterThanOrEqual(
      Date.parse(stored!.timestamps.created),
    );
    expect(notified.map((n) => [n.id, n.status])).toEqual([[job.id, 'failed']]);
    expect(await messages()).toEqual([]);
  });

  it('fails an upload the storage form refused (rejectUpload), once', async () => {
    // Prepare
    const job = await createdJob();
    const error = { code: 'empty_upload', message: 'empty', retryable: false };
    // Act
    const first = await dispatcher().rejectUpload(job.input.key, error);
    const second = await dispatcher().rejectUpload(job.input.key, error);
    // Assess
    expect(first.outcome).toBe('rejected');
    expect(second.outcome).toBe('ignored');
    expect(notified).toHaveLength(1);
  });
});

describe('Dispatcher: nothing to do', () => {
  it('ignores keys that are not inputs and unknown jobs, deletes uploads to finished jobs, waits for missing uploads', async () => {
    // Prepare
    const canceled = await createdJob();
    await mutateJob(jobs, canceled.id, (job) => transitionJob(job, { to: 'canceled', at: new Date() }));
    await blobs.put(canceled.input.key, await pngBytes());
    const waiting = await createdJob();
    const subject = dispatcher();
    // Act
    const outcomes = await Promise.all([
      subject.handleObjectCreated(blobKeys.restored(TENANT, waiting.id, 'png')),
      subject.handleObjectCreated(blobKeys.input(TENANT, newJobId())),
      subject.handleObjectCreated(blobKeys.input('other-tenant', waiting.id)),
      subject.handleObjectCreated(canceled.input.key),
      subject.dispatch(waiting),
    ]);
    // Assess
    expect(outcomes.map((o) => ('reason' in o ? o.reason : o.outcome))).toEqual([
      'not_an_input_key',
      'job_not_found',
      'job_not_found',
      'upload_closed',
      'not_uploaded',
    ]);
    expect(await messages()).toEqual([]);
    expect(await blobs.head(canceled.input.key)).toBeUndefined();
  });
});

describe('Dispatcher: queue send failures', () => {
  /** The real queue behind a switch that makes send fail. */
  function flakyQueue(failures: { remaining: number }): JobQueue {
    return new Proxy(queue, {
      get(target, property, receiver) {
        if (property === 'send') {
          return async (body: JobQueueMessage) => {
            if (failures.remaining > 0) {
              failures.remaining -= 1;
              throw new Error('queue unavailable');
            }
            return target.send(body);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
  }

  it('retries a failed send and queues once', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes());
    // Act
    const outcome = await dispatcher({ queue: flakyQueue({ remaining: 2 }) }).handleObjectCreated(
      job.input.key,
    );
    // Assess
    expect(outcome.outcome).toBe('queued');
    expect(await messages()).toHaveLength(1);
  });

  it('marks the job enqueue_failed when every send fails, and the next trigger sends it', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes());
    const failures = { remaining: 100 };
    const subject = dispatcher({ queue: flakyQueue(failures) });
    // Act
    const failed = await subject.handleObjectCreated(job.input.key).catch((error: unknown) => error);
    const marked = await jobs.get(job.id);
    failures.remaining = 0;
    const retried = await subject.handleObjectCreated(job.input.key);
    const again = await subject.handleObjectCreated(job.input.key);
    // Assess
    expect(failed).toBeInstanceOf(DispatchFailedError);
    expect(marked).toMatchObject({ status: 'queued', error: { code: ENQUEUE_FAILED_CODE, retryable: true } });
    expect(retried.outcome).toBe('queued');
    expect((await jobs.get(job.id))?.error).toBeUndefined();
    expect(again).toMatchObject({ outcome: 'ignored', reason: 'upload_closed' });
    expect(await messages()).toHaveLength(1);
  });
});

describe('S3 event handler', () => {
  const record = (key: string, eventName = 'ObjectCreated:Post') =>
    ({ eventName, s3: { bucket: { name: 'b' }, object: { key, size: 1 } } }) as S3Event['Records'][number];

  it('tells the hourly scheduled event (the expiry sweep) from S3 events', () => {
    // Act / Assess
    expect(isScheduledSweep({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toBe(
      true,
    );
    expect(isScheduledSweep({ Records: [record('tenants/t/jobs/j/input')] })).toBe(false);
    expect(isScheduledSweep(null)).toBe(false);
  });

  it('decodes URL-encoded keys', () => {
    // Act / Assess
    expect(decodeS3EventKey('tenants/a%2Bb/jobs/x+y/input')).toBe('tenants/a+b/jobs/x y/input');
  });

  it('dispatches input keys only, each once', async () => {
    // Prepare
    const job = await createdJob();
    await blobs.put(job.input.key, await pngBytes());
    const event: S3Event = {
      Records: [
        record(encodeURIComponent(job.input.key).replace(/%2F/g, '/')),
        record(blobKeys.restored(TENANT, job.id, 'png')),
        record(job.input.key, 'ObjectRemoved:Delete'),
        record(job.input.key),
      ],
    };
    // Act
    const result = await dispatchS3Event(event, dispatcher(), silentLogger);
    // Assess
    expect(result.results.map((r) => r.outcome)).toEqual(['queued', 'skipped', 'skipped', 'ignored']);
    expect(await messages()).toHaveLength(1);
  });

  it('tries every record and then fails the invocation so Lambda retries', async () => {
    // Prepare
    const broken = await createdJob();
    const fine = await createdJob();
    await blobs.put(broken.input.key, await pngBytes());
    await blobs.put(fine.input.key, await pngBytes());
    const failingFirst = new Dispatcher({
      blobs: {
        ...blobs,
        head: async (key: string) => {
          if (key === broken.input.key) throw new Error('S3 throttled');
          return blobs.head(key);
        },
        get: (key: string, options?: { maxBytes?: number }) => blobs.get(key, options),
        copy: (from: string, to: string) => blobs.copy(from, to),
        delete: (key: string) => blobs.delete(key),
        deleteMany: (keys: string[]) => blobs.deleteMany(keys),
      } as unknown as FilesystemBlobStore,
      jobs,
      queue,
      clock: systemClock,
      maxUploadBytes: 1 << 20,
    });
    // Act
    const outcome = await dispatchS3Event(
      { Records: [record(broken.input.key), record(fine.input.key)] },
      failingFirst,
      silentLogger,
    ).catch((error: unknown) => error);
    // Assess
    expect((outcome as Error).message).toBe('S3 throttled');
    expect((await jobs.get(fine.id))?.status).toBe('queued');
    expect((await jobs.get(broken.id))?.status).toBe('created');
  });
});
