/**
 * SqsQueue on local-aws-sqs with a body that is not JSON at all (the contract's unreadable case
 * sends JSON that fails the schema, the only kind the local queue can hold).
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsQueue } from '../../../shared/adapters/aws/sqs-queue.js';
import type { UnreadableQueueMessage } from '../../../shared/src/ports/job-queue.js';
import { JobQueueMessageSchema } from '../../../shared/src/schemas.js';
import { startAwsStandIns, type AwsStandIns } from '../helpers/aws-standins.js';

let aws: AwsStandIns;

beforeAll(async () => {
  aws = await startAwsStandIns();
});

afterAll(async () => {
  await aws?.close();
});

const receiveNow = { maxMessages: 1, waitSeconds: 0, visibilityTimeoutSeconds: 0 } as const;

describe('SqsQueue: a body that is not JSON', () => {
  it('is reported as not JSON on the source queue, then reported and deleted on the dead-letter queue', async () => {
    // Prepare
    const maxReceives = 2;
    const urls = await aws.createQueuePair(maxReceives);
    const reports: UnreadableQueueMessage[] = [];
    const queue = new SqsQueue({
      client: aws.sqs,
      ...urls,
      schema: JobQueueMessageSchema,
      onUnreadable: (report) => reports.push(report),
    });
    const raw = `not json ${'z'.repeat(400)}`;
    const sent = await aws.sqs.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: raw }));
    // Act: receive until it dead-letters, then receive from the dead-letter queue
    for (let i = 0; i <= maxReceives; i++) expect(await queue.receive(receiveNow)).toEqual([]);
    const dead = await queue.deadLetters.receive({ ...receiveNow, waitSeconds: 2 });
    // Assess
    expect(dead).toEqual([]);
    expect(reports.map((r) => r.queue)).toEqual(['source', 'source', 'dead-letter']);
    for (const report of reports) {
      expect(report).toMatchObject({
        messageId: sent.MessageId,
        reason: 'not JSON',
        preview: raw.slice(0, 200),
      });
    }
    expect(reports[0]?.preview).toHaveLength(200);
    expect(await queue.deadLetters.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});
