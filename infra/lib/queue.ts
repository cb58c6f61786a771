/**
 * A work queue and its dead-letter queue (the job queue; the webhook queue uses it too).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { acceptNagFinding } from './nag.js';
import { Construct } from 'constructs';

export interface JobQueueProps {
  /** Receives before a message moves to the dead-letter queue. */
  maxReceives: number;
  /** The worker's message lease; it extends the lease (heartbeat) while a batch runs. */
  visibilityTimeoutSeconds: number;
  /** Days a message waits in the queue. */
  retentionDays: number;
}

/**
 * @example
 * ```ts
 * const jobs = new JobQueue(this, 'Jobs', { maxReceives: 3, visibilityTimeoutSeconds: 120, retentionDays: 4 });
 * jobs.queue.queueUrl; jobs.deadLetterQueue.queueUrl;
 * ```
 */
export class JobQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: time for an operator to look at a failure and redrive it.
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acceptNagFinding(
      this.deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of its source queue.',
    );

    this.queue = new sqs.Queue(this, 'Queue', {
      // SSE-SQS: no KMS grants for the Lambda senders and the worker, no per-request KMS cost.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Matches DR2E_VISIBILITY_TIMEOUT_SECONDS: a message a dead worker held comes back after one
      // lease; a live worker extends the lease before it runs out.
      visibilityTimeout: Duration.seconds(props.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(props.retentionDays),
      // Long polling by default, so an idle worker costs few requests.
      receiveMessageWaitTime: Duration.seconds(20),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceives },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
