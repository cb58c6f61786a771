/**
 * cdk-nag (AwsSolutions) finds nothing unacknowledged in the stack, for the defaults and for the
 * configurations that change the resources (Spot with several instance types, isolated or public
 * worker networks, a prebuilt image, an environment-specific stack), and every acknowledgment
 * says why.
 */
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { AwsSolutionsChecks } from '../../infra/lib/nag.js';
import { removeSynthOutputs, synthDr2e } from './helpers.js';

const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  'spot with several instance types': { spot: 'true', instanceTypes: 'g5.xlarge,g6.xlarge,g4dn.xlarge' },
  'isolated worker network (interface endpoints)': { workerNetwork: 'isolated' },
  'public worker network': { workerNetwork: 'public' },
  'private network with interface endpoints': { interfaceEndpoints: 'true' },
  'baked models, prebuilt ECR image, Amazon Linux 2, alarm e-mail, cost budget': {
    modelsSource: 'image',
    imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/dr2e-worker:v1',
    gpuAmi: 'al2',
    alarmEmail: 'ops@example.com',
    webhookAllowHosts: 'hooks.internal.example.com',
    monthlyBudgetUsd: '500',
  },
  'environment-specific stack with named zones': {
    account: '123456789012',
    region: 'eu-west-1',
    availabilityZones: 'eu-west-1a,eu-west-1b',
  },
};

afterAll(removeSynthOutputs);

describe('cdk-nag AwsSolutions', () => {
  for (const [name, context] of Object.entries(VARIANTS)) {
    it(`reports no unacknowledged finding and no CDK warning: ${name}`, () => {
      // Prepare + Act: synthesizing runs the pack as a validation plugin (a finding would throw);
      // running it again directly gives a readable list.
      const { app, stack } = synthDr2e({ context });
      const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(app);
      const findings = report.violations.map(
        (violation) =>
          `${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
      );
      const annotations = Annotations.fromStack(stack);
      // The stack's own warning for an unset alarmEmail is tested in stack.test.ts.
      const warnings = annotations
        .findWarning('*', Match.anyValue())
        .map((entry) => `${entry.id}: ${String(entry.entry.data)}`)
        .filter((warning) => !warning.includes('[ack: dr2e:alarms-unsubscribed]'));
      const errors = annotations
        .findError('*', Match.anyValue())
        .map((entry) => `${entry.id}: ${String(entry.entry.data)}`);

      // Assess
      expect(findings).toEqual([]);
      expect(warnings).toEqual([]);
      expect(errors).toEqual([]);
    });
  }

  it('needs no context lookups (no credentials) even with account and region set', () => {
    const { app } = synthDr2e({ context: VARIANTS['environment-specific stack with named zones'] });
    const assembly = app.synth();
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });

  it('gives a reason for every acknowledged finding', () => {
    // Prepare: Spot with several types has the most acknowledgments.
    const { stack } = synthDr2e({ context: VARIANTS['spot with several instance types'] });
    // Act
    const acknowledged: { path: string; id: string; reason: string }[] = [];
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          // Only ours: CDK acknowledges some of its own template-validation warnings.
          if (!id.includes('AwsSolutions-')) continue;
          acknowledged.push({ path: construct.node.path, id, reason });
        }
      }
    }
    // Assess
    expect(acknowledged.length).toBeGreaterThan(10);
    for (const { path, id, reason } of acknowledged) {
      expect(id, path).toMatch(/AwsSolutions-[A-Z0-9]+/);
      expect(reason.length, `${path} ${id}`).toBeGreaterThan(40);
    }
    // Nothing blanket: IAM5 is only ever accepted for named findings.
    expect(acknowledged.filter(({ id }) => /AwsSolutions-IAM5$/.test(id))).toEqual([]);
  });
});
