/**
 * A subset of the API on the AWS adapters, against the local stand-ins (s3rver, local-aws-sqs
 * on 127.0.0.1) and a stub Secrets Manager client: create -> presigned POST to "S3" -> S3
 * event -> SQS message, signed GET links, usage from the S3 ledger, idempotency, delete.
 *
 * What the stand-ins cannot show: s3rver ignores the POST policy (size range, Content-Type)
 * and conditional writes, so oversize/wrong-type refusals by storage and CAS races are covered
 * elsewhere (test/shared/adapters/aws-adapters.test.ts checks the policy conditions and conditional
 * headers; the local family enforces both in http-flow.test.ts and dispatch.test.ts).
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { S3Event } from 'aws-lambda';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hashApiKey,
  blobKeys,
  mutateJob,
  transitionJob,
  generateWebhookSecret,
  silentLogger,
} from '../../shared/src/index.js';
import { loadRuntimeConfig, createServices, type Services } from '../../shared/runtime/index.js';
import { appOptionsFromConfig, createApp, createDispatcher } from '../../functions/src/app.js';
import { dispatchS3Event } from '../../functions/src/entry/lambda-s3-events.js';
import { startAwsStandIns, type AwsStandIns } from '../shared/helpers/aws-standins.js';
import { json, pngBytes, uploadFormData } from './helpers.js';

const API_KEY = 'dr2e_sk_aws_test_key';
let aws: AwsStandIns;
let services: Services;
let app: Hono;
let secretReads = 0;

const auth = { authorization: `Bearer ${API_KEY}` };

beforeAll(async () => {
  aws = await startAwsStandIns();
  const bucket = await aws.createBucket();
  const { queueUrl, deadLetterQueueUrl } = await aws.createQueuePair(3);
  const webhookQueues = await aws.createQueuePair(5);
  const secret = JSON.stringify({
    tenants: [
      {
        id: 'acme',
        name: 'Acme',
        apiKeyHashes: [await hashApiKey(API_KEY)],
        webhookSecret: generateWebhookSecret(),
      },
    ],
  });
  const secretsClient = {
    send: async () => {
      secretReads += 1;
      return { SecretString: secret };
    },
    destroy: () => undefined,
  } as unknown as SecretsManagerClient;
  const config = loadRuntimeConfig({
    DR2E_MODE: 'aws',
    AWS_REGION: 'us-east-1',
    DR2E_BUCKET: bucket,
    DR2E_QUEUE_URL: queueUrl,
    DR2E_DLQ_URL: deadLetterQueueUrl,
    DR2E_WEBHOOK_QUEUE_URL: webhookQueues.queueUrl,
    DR2E_WEBHOOK_DLQ_URL: webhookQueues.deadLetterQueueUrl,
    DR2E_TENANTS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:dr2e-tenants',
  });
  services = await createServices(config, { s3Client: aws.s3, sqsClient: aws.sqs, secretsClient });
  app = createApp(services, appOptionsFromConfig(config, { accessLog: false }));
});

afterAll(async () => {
  await services?.close();
  await aws?.close();
});

async function createJob(headers: Record<string, string> = {}, body: unknown = { preset: 'medium' }) {
  const response = await app.request('/v1/jobs', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await json(response) };
}

function objectCreated(key: string): S3Event {
  return {
    Records: [
      {
        eventName: 'ObjectCreated:Post',
        s3: {
          bucket: { name: 'bucket' },
          object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size: 1 },
        },
      },
    ],
  } as S3Event;
}

describe('API on AWS adapters (s3rver, local-aws-sqs)', () => {
  it('authenticates from the secret and caches it', async () => {
    // Act
    const ok = await app.request('/v1/jobs', { headers: auth });
    const refused = await app.request('/v1/jobs', { headers: { authorization: 'Bearer nope' } });
    // Assess
    expect(ok.status).toBe(200);
    expect(refused.status).toBe(401);
    expect(secretReads).toBeLessThanOrEqual(2);
  });

  it('create -> presigned POST to S3 -> S3 event -> one SQS message', async () => {
    // Prepare
    const { status, body: job } = await createJob();
    expect(status).toBe(201);
    expect(job.upload.fields).toHaveProperty('Policy');
    // Act
    const uploaded = await fetch(job.upload.url, {
      method: 'POST',
      body: uploadFormData(job.upload, await pngBytes(), 'image/png'),
    });
    const dispatcher = createDispatcher(services, { logger: silentLogger });
    const first = await dispatchS3Event(objectCreated(job.upload.fields.key), dispatcher, silentLogger);
    const duplicate = await dispatchS3Event(objectCreated(job.upload.fields.key), dispatcher, silentLogger);
    // Assess
    expect(uploaded.status).toBeLessThan(300);
    expect(first.results[0]?.outcome).toBe('queued');
    // The upload was accepted (copied) and its form key removed: a duplicate event finds the job closed.
    expect(duplicate.results[0]?.outcome).toBe('ignored');
    const view = await json(await app.request(`/v1/jobs/${job.id}`, { headers: auth }));
    expect(view.status).toBe('queued');
    const received = await services.queue.receive({
      maxMessages: 10,
      waitSeconds: 1,
      visibilityTimeoutSeconds: 30,
    });
    expect(received.map((m) => m.body)).toEqual([
      expect.objectContaining({ jobId: job.id, tenantId: 'acme' }),
    ]);
    for (const message of received) await services.queue.delete(message.receiptHandle);
  });

  it('serves presigned GET links to outputs, and deletes them', async () => {
    // Prepare
    const { body: job } = await createJob();
    await services.blobs.put(blobKeys.input('acme', job.id), await pngBytes());
    const restoredKey = blobKeys.restored('acme', job.id, 'png');
    await services.blobs.put(restoredKey, await pngBytes(8), { contentType: 'image/png' });
    await mutateJob(services.jobs, job.id, (j) => transitionJob(j, { to: 'uploaded', at: new Date() }));
    await mutateJob(services.jobs, job.id, (j) => transitionJob(j, { to: 'queued', at: new Date() }));
    await mutateJob(services.jobs, job.id, (j) => transitionJob(j, { to: 'running', at: new Date() }));
    await mutateJob(services.jobs, job.id, (j) =>
      transitionJob(j, {
        to: 'succeeded',
        at: new Date(),
        output: { restoredKey, format: 'png' },
        usage: { images: 1, modelSeconds: 1 },
      }),
    );
    // Act
    const view = await json(await app.request(`/v1/jobs/${job.id}`, { headers: auth }));
    const download = await fetch(view.output.restored.url);
    const deleted = await app.request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: auth });
    // Assess
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer()).subarray(1, 4)).toEqual(
      new TextEncoder().encode('PNG'),
    );
    expect(deleted.status).toBe(204);
    expect(await services.blobs.head(restoredKey)).toBeUndefined();
    expect(await services.blobs.head(blobKeys.input('acme', job.id))).toBeUndefined();
    expect((await app.request(`/v1/jobs/${job.id}`, { headers: auth })).status).toBe(404);
  });

  it('replays an idempotent create from the S3 job store', async () => {
    // Act
    const first = await createJob({ 'idempotency-key': 'aws-1' });
    const again = await createJob({ 'idempotency-key': 'aws-1' });
    const different = await createJob({ 'idempotency-key': 'aws-1' }, { preset: 'severe' });
    // Assess
    expect([first.status, again.status, different.status]).toEqual([201, 200, 422]);
    expect(again.body.id).toBe(first.body.id);
  });

  it('sums usage from the S3 ledger within the period only', async () => {
    // Prepare
    const ids = [(await createJob()).body.id, (await createJob()).body.id, (await createJob()).body.id];
    await services.usage.record({
      tenantId: 'acme',
      jobId: ids[0],
      at: new Date('2024-03-01T00:00:00Z'),
      images: 1,
      modelSeconds: 2,
    });
    await services.usage.record({
      tenantId: 'acme',
      jobId: ids[0],
      at: new Date('2024-03-01T00:00:00Z'),
      images: 1,
      modelSeconds: 2,
    });
    await services.usage.record({
      tenantId: 'acme',
      jobId: ids[1],
      at: new Date('2024-03-31T12:00:00Z'),
      images: 1,
      modelSeconds: 3,
    });
    await services.usage.record({
      tenantId: 'acme',
      jobId: ids[2],
      at: new Date('2024-04-01T00:00:00Z'),
      images: 1,
      modelSeconds: 5,
    });
    // Act
    const usage = await json(await app.request('/v1/usage?from=2024-03-01&to=2024-04-01', { headers: auth }));
    // Assess
    expect(usage).toMatchObject({ jobs: 2, images: 2, modelSeconds: 5 });
  });

  it('serves a polled usage sum from memory for a minute instead of listing the ledger each time', async () => {
    // Prepare: count the S3 listings of the usage prefix.
    const send = aws.s3.send.bind(aws.s3);
    let listings = 0;
    aws.s3.send = ((command: { input?: { Prefix?: string } }, ...rest: unknown[]) => {
      if (String(command.input?.Prefix ?? '').startsWith('usage/')) listings += 1;
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof aws.s3.send;
    try {
      // Act
      for (let i = 0; i < 5; i++) {
        expect((await app.request('/v1/usage?from=2024-05-01&to=2024-06-01', { headers: auth })).status).toBe(
          200,
        );
      }
    } finally {
      aws.s3.send = send;
    }
    // Assess
    expect(listings).toBe(1);
  });
});
