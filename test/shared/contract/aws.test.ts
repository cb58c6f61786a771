/**
 * The adapter contracts run against the AWS family, on local stand-ins (s3rver, local-aws-sqs).
 * Behaviour the stand-ins lack is skipped here with the reason, and covered by unit tests with
 * stub clients in `../aws-adapters.test.ts`.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll } from 'vitest';
import { S3BlobStore } from '../../../shared/adapters/aws/s3-blob-store.js';
import { S3JobStore } from '../../../shared/adapters/aws/s3-job-store.js';
import { S3UsageLedger } from '../../../shared/adapters/aws/s3-usage-ledger.js';
import { SqsQueue } from '../../../shared/adapters/aws/sqs-queue.js';
import { JobQueueMessageSchema } from '../../../shared/src/schemas.js';
import { startAwsStandIns, type AwsStandIns } from '../helpers/aws-standins.js';
import { describeBlobStoreContract } from './blob-store.contract.js';
import { describeJobQueueContract } from './job-queue.contract.js';
import { describeJobStoreContract } from './job-store.contract.js';
import { describeUsageLedgerContract } from './usage-ledger.contract.js';

let aws: AwsStandIns;

beforeAll(async () => {
  aws = await startAwsStandIns();
});

afterAll(async () => {
  await aws?.close();
});

describeBlobStoreContract('S3 on s3rver', {
  // s3rver stores whatever a POST form sends: it does not check the policy's content-length-range
  // or Content-Type conditions. aws-adapters.test.ts decodes the policy to check they are there.
  enforcesUploadPolicy: false,
  makeStore: async () => new S3BlobStore({ client: aws.s3, bucket: await aws.createBucket() }),
});

describeJobStoreContract('S3 on s3rver', {
  // s3rver ignores If-Match / If-None-Match; the sequential cases pass through the store's
  // own version checks, and aws-adapters.test.ts checks the conditional headers and 412 mapping.
  enforcesConditionalWrites: false,
  makeStore: async () => new S3JobStore({ client: aws.s3, bucket: await aws.createBucket() }),
  makeStoreWithRawWrites: async () => {
    const bucket = await aws.createBucket();
    return {
      store: new S3JobStore({ client: aws.s3, bucket }),
      writeRawRecord: async (jobId, text) => {
        await aws.s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: `job-store/jobs/${jobId}.json`, Body: text }),
        );
      },
      readRawRecord: async (jobId) => {
        const object = await aws.s3.send(
          new GetObjectCommand({ Bucket: bucket, Key: `job-store/jobs/${jobId}.json` }),
        );
        return (await object.Body?.transformToString('utf8')) ?? '';
      },
    };
  },
});

describeJobQueueContract('SQS on local-aws-sqs (RedrivePolicy on the queue)', {
  makeQueue: async (maxReceives, onUnreadable) => {
    const urls = await aws.createQueuePair(maxReceives);
    const queue = new SqsQueue({
      client: aws.sqs,
      ...urls,
      schema: JobQueueMessageSchema,
      onUnreadable,
    });
    const sendRaw = async (text: string) =>
      void (await aws.sqs.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: text })));
    return { queue, maxReceives, sendRaw };
  },
});

describeUsageLedgerContract('S3 on s3rver', {
  // s3rver ignores If-None-Match; aws-adapters.test.ts checks the header is sent.
  enforcesConditionalWrites: false,
  makeLedger: async () => new S3UsageLedger({ client: aws.s3, bucket: await aws.createBucket() }),
});
