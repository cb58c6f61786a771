/**
 * The whole dr2e deployment in one stack: storage, queue, API, GPU workers, alarms and dashboard.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { Api, createTenantsSecret } from './api.js';
import { shutdownDeadlineSeconds, type InfraConfig } from './config.js';
import { AlertTopic, CostBudget, Observability } from './observability.js';
import { LimitsTable } from './limits.js';
import { JobQueue } from './queue.js';
import { runtimeEnvironment, tenantDefaultsEnvironment } from './runtime-env.js';
import { Storage } from './storage.js';
import { acceptNagFinding } from './nag.js';
import { WebhookDelivery } from './webhooks.js';
import { GpuWorkers } from './workers.js';

export interface Dr2eStackProps extends StackProps {
  config: InfraConfig;
}

/**
 * @example
 * ```ts
 * const app = new App();
 * const config = readInfraConfig(app.node);
 * new Dr2eStack(app, config.stackName, { config, env: stackEnvironment(config) });
 * ```
 */
export class Dr2eStack extends Stack {
  readonly storage: Storage;
  readonly jobs: JobQueue;
  readonly webhooks: WebhookDelivery;
  readonly api: Api;
  readonly workers: GpuWorkers;
  readonly limits: LimitsTable;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: Dr2eStackProps) {
    super(scope, id, {
      description: 'dr2e: face restoration jobs (API, queue, scale-to-zero GPU workers)',
      ...props,
    });
    const { config } = props;
    if (config.account && config.region && config.availabilityZones.length > 0) {
      // The named zones answer CDK's availability-zone lookup (as cdk.context.json would), so
      // an environment-specific synth needs no credentials either.
      this.node.setContext(
        `availability-zones:account=${config.account}:region=${config.region}`,
        config.availabilityZones,
      );
    }
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.storage = new Storage(this, 'Storage', {
      dataRetentionDays: config.dataRetentionDays,
      jobRecordRetentionDays: config.jobRecordRetentionDays,
      accessLogRetentionDays: config.accessLogRetentionDays,
    });
    this.jobs = new JobQueue(this, 'Jobs', {
      maxReceives: config.maxReceives,
      visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
      retentionDays: config.queueRetentionDays,
    });
    const tenantsSecret = createTenantsSecret(this);
    this.webhooks = new WebhookDelivery(this, 'Webhooks', {
      storage: this.storage,
      tenantsSecret,
      logRetention: config.logRetentionDays as logs.RetentionDays,
    });
    this.limits = new LimitsTable(this, 'Limits');
    const alerts = new AlertTopic(this, 'Alerts', { email: config.alarmEmail });
    if (config.monthlyBudgetUsd > 0)
      new CostBudget(this, 'CostBudget', { topic: alerts.topic, limitUsd: config.monthlyBudgetUsd });

    // Job metrics (CloudWatch EMF from the worker, the dispatcher and the API) per stack.
    const metricsNamespace = `dr2e/${this.stackName}`;
    // Settings every component shares; only names from shared/runtime/config.ts.
    const shared = {
      DR2E_MODE: 'aws',
      DR2E_BUCKET: this.storage.bucket.bucketName,
      DR2E_QUEUE_URL: this.jobs.queue.queueUrl,
      DR2E_DLQ_URL: this.jobs.deadLetterQueue.queueUrl,
      DR2E_WEBHOOK_QUEUE_URL: this.webhooks.queue.queue.queueUrl,
      DR2E_WEBHOOK_DLQ_URL: this.webhooks.queue.deadLetterQueue.queueUrl,
      DR2E_TENANTS_SECRET_ARN: tenantsSecret.secretArn,
      DR2E_LIMITS_TABLE: this.limits.table.tableName,
      DR2E_WEBHOOK_ALLOW_HOSTS:
        config.webhookAllowHosts.length > 0 ? config.webhookAllowHosts.join(',') : undefined,
      DR2E_MAX_RECEIVES: String(config.maxReceives),
      DR2E_LOG_LEVEL: config.logLevel,
      DR2E_METRICS_NAMESPACE: metricsNamespace,
    } as const;

    this.webhooks.attachFunction(runtimeEnvironment({ ...shared, NODE_OPTIONS: '--enable-source-maps' }));
    this.api = new Api(this, 'Api', {
      storage: this.storage,
      jobs: this.jobs,
      webhookQueue: this.webhooks.queue.queue,
      tenantsSecret,
      environment: runtimeEnvironment({
        ...shared,
        DR2E_UPLOAD_MAX_BYTES: String(config.uploadMaxBytes),
        // Stack traces point at the TypeScript sources (the bundles ship source maps).
        NODE_OPTIONS: '--enable-source-maps',
      }),
      // Only the API function enforces the per-tenant limits (the dispatcher, the webhook
      // function and the worker just free slots); a tenant's overrides in the secret win.
      httpEnvironment: runtimeEnvironment(tenantDefaultsEnvironment(config.tenantDefaults)),
      logRetention,
      throttleRate: config.apiThrottleRate,
      throttleBurst: config.apiThrottleBurst,
    });
    // The playground page (served by the API) uploads and downloads straight from the bucket.
    this.storage.allowBrowserOrigins([this.api.pageOrigin, ...config.corsAllowedOrigins]);

    const modelsS3Uri =
      config.modelsSource === 's3'
        ? `s3://${this.storage.bucket.bucketName}/${config.modelsPrefix}`
        : undefined;
    this.workers = new GpuWorkers(this, 'Workers', {
      config,
      storage: this.storage,
      jobs: this.jobs,
      webhookQueue: this.webhooks.queue.queue,
      alarmTopic: alerts.topic,
      environment: runtimeEnvironment({
        ...shared,
        AWS_REGION: this.region,
        DR2E_DEVICE: 'cuda',
        DR2E_COMMERCIAL_USE: String(config.commercialUse),
        DR2E_BATCH_SIZE: String(config.batchSize),
        DR2E_MAX_ENGINE_SECONDS: String(config.maxEngineSeconds),
        DR2E_VISIBILITY_TIMEOUT_SECONDS: String(config.visibilityTimeoutSeconds),
        DR2E_SHUTDOWN_DEADLINE_SECONDS: String(shutdownDeadlineSeconds(config)),
        DR2E_MODELS_S3_URI: modelsS3Uri,
        DR2E_MODEL: config.modelManifest ?? (config.modelsSource === 's3' ? 'pipeline.json' : undefined),
      }),
    });

    // The API takes tokens and slots; the dispatcher and the workers free slots of jobs they end.
    this.limits.grantCounters(this.api.httpFunction.role);
    this.limits.grantCounters(this.api.dispatcherFunction.role);
    this.limits.grantCounters(this.workers.taskDefinition.taskRole);

    this.observability = new Observability(this, 'Observability', {
      topic: alerts.topic,
      jobs: this.jobs,
      api: this.api,
      workers: this.workers,
      webhooks: this.webhooks,
      oldestMessageAlarmSeconds: config.oldestMessageAlarmSeconds,
      metricsNamespace,
    });

    this.suppressFrameworkFindings();

    new CfnOutput(this, 'ApiUrl', { value: this.api.stage.url, description: 'Base URL of the job API' });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'QueueUrl', { value: this.jobs.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.jobs.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'WebhookDeadLetterQueueUrl', {
      value: this.webhooks.queue.deadLetterQueue.queueUrl,
      description: 'Webhook messages whose delivery Lambda kept failing (store or secret outage)',
    });
    new CfnOutput(this, 'TenantsSecretArn', {
      value: tenantsSecret.secretArn,
      description: 'Write tenants here (infra/README.md)',
    });
    if (modelsS3Uri)
      new CfnOutput(this, 'ModelsS3Uri', { value: modelsS3Uri, description: 'Upload model files here' });
    new CfnOutput(this, 'ClusterName', { value: this.workers.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.workers.service.serviceName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alerts.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    new CfnOutput(this, 'AccessLogBucketName', {
      value: this.storage.logBucket.bucketName,
      description: 'Kept on stack deletion (with the data bucket and the tenants secret)',
    });
  }

  /**
   * Findings on resources CDK itself generates (their policies are fixed by CDK or the ECS agent),
   * each with why it is acceptable here.
   */
  private suppressFrameworkFindings(): void {
    const notificationsHandler = this.node.tryFindChild(
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
    );
    if (notificationsHandler) {
      acceptNagFinding(
        notificationsHandler,
        'AwsSolutions-IAM4',
        "CDK's bucket-notification custom resource (runs only during deployments) logs through the AWSLambdaBasicExecutionRole managed policy; CDK offers no option to replace it.",
        ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      );
    }
    acceptNagFinding(
      this.workers.instanceRole,
      'AwsSolutions-IAM5',
      "The ECS container agent's own permissions, added by CDK: ecs:Submit* is the agent's state-change family and is limited to this cluster; ecs:DiscoverPollEndpoint, ecr:GetAuthorizationToken and the agent's log calls do not support resource scoping (ecs:Poll and StartTelemetrySession are limited to the cluster by condition).",
      ['Action::ecs:Submit*', 'Resource::*'],
    );
    acceptNagFinding(
      this.workers.taskDefinition,
      'AwsSolutions-IAM5',
      'ecr:GetAuthorizationToken (added by CDK to the execution role for the image pull) does not support resource scoping; the pull itself is limited to the image repository.',
      ['Resource::*'],
    );
    acceptNagFinding(
      this.workers.taskDefinition,
      'AwsSolutions-ECS2',
      "The environment holds only non-secret settings (bucket name, queue URLs, the tenants secret's ARN, limits); the worker reads secret values from Secrets Manager at run time with its task role (the infra tests check that no value looks like a credential).",
    );
  }
}

/**
 * The stack's environment: account and region from context when set, else environment-agnostic
 * (synth needs no credentials and no lookups; `cdk deploy` uses the caller's account/region).
 */
export function stackEnvironment(config: InfraConfig): StackProps['env'] {
  if (!config.account && !config.region) return undefined;
  return { account: config.account, region: config.region };
}
