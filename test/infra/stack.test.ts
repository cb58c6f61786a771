/**
 * The synthesized stack with the cdk.json defaults: what an operator relies on when deploying
 * (GPU tasks that scale to zero, a dead-letter queue, a private TLS-only bucket, least privilege,
 * no secrets in plain environment variables).
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_VARIABLES } from '../../shared/runtime/index.js';
import { EMPTY_TENANTS_SECRET } from '../../infra/lib/api.js';
import { PLATFORM_VARIABLES } from '../../infra/lib/runtime-env.js';
import { HEALTH_CHECK_COMMAND } from '../../infra/lib/workers.js';
import {
  actionsOf,
  objectPattern,
  onlyResource,
  policyDocuments,
  type PolicyDocument,
  referencedId,
  resourcesOf,
  resourcesOfType,
  removeSynthOutputs,
  synthDr2e,
  type Synthesized,
} from './helpers.js';

let synth: Synthesized;

afterAll(removeSynthOutputs);

beforeAll(() => {
  synth = synthDr2e();
});

/** The worker container definition (there is exactly one) of `of` (default the cdk.json synth). */
function workerContainer(of: Synthesized = synth): Record<string, unknown> {
  const definitions = resourcesOfType(of.template, 'AWS::ECS::TaskDefinition').map(
    ([, resource]) => resource.Properties?.ContainerDefinitions as Record<string, unknown>[],
  );
  expect(definitions.length).toBe(1);
  const [container] = definitions[0] ?? [];
  if (!container) throw new Error('no container definition');
  return container;
}

function containerEnvironment(of: Synthesized = synth): Record<string, unknown> {
  const entries = (workerContainer(of).Environment ?? []) as { Name: string; Value: unknown }[];
  return Object.fromEntries(entries.map((entry) => [entry.Name, entry.Value]));
}

