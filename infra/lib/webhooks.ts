/**
 * Webhook delivery: its own SQS queue (with a dead-letter queue) and the Lambda that consumes it
 * (functions/src/entry/lambda-webhooks.ts). The API, the dispatcher and the GPU workers only put
 * a message on the queue when a job becomes terminal; the Lambda makes the attempts and chains
 * the retries (5 s ... 10 h apart, about 27 hours in all) through SQS message delays.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { WEBHOOK_QUEUE_MAX_RECEIVES } from '../../shared/runtime/index.js';
import { acceptObjectPrefixWildcards, LAMBDA_ENTRIES, listBucket } from './api.js';
import { BundledFunction } from './lambda-bundle.js';
import { JobQueue } from './queue.js';
import { BUCKET_PREFIXES, type Storage } from './storage.js';

/** Deadline of one delivery Lambda invocation (a batch of up to 10 attempts run concurrently). */
export const WEBHOOK_FUNCTION_TIMEOUT_SECONDS = 30;

export interface WebhookDeliveryProps {
  storage: Storage;
  tenantsSecret: secretsmanager.ISecret;
  logRetention: logs.RetentionDays;
}

/**
 * @example
 * ```ts
 * const webhooks = new WebhookDelivery(this, 'Webhooks', { storage, tenantsSecret, logRetention });
 * webhooks.queue.queue.grantSendMessages(apiRole);
 * webhooks.attachFunction(environment);
 * ```
 */
export class WebhookDelivery extends Construct {
  readonly queue: JobQueue;
  /** Set by {@link attachFunction} (it needs the shared environment, which names the queue). */
  function!: BundledFunction;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: WebhookDeliveryProps,
  ) {
    super(scope, id);
    this.queue = new JobQueue(this, 'Queue', {
      maxReceives: WEBHOOK_QUEUE_MAX_RECEIVES,
      // AWS's advice for Lambda consumers: at least six times the function timeout.
      visibilityTimeoutSeconds: 6 * WEBHOOK_FUNCTION_TIMEOUT_SECONDS,
      // Each message waits at most 15 minutes (longer waits are re-sent), so a day is plenty.
      retentionDays: 1,
    });
  }

  /** The consumer Lambda with its event source and permissions. */
  attachFunction(environment: Record<string, string>): BundledFunction {
    const { storage, tenantsSecret } = this.props;
    this.function = new BundledFunction(this, 'Deliverer', {
      ...LAMBDA_ENTRIES.webhooks,
      description: 'dr2e webhook delivery (webhook queue -> tenant endpoints)',
      memorySize: 256,
      timeout: Duration.seconds(WEBHOOK_FUNCTION_TIMEOUT_SECONDS),
      environment,
      logRetention: this.props.logRetention,
    });
    this.function.function.addEventSource(
      new SqsEventSource(this.queue.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        // Only records whose attempt could not be made (store or secret unavailable) come back.
        reportBatchItemFailures: true,
        // Bounds the calls to tenants' endpoints and to the job store during a burst.
        maxConcurrency: 20,
      }),
    );
    const role = this.function.role;
    // Failed attempts re-send the next one (chained delays).
    this.queue.queue.grantSendMessages(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'JobRecords',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [storage.objectsArn(BUCKET_PREFIXES.jobRecords)],
      }),
    );
    // Signs the result links of job.succeeded payloads (a presigned GET needs GetObject).
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Outputs',
        actions: ['s3:GetObject'],
        resources: [storage.objectsArn(BUCKET_PREFIXES.tenantData)],
      }),
    );
    role.addToPolicy(listBucket(storage.bucket));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [tenantsSecret.secretArn],
      }),
    );
    acceptObjectPrefixWildcards(role, storage.bucket, [
      BUCKET_PREFIXES.tenantData,
      BUCKET_PREFIXES.jobRecords,
    ]);
    return this.function;
  }
}
