/**
 * cdk-nag (v3) for this app: the AwsSolutions pack runs as a CDK policy-validation plugin at
 * synth, and every accepted finding is acknowledged on its construct with a reason
 * (`Validations.of(construct).acknowledge`, v3's replacement for v2's NagSuppressions).
 *
 * cdk-nag is CommonJS whose exports Node's ES-module loader cannot detect, and loaders disagree on
 * its default import (it sets `__esModule`); `require` gives the same object everywhere.
 */
import { createRequire } from 'node:module';
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type * as CdkNag from 'cdk-nag';

const cdkNag = createRequire(import.meta.url)('cdk-nag') as typeof CdkNag;

export const { AwsSolutionsChecks } = cdkNag;

/**
 * Accept a cdk-nag rule on `scope` and everything below it, saying why. With `findings`, only
 * those findings of the rule (e.g. `Resource::*` of IAM5) are accepted, each one named.
 *
 * @example
 * ```ts
 * acceptNagFinding(bucket, 'AwsSolutions-S1', 'This is the access-log bucket itself.');
 * acceptNagFinding(role, 'AwsSolutions-IAM5', 'Per-job keys.', ['Resource::<Data1234.Arn>/tenants/*']);
 * ```
 */
export function acceptNagFinding(
  scope: IConstruct,
  ruleId: string,
  reason: string,
  findings?: readonly string[],
): void {
  const ids = findings ? findings.map((finding) => `${ruleId}[${finding}]`) : [ruleId];
  Validations.of(scope).acknowledge(...ids.map((id) => ({ id, reason })));
}
