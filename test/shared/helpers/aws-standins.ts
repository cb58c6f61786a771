/**
 * Local stand-ins for S3 (s3rver) and SQS (local-aws-sqs), started on 127.0.0.1 with free
 * ports and temporary directories, plus SDK clients pointed at them.
 *
 * s3rver's store is patched to write an object whole before it answers (makeS3rverWritesDurable).
 *
 * What the stand-ins do NOT do (so tests covering it run elsewhere, see aws-adapters.test.ts):
 * - s3rver ignores POST policy conditions (size range, Content-Type) and conditional writes
 *   (If-Match / If-None-Match on PutObject);
 * - local-aws-sqs follows the RedrivePolicy set on the queue, like SQS, so dead-lettering
 *   here is the server's, not the adapter's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSqsServer } from 'local-aws-sqs';
import S3rver from 's3rver';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

/**
 * s3rver answers a PUT before its object file is written (it resolves once it has handed the
 * bytes to a write stream), so a GET right after could read an empty or partial object: a CI
 * run under load read a job record as empty JSON. S3 reads its own writes, and replaces an
 * object whole. Here the store writes each object to a file beside it and renames it into place
 * once every byte is on disk, then writes its metadata, as s3rver did.
 */
function makeS3rverWritesDurable(): void {
  FilesystemStore.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    let content: Buffer;
    if (Buffer.isBuffer(object.content)) content = object.content;
    else {
      const chunks: Buffer[] = [];
      for await (const chunk of object.content) chunks.push(Buffer.from(chunk as Uint8Array));
      content = Buffer.concat(chunks);
    }
    const partial = `${objectPath}.${randomBytes(6).toString('hex')}.writing`;
    await writeFile(partial, content);
    await rename(partial, objectPath);
    const md5 = createHash('md5').update(content).digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: content.length, md5 };
  };
}
makeS3rverWritesDurable();

export interface AwsStandIns {
  s3: S3Client;
  sqs: SQSClient;
  /** Creates an empty bucket with a unique name. */
  createBucket(): Promise<string>;
  /** Creates a DLQ and a source queue whose RedrivePolicy moves after `maxReceives`. */
  createQueuePair(maxReceives: number): Promise<{ queueUrl: string; deadLetterQueueUrl: string }>;
  close(): Promise<void>;
}

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let sequence = 0;

export async function startAwsStandIns(): Promise<AwsStandIns> {
  const directory = await mkdtemp(path.join(tmpdir(), 'dr2e-s3rver-'));
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const s3Address = await s3rver.run();
  const sqsServer: Server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    emulateQueueCreationLifecycle: false,
  });
  const sqsPort = (sqsServer.address() as AddressInfo).port;

  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${s3Address.port}`,
    forcePathStyle: true,
    credentials,
    // s3rver predates the SDK's default CRC32 checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${sqsPort}`, credentials });

  return {
    s3,
    sqs,
    async createBucket() {
      const bucket = `dr2e-test-${process.pid}-${++sequence}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    async createQueuePair(maxReceives) {
      const name = `dr2e-jobs-${process.pid}-${++sequence}`;
      const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
      );
      const source = await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            RedrivePolicy: JSON.stringify({
              maxReceiveCount: String(maxReceives),
              deadLetterTargetArn: Attributes?.QueueArn,
            }),
          },
        }),
      );
      return { queueUrl: source.QueueUrl!, deadLetterQueueUrl: dlq.QueueUrl! };
    },
    async close() {
      s3.destroy();
      sqs.destroy();
      await new Promise<void>((resolve) => sqsServer.close(() => resolve()));
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
