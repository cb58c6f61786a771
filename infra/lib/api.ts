/**
 * The public API (Hono on Lambda behind an API Gateway HTTP API), the upload dispatcher (Lambda on
 * S3 object-created events) and the Secrets Manager secret holding tenants.
 */
import { type CfnElement, Duration, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { acceptNagFinding } from './nag.js';
import { Construct } from 'constructs';
import type { JobQueue } from './queue.js';
import { EXPIRY_SWEEP_INTERVAL_SECONDS } from '../../shared/runtime/index.js';
import { BundledFunction } from './lambda-bundle.js';
import { BUCKET_PREFIXES, INPUT_KEY_SUFFIX, type Storage } from './storage.js';

/** Entry points the other packages provide (fixed names, see notes/pipeline-plan.md). */
export const LAMBDA_ENTRIES = {
  http: { entry: 'functions/src/entry/lambda-http.ts', handler: 'handler' },
  s3Events: { entry: 'functions/src/entry/lambda-s3-events.ts', handler: 'handler' },
  webhooks: { entry: 'functions/src/entry/lambda-webhooks.ts', handler: 'handler' },
} as const;

/**
 * The tenants secret's value at creation. Format (shared/src/tenant-secret.ts):
 * `{"tenants":[{"id","name","apiKeyHashes":["sha256:..."],"webhookSecret":"whsec_..."}]}`.
 */
export const EMPTY_TENANTS_SECRET = '{"tenants":[]}';

/**
 * The secret holding tenants (API-key hashes and webhook secrets), created with an empty list.
 *
 * @example
 * ```ts
 * const secret = createTenantsSecret(this); // value: {"tenants":[]}
 * ```
 */
export function createTenantsSecret(scope: Construct): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, 'TenantsSecret', {
    description: 'dr2e tenants (API-key hashes, webhook secrets); format and how to edit: infra/README.md',
    // The initial value is an empty tenant list: nothing secret, so it may appear in the template,
    // and it already parses (every key gets 401 until the operator adds a tenant). CloudFormation
    // only writes it when the resource is created or this literal changes, so keep it constant:
    // the operator's value (written with put-secret-value) survives later deployments.
    secretStringValue: SecretValue.unsafePlainText(EMPTY_TENANTS_SECRET),
    removalPolicy: RemovalPolicy.RETAIN,
  });
  acceptNagFinding(
    secret,
    'AwsSolutions-SMG4',
    'The secret holds API-key hashes and webhook signing secrets issued to customers; rotating them means handing new ones to each tenant, so the operator rotates per tenant (README: add the new key hash, let the tenant switch, remove the old one), not a rotation Lambda.',
  );
  return secret;
}

export interface ApiProps {
  storage: Storage;
  jobs: JobQueue;
  /** The webhook queue: cancels and rejected uploads queue their job's terminal event. */
  webhookQueue: sqs.IQueue;
  tenantsSecret: secretsmanager.ISecret;
  /** Variables of both functions (from the runtime contract). */
  environment: Record<string, string>;
  /**
   * Variables of the API function only, on top of `environment`: the per-tenant limit defaults
   * it enforces (the dispatcher only frees slots, which needs no limits).
   */
  httpEnvironment?: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** Stage throttling of all tenants together; above what one tenant may send (config.ts checks). */
  throttleRate: number;
  throttleBurst: number;
}

/**
 * @example
 * ```ts
 * const tenantsSecret = createTenantsSecret(this);
 * const api = new Api(this, 'Api', { storage, jobs, tenantsSecret, environment, logRetention,
 *   httpEnvironment: runtimeEnvironment(tenantDefaultsEnvironment(config.tenantDefaults)),
 *   throttleRate: 500, throttleBurst: 1000 });
 * api.stage.url; // https://abc.execute-api.us-east-1.amazonaws.com/
 * ```
 */
export class Api extends Construct {
  readonly tenantsSecret: secretsmanager.ISecret;
  readonly httpFunction: BundledFunction;
  readonly dispatcherFunction: BundledFunction;
  /** S3 events the dispatcher failed on after Lambda's retries. */
  readonly dispatchFailures: sqs.Queue;
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { storage, jobs } = props;

    this.tenantsSecret = props.tenantsSecret;
    const environment = props.environment;

    this.httpFunction = new BundledFunction(this, 'Http', {
      ...LAMBDA_ENTRIES.http,
      description: 'dr2e API (Hono)',
      memorySize: 512,
      // Under the HTTP API's 30 s integration limit.
      timeout: Duration.seconds(25),
      environment: { ...environment, ...props.httpEnvironment },
      logRetention: props.logRetention,
    });

    this.dispatchFailures = new sqs.Queue(this, 'DispatchFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acceptNagFinding(
      this.dispatchFailures,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue: the S3 events the dispatcher Lambda failed on.',
    );

    this.dispatcherFunction = new BundledFunction(this, 'Dispatcher', {
      ...LAMBDA_ENTRIES.s3Events,
      description: 'dr2e upload dispatcher (S3 object created -> queue)',
      memorySize: 256,
      timeout: Duration.seconds(60),
      environment,
      logRetention: props.logRetention,
      deadLetterQueue: this.dispatchFailures,
    });
    // Async invocations (S3 events) are retried twice by Lambda, then kept here for an operator;
    // a job left "uploaded" can also be started with POST /v1/jobs/{id}/start.
    this.dispatcherFunction.function.configureAsyncInvoke({ retryAttempts: 2 });
    // Hourly, the dispatcher expires jobs that never got an upload (CreatedJobExpiry.sweepDue),
    // so their job.canceled webhook goes out without anyone reading them.
    new events.Rule(this, 'ExpirySweep', {
      description: 'dr2e: expire jobs that waited too long for their upload',
      schedule: events.Schedule.rate(Duration.seconds(EXPIRY_SWEEP_INTERVAL_SECONDS)),
      targets: [new targets.LambdaFunction(this.dispatcherFunction.function, { retryAttempts: 2 })],
    });

