/**
 * GPU workers: a VPC, an ECS cluster whose only capacity is an Auto Scaling group of GPU
 * instances (0 when idle), the worker task (one GPU) and the scaling that starts it from zero
 * when jobs are queued and stops it when the queue has been empty for a while.
 */
import {
  Aspects,
  type CfnElement,
  Duration,
  type IAspect,
  RemovalPolicy,
  Size,
  Stack,
  Token,
} from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { acceptNagFinding } from './nag.js';
import { Construct, type IConstruct } from 'constructs';
import { acceptObjectPrefixWildcards, jobDataStatements, listBucket } from './api.js';
import type { InfraConfig } from './config.js';
import { REPO_ROOT } from './lambda-bundle.js';
import type { JobQueue } from './queue.js';
import { BUCKET_PREFIXES, type Storage } from './storage.js';

/** The file the worker touches on every poll loop; the health check wants it fresh. */
export const HEARTBEAT_FILE = '/tmp/dr2e-worker-heartbeat';
/** Heartbeat age (s) after which the container counts as unhealthy. */
export const HEARTBEAT_MAX_AGE_SECONDS = 120;
/** Written by the worker when its start-up execution-provider check fails (with the reason). */
export const UNHEALTHY_FILE = '/tmp/dr2e-worker-unhealthy';
/**
 * The same check as the Dockerfile's HEALTHCHECK (ECS ignores the image's own HEALTHCHECK):
 * unhealthy with the provider check's reason printed, or when the heartbeat is missing or stale.
 */
export const HEALTH_CHECK_COMMAND = `if test -f ${UNHEALTHY_FILE}; then cat ${UNHEALTHY_FILE}; exit 1; fi; test -f ${HEARTBEAT_FILE} && test $(( $(date +%s) - $(stat -c %Y ${HEARTBEAT_FILE}) )) -lt ${HEARTBEAT_MAX_AGE_SECONDS}`;
/** Dockerfile of the worker image, relative to the repository root (the build context). */
export const WORKER_DOCKERFILE = 'gpu-task/Dockerfile';
/** awslogs non-blocking buffer: lines are dropped rather than stalling the worker when CloudWatch is slow. */
const LOG_BUFFER = Size.mebibytes(4);

export interface GpuWorkersProps {
  config: InfraConfig;
  storage: Storage;
  jobs: JobQueue;
  /** The webhook queue: the worker queues the terminal event of the jobs it finishes. */
  webhookQueue: sqs.IQueue;
  /** Worker variables (from the runtime contract). */
  environment: Record<string, string>;
  /** Receives Auto Scaling launch/terminate errors. */
  alarmTopic: sns.ITopic;
}

/**
 * @example
 * ```ts
 * const workers = new GpuWorkers(this, 'Workers', { config, storage, jobs, environment, alarmTopic });
 * workers.service.serviceName;
 * ```
 */
