/**
 * Alarms (to one SNS topic, optionally e-mailed) and the operations dashboard.
 */
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { acceptNagFinding } from './nag.js';
import { Construct } from 'constructs';
import { JOB_OUTCOMES, type JobOutcome } from '../../shared/runtime/index.js';
import type { Api } from './api.js';
import type { JobQueue } from './queue.js';
import type { GpuWorkers } from './workers.js';
import type { WebhookDelivery } from './webhooks.js';

/** Where alarms go. */
export class AlertTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: { email?: string }) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'dr2e alarms', enforceSSL: true });
    acceptNagFinding(
      this.topic,
      'AwsSolutions-SNS2',
      'Carries only alarm and Auto Scaling error notices (no customer data). CloudWatch and Auto Scaling cannot publish to a topic under the AWS-managed SNS key, and a customer key with service grants would cost more than the notices are worth.',
    );
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    else {
      // Every alarm of the stack notifies this topic only: without a subscriber a dead-letter
      // queue filling up or a GPU instance billed for nothing reaches no one.
      Annotations.of(this).addWarningV2(
        'dr2e:alarms-unsubscribed',
        'alarmEmail is unset: the alarms (and the cost budget, if set) notify an SNS topic nobody is subscribed to. Deploy with -c alarmEmail=ops@example.com, or subscribe to the AlarmTopicArn output yourself.',
      );
    }
  }
}

/** Percent of the monthly budget at which the month's actual cost notifies the alarm topic. */
export const BUDGET_ACTUAL_PERCENT = 80;

/** Percent of the monthly budget at which AWS's forecast of the month's cost notifies the topic. */
export const BUDGET_FORECAST_PERCENT = 100;

/**
 * A monthly cost budget of the whole AWS account (config `monthlyBudgetUsd`) that notifies the
 * alarm topic: the month's actual cost past BUDGET_ACTUAL_PERCENT, or its forecast past
 * BUDGET_FORECAST_PERCENT. Scale to zero bounds GPU hours only while it works; this catches what
 * the alarms do not price (maxTasks GPUs busy all month, a forgotten extra stack, NAT or log
 * costs). It covers the account, not the stack: a stack's own cost would need a cost allocation
 * tag activated by hand in the billing console, and a budget filtered on a tag nobody activated
 * reads $0 and never fires. AWS updates budgets a few times a day, so this is a cost guard, not
 * a real-time limit.
 */
export class CostBudget extends Construct {
  readonly budget: budgets.CfnBudget;

  constructor(scope: Construct, id: string, props: { topic: sns.Topic; limitUsd: number }) {
    super(scope, id);
    const { topic, limitUsd } = props;
    const stack = Stack.of(this);
    // AWS Budgets publishes as its service principal; it checks that it may when the budget is
    // created, so the budget waits for the topic's policy (the dependency below).
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'BudgetsPublish',
        principals: [new iam.ServicePrincipal('budgets.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:budgets::${stack.account}:*` },
        },
      }),
    );
    const notify = (notificationType: 'ACTUAL' | 'FORECASTED', threshold: number) => ({
      notification: {
        notificationType,
        comparisonOperator: 'GREATER_THAN',
        threshold,
        thresholdType: 'PERCENTAGE',
      },
      subscribers: [{ subscriptionType: 'SNS', address: topic.topicArn }],
    });
    this.budget = new budgets.CfnBudget(this, 'Budget', {
      budget: {
        budgetName: `${stack.stackName}-monthly-cost`,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: limitUsd, unit: 'USD' },
      },
      notificationsWithSubscribers: [
        notify('ACTUAL', BUDGET_ACTUAL_PERCENT),
        notify('FORECASTED', BUDGET_FORECAST_PERCENT),
      ],
    });
    this.budget.node.addDependency(topic);
  }
}

export interface ObservabilityProps {
  topic: sns.ITopic;
  jobs: JobQueue;
  api: Api;
  workers: GpuWorkers;
  /** Webhook delivery: its queue's dead letters and its function's errors raise alarms. */
  webhooks: WebhookDelivery;
  /** Oldest queued message age (s) that raises an alarm. */
  oldestMessageAlarmSeconds: number;
  /** Where the worker, dispatcher and API write job metrics (`DR2E_METRICS_NAMESPACE`). */
  metricsNamespace: string;
}

