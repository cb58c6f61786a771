/**
 * Shared settings for the Node.js Lambda functions: one place that says how the TypeScript entry
 * points are bundled (local esbuild, ESM, everything inlined) and how their logs are kept.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { acceptNagFinding } from './nag.js';
import { Construct } from 'constructs';

/** Repository root (two levels above infra/lib). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The Lambda runtime. Node 22 matches the worker image's Node line; bump both together.
 * (cdk-nag's "latest runtime" rule is suppressed for this reason.)
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * esbuild turns CommonJS `require` calls of bundled packages (parts of the AWS SDK) into a shim
 * that needs a real `require` in an ES module; this banner provides one.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __dr2eCreateRequire } from 'node:module'; const require = __dr2eCreateRequire(import.meta.url);";

export interface BundledFunctionProps {
  /** Entry file relative to the repository root, e.g. `functions/src/entry/lambda-http.ts`. */
  entry: string;
  /** Exported handler name. */
  handler: string;
  description: string;
  memorySize: number;
  timeout: Duration;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** Where failed asynchronous invocations go after Lambda's retries. */
  deadLetterQueue?: sqs.IQueue;
}

/**
 * A bundled Node.js function with its own log group and a role that may write only to that log
 * group (no AWS managed policy). Callers add the data permissions to `role`.
 *
 * @example
 * ```ts
 * const fn = new BundledFunction(this, 'Api', { entry: 'functions/src/entry/lambda-http.ts',
 *   handler: 'handler', description: 'API', memorySize: 512, timeout: Duration.seconds(15),
 *   environment: {}, logRetention: logs.RetentionDays.ONE_MONTH });
 * fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
 * ```
 */
export class BundledFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (Lambda execution role)`,
    });
    // Instead of the AWSLambdaBasicExecutionRole managed policy (any log group): only this one.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, props.entry),
      handler: props.handler,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: LAMBDA_RUNTIME,
      // Arm is ~20% cheaper per GB-second; the handlers are pure JavaScript (checked by the tests).
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: props.environment,
      deadLetterQueue: props.deadLetterQueue,
      bundling: {
        // The locally installed esbuild (a devDependency); never Docker.
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Bundle the AWS SDK too: the code runs against the SDK version it was tested with, and
        // @aws-sdk/s3-presigned-post is not part of the runtime's SDK.
        externalModules: [],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        logLevel: nodejs.LogLevel.WARNING,
      },
    });

    acceptNagFinding(
      this.function,
      'AwsSolutions-L1',
      'Pinned to Node.js 22, the Node line of the worker image; the runtime is raised for both together.',
    );
  }
}