export class GpuWorkers extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  /** Role of the GPU instances (the ECS agent's permissions). */
  readonly instanceRole: iam.Role;
  /** The GPU instances: nothing inbound, HTTPS out. */
  readonly instanceSecurityGroup: ec2.SecurityGroup;
  readonly capacityProvider: ecs.AsgCapacityProvider;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.Ec2Service;
  readonly logGroup: logs.LogGroup;
  /** Messages waiting plus messages being worked on: what the scaling follows. */
  readonly backlog: cloudwatch.IMetric;

  constructor(scope: Construct, id: string, props: GpuWorkersProps) {
    super(scope, id);
    const { config, storage, jobs } = props;

    this.vpc = this.createVpc(config, storage);
    this.instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description: 'dr2e GPU workers: no inbound traffic; outbound HTTPS (AWS APIs, image pulls, webhooks)',
      allowAllOutbound: false,
    });
    // Standard Webhooks targets are https-only in production; the ECS agent and the SDKs use 443 too.
    this.instanceSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS out');
    if (config.workerNetwork === 'isolated' || config.interfaceEndpoints) this.addInterfaceEndpoints(config);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      // Per-task GPU/CPU/memory metrics; with scale-to-zero there is nothing to bill while idle.
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'dr2e GPU container instances (ECS agent)',
    });
    this.autoScalingGroup = this.createAutoScalingGroup(config, this.instanceRole, props.alarmTopic);
    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'GpuCapacity', {
      autoScalingGroup: this.autoScalingGroup,
      // ECS adds instances when a task cannot be placed (scale-out from zero) and removes empty ones.
      enableManagedScaling: true,
      targetCapacityPercent: 100,
      minimumScalingStepSize: 1,
      maximumScalingStepSize: config.maxTasks,
      // GPU AMI boot + ECS agent registration.
      instanceWarmupPeriod: 180,
      // Instances running a task are never picked by ASG scale-in.
      enableManagedTerminationProtection: true,
      enableManagedDraining: true,
    });
    // spotInstanceDraining here only acts on ASGs with a spot price; the mixed-instances Spot
    // mode sets ECS_ENABLE_SPOT_INSTANCE_DRAINING in the launch template's user data instead.
    this.cluster.addAsgCapacityProvider(this.capacityProvider);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.taskDefinition = new ecs.Ec2TaskDefinition(this, 'Task', {
      // Bridge: the container shares the instance's egress (NAT or public IP) and cannot reach the
      // instance metadata service (hop limit 1, see the launch template).
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    this.container = this.taskDefinition.addContainer('worker', {
      image: workerImage(this, config),
      essential: true,
      gpuCount: 1,
      cpu: config.workerCpu,
      memoryReservationMiB: config.workerMemoryMiB,
      environment: props.environment,
      logging: ecs.LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: 'worker',
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: LOG_BUFFER,
      }),
      // After SIGTERM the worker stops receiving and finishes or releases its batch; ECS sends
      // SIGKILL after this (DR2E_SHUTDOWN_DEADLINE_SECONDS is 20 s shorter).
      stopTimeout: Duration.seconds(config.stopTimeoutSeconds),
      // tini as PID 1: signals reach node, zombies are reaped.
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
      healthCheck: {
        command: ['CMD-SHELL', HEALTH_CHECK_COMMAND],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        // Model download and load happen before the first heartbeat.
        startPeriod: Duration.seconds(300),
      },
    });
    this.grantWorkerPermissions(config, storage, jobs);
    props.webhookQueue.grantSendMessages(this.taskDefinition.taskRole);
    this.notifyFailedTasks(props.alarmTopic);

    this.service = new ecs.Ec2Service(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // Scaling sets the count (see the deletion override below).
      desiredCount: 0,
      // A deployment starts the new task before it stops an old one (the capacity provider adds a
      // GPU instance for it), so a redeploy never drops running workers to zero; the old task then
      // gets SIGTERM and finishes or releases its batch within the stop timeout.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      capacityProviderStrategies: [
        { capacityProvider: this.capacityProvider.capacityProviderName, weight: 1 },
      ],
      // A new image whose tasks keep failing to start rolls back instead of retrying for hours.
      circuitBreaker: { enable: true, rollback: true },
      // One GPU task per instance anyway; spread over AZs for Spot resilience.
      placementStrategies: [ecs.PlacementStrategy.spreadAcrossInstances()],
    });
    // No DesiredCount in the template: with one there, every update of the service (a new image,
    // a setting) sends it and resets the count the scaling policies set, so a deploy under load
    // dropped the workers to 0 until the backlog alarm scaled them out again. Without it, an
    // update keeps the running count; at creation ECS starts 1 task, and the scale-in policy
    // takes it to 0 after `scaleInAfterMinutes` (one cold start per new stack).
    (this.service.node.defaultChild as ecs.CfnService).addPropertyDeletionOverride('DesiredCount');

    this.backlog = new cloudwatch.MathExpression({
      label: 'Backlog (visible + in flight)',
      expression: 'visible + inflight',
      usingMetrics: {
        visible: jobs.queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        inflight: jobs.queue.metricApproximateNumberOfMessagesNotVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
      },
      period: Duration.minutes(1),
    });
    // ECS refuses a service whose capacity provider is not yet associated with its cluster, and
    // nothing in the template says so: CDK creates the association during synthesis (an aspect
    // of the cluster), so an aspect of ours orders the service after it.
    Aspects.of(this).add(new ServiceAfterCapacityProviders(this.cluster, this.service));
    this.configureScaling(config);
  }

  private createVpc(config: InfraConfig, storage: Storage): ec2.Vpc {
    const subnetType = workerSubnetType(config);
    const subnetConfiguration: ec2.SubnetConfiguration[] = [{ name: 'workers', subnetType, cidrMask: 22 }];
    if (config.workerNetwork === 'private-nat') {
      // The NAT gateway lives in a small public subnet; nothing else does.
      subnetConfiguration.unshift({ name: 'egress', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 26 });
    }
    const namedZones = config.account && config.region && config.availabilityZones.length > 0;
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      ...(namedZones ? { availabilityZones: config.availabilityZones } : { maxAzs: 2 }),
      // One NAT gateway (not one per AZ): workers tolerate losing egress in one AZ for a while, and
      // each extra gateway costs as much as the first.
      natGateways: config.workerNetwork === 'private-nat' ? 1 : 0,
      subnetConfiguration,
      restrictDefaultSecurityGroup: false,
      // Images, model files and job data reach S3, and slot releases the limits table, through
      // gateway endpoints (free; no NAT bytes; the only route to either in the isolated mode).
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    vpc.addFlowLog('FlowLogs', {
      destination: ec2.FlowLogDestination.toS3(storage.logBucket, 'vpc-flow-logs/'),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    return vpc;
  }

  /**
   * Without internet access the ECS agent, image pulls, logs and the queues need these
   * (private DNS on, so the default endpoints resolve to them). Only the workers may connect.
   */
  private addInterfaceEndpoints(config: InfraConfig): void {
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'dr2e VPC interface endpoints: HTTPS from the GPU workers only',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(
      this.instanceSecurityGroup,
      ec2.Port.tcp(443),
      'HTTPS from the workers',
    );
    const services: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      Ecs: ec2.InterfaceVpcEndpointAwsService.ECS,
      EcsAgent: ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
      EcsTelemetry: ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
    };
    for (const [name, service] of Object.entries(services)) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        subnets: { subnetType: workerSubnetType(config) },
        securityGroups: [endpointSecurityGroup],
        open: false,
      });
    }
  }

  private createAutoScalingGroup(
    config: InfraConfig,
    role: iam.IRole,
    alarmTopic: sns.ITopic,
  ): autoscaling.AutoScalingGroup {
    const securityGroup = this.instanceSecurityGroup;

    const userData = ec2.UserData.forLinux();
    if (config.spot) {
      // Stop placing tasks on an instance that got the two-minute interruption notice and send
      // SIGTERM to its tasks, so the worker releases its messages in time.
      userData.addCommands('echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config');
    }

    const machineImage =
      config.gpuAmi === 'al2023'
        ? ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU)
        : ecs.EcsOptimizedImage.amazonLinux2(ecs.AmiHardwareType.GPU);

    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage,
      // Set here for the single-type case; a mixed-instances policy overrides it per type.
      instanceType: new ec2.InstanceType(config.instanceTypes[0] ?? 'g5.xlarge'),
      userData,
      role,
      securityGroup,
      associatePublicIpAddress: config.workerNetwork === 'public' ? true : undefined,
      // IMDSv2 only, one hop: the ECS agent (host network) reaches it, containers on the docker
      // bridge cannot, so the worker only ever has its task role.
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(config.rootVolumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            // The image pull writes several GB per cold start; 500 MiB/s instead of gp3's 125
            // shortens it by minutes and costs ~2 cents per instance-hour.
            throughput: 500,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const subnetType = workerSubnetType(config);

    // One on-demand instance type: the launch template directly. Several types or Spot: a
    // mixed-instances policy over the same launch template.
    const mixed = config.spot || config.instanceTypes.length > 1;
    const group = new autoscaling.AutoScalingGroup(this, 'GpuInstances', {
      vpc: this.vpc,
      vpcSubnets: { subnetType },
      // Zero GPU instances while idle; the capacity provider sets the desired count. One more
      // than the tasks: a deployment starts each new task before it stops an old one (one GPU
      // task per instance), so at maxTasks running it needs an instance beyond them, or it stalls.
      minCapacity: 0,
      maxCapacity: config.maxTasks + 1,
      ...(mixed
        ? {
            mixedInstancesPolicy: {
              launchTemplate,
              launchTemplateOverrides: config.instanceTypes.map((type: string) => ({
                instanceType: new ec2.InstanceType(type),
              })),
              instancesDistribution: config.spot
                ? {
                    onDemandBaseCapacity: 0,
                    onDemandPercentageAboveBaseCapacity: 0,
                    spotAllocationStrategy: autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
                  }
                : {
                    onDemandBaseCapacity: 0,
                    onDemandPercentageAboveBaseCapacity: 100,
                    // The configured order is the order of preference.
                    onDemandAllocationStrategy: autoscaling.OnDemandAllocationStrategy.PRIORITIZED,
                  },
            },
          }
        : { launchTemplate }),
      // Replace Spot instances at elevated interruption risk before they are reclaimed.
      capacityRebalance: config.spot,
      healthChecks: autoscaling.HealthChecks.ec2(),
      cooldown: Duration.seconds(60),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      notifications: [{ topic: alarmTopic, scalingEvents: autoscaling.ScalingEvents.ERRORS }],
    });
    if (mixed) {
      acceptNagFinding(
        group,
        'AwsSolutions-EC26',
        "cdk-nag's EBS-encryption rule cannot read a launch template inside a mixed-instances policy (it throws); the launch template's only volume is encrypted (checked by test/infra).",
      );
    }
    acceptNagFinding(
      group,
      'AwsSolutions-AS3',
      'Launch and terminate happen on every scale from and to zero, so only launch/terminate errors notify the alarm topic; routine events would drown real alarms.',
    );
    return group;
  }

  /**
   * A worker task that stops with a non-zero exit (no usable GPU provider, the engine thread
   * dying) or never starts (an image that cannot be pulled or run) notifies the alarm topic. A scale-to-zero service has no task during a
   * deployment, so ECS's circuit breaker never sees a bad image: it shows only when jobs arrive,
   * as tasks that fail and are replaced for as long as jobs wait.
   */
  private notifyFailedTasks(alarmTopic: sns.ITopic): void {
    new events.Rule(this, 'FailedTasks', {
      description: 'dr2e worker task stopped with a non-zero exit code',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [this.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          // A container that exited badly, or a task that never started (an image that cannot
          // be pulled or started has no exit code).
          $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
        },
      },
      targets: [new eventsTargets.SnsTopic(alarmTopic)],
    });
  }

  private grantWorkerPermissions(config: InfraConfig, storage: Storage, jobs: JobQueue): void {
    const taskRole = this.taskDefinition.taskRole;
    const prefixes = [BUCKET_PREFIXES.tenantData, BUCKET_PREFIXES.jobRecords, BUCKET_PREFIXES.usage];
    for (const statement of jobDataStatements(storage)) taskRole.addToPrincipalPolicy(statement);
    const listPrefixes: string[] = [...prefixes];
    if (config.modelsSource === 's3') {
      taskRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ModelFiles',
          actions: ['s3:GetObject'],
          resources: [storage.objectsArn(config.modelsPrefix)],
        }),
      );
      listPrefixes.push(config.modelsPrefix);
    }
    taskRole.addToPrincipalPolicy(listBucket(storage.bucket));
    acceptObjectPrefixWildcards(taskRole, storage.bucket, listPrefixes);

    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConsumeJobs',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
        ],
        // The dead-letter queue too: the worker marks dead-lettered jobs failed and removes them.
        resources: [jobs.queue.queueArn, jobs.deadLetterQueue.queueArn],
      }),
    );
    // At a shutdown the worker hands its messages back as fresh copies (a Spot interruption or
    // a scale-in must not spend a job's deliveries toward the dead-letter queue).
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'HandBackJobs',
        actions: ['sqs:SendMessage'],
        resources: [jobs.queue.queueArn],
      }),
    );
    // The ECS agent's task-protection endpoint ($ECS_AGENT_URI/task-protection/v1/state) calls
    // UpdateTaskProtection/GetTaskProtection with the task role's credentials.
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TaskScaleInProtection',
        actions: ['ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'],
        resources: [this.cluster.arnForTasks('*')],
      }),
    );
    const stack = Stack.of(this);
    acceptNagFinding(
      taskRole,
      'AwsSolutions-IAM5',
      'Task ids are assigned at run time; the statement is limited to the tasks of this cluster.',
      [
        `Resource::arn:<AWS::Partition>:ecs:${nagPseudo(stack.region, 'AWS::Region')}:${nagPseudo(stack.account, 'AWS::AccountId')}:task/<${stack.getLogicalId(this.cluster.node.defaultChild as CfnElement)}>/*`,
      ],
    );
  }

  private configureScaling(config: InfraConfig): void {
    // The service's desired count as a scalable target (what autoScaleTaskCount builds, kept here
    // so the step policy's alarms can be tuned below).
    const taskCount = new appscaling.ScalableTarget(this, 'TaskCount', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      minCapacity: 0,
      maxCapacity: config.maxTasks,
      role: iam.Role.fromRoleArn(
        this,
        'ScalingRole',
        Stack.of(this).formatArn({
          region: '',
          service: 'iam',
          resource: 'role/aws-service-role/ecs.application-autoscaling.amazonaws.com',
          resourceName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
        }),
      ),
    });

    // EXACT_CAPACITY steps over the backlog (visible + in flight):
    //   0                   -> 0 tasks, once it has been 0 for scaleInAfterMinutes
    //   1 .. perTask        -> 1 task (the step that starts the first GPU from zero)
    //   perTask+1 .. 2*perTask -> 2 tasks, and so on up to maxTasks.
    // The upper steps also scale in when the backlog shrinks (backlog per task); running tasks
    // with scale-in protection are only stopped once their batch is done.
    const steps: appscaling.ScalingInterval[] = [{ upper: 0, change: 0 }];
    for (let tasks = 1; tasks <= config.maxTasks; tasks += 1) {
      steps.push({ lower: (tasks - 1) * config.backlogPerTask + 1, change: tasks });
    }
    const policy = new appscaling.StepScalingPolicy(this, 'ScaleOnBacklog', {
      scalingTarget: taskCount,
      metric: this.backlog,
      scalingSteps: steps,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      cooldown: Duration.seconds(60),
      evaluationPeriods: 1,
    });
    // Scale-in to zero waits for an empty queue over several minutes; scale-out reacts at once.
    const lower = policy.lowerAlarm?.node.defaultChild as cloudwatch.CfnAlarm | undefined;
    const upper = policy.upperAlarm?.node.defaultChild as cloudwatch.CfnAlarm | undefined;
    if (!lower || !upper) throw new Error('step scaling must create both alarms');
    lower.evaluationPeriods = config.scaleInAfterMinutes;
    lower.datapointsToAlarm = config.scaleInAfterMinutes;
    // SQS stops publishing metrics for a queue idle for hours: no data means nothing queued.
    lower.treatMissingData = 'breaching';
    upper.treatMissingData = 'notBreaching';
  }
}

