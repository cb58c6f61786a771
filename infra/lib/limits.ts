/**
 * The DynamoDB table behind the per-tenant limits (shared/adapters/aws/dynamodb-limit-store.ts):
 * token buckets (`rate#<tenant>#<bucket>`) and in-flight slots (`slots#<tenant>`), one item
 * each, changed only by conditional UpdateItem calls. On-demand capacity (traffic follows the
 * API's), TTL on `expiresAt` so idle buckets disappear, point-in-time recovery on.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * @example
 * ```ts
 * const limits = new LimitsTable(this, 'Limits');
 * limits.grantCounters(api.httpFunction.role);
 * ```
 */
export class LimitsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Counters', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Counters only: a new stack starts with full buckets and no slots, which is harmless.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** Exactly what the adapter calls: UpdateItem and GetItem on this table, nothing else. */
  grantCounters(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
      resourceArns: [this.table.tableArn],
    });
  }
}
