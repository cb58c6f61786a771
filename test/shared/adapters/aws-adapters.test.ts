/**
 * AWS adapter paths the local stand-ins cannot exercise (s3rver ignores conditional writes and
 * POST policy conditions): stub clients record the commands sent and answer as S3/SQS would.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { decodePostPolicy, S3BlobStore } from '../../../shared/adapters/aws/s3-blob-store.js';
import { S3JobStore } from '../../../shared/adapters/aws/s3-job-store.js';
import { S3UsageLedger } from '../../../shared/adapters/aws/s3-usage-ledger.js';
import { SqsQueue } from '../../../shared/adapters/aws/sqs-queue.js';
import { utf8Decode, utf8Encode } from '../../../shared/src/encoding.js';
import {
  ConflictError,
  MessageNotInFlightError,
  PreconditionFailedError,
} from '../../../shared/src/errors.js';
import { transitionJob } from '../../../shared/src/job.js';
import { JobQueueMessageSchema, type Job } from '../../../shared/src/schemas.js';
import { sampleJob } from '../helpers/jobs.js';

interface SentCommand {
  name: string;
  input: Record<string, unknown>;
}

type Answer = (command: SentCommand) => unknown;

/** A client whose `send` records commands and answers through `answer` (throwing errors it returns). */
function stubClient(answer: Answer): { client: S3Client & SQSClient; sent: SentCommand[] } {
  const sent: SentCommand[] = [];
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const recorded = { name: command.constructor.name, input: command.input };
      sent.push(recorded);
      const result = answer(recorded);
      if (result instanceof Error) throw result;
      return result ?? {};
    },
  };
  return { client: client as unknown as S3Client & SQSClient, sent };
}

function serviceError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

function objectBody(value: unknown) {
  return { Body: { transformToByteArray: async () => utf8Encode(JSON.stringify(value)) }, ETag: '"etag-1"' };
}

const notFound = serviceError('NoSuchKey', 404);
const at = new Date(Date.UTC(2025, 0, 1, 13));