/**
 * Jobs that failed through the service's fault (Outcome `failed`: retries exhausted, model or
 * system errors; not inputs refused as unreadable or too large) within 15 minutes that raise
 * the JobFailures alarm.
 */
export const JOB_FAILURES_ALARM_THRESHOLD = 3;

/**
 * Minutes GPU instances may stay in service with no job waiting or running before the
 * IdleGpuInstances alarm: the scale-in takes `scaleInAfterMinutes` (at most 60) and the capacity
 * provider's own scale-in of an empty instance about 15 more. Longer means instances are kept for
 * nothing (a task that will not stop, scale-in protection left on, a count set by hand): billed
 * GPU hours that scale-to-zero was meant to save.
 */
export const IDLE_GPU_ALARM_MINUTES = 90;

/**
 * @example
 * ```ts
 * new Observability(this, 'Observability', { topic, jobs, api, workers, webhooks, oldestMessageAlarmSeconds: 1800 });
 * ```
 */
export class Observability extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { jobs, api, workers, webhooks } = props;
    const minute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);

    // The worker takes every job dead letter within 30 s to mark its job failed
    // (dead-letters.ts), so one seldom shows as visible in a minute's sample: its receive counts
    // too. Visible covers the workers scaled to zero, when nobody receives it.
    const deadLetters = new cloudwatch.MathExpression({
      expression: 'visible + received',
      usingMetrics: {
        visible: jobs.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: minute,
          statistic: 'Maximum',
        }),
        received: jobs.deadLetterQueue.metricNumberOfMessagesReceived({ period: minute, statistic: 'Sum' }),
      },
      label: 'Job dead letters (visible or taken by a worker)',
      period: minute,
    });
    const oldestAge = jobs.queue.metricApproximateAgeOfOldestMessage({
      period: minute,
      statistic: 'Maximum',
    });
    const dispatchFailures = api.dispatchFailures.metricApproximateNumberOfMessagesVisible({
      period: minute,
      statistic: 'Maximum',
    });
    const api5xx = api.httpApi.metricServerError({ period: fiveMinutes, statistic: 'Sum' });

    this.alarm('DeadLetters', {
      metric: deadLetters,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription:
        'A job message was received too often and moved to the dead-letter queue (its job is marked failed, retries_exhausted).',
    });
    this.alarm('OldestMessageAge', {
      metric: oldestAge,
      threshold: props.oldestMessageAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      alarmDescription: `A queued job has waited ${props.oldestMessageAlarmSeconds} s or more (workers not starting or not keeping up).`,
    });
    this.alarm('DispatchFailures', {
      metric: dispatchFailures,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: 'The dispatcher failed on an upload event after retries; the job stays "uploaded".',
    });
    this.alarm('Api5xx', {
      metric: api5xx,
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: 'The API answered 5 or more 5xx responses in 5 minutes.',
    });
    for (const [name, fn, who] of [
      ['ApiFunctionErrors', api.httpFunction.function, 'The API'],
      ['DispatcherErrors', api.dispatcherFunction.function, 'The dispatcher'],
      ['WebhookFunctionErrors', webhooks.function.function, 'The webhook delivery'],
    ] as const) {
      this.alarm(name, {
        metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        alarmDescription: `${who} Lambda threw (unhandled error or timeout).`,
      });
    }
    this.alarm('WebhookDeadLetters', {
      metric: webhooks.queue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: minute,
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription:
        'A webhook event could not be handled after its receives and moved to the webhook dead-letter queue (tenants are not notified of those jobs).',
    });

    const clusterName = workers.cluster.clusterName;
    const serviceName = workers.service.serviceName;
    const containerInsights = (metricName: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: clusterName, ServiceName: serviceName },
        period: minute,
        statistic: 'Maximum',
        label,
      });
    const instances = new cloudwatch.Metric({
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupInServiceInstances',
      dimensionsMap: { AutoScalingGroupName: workers.autoScalingGroup.autoScalingGroupName },
      period: minute,
      statistic: 'Maximum',
      label: 'GPU instances in service',
    });

    this.alarm('IdleGpuInstances', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(instances > 0 AND FILL(visible, 0) + FILL(inflight, 0) == 0, 1, 0)',
        usingMetrics: {
          instances,
          visible: jobs.queue.metricApproximateNumberOfMessagesVisible({
            period: minute,
            statistic: 'Maximum',
          }),
          inflight: jobs.queue.metricApproximateNumberOfMessagesNotVisible({
            period: minute,
            statistic: 'Maximum',
          }),
        },
        label: 'GPU instances in service with no job',
        period: minute,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: IDLE_GPU_ALARM_MINUTES,
      datapointsToAlarm: IDLE_GPU_ALARM_MINUTES,
      alarmDescription: `GPU instances have been in service for ${IDLE_GPU_ALARM_MINUTES} minutes with no job waiting or running: they are billed for nothing (check for a task that does not stop, scale-in protection, or a desired count set by hand).`,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue backlog',
        left: [
          jobs.queue.metricApproximateNumberOfMessagesVisible({
            period: minute,
            statistic: 'Maximum',
            label: 'Waiting',
          }),
          jobs.queue.metricApproximateNumberOfMessagesNotVisible({
            period: minute,
            statistic: 'Maximum',
            label: 'In flight',
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: 'Oldest queued job (s)', left: [oldestAge], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters and failed dispatches',
        left: [
          deadLetters.with({ label: 'Dead-letter queue' }),
          dispatchFailures.with({ label: 'Dispatch failures' }),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Workers',
        left: [
          containerInsights('RunningTaskCount', 'Tasks running'),
          containerInsights('DesiredTaskCount', 'Tasks desired'),
          instances,
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API latency (ms)',
        left: [
          api.httpApi.metricLatency({ period: minute, statistic: 'p50', label: 'p50' }),
          api.httpApi.metricLatency({ period: minute, statistic: 'p99', label: 'p99' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API requests and errors',
        left: [api.httpApi.metricCount({ period: minute, statistic: 'Sum', label: 'Requests' })],
        right: [
          api.httpApi.metricClientError({ period: minute, statistic: 'Sum', label: '4xx' }),
          api.httpApi.metricServerError({ period: minute, statistic: 'Sum', label: '5xx' }),
        ],
        width: 8,
      }),
    );
    this.addJobWidgets(props.metricsNamespace);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }),
    );

    for (const alarm of this.alarms) alarm.addAlarmAction(new actions.SnsAction(props.topic));
  }

  /**
   * What the jobs came to (EmfJobMetrics: one line per finished job): finished jobs by outcome,
   * how long clients wait, what was restored; and the JobFailures alarm.
   */
  private addJobWidgets(namespace: string): void {
    const fiveMinutes = Duration.minutes(5);
    const jobMetric = (metricName: string, outcome: JobOutcome, statistic: string, label?: string) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { Outcome: outcome },
        period: fiveMinutes,
        statistic,
        ...(label === undefined ? {} : { label }),
      });
    this.alarm('JobFailures', {
      // No label: an alarm on a labelled metric is written as a metric-math query.
      metric: jobMetric('Jobs', 'failed', 'Sum').with({ period: Duration.minutes(15) }),
      threshold: JOB_FAILURES_ALARM_THRESHOLD,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${JOB_FAILURES_ALARM_THRESHOLD} or more jobs failed through the service's fault in 15 minutes (retries exhausted, model or system errors; refused inputs do not count). Logs Insights: filter msg = "job metrics" and Outcome = "failed" | stats count() by errorCode.`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Jobs finished (per 5 min)',
        left: JOB_OUTCOMES.map((outcome) => jobMetric('Jobs', outcome, 'Sum', outcome)),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Wait from upload to result (s)',
        left: ['p50', 'p90', 'p99'].map((statistic) =>
          jobMetric('WaitSeconds', 'succeeded', statistic, statistic),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Restored (per 5 min)',
        left: [jobMetric('Faces', 'succeeded', 'Sum', 'Faces')],
        right: [jobMetric('ModelSeconds', 'succeeded', 'Sum', 'Model seconds')],
        width: 8,
      }),
    );
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    this.alarms.push(alarm);
    return alarm;
  }
}
