/**
 * The data bucket (uploads, outputs, job records, usage, models) and the bucket that receives
 * its server access logs and the VPC flow logs.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { acceptNagFinding } from './nag.js';
import { Construct } from 'constructs';

/** Key layout of the data bucket (see shared/src/blob-keys.ts and the S3 adapters). */
export const BUCKET_PREFIXES = {
  /** Inputs and outputs: `tenants/<tenant>/jobs/<job>/input`, `.../restored.png`. */
  tenantData: 'tenants/',
  /** Job records, per-tenant index and idempotency claims (S3JobStore). */
  jobRecords: 'job-store/',
  /** Usage ledger: one write-once record per finished job. */
  usage: 'usage/',
  /** The usage ledger's day totals (derived from the records, rewritten as records arrive). */
  usageDayTotals: 'usage-days/',
} as const;

/** Suffix of an uploaded input's key; its creation event starts the dispatcher. */
export const INPUT_KEY_SUFFIX = '/input';

export interface StorageProps {
  /** Days inputs and outputs are kept. */
  dataRetentionDays: number;
  /** Days job records are kept. */
  jobRecordRetentionDays: number;
  /** Days access logs and flow logs are kept. */
  accessLogRetentionDays: number;
}

/**
 * @example
 * ```ts
 * const storage = new Storage(this, 'Storage', { dataRetentionDays: 7, jobRecordRetentionDays: 90,
 *   accessLogRetentionDays: 90 });
 * storage.allowBrowserOrigins([api.pageOrigin]);
 * storage.bucket.bucketName;
 * ```
 */
export class Storage extends Construct {
  /** Private data bucket. */
  readonly bucket: s3.Bucket;
  /** Receives the data bucket's server access logs and the VPC flow logs. */
  readonly logBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);

    // Access logs must land in a bucket with S3-managed keys (S3 log delivery cannot use KMS).
    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(props.accessLogRetentionDays) }],
      // Kept on stack deletion: logs are the record of who touched the data.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acceptNagFinding(
      this.logBucket,
      'AwsSolutions-S1',
      'This is the access-log bucket itself; logging it into itself (or into a third bucket) would loop.',
    );

    this.bucket = new s3.Bucket(this, 'Data', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // SSE-S3: presigned POST/GET need no KMS grants and cost nothing per request; the data is
      // short-lived (lifecycle below), so a customer key buys little.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Versioning off: inputs and outputs are disposable, DELETE /v1/jobs/{id} must really remove
      // a person's photo (old versions would keep it), and job records use conditional writes
      // (If-Match / If-None-Match), which need no versioning.
      versioned: false,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      lifecycleRules: [
        {
          id: 'expire-inputs-and-outputs',
          prefix: BUCKET_PREFIXES.tenantData,
          expiration: Duration.days(props.dataRetentionDays),
        },
        {
          id: 'expire-job-records',
          prefix: BUCKET_PREFIXES.jobRecords,
          expiration: Duration.days(props.jobRecordRetentionDays),
        },
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Kept on stack deletion so a teardown never silently deletes customer data; README says how to empty it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Usage records are write-once billing evidence: the ledger writes them with If-None-Match,
    // and the bucket refuses any PutObject there without it, so no role (a worker that parses
    // untrusted images included) can replace a record that was already billed.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'UsageRecordsWriteOnce',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.objectsArn(BUCKET_PREFIXES.usage)],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
  }

  /**
   * Lets browsers on these origins send the presigned POST form and fetch signed download links
   * directly (CORS). The stack passes the playground's own origin (the API's) and the configured
   * app origins only; the signature is still what authorises each request.
   */
  allowBrowserOrigins(origins: readonly string[]): void {
    this.bucket.addCorsRule({
      allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
      allowedOrigins: [...origins],
      allowedHeaders: ['*'],
      exposedHeaders: ['ETag'],
      maxAge: 3000,
    });
  }

  /** ARN pattern of the objects under `prefix` (e.g. `tenants/`). */
  objectsArn(prefix: string): string {
    return this.bucket.arnForObjects(`${prefix}*`);
  }
}