    storage.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.dispatcherFunction.function),
      { prefix: BUCKET_PREFIXES.tenantData, suffix: INPUT_KEY_SUFFIX },
    );

    this.grantApiPermissions(storage, jobs);
    this.grantDispatcherPermissions(storage, jobs);
    props.webhookQueue.grantSendMessages(this.httpFunction.role);
    props.webhookQueue.grantSendMessages(this.dispatcherFunction.role);

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An HTTP API rather than a Function URL: stage throttling (a Function URL only has reserved
    // concurrency), access logs, 5xx/latency metrics per stage and custom domains.
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'dr2e job API',
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('Http', this.httpFunction.function, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRate, burstLimit: props.throttleBurst },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        // No headers (the Authorization header never reaches the log), no query strings.
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            route: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            responseLength: '$context.responseLength',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    acceptNagFinding(
      this.httpApi,
      'AwsSolutions-APIG4',
      'Every route except /healthz and /openapi.json requires "Authorization: Bearer <API key>", checked by the Hono app against hashed keys in Secrets Manager (per-tenant isolation lives there too); an API Gateway authorizer would repeat that lookup on each request.',
    );
  }

  /** Origin of the API, hence of the playground page it serves (`https://<id>.execute-api.<region>.amazonaws.com`). */
  get pageOrigin(): string {
    return this.httpApi.apiEndpoint;
  }

  /** The API reads and writes job records, inputs/outputs and usage; signs upload and download URLs. */
  private grantApiPermissions(storage: Storage, jobs: JobQueue): void {
    const role = this.httpFunction.role;
    const prefixes = [
      BUCKET_PREFIXES.tenantData,
      BUCKET_PREFIXES.jobRecords,
      BUCKET_PREFIXES.usage,
      BUCKET_PREFIXES.usageDayTotals,
    ];
    // PutObject also signs the presigned upload POST; GetObject signs download links and reads
    // usage (GET /v1/usage, quotas).
    for (const statement of jobDataStatements(storage)) role.addToPolicy(statement);
    // Summing usage reads and keeps the ledger's day totals, so a cold start reads one object per
    // day of the month, not one per job.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UsageDayTotals',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [storage.objectsArn(BUCKET_PREFIXES.usageDayTotals)],
      }),
    );
    role.addToPolicy(listBucket(storage.bucket));
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [jobs.queue.queueArn] }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.tenantsSecret.secretArn],
      }),
    );
    acceptObjectPrefixWildcards(this.httpFunction.role, storage.bucket, prefixes);
  }

  /**
   * The dispatcher reads the upload's size and first bytes, copies the accepted upload, deletes
   * uploads that arrive after their job accepted one (or finished), moves the job record, sends the message, and queues the job.failed
   * webhook of a rejected upload (the webhook function signs it; the dispatcher never reads the tenants secret).
   */
  private grantDispatcherPermissions(storage: Storage, jobs: JobQueue): void {
    const role = this.dispatcherFunction.role;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Uploads',
        // PutObject: the accepted upload is copied to a key no upload form can write.
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [storage.objectsArn(BUCKET_PREFIXES.tenantData)],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'JobRecords',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [storage.objectsArn(BUCKET_PREFIXES.jobRecords)],
      }),
    );
    role.addToPolicy(listBucket(storage.bucket));
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [jobs.queue.queueArn] }),
    );
    acceptObjectPrefixWildcards(role, storage.bucket, [
      BUCKET_PREFIXES.tenantData,
      BUCKET_PREFIXES.jobRecords,
    ]);
  }
}

/**
 * Object access of a role that keeps jobs (the API, the GPU worker): read, write and delete
 * inputs, outputs and job records; read and write usage records, never delete them (write-once
 * billing evidence; a deleted job's usage stays billed).
 *
 * @example
 * ```ts
 * for (const statement of jobDataStatements(storage)) role.addToPolicy(statement);
 * ```
 */
export function jobDataStatements(storage: Storage): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'JobDataObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [
        storage.objectsArn(BUCKET_PREFIXES.tenantData),
        storage.objectsArn(BUCKET_PREFIXES.jobRecords),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'UsageRecords',
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [storage.objectsArn(BUCKET_PREFIXES.usage)],
    }),
  ];
}

/**
 * `s3:ListBucket` on the bucket, with no `s3:prefix` condition. Without it, S3 answers a
 * GetObject or HeadObject of a missing key with 403 AccessDenied instead of 404 NoSuchKey (it
 * will not reveal whether the key exists), and "no such job" or "not uploaded yet" would become
 * a 500. A prefix condition does not help: a GetObject request carries no `s3:prefix`, so a
 * conditioned grant does not count. Every role that reads objects gets this statement; the
 * bucket holds nothing those roles could not already read.
 */
export function listBucket(bucket: s3.IBucket): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ListBucketSoMissingKeysAre404',
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
  });
}

/**
 * cdk-nag flags `bucket/prefix/*` object ARNs as wildcards; object keys are per tenant and job, so
 * a prefix is the narrowest resource IAM can express. Only those exact findings are accepted.
 */
export function acceptObjectPrefixWildcards(
  role: iam.IRole,
  bucket: s3.IBucket,
  prefixes: readonly string[],
): void {
  const bucketId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement);
  acceptNagFinding(
    role,
    'AwsSolutions-IAM5',
    'Object keys are generated per tenant and job, so each statement is scoped to one key prefix of the data bucket (the narrowest IAM resource for them).',
    prefixes.map((prefix) => `Resource::<${bucketId}.Arn>/${prefix}*`),
  );
}