describe('GPU workers', () => {
  it('run a task that asks ECS for exactly one GPU on EC2 capacity', () => {
    // Prepare: the default stack (synthesized above).
    // Act
    const container = workerContainer();
    // Assess
    expect(container.ResourceRequirements).toEqual([{ Type: 'GPU', Value: '1' }]);
    synth.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['EC2'],
      NetworkMode: 'bridge',
    });
  });

  it('create the ECS service only after the capacity provider is associated with the cluster', () => {
    // Prepare
    const [associationId, association] = onlyResource(
      synth.template,
      'AWS::ECS::ClusterCapacityProviderAssociations',
    );
    const [, service] = onlyResource(synth.template, 'AWS::ECS::Service');
    // Assess: the service names the provider, and CloudFormation waits for the association.
    expect(association.Properties?.CapacityProviders).toHaveLength(1);
    expect([service.DependsOn ?? []].flat()).toContain(associationId);
  });

  it('offer several GPU instance types by default (g6, g5, g4dn) and keep workers running during a redeploy', () => {
    // Assess: a mixed-instances group over the three types, in order of preference.
    expect(synth.config.instanceTypes).toEqual(['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge']);
    synth.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MixedInstancesPolicy: Match.objectLike({
        LaunchTemplate: Match.objectLike({
          Overrides: [
            { InstanceType: 'g6.xlarge' },
            { InstanceType: 'g5.xlarge' },
            { InstanceType: 'g4dn.xlarge' },
          ],
        }),
      }),
    });
    // A deployment starts new tasks before stopping old ones.
    synth.template.hasResourceProperties('AWS::ECS::Service', {
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 100, MaximumPercent: 200 }),
    });
  });

  it('use GPU instances on the ECS GPU-optimised AMI with a minimum of zero', () => {
    synth.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      // One beyond maxTasks: a deployment's new task starts before an old one stops.
      MaxSize: String(synth.config.maxTasks + 1),
      NewInstancesProtectedFromScaleIn: true,
    });
    synth.template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: synth.config.instanceTypes[0] }),
    });
    const parameters = synth.template.toJSON().Parameters as Record<string, { Default?: string }>;
    const amiParameters = Object.values(parameters).filter((parameter) =>
      parameter.Default?.startsWith('/aws/service/ecs/optimized-ami/'),
    );
    expect(amiParameters.map((parameter) => parameter.Default)).toEqual([
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
    ]);
  });

  it('scale through a capacity provider with managed scaling and managed termination protection', () => {
    synth.template.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({
        ManagedScaling: Match.objectLike({ Status: 'ENABLED', TargetCapacity: 100 }),
        ManagedTerminationProtection: 'ENABLED',
      }),
    });
    synth.template.hasResourceProperties('AWS::ECS::Service', {
      // Absent: a DesiredCount in the template is sent on every service update and would reset
      // the count the scaling policies set (a deploy under load dropped the workers to 0).
      DesiredCount: Match.absent(),
      CapacityProviderStrategy: [Match.objectLike({ Weight: 1 })],
    });
    synth.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: synth.config.maxTasks,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
  });

  it('start the first task as soon as one message is waiting, and stop all after an empty spell', () => {
    // Act
    const policies = resourcesOfType(synth.template, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(
      ([, policy]) =>
        policy.Properties?.StepScalingPolicyConfiguration as {
          AdjustmentType: string;
          StepAdjustments: {
            MetricIntervalLowerBound?: number;
            MetricIntervalUpperBound?: number;
            ScalingAdjustment: number;
          }[];
        },
    );
    const alarms = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm').map(
      ([, alarm]) => alarm.Properties ?? {},
    );
    const upper = alarms.find((alarm) => alarm.AlarmDescription === 'Upper threshold scaling alarm');
    const lower = alarms.find((alarm) => alarm.AlarmDescription === 'Lower threshold scaling alarm');

    // Assess: exact task counts from the backlog; 1 task from the first message.
    expect(policies.every((policy) => policy.AdjustmentType === 'ExactCapacity')).toBe(true);
    const outSteps = policies.find((policy) =>
      policy.StepAdjustments.some((step) => step.ScalingAdjustment > 0),
    );
    expect(outSteps?.StepAdjustments[0]).toEqual({
      MetricIntervalLowerBound: 0,
      MetricIntervalUpperBound: synth.config.backlogPerTask,
      ScalingAdjustment: 1,
    });
    expect(Math.max(...(outSteps?.StepAdjustments ?? []).map((step) => step.ScalingAdjustment))).toBe(
      synth.config.maxTasks,
    );
    expect(upper).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
    });
    expect(lower).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      EvaluationPeriods: synth.config.scaleInAfterMinutes,
      TreatMissingData: 'breaching',
    });
    const inSteps = policies.find((policy) =>
      policy.StepAdjustments.every((step) => step.ScalingAdjustment === 0),
    );
    expect(inSteps?.StepAdjustments).toEqual([{ MetricIntervalUpperBound: 0, ScalingAdjustment: 0 }]);
    // The scaling metric is the backlog: waiting plus in-flight messages of the job queue.
    const metricNames = (upper?.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[])
      .map((metric) => metric.MetricStat?.Metric.MetricName)
      .filter(Boolean);
    expect(metricNames.sort()).toEqual([
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesVisible',
    ]);
  });

  it('give the worker time to drain: a stop timeout longer than its shutdown deadline, and a heartbeat health check', () => {
    const container = workerContainer();
    const environment = containerEnvironment();
    expect(container.StopTimeout).toBe(synth.config.stopTimeoutSeconds);
    expect(Number(environment.DR2E_SHUTDOWN_DEADLINE_SECONDS)).toBeLessThan(synth.config.stopTimeoutSeconds);
    expect(container.HealthCheck).toMatchObject({ Command: ['CMD-SHELL', HEALTH_CHECK_COMMAND] });
    expect(environment.DR2E_DEVICE).toBe('cuda');
    // Commercial terms are the operator's to declare (cdk.json `commercialUse`)
    expect(environment.DR2E_COMMERCIAL_USE).toBe('false');
    // A photo that takes longer than this fails instead of holding the GPU
    expect(environment.DR2E_MAX_ENGINE_SECONDS).toBe(String(synth.config.maxEngineSeconds));
  });

  it('tell the worker the terms are commercial when the operator declares them', () => {
    // Act
    const commercial = synthDr2e({ context: { commercialUse: 'true' } });
    // Assess
    expect(containerEnvironment(commercial).DR2E_COMMERCIAL_USE).toBe('true');
  });

  it('encrypt instance volumes and require IMDSv2 with one hop (containers cannot reach instance credentials)', () => {
    const [, launchTemplate] = onlyResource(synth.template, 'AWS::EC2::LaunchTemplate');
    const data = launchTemplate.Properties?.LaunchTemplateData as {
      BlockDeviceMappings: { Ebs: { Encrypted: boolean } }[];
      MetadataOptions: Record<string, unknown>;
    };
    expect(data.BlockDeviceMappings.length).toBeGreaterThan(0);
    expect(data.BlockDeviceMappings.every((mapping) => mapping.Ebs.Encrypted === true)).toBe(true);
    expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
  });

  it('put instances in private subnets without public IPs, with S3 and DynamoDB through gateway endpoints', () => {
    const gateways = resourcesOfType(synth.template, 'AWS::EC2::VPCEndpoint')
      .filter(([, endpoint]) => endpoint.Properties?.VpcEndpointType === 'Gateway')
      .map(([, endpoint]) => JSON.stringify(endpoint.Properties?.ServiceName));
    // DynamoDB: the worker frees a job's slot in the limits table when it finishes the job.
    expect(gateways.some((name) => name.includes('.s3'))).toBe(true);
    expect(gateways.some((name) => name.includes('.dynamodb'))).toBe(true);
    const [, group] = onlyResource(synth.template, 'AWS::AutoScaling::AutoScalingGroup');
    const subnetIds = (group.Properties?.VPCZoneIdentifier as unknown[]).map(referencedId);
    const subnets = synth.template.findResources('AWS::EC2::Subnet');
    for (const id of subnetIds) {
      expect(subnets[id ?? '']?.Properties?.MapPublicIpOnLaunch).toBe(false);
    }
    const [, launchTemplate] = onlyResource(synth.template, 'AWS::EC2::LaunchTemplate');
    expect(JSON.stringify(launchTemplate)).not.toContain('AssociatePublicIpAddress');
  });
});

