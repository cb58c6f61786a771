/**
 * Builds the CDK app: reads the context, adds the stack and runs cdk-nag (AwsSolutions) over it.
 * Shared by `infra/bin/app.ts` (what `cdk synth` runs) and the tests.
 */
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from './nag.js';
import { readInfraConfig, type InfraConfig } from './config.js';
import { Dr2eStack, stackEnvironment } from './dr2e-stack.js';

/**
 * CDK feature flags this code depends on (fixed, not settings): server access logs are granted by
 * bucket policy, since the log bucket has ACLs disabled (BucketOwnerEnforced).
 */
export const REQUIRED_FEATURE_FLAGS = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
} as const;

export interface Dr2eApp {
  app: App;
  stack: Dr2eStack;
  config: InfraConfig;
}

/**
 * @example
 * ```ts
 * const { app } = buildDr2eApp();            // context from cdk.json / -c
 * app.synth();
 * const { stack } = buildDr2eApp({ context: { spot: 'true' } }); // tests
 * ```
 */
export function buildDr2eApp(props: AppProps = {}): Dr2eApp {
  const app = new App({ ...props, postCliContext: { ...REQUIRED_FEATURE_FLAGS, ...props.postCliContext } });
  const config = readInfraConfig(app.node);
  const stack = new Dr2eStack(app, config.stackName, { config, env: stackEnvironment(config) });
  // Any finding (error or warning) fails the synth; the stack accepts, with reasons, what it must.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, config };
}