/** Where the GPU instances run, by `workerNetwork`. */
function workerSubnetType(config: InfraConfig): ec2.SubnetType {
  if (config.workerNetwork === 'public') return ec2.SubnetType.PUBLIC;
  if (config.workerNetwork === 'isolated') return ec2.SubnetType.PRIVATE_ISOLATED;
  return ec2.SubnetType.PRIVATE_WITH_EGRESS;
}

/** How cdk-nag prints a stack's region or account in findings: the value, or `<AWS::Region>` when unresolved. */
function nagPseudo(value: string, pseudo: 'AWS::Region' | 'AWS::AccountId'): string {
  return Token.isUnresolved(value) ? `<${pseudo}>` : value;
}

/**
 * The worker image: the prebuilt `imageUri` if configured (ECR images get pull permission), else
 * `gpu-task/Dockerfile` built as an asset at deploy time (synth only fingerprints the context and
 * needs no Docker).
 */
function workerImage(scope: Construct, config: InfraConfig): ecs.ContainerImage {
  if (config.imageUri) {
    const ecrMatch =
      /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)(?::([\w.-]+)|@(sha256:[a-f0-9]{64}))?$/.exec(
        config.imageUri,
      );
    if (ecrMatch) {
      const [, account, region, repositoryName, tag, digest] = ecrMatch;
      const repository = ecr.Repository.fromRepositoryAttributes(scope, 'WorkerRepository', {
        repositoryArn: Stack.of(scope).formatArn({
          service: 'ecr',
          account,
          region,
          resource: 'repository',
          resourceName: repositoryName,
        }),
        repositoryName: repositoryName ?? '',
      });
      return ecs.ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest');
    }
    return ecs.ContainerImage.fromRegistry(config.imageUri);
  }
  return ecs.ContainerImage.fromAsset(REPO_ROOT, {
    file: WORKER_DOCKERFILE,
    platform: Platform.LINUX_AMD64,
    buildArgs: { DR2E_BAKE_MODELS: config.modelsSource === 'image' ? 'true' : 'false' },
    // The build context is the repository; its .dockerignore (an allow-list) decides what is in it.
  });
}

/**
 * Makes the ECS service depend on its cluster's capacity-provider association (created by CDK
 * while synthesising), so CloudFormation creates the service only once the provider it names is
 * attached to the cluster.
 */
class ServiceAfterCapacityProviders implements IAspect {
  constructor(
    private readonly cluster: ecs.Cluster,
    private readonly service: ecs.BaseService,
  ) {}

  visit(node: IConstruct): void {
    if (node instanceof ecs.CfnClusterCapacityProviderAssociations && node.node.scope === this.cluster) {
      this.service.node.addDependency(node);
    }
  }
}