describe('job queue', () => {
  it('moves a message to the dead-letter queue after the configured receives', () => {
    // Act
    const queues = resourcesOfType(synth.template, 'AWS::SQS::Queue');
    const jobQueue = queues.find(([, queue]) => {
      const redrive = queue.Properties?.RedrivePolicy as { maxReceiveCount?: number } | undefined;
      return redrive?.maxReceiveCount !== undefined;
    });
    // Assess: the queue found is the one the worker reads
    const environment = containerEnvironment();
    expect(jobQueue?.[0]).toBe(referencedId(environment.DR2E_QUEUE_URL));
    const redrive = jobQueue?.[1].Properties?.RedrivePolicy as {
      deadLetterTargetArn: unknown;
      maxReceiveCount: number;
    };
    expect(redrive.maxReceiveCount).toBe(3);
    const deadLetterId = referencedId(redrive.deadLetterTargetArn);
    expect(queues.map(([id]) => id)).toContain(deadLetterId);
    // The worker is told the same number and the same lease.
    expect(environment.DR2E_MAX_RECEIVES).toBe('3');
    expect(environment.DR2E_VISIBILITY_TIMEOUT_SECONDS).toBe(
      String(jobQueue?.[1].Properties?.VisibilityTimeout),
    );
    expect(referencedId(environment.DR2E_DLQ_URL)).toBe(deadLetterId);
  });

  it('encrypts every queue and refuses requests without TLS', () => {
    const queues = resourcesOfType(synth.template, 'AWS::SQS::Queue');
    expect(queues.every(([, queue]) => queue.Properties?.SqsManagedSseEnabled === true)).toBe(true);
    const tlsDenied = new Set<string>();
    for (const [, policy] of resourcesOfType(synth.template, 'AWS::SQS::QueuePolicy')) {
      const document = policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
      const deniesPlainHttp = document.Statement.some(
        (statement) =>
          statement.Effect === 'Deny' &&
          JSON.stringify(statement.Condition) ===
            JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
      );
      if (deniesPlainHttp) {
        for (const queue of policy.Properties?.Queues as unknown[]) tlsDenied.add(referencedId(queue) ?? '');
      }
    }
    expect([...tlsDenied].sort()).toEqual(queues.map(([id]) => id).sort());
  });

  it('raises alarms on dead letters and on the age of the oldest message', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: Match.anyValue(),
    });
    // The job dead letters also by their receives: the worker takes each within 30 s, seldom
    // leaving one visible in a minute's sample.
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'visible + received' }),
        Match.objectLike({
          Id: 'received',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'NumberOfMessagesReceived' }),
          }),
        }),
      ]),
    });
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: synth.config.oldestMessageAlarmSeconds,
    });
  });
});