describe('S3JobStore conditional writes', () => {
  it('creates the job and the idempotency claim with If-None-Match: *', async () => {
    // Prepare
    const { client, sent } = stubClient((command) =>
      command.name === 'GetObjectCommand' || command.name === 'HeadObjectCommand'
        ? serviceError('NotFound', 404)
        : {},
    );
    const store = new S3JobStore({ client, bucket: 'b' });
    const job = sampleJob('acme', 0, { idempotencyKey: 'k1' });
    // Act
    await store.create(job);
    // Assess
    const puts = sent.filter((c) => c.name === PutObjectCommand.name);
    expect(puts.map((c) => [c.input.Key, c.input.IfNoneMatch])).toEqual([
      [`job-store/jobs/${job.id}.json`, '*'],
      [expect.stringMatching(/^job-store\/idempotency\/acme\/[0-9a-f]{64}\.json$/), '*'],
      [expect.stringMatching(/^job-store\/tenants\/acme\//), undefined],
    ]);
  });

  it('turns a lost If-None-Match race on the job into ConflictError', async () => {
    const { client } = stubClient((command) => {
      if (command.name === HeadObjectCommand.name) return notFound;
      if (command.name === PutObjectCommand.name) return serviceError('PreconditionFailed', 412);
      return {};
    });
    const store = new S3JobStore({ client, bucket: 'b' });
    await expect(store.create(sampleJob())).rejects.toBeInstanceOf(ConflictError);
  });

  it('undoes its job and returns the winner when another request claimed the key first', async () => {
    // Prepare
    const winner = sampleJob('acme', 0, { idempotencyKey: 'k1' });
    const loser = sampleJob('acme', 1, { idempotencyKey: 'k1' });
    let claimReads = 0;
    const { client, sent } = stubClient((command) => {
      const key = String(command.input.Key);
      if (command.name === GetObjectCommand.name && key.includes('/idempotency/')) {
        // The first read (before writing) sees no claim; the read after losing sees the winner's.
        return claimReads++ === 0 ? notFound : objectBody({ jobId: winner.id });
      }
      if (command.name === GetObjectCommand.name && key.endsWith(`${winner.id}.json`))
        return objectBody(winner);
      if (command.name === HeadObjectCommand.name) return notFound;
      if (command.name === PutObjectCommand.name && key.includes('/idempotency/')) {
        return serviceError('PreconditionFailed', 412);
      }
      return {};
    });
    const store = new S3JobStore({ client, bucket: 'b' });
    // Act
    const result = await store.create(loser);
    // Assess
    expect(result).toEqual({ created: false, job: winner });
    const deleted = sent.filter((c) => c.name === DeleteObjectCommand.name).map((c) => c.input.Key);
    expect(deleted).toEqual([`job-store/jobs/${loser.id}.json`]);
    expect(sent.some((c) => String(c.input.Key).includes('/tenants/'))).toBe(false);
  });

  it('updates with If-Match on the ETag it read', async () => {
    const job = sampleJob();
    const { client, sent } = stubClient((command) =>
      command.name === GetObjectCommand.name ? objectBody(job) : {},
    );
    const store = new S3JobStore({ client, bucket: 'b' });
    const stored = await store.update(transitionJob(job, { to: 'uploaded', at }), job.version);
    const put = sent.find((c) => c.name === PutObjectCommand.name);
    expect(put?.input).toMatchObject({ Key: `job-store/jobs/${job.id}.json`, IfMatch: '"etag-1"' });
    expect(JSON.parse(new TextDecoder().decode(put?.input.Body as Uint8Array))).toEqual(stored);
    expect(stored.version).toBe(2);
  });

  it.each([
    ['PreconditionFailed', 412],
    ['ConditionalRequestConflict', 409],
  ])('turns %s (%i) on update into PreconditionFailedError', async (name, status) => {
    const job = sampleJob();
    const { client } = stubClient((command) =>
      command.name === GetObjectCommand.name ? objectBody(job) : serviceError(name, status),
    );
    const store = new S3JobStore({ client, bucket: 'b' });
    await expect(
      store.update(transitionJob(job, { to: 'uploaded', at }), job.version),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('does not write at all when the stored version already moved on', async () => {
    const job: Job = { ...sampleJob(), version: 4 };
    const { client, sent } = stubClient((command) =>
      command.name === GetObjectCommand.name ? objectBody(job) : {},
    );
    const store = new S3JobStore({ client, bucket: 'b' });
    await expect(store.update(job, 3)).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(sent.some((c) => c.name === PutObjectCommand.name)).toBe(false);
  });
});

describe('S3 reads of a missing key without s3:ListBucket (403, not 404)', () => {
  it('name the missing permission instead of passing on a bare AccessDenied', async () => {
    // Prepare: S3 as it answers a role without ListBucket: 403 for a key that does not exist.
    const { client } = stubClient(() => serviceError('AccessDenied', 403));
    const blobs = new S3BlobStore({ client, bucket: 'b' });
    const jobs = new S3JobStore({ client, bucket: 'b', prefix: 'job-store/' });
    // Act
    const results = await Promise.allSettled([
      blobs.get('tenants/t/jobs/job_x/input'),
      blobs.head('tenants/t/jobs/job_x/input'),
      jobs.get('job_01JAAAAAAAAAAAAAAAAAAAAAAA'),
    ]);
    // Assess
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason as Error & { code?: string };
      expect(reason).toMatchObject({ name: 'S3ReadDeniedError', code: 's3_read_denied' });
      expect(reason.message).toContain('s3:ListBucket');
    }
  });

  it('still read a missing key as absent when S3 answers 404 (ListBucket granted)', async () => {
    // Prepare
    const { client } = stubClient((command) =>
      serviceError(command.name === 'HeadObjectCommand' ? 'NotFound' : 'NoSuchKey', 404),
    );
    const blobs = new S3BlobStore({ client, bucket: 'b' });
    const jobs = new S3JobStore({ client, bucket: 'b', prefix: 'job-store/' });
    // Act + Assess
    await expect(blobs.get('tenants/t/jobs/job_x/input')).resolves.toBeUndefined();
    await expect(blobs.head('tenants/t/jobs/job_x/input')).resolves.toBeUndefined();
    await expect(jobs.get('job_01JAAAAAAAAAAAAAAAAAAAAAAA')).resolves.toBeUndefined();
  });
});

describe('S3BlobStore presigned requests', () => {
  const client = new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  const store = new S3BlobStore({ client, bucket: 'dr2e-uploads' });

  it('bounds size and pins the content type in the POST policy when one type is allowed', async () => {
    const form = await store.createUploadForm({
      key: 'tenants/acme/jobs/j1/input',
      maxBytes: 20_000_000,
      contentTypes: ['image/png'],
      expiresInSeconds: 900,
    });
    const policy = decodePostPolicy(form.fields);
    expect(policy.conditions).toContainEqual(['content-length-range', 1, 20_000_000]);
    expect(policy.conditions).toContainEqual({ 'Content-Type': 'image/png' });
    expect(policy.conditions).toContainEqual({ key: 'tenants/acme/jobs/j1/input' });
    expect(policy.conditions).toContainEqual({ bucket: 'dr2e-uploads' });
    expect(form.fields['Content-Type']).toBe('image/png');
    expect(form.fields['X-Amz-Signature']).toMatch(/^[0-9a-f]{64}$/);
    expect(form.expiresAt).toBe(new Date(policy.expiration).toISOString());
    expect(Math.abs(Date.parse(form.expiresAt) - (Date.now() + 900_000))).toBeLessThan(60_000);
  });

  it('requires the common prefix of several allowed types', async () => {
    const form = await store.createUploadForm({
      key: 'k',
      maxBytes: 10,
      contentTypes: ['image/jpeg', 'image/png', 'image/webp'],
      expiresInSeconds: 60,
    });
    expect(decodePostPolicy(form.fields).conditions).toContainEqual([
      'starts-with',
      '$Content-Type',
      'image/',
    ]);
    expect(form.fields['Content-Type']).toBeUndefined();
  });

  it('signs GET URLs for the requested lifetime', async () => {
    const link = await store.createDownloadUrl('tenants/acme/jobs/j1/restored.png', 3600);
    const url = new URL(link.url);
    expect(url.pathname).toContain('tenants/acme/jobs/j1/restored.png');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('SqsQueue', () => {
  const job = sampleJob();
  const valid = { jobId: job.id, tenantId: job.tenantId, batchKey: 'k' };

  it('reads receive counts and skips bodies that fail the schema', async () => {
    const { client, sent } = stubClient(() => ({
      Messages: [
        {
          MessageId: 'm1',
          ReceiptHandle: 'r1',
          Body: JSON.stringify(valid),
          Attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1735732800000' },
        },
        { MessageId: 'm2', ReceiptHandle: 'r2', Body: 'not json' },
        { MessageId: 'm3', ReceiptHandle: 'r3', Body: '{"jobId":"x"}' },
      ],
    }));
    const queue = new SqsQueue({
      client,
      queueUrl: 'q',
      deadLetterQueueUrl: 'dlq',
      schema: JobQueueMessageSchema,
    });
    const received = await queue.receive({ maxMessages: 10, waitSeconds: 20, visibilityTimeoutSeconds: 300 });
    expect(received).toEqual([
      { messageId: 'm1', body: valid, receiptHandle: 'r1', receiveCount: 3, sentAt: new Date(1735732800000) },
    ]);
    expect(sent[0]).toMatchObject({
      name: ReceiveMessageCommand.name,
      input: { QueueUrl: 'q', MaxNumberOfMessages: 10, WaitTimeSeconds: 20, VisibilityTimeout: 300 },
    });
  });

  it('turns MessageNotInflight into MessageNotInFlightError', async () => {
    const { client, sent } = stubClient(() => serviceError('MessageNotInflight', 400));
    const queue = new SqsQueue({
      client,
      queueUrl: 'q',
      deadLetterQueueUrl: 'dlq',
      schema: JobQueueMessageSchema,
    });
    await expect(queue.changeVisibility('r1', 30)).rejects.toBeInstanceOf(MessageNotInFlightError);
    expect(sent[0]?.name).toBe(ChangeMessageVisibilityCommand.name);
  });
});

describe('S3UsageLedger conditional writes', () => {
  it('writes each job once with If-None-Match: *, faces included, and ignores a lost race', async () => {
    // Prepare: the second put loses the If-None-Match race (412).
    let puts = 0;
    const { client, sent } = stubClient((command) =>
      command.name === PutObjectCommand.name && ++puts > 1 ? serviceError('PreconditionFailed', 412) : {},
    );
    const ledger = new S3UsageLedger({ client, bucket: 'b' });
    const job = sampleJob('acme');
    const record = { tenantId: 'acme', jobId: job.id, at, images: 1, faces: 6, modelSeconds: 4.5 };
    // Act
    await ledger.record(record);
    await ledger.record({ ...record, faces: 60 });
    // Assess
    const written = sent.filter((c) => c.name === PutObjectCommand.name);
    expect(written.map((c) => [c.input.Key, c.input.IfNoneMatch])).toEqual([
      [`usage/acme/${at.toISOString()}_${job.id}.json`, '*'],
      [`usage/acme/${at.toISOString()}_${job.id}.json`, '*'],
    ]);
    expect(JSON.parse(utf8Decode(written[0]?.input.Body as Uint8Array))).toEqual({
      tenantId: 'acme',
      jobId: job.id,
      at: at.toISOString(),
      images: 1,
      faces: 6,
      modelSeconds: 4.5,
    });
  });
});

describe('S3UsageLedger sums', () => {
  it('reads each record once per instance: a later sum lists the period but fetches only new records', async () => {
    // Prepare: a bucket of usage objects behind a stub client
    const objects = new Map<string, Uint8Array>();
    const { client, sent } = stubClient((command) => {
      if (command.name === PutObjectCommand.name) {
        objects.set(command.input.Key as string, command.input.Body as Uint8Array);
        return {};
      }
      if (command.name === 'ListObjectsCommand') {
        const marker = (command.input.Marker as string | undefined) ?? '';
        const keys = [...objects.keys()].filter((key) => key > marker).sort();
        return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
      }
      if (command.name === 'GetObjectCommand') {
        const body = objects.get(command.input.Key as string);
        return body ? { Body: { transformToByteArray: async () => body } } : notFound;
      }
      return {};
    });
    const ledger = new S3UsageLedger({ client, bucket: 'b' });
    const month = { from: new Date(Date.UTC(2025, 0, 1)), to: new Date(Date.UTC(2025, 1, 1)) };
    const jobs = [sampleJob('acme'), sampleJob('acme'), sampleJob('acme')].map((job) => job.id);
    const record = (index: number) =>
      ledger.record({
        tenantId: 'acme',
        jobId: jobs[index] as string,
        at: new Date(Date.UTC(2025, 0, 2, index)),
        images: 1,
        modelSeconds: 2,
      });
    await record(0);
    await record(1);
    // Act
    const first = await ledger.sum('acme', month);
    await record(2);
    const second = await ledger.sum('acme', month);
    // Assess
    expect([first.images, second.images, second.modelSeconds]).toEqual([2, 3, 6]);
    // (The day totals' reads are tested in s3-usage-ledger.test.ts.)
    const gets = sent
      .filter((c) => c.name === 'GetObjectCommand')
      .map((c) => String(c.input.Key))
      .filter((key) => key.startsWith('usage/'));
    expect(gets).toHaveLength(3);
    expect(gets[2]).toContain(jobs[2]);
  });
});

describe('S3UsageLedger tenantIds', () => {
  it('follows continuation tokens and decodes the tenant folders, skipping foreign ones', async () => {
    // Prepare: two pages of folders under a custom prefix, with a folder the ledger never writes
    // (an unencoded '.') and a bad escape.
    const pages: Record<string, unknown> = {
      '': {
        CommonPrefixes: [
          { Prefix: 'billing/usage/acme%2Ephotos/' },
          { Prefix: 'billing/usage/acme.photos/' },
        ],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      },
      'page-2': {
        CommonPrefixes: [{ Prefix: 'billing/usage/%E0%A4%A/' }, { Prefix: 'billing/usage/Beta_Co/' }],
        IsTruncated: false,
      },
    };
    const { client, sent } = stubClient((command) =>
      command.name === 'ListObjectsV2Command'
        ? pages[(command.input.ContinuationToken as string | undefined) ?? '']
        : new Error(`unexpected ${command.name}`),
    );
    const ledger = new S3UsageLedger({ client, bucket: 'b', prefix: 'billing/usage/' });
    // Act
    const tenantIds = await ledger.tenantIds();
    // Assess
    expect(tenantIds).toEqual(['Beta_Co', 'acme.photos']);
    expect(sent.map((c) => [c.input.Prefix, c.input.Delimiter, c.input.ContinuationToken])).toEqual([
      ['billing/usage/', '/', undefined],
      ['billing/usage/', '/', 'page-2'],
    ]);
  });
});
