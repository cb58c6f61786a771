/**
 * The worker on the SQS adapter (local-aws-sqs on 127.0.0.1, with a RedrivePolicy): batches,
 * message deletion and the dead-letter sweep as SQS does them. Job records and files stay local
 * (s3rver has no conditional writes, which the job store's compare-and-set needs).
 *
 * Not covered here: retry counting. local-aws-sqs counts every ChangeMessageVisibility as a
 * receive (ApproximateReceiveCount goes 1, 3, 5 when a message is released and received again),
 * unlike SQS, so a released message dead-letters early on the stand-in. The retry and
 * max-receive paths are tested on the local queue (worker.test.ts), whose counting matches SQS.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Dr2eEngine } from '../../gpu-task/src/engine/index.js';
import { SqsQueue } from '../../shared/adapters/aws/index.js';
import { JobQueueMessageSchema, type Job } from '../../shared/src/index.js';
import { startAwsStandIns, type AwsStandIns } from '../shared/helpers/aws-standins.js';
import { patternPng } from './helpers/images.js';
import {
  createWorkerEnv,
  ScriptedEngine,
  TINY_MODEL,
  waitFor,
  WEBHOOK,
  type WorkerEnv,
} from './helpers/worker-env.js';

const MAX_RECEIVES = 2;
let aws: AwsStandIns;
let tiny: Dr2eEngine;
let env: WorkerEnv;
let engine: ScriptedEngine;

beforeAll(async () => {
  aws = await startAwsStandIns();
  tiny = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await tiny.dispose();
  await aws.close();
});
beforeEach(async () => {
  const { queueUrl, deadLetterQueueUrl } = await aws.createQueuePair(MAX_RECEIVES);
  const queue = new SqsQueue({
    client: aws.sqs,
    queueUrl,
    deadLetterQueueUrl,
    schema: JobQueueMessageSchema,
  });
  env = await createWorkerEnv(MAX_RECEIVES, queue);
  engine = new ScriptedEngine(tiny);
});
afterEach(async () => {
  await env.close();
});

const SQS_SETTINGS = { pollWaitSeconds: 1, maxReceives: MAX_RECEIVES };

async function untilTerminal(jobId: string): Promise<Job> {
  const job = await waitFor(
    async () => {
      const current = await env.job(jobId);
      return ['succeeded', 'failed', 'canceled'].includes(current.status) ? current : undefined;
    },
    30_000,
    `job ${jobId} to finish`,
  );
  return job as Job;
}

describe('worker on SQS', () => {
  it('restores a batch and deletes the messages', async () => {
    // Prepare
    const jobs = [
      await env.queueJob({ bytes: await patternPng(1) }),
      await env.queueJob({ bytes: await patternPng(2) }),
    ];
    const worker = env.worker(engine, SQS_SETTINGS);

    // Act
    const loop = worker.run();
    const done = await Promise.all(jobs.map((job) => untilTerminal(job.id)));
    await waitFor(
      async () => {
        const stats = await env.queue.stats();
        return stats.visible + stats.inFlight === 0;
      },
      15_000,
      'messages deleted',
    );
    await worker.stop();
    await loop;

    // Assess
    expect(done.map((job) => job.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('fails the job of a message SQS dead-lettered after its consumer died', async () => {
    // Prepare: a consumer received the message MAX_RECEIVES times and never finished.
    const job = await env.queueJob({ bytes: await patternPng(1), webhook: WEBHOOK });
    for (let i = 0; i <= MAX_RECEIVES; i++) {
      // Visibility 0: each receive counts, and the one after the last moves it to the DLQ.
      await env.queue.receive({ maxMessages: 1, waitSeconds: 1, visibilityTimeoutSeconds: 0 });
    }
    await waitFor(async () => (await env.queue.deadLetters.stats()).visible === 1, 10_000, 'dead letter');
    const worker = env.worker(engine, SQS_SETTINGS);

    // Act
    const deleted = await worker.sweepDeadLetters();
    await env.deliverWebhooks();

    // Assess
    expect(deleted).toBe(1);
    const done = await env.job(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('retries_exhausted');
    expect(env.webhooks.forJob(job.id).map((sent) => sent.request.payload.type)).toEqual(['job.failed']);
  });
});