describe('data bucket', () => {
  it('blocks all public access and denies every request without TLS', () => {
    // Act
    const buckets = resourcesOfType(synth.template, 'AWS::S3::Bucket');
    const policies = resourcesOfType(synth.template, 'AWS::S3::BucketPolicy');
    // Assess
    expect(buckets.length).toBe(2);
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties?.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(JSON.stringify(bucket.Properties?.BucketEncryption)).toContain('AES256');
      const policy = policies.find(([, candidate]) => referencedId(candidate.Properties?.Bucket) === id);
      const statements = (policy?.[1].Properties?.PolicyDocument as { Statement: Record<string, unknown>[] })
        .Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('expires inputs/outputs and job records, allows browser POST uploads, and notifies the dispatcher of inputs only', () => {
    const data = resourcesOfType(synth.template, 'AWS::S3::Bucket').find(
      ([, bucket]) => bucket.Properties?.CorsConfiguration !== undefined,
    );
    const rules = (data?.[1].Properties?.LifecycleConfiguration as { Rules: Record<string, unknown>[] })
      .Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({
        Prefix: 'tenants/',
        ExpirationInDays: synth.config.dataRetentionDays,
        Status: 'Enabled',
      }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({
        Prefix: 'job-store/',
        ExpirationInDays: synth.config.jobRecordRetentionDays,
      }),
    );
    expect(
      rules.some((rule) => rule.Prefix === 'models/' || (rule.Prefix === undefined && rule.ExpirationInDays)),
    ).toBe(false);
    const cors = (data?.[1].Properties?.CorsConfiguration as { CorsRules: { AllowedMethods: string[] }[] })
      .CorsRules;
    expect(cors[0]?.AllowedMethods).toContain('POST');
    expect(data?.[1].Properties?.VersioningConfiguration).toBeUndefined();
    const [, notifications] = onlyResource(synth.template, 'Custom::S3BucketNotifications');
    const configuration = notifications.Properties?.NotificationConfiguration as {
      LambdaFunctionConfigurations: {
        Events: string[];
        Filter: { Key: { FilterRules: { Name: string; Value: string }[] } };
        LambdaFunctionArn: unknown;
      }[];
    };
    expect(configuration.LambdaFunctionConfigurations.length).toBe(1);
    const [target] = configuration.LambdaFunctionConfigurations;
    expect(target?.Events).toEqual(['s3:ObjectCreated:*']);
    expect(target?.Filter.Key.FilterRules.map((rule) => `${rule.Name}=${rule.Value}`).sort()).toEqual([
      'prefix=tenants/',
      'suffix=/input',
    ]);
    expect(referencedId(target?.LambdaFunctionArn)).toMatch(/^ApiDispatcherFunction/);
  });
});

describe('least privilege', () => {
  it('has no IAM statement granting every action or every action of a service', () => {
    // Act: walk every policy document of the template.
    const wildcards: string[] = [];
    const documents = policyDocuments(synth.template);
    for (const { owner, document } of documents) {
      for (const statement of document.Statement) {
        if (statement.Effect !== 'Allow') continue;
        if (statement.NotAction !== undefined) wildcards.push(`${owner}: NotAction`);
        for (const action of actionsOf(statement)) {
          if (action === '*' || /^[a-z0-9-]+:\*$/.test(action)) wildcards.push(`${owner}: ${action}`);
        }
      }
    }
    // Assess
    expect(documents.length).toBeGreaterThan(5);
    expect(wildcards).toEqual([]);
  });

  it('scopes the data permissions of the API, dispatcher and worker to key prefixes of the data bucket', () => {
    const dataBucket = resourcesOfType(synth.template, 'AWS::S3::Bucket').find(
      ([, bucket]) => bucket.Properties?.CorsConfiguration !== undefined,
    )?.[0];
    const objectActions = new Set(['s3:GetObject', 's3:PutObject', 's3:DeleteObject']);
    const allowedPatterns = new Set([
      '/tenants/*',
      '/job-store/*',
      '/usage/*',
      '/usage-days/*',
      `/${synth.config.modelsPrefix}*`,
    ]);
    let checked = 0;
    for (const { owner, document } of policyDocuments(synth.template)) {
      if (!owner.startsWith('Api') && !owner.startsWith('WorkersTaskTaskRole')) continue;
      for (const statement of document.Statement) {
        if (!actionsOf(statement).some((action) => objectActions.has(action))) continue;
        for (const resource of resourcesOf(statement)) {
          const pattern = objectPattern(resource);
          expect(pattern?.bucket, `${owner} ${JSON.stringify(resource)}`).toBe(dataBucket);
          expect(allowedPatterns.has(pattern?.pattern ?? ''), `${owner} ${pattern?.pattern}`).toBe(true);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('lets nothing delete usage records (write-once billing evidence)', () => {
    const deleters: string[] = [];
    for (const { owner, document } of policyDocuments(synth.template)) {
      for (const statement of document.Statement) {
        if (!actionsOf(statement).includes('s3:DeleteObject')) continue;
        for (const resource of resourcesOf(statement)) {
          if (objectPattern(resource)?.pattern === '/usage/*') deleters.push(owner);
        }
      }
    }
    expect(deleters).toEqual([]);
  });

  it('refuses, on the data bucket, every PutObject to usage/ without If-None-Match, so no role can replace a billed record', () => {
    // Prepare
    const data = resourcesOfType(synth.template, 'AWS::S3::Bucket').find(
      ([, bucket]) => bucket.Properties?.CorsConfiguration !== undefined,
    )?.[0];
    const policy = resourcesOfType(synth.template, 'AWS::S3::BucketPolicy').find(
      ([, candidate]) => referencedId(candidate.Properties?.Bucket) === data,
    );
    // Act
    const statements = (policy?.[1].Properties?.PolicyDocument as PolicyDocument).Statement;
    const writeOnce = statements.filter(
      (statement) =>
        statement.Effect === 'Deny' &&
        actionsOf(statement).includes('s3:PutObject') &&
        resourcesOf(statement).some((resource) => objectPattern(resource)?.pattern === '/usage/*'),
    );
    // Assess
    expect(writeOnce).toHaveLength(1);
    expect(writeOnce[0]?.Principal).toEqual({ AWS: '*' });
    expect(writeOnce[0]?.Condition).toEqual({ Null: { 's3:if-none-match': 'true' } });
  });

  it('lets the API, not the worker, read and write the usage day totals', () => {
    // Act
    const writers = new Set<string>();
    for (const { owner, document } of policyDocuments(synth.template)) {
      for (const statement of document.Statement) {
        if (statement.Effect !== 'Allow' || !actionsOf(statement).includes('s3:PutObject')) continue;
        if (resourcesOf(statement).some((resource) => objectPattern(resource)?.pattern === '/usage-days/*')) {
          writers.add(owner.replace(/[A-F0-9]{8}$/, ''));
        }
      }
    }
    // Assess
    expect([...writers]).toEqual(['ApiHttpRoleDefaultPolicy']);
  });

  it('keeps a job message as long as SQS allows (14 days): one that expires is dropped, not dead-lettered, and its job would stay queued', () => {
    // Act
    const jobQueues = resourcesOfType(synth.template, 'AWS::SQS::Queue').filter(
      ([id, queue]) => id.startsWith('JobsQueue') && queue.Properties?.RedrivePolicy !== undefined,
    );
    // Assess
    expect(jobQueues).toHaveLength(1);
    expect(jobQueues[0]?.[1].Properties?.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('lets only the worker consume the queue, and the API, dispatcher and worker (handing messages back at shutdown) send to it', () => {
    const consumers = new Set<string>();
    const senders = new Set<string>();
    for (const { owner, document } of policyDocuments(synth.template)) {
      for (const statement of document.Statement) {
        if (statement.Effect !== 'Allow') continue;
        const actions = actionsOf(statement);
        if (actions.includes('sqs:ReceiveMessage')) consumers.add(owner.replace(/[A-F0-9]{8}$/, ''));
        if (
          actions.includes('sqs:SendMessage') &&
          resourcesOf(statement).some((r) => referencedId(r)?.startsWith('JobsQueue'))
        ) {
          senders.add(owner.replace(/[A-F0-9]{8}$/, ''));
        }
      }
    }
    expect([...consumers].sort()).toEqual([
      'WebhooksDelivererRoleDefaultPolicy',
      'WorkersTaskTaskRoleDefaultPolicy',
    ]);
    expect([...senders].sort()).toEqual([
      'ApiDispatcherRoleDefaultPolicy',
      'ApiHttpRoleDefaultPolicy',
      'WorkersTaskTaskRoleDefaultPolicy',
    ]);
  });

  it('queues webhooks on a queue of their own, sent to by the API, dispatcher and worker, consumed by one Lambda', () => {
    // Prepare
    const consumers = new Set<string>();
    const senders = new Set<string>();
    for (const { owner, document } of policyDocuments(synth.template)) {
      for (const statement of document.Statement) {
        if (statement.Effect !== 'Allow') continue;
        const onWebhookQueue = resourcesOf(statement).some((r) =>
          /^WebhooksQueue[0-9A-F]{8}$/.test(referencedId(r) ?? ''),
        );
        if (!onWebhookQueue) continue;
        const actions = actionsOf(statement);
        const name = owner.replace(/[A-F0-9]{8}$/, '');
        if (actions.includes('sqs:ReceiveMessage')) consumers.add(name);
        if (actions.includes('sqs:SendMessage')) senders.add(name);
      }
    }
    const mappings = resourcesOfType(synth.template, 'AWS::Lambda::EventSourceMapping').map(
      ([, mapping]) => mapping.Properties ?? {},
    );
    const webhookQueue = resourcesOfType(synth.template, 'AWS::SQS::Queue').find(([id]) =>
      /^WebhooksQueue[0-9A-F]{8}$/.test(id),
    );
    const webhookFunction = resourcesOfType(synth.template, 'AWS::Lambda::Function').find(([id]) =>
      id.startsWith('WebhooksDeliverer'),
    );

    // Assess: the delivery Lambda re-sends chained retries to its own queue.
    expect([...consumers]).toEqual(['WebhooksDelivererRoleDefaultPolicy']);
    expect([...senders].sort()).toEqual([
      'ApiDispatcherRoleDefaultPolicy',
      'ApiHttpRoleDefaultPolicy',
      'WebhooksDelivererRoleDefaultPolicy',
      'WorkersTaskTaskRoleDefaultPolicy',
    ]);
    expect(mappings).toEqual([
      expect.objectContaining({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: 10,
      }),
    ]);
    expect(referencedId((mappings[0]?.EventSourceArn as unknown) ?? '')).toBe(webhookQueue?.[0]);
    const visibility = Number(webhookQueue?.[1].Properties?.VisibilityTimeout);
    expect(visibility).toBeGreaterThanOrEqual(6 * Number(webhookFunction?.[1].Properties?.Timeout));
    expect(webhookQueue?.[1].Properties?.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });
  });
});

describe('secrets and configuration', () => {
  /** Lambda and container environments as name -> value. */
  function environments(): { owner: string; variables: Record<string, unknown> }[] {
    const result = resourcesOfType(synth.template, 'AWS::Lambda::Function')
      .filter(([, fn]) => (fn.Properties?.Environment as { Variables?: object } | undefined)?.Variables)
      .map(([owner, fn]) => ({
        owner,
        variables: (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables,
      }));
    result.push({ owner: 'worker container', variables: containerEnvironment() });
    return result;
  }

  const SECRET_LOOKING = [
    /whsec_/i,
    /dr2e_sk_/i,
    /sha256:[A-Za-z0-9_-]{20,}/,
    /AKIA[0-9A-Z]{16}/,
    /BEGIN [A-Z ]*PRIVATE KEY/,
    /^[A-Za-z0-9+/_-]{32,}={0,2}$/,
  ];

  it('sets only variables of the runtime contract, none holding a secret-looking value', () => {
    // Prepare
    const allowed = new Set<string>([...RUNTIME_VARIABLES, ...PLATFORM_VARIABLES]);
    const envs = environments();
    // Act
    const unknownNames: string[] = [];
    const suspicious: string[] = [];
    for (const { owner, variables } of envs) {
      for (const [name, value] of Object.entries(variables)) {
        if (!allowed.has(name)) unknownNames.push(`${owner}: ${name}`);
        if (/SECRET|PASSWORD|TOKEN|API_KEY/i.test(name) && !name.endsWith('_ARN'))
          suspicious.push(`${owner}: ${name}`);
        if (typeof value === 'string' && SECRET_LOOKING.some((pattern) => pattern.test(value))) {
          suspicious.push(`${owner}: ${name}=${value}`);
        }
      }
    }
    // Assess: the API, the dispatcher, the webhook Lambda and the worker are all configured;
    // nothing secret is inline.
    expect(envs.length).toBe(4);
    expect(unknownNames).toEqual([]);
    expect(suspicious).toEqual([]);
  });

  it('passes the tenants secret by ARN and grants reading exactly it, to the API and the webhook delivery only', () => {
    const [secretId, secret] = onlyResource(synth.template, 'AWS::SecretsManager::Secret');
    // The only literal in the template is the empty tenant list.
    expect(secret.Properties?.SecretString).toBe(EMPTY_TENANTS_SECRET);
    for (const { owner, variables } of environments()) {
      expect(referencedId(variables.DR2E_TENANTS_SECRET_ARN), owner).toBe(secretId);
    }
    // Container secrets, if any, come from Secrets Manager.
    const containerSecrets = (workerContainer().Secrets ?? []) as { ValueFrom: unknown }[];
    for (const entry of containerSecrets) expect(JSON.stringify(entry.ValueFrom)).toContain('secretsmanager');
    const readers = policyDocuments(synth.template).filter(({ document }) =>
      document.Statement.some((statement) => actionsOf(statement).includes('secretsmanager:GetSecretValue')),
    );
    // The API authenticates keys, the webhook function signs; the dispatcher and the GPU worker
    // (which parses untrusted images) never read the tenants' webhook secrets.
    expect(readers.map(({ owner }) => owner).sort()).toEqual([
      expect.stringMatching(/^ApiHttp/),
      expect.stringMatching(/^WebhooksDeliverer/),
    ]);
    for (const { document } of readers) {
      for (const statement of document.Statement.filter((s) =>
        actionsOf(s).includes('secretsmanager:GetSecretValue'),
      )) {
        expect(resourcesOf(statement).map(referencedId)).toEqual([secretId]);
      }
    }
  });

  it('bundles the Lambda entry points the pipeline provides, on Node.js 22 with source maps', () => {
    const handlers = resourcesOfType(synth.template, 'AWS::Lambda::Function')
      .map(([, fn]) => fn.Properties ?? {})
      .filter(
        (props) =>
          (props.Environment as { Variables?: { DR2E_MODE?: string } } | undefined)?.Variables?.DR2E_MODE,
      );
    expect(handlers.length).toBe(3);
    for (const props of handlers) {
      expect(props.Runtime).toBe('nodejs22.x');
      expect((props.Environment as { Variables: Record<string, string> }).Variables.NODE_OPTIONS).toBe(
        '--enable-source-maps',
      );
    }
  });
});

describe('API and observability', () => {
  it('throttles the HTTP API stage and writes access logs', () => {
    // cdk.json's defaults: 500/s, burst 1000 (well under the account's 10,000/s).
    expect(synth.config).toMatchObject({ apiThrottleRate: 500, apiThrottleBurst: 1000 });
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: Match.objectLike({
        ThrottlingRateLimit: synth.config.apiThrottleRate,
        ThrottlingBurstLimit: synth.config.apiThrottleBurst,
      }),
      AccessLogSettings: Match.objectLike({
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('requestId'),
      }),
    });
  });

  it("throttles the stage above what one tenant may send under the API function's own limits", () => {
    // Prepare: the stage throttle, and one tenant's default allowance as the API enforces it.
    const [, stage] = onlyResource(synth.template, 'AWS::ApiGatewayV2::Stage');
    const throttle = stage.Properties?.DefaultRouteSettings as {
      ThrottlingRateLimit: number;
      ThrottlingBurstLimit: number;
    };
    const api = resourcesOfType(synth.template, 'AWS::Lambda::Function').filter(([id]) =>
      id.startsWith('ApiHttp'),
    );
    expect(api.length).toBe(1);
    const variables = (api[0]?.[1].Properties?.Environment as { Variables: Record<string, string> })
      .Variables;
    // Act: creates and other requests draw from separate buckets, so one tenant may send both.
    const tenantRate =
      Number(variables.DR2E_CREATE_RATE_PER_SECOND) + Number(variables.DR2E_REQUEST_RATE_PER_SECOND);
    const tenantBurst = Number(variables.DR2E_CREATE_BURST) + Number(variables.DR2E_REQUEST_BURST);
    // Assess: a tenant at its own limit gets the API's 429 with Retry-After; the stage's bare 429
    // stays for traffic beyond any single tenant.
    expect(tenantRate).toBe(60);
    expect(tenantBurst).toBe(600);
    expect(throttle.ThrottlingRateLimit).toBeGreaterThan(tenantRate);
    expect(throttle.ThrottlingBurstLimit).toBeGreaterThan(tenantBurst);
  });

  it('keeps every log group for the configured days', () => {
    const groups = resourcesOfType(synth.template, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(4);
    for (const [, group] of groups)
      expect(group.Properties?.RetentionInDays).toBe(synth.config.logRetentionDays);
  });

  it('notifies the alarm topic when a worker task stops with a non-zero exit or fails to start (a bad image shows only at scale-out)', () => {
    const rules = resourcesOfType(synth.template, 'AWS::Events::Rule').filter(
      ([, candidate]) => candidate.Properties?.EventPattern !== undefined,
    );
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0]!;
    const pattern = rule.Properties?.EventPattern as {
      source: string[];
      'detail-type': string[];
      detail: { lastStatus: string[]; $or: unknown[] };
    };
    expect(pattern.source).toEqual(['aws.ecs']);
    expect(pattern['detail-type']).toEqual(['ECS Task State Change']);
    expect(pattern.detail.lastStatus).toEqual(['STOPPED']);
    expect(pattern.detail.$or).toEqual([
      { containers: { exitCode: [{ 'anything-but': 0 }] } },
      { stopCode: ['TaskFailedToStart'] },
    ]);
    const targets = rule.Properties?.Targets as { Arn: unknown }[];
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    expect(targets.map((target) => referencedId(target.Arn))).toEqual([topicId]);
  });

  it('invokes the dispatcher hourly to expire jobs that never got an upload', () => {
    const scheduled = resourcesOfType(synth.template, 'AWS::Events::Rule').filter(
      ([, rule]) => rule.Properties?.ScheduleExpression !== undefined,
    );
    expect(scheduled).toHaveLength(1);
    const [, rule] = scheduled[0]!;
    expect(rule.Properties?.ScheduleExpression).toBe('rate(1 hour)');
    const targets = rule.Properties?.Targets as { Arn: unknown }[];
    expect(targets.map((target) => referencedId(target.Arn))).toEqual([
      expect.stringMatching(/^ApiDispatcher/),
    ]);
    const permissions = resourcesOfType(synth.template, 'AWS::Lambda::Permission').filter(
      ([, permission]) => permission.Properties?.Principal === 'events.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
  });

  it('alarms on API 5xx and Lambda errors, and has a dashboard', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
    });
    const lambdaErrorAlarms = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm').filter(
      ([, alarm]) =>
        alarm.Properties?.MetricName === 'Errors' && alarm.Properties?.Namespace === 'AWS/Lambda',
    );
    expect(lambdaErrorAlarms.length).toBe(3);
    const deadLetterAlarms = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm').filter(
      ([, alarm]) => alarm.Properties?.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    // The dispatch failures' and the webhook queue's dead letters (the job queue's is an expression).
    expect(deadLetterAlarms.length).toBe(2);
    const [, dashboard] = onlyResource(synth.template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties?.DashboardBody);
    for (const metric of ['ApproximateAgeOfOldestMessage', 'RunningTaskCount', 'Latency', '5xx']) {
      expect(body).toContain(metric);
    }
  });

  it('alarms when GPU instances stay in service with no job waiting or running for 90 minutes (billed for nothing)', () => {
    // Act
    const idle = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm').filter(([id]) =>
      id.startsWith('ObservabilityIdleGpuInstances'),
    );
    // Assess
    expect(idle).toHaveLength(1);
    const properties = idle[0]?.[1].Properties ?? {};
    expect(properties).toMatchObject({ EvaluationPeriods: 90, DatapointsToAlarm: 90, Threshold: 1 });
    const metrics = properties.Metrics as {
      Expression?: string;
      MetricStat?: { Metric: { MetricName: string } };
    }[];
    expect(metrics.find((metric) => metric.Expression)?.Expression).toBe(
      'IF(instances > 0 AND FILL(visible, 0) + FILL(inflight, 0) == 0, 1, 0)',
    );
    expect(
      metrics
        .map((metric) => metric.MetricStat?.Metric.MetricName)
        .filter(Boolean)
        .sort(),
    ).toEqual([
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesVisible',
      'GroupInServiceInstances',
    ]);
  });

  it('has the worker, dispatcher and API write job metrics to the namespace the dashboard and the JobFailures alarm read', () => {
    // Prepare: the namespace the worker is given.
    const namespace = containerEnvironment().DR2E_METRICS_NAMESPACE;
    const functions = resourcesOfType(synth.template, 'AWS::Lambda::Function').filter(
      ([, fn]) =>
        (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.DR2E_MODE === 'aws',
    );
    // Act
    const failures = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm').filter(
      ([, alarm]) => alarm.Properties?.MetricName === 'Jobs',
    );
    const [, dashboard] = onlyResource(synth.template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties?.DashboardBody);
    // Assess
    expect(namespace).toMatch(/^dr2e\//);
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const [id, fn] of functions) {
      const variables = (fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.DR2E_METRICS_NAMESPACE, id).toBe(namespace);
    }
    expect(failures).toHaveLength(1);
    expect(failures[0]?.[1].Properties).toMatchObject({
      Namespace: namespace,
      Dimensions: [{ Name: 'Outcome', Value: 'failed' }],
      Statistic: 'Sum',
      Period: 900,
    });
    for (const text of ['WaitSeconds', 'ModelSeconds', 'rejected']) expect(body).toContain(text);
  });
});

describe('alarm recipients and cost budget', () => {
  it('warns at synth when alarmEmail is unset (the alarms would notify no one), not when it is set', () => {
    // Act: the defaults have no alarmEmail.
    const unset = Annotations.fromStack(synth.stack).findWarning(
      '*',
      Match.stringLikeRegexp('alarmEmail is unset'),
    );
    const { stack } = synthDr2e({ context: { alarmEmail: 'ops@example.com' } });
    const set = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('alarmEmail is unset'));
    // Assess
    expect(unset).toHaveLength(1);
    expect(set).toEqual([]);
  });

  it('has no cost budget by default', () => {
    expect(resourcesOfType(synth.template, 'AWS::Budgets::Budget')).toEqual([]);
  });

  it('with monthlyBudgetUsd, notifies the alarm topic at 80 % actual and 100 % forecast cost, and lets AWS Budgets publish there', () => {
    // Prepare + Act
    const { template } = synthDr2e({ context: { monthlyBudgetUsd: '750', alarmEmail: 'ops@example.com' } });
    const [budgetId, budget] = onlyResource(template, 'AWS::Budgets::Budget');
    const [topicId] = onlyResource(template, 'AWS::SNS::Topic');
    const [policyId, policy] = onlyResource(template, 'AWS::SNS::TopicPolicy');
    // Assess: the account's monthly cost, both notifications to the alarm topic.
    expect(budget.Properties?.Budget).toMatchObject({
      BudgetType: 'COST',
      TimeUnit: 'MONTHLY',
      BudgetLimit: { Amount: 750, Unit: 'USD' },
    });
    const notifications = budget.Properties?.NotificationsWithSubscribers as {
      Notification: Record<string, unknown>;
      Subscribers: { SubscriptionType: string; Address: unknown }[];
    }[];
    expect(notifications.map((n) => n.Notification)).toEqual([
      {
        NotificationType: 'ACTUAL',
        ComparisonOperator: 'GREATER_THAN',
        Threshold: 80,
        ThresholdType: 'PERCENTAGE',
      },
      {
        NotificationType: 'FORECASTED',
        ComparisonOperator: 'GREATER_THAN',
        Threshold: 100,
        ThresholdType: 'PERCENTAGE',
      },
    ]);
    for (const { Subscribers } of notifications) {
      expect(Subscribers).toEqual([{ SubscriptionType: 'SNS', Address: { Ref: topicId } }]);
    }
    // Budgets checks at creation that it may publish: the budget waits for the topic policy.
    const statements = (policy.Properties?.PolicyDocument as PolicyDocument).Statement;
    const budgetsStatement = statements.find(
      (statement) =>
        JSON.stringify(statement.Principal ?? {}).includes('budgets.amazonaws.com') &&
        statement.Effect === 'Allow',
    );
    expect(budgetsStatement).toMatchObject({ Action: 'sns:Publish', Resource: { Ref: topicId } });
    expect(JSON.stringify(budgetsStatement?.Condition)).toContain('aws:SourceAccount');
    expect([budget.DependsOn ?? []].flat()).toContain(policyId);
    expect(budgetId).toMatch(/^CostBudget/);
  });
});
