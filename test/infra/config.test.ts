/**
 * The context reader: cdk.json's documented defaults parse, `-c key=value` strings are coerced,
 * and bad values fail with a message naming the key.
 */
import { describe, expect, it } from 'vitest';
import { defaultTenantLimits, loadRuntimeConfig } from '../../shared/runtime/index.js';
import {
  INFRA_CONTEXT_KEYS,
  InfraConfigError,
  readInfraConfig,
  shutdownDeadlineSeconds,
  type ContextSource,
} from '../../infra/lib/config.js';
import { cdkJsonContext } from './helpers.js';

function source(values: Record<string, unknown>): ContextSource {
  return { tryGetContext: (key) => values[key] };
}

function errorOf(values: Record<string, unknown>): string {
  try {
    readInfraConfig(source(values));
  } catch (error) {
    if (error instanceof InfraConfigError) return error.message;
    throw error;
  }
  throw new Error('expected an InfraConfigError');
}

describe('readInfraConfig', () => {
  it('reads every key of cdk.json, which documents each setting the app reads', () => {
    // Prepare
    const context = cdkJsonContext();
    // Act
    const config = readInfraConfig(source(context));
    // Assess: cdk.json lists every key (so its defaults are documented) and they equal the code's.
    for (const key of INFRA_CONTEXT_KEYS) expect(Object.keys(context), key).toContain(key);
    expect(config).toEqual(readInfraConfig(source({})));
    expect(config).toMatchObject({
      account: undefined,
      region: undefined,
      instanceTypes: ['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'],
      maxReceives: 3,
      visibilityTimeoutSeconds: 120,
      spot: false,
      commercialUse: false,
      modelsSource: 's3',
      imageUri: undefined,
    });
  });

  it('sets the S3 feature flag that writes the access-log bucket policy CDK recommends', () => {
    // Bucket policy (not ACLs) grants the S3 logging service write access to the log bucket.
    expect(cdkJsonContext()['@aws-cdk/aws-s3:createDefaultLoggingPolicy']).toBe(true);
  });

  it('coerces command-line strings (-c key=value)', () => {
    const config = readInfraConfig(
      source({
        spot: 'true',
        commercialUse: 'true',
        maxTasks: '8',
        instanceTypes: 'g5.xlarge, g6.2xlarge',
        webhookAllowHosts: 'a.example.com,b.example.com',
        corsAllowedOrigins: 'https://app.example.com',
        logRetentionDays: '90',
        monthlyBudgetUsd: '1200',
      }),
    );
    expect(config).toMatchObject({
      spot: true,
      commercialUse: true,
      maxTasks: 8,
      instanceTypes: ['g5.xlarge', 'g6.2xlarge'],
      webhookAllowHosts: ['a.example.com', 'b.example.com'],
      corsAllowedOrigins: ['https://app.example.com'],
      logRetentionDays: 90,
      monthlyBudgetUsd: 1200,
    });
  });

  it('refuses bad values and names every bad key', () => {
    const message = errorOf({
      instanceTypes: 'm5.large',
      maxTasks: 0,
      logRetentionDays: 8,
      modelsPrefix: 'tenants/x/',
      monthlyBudgetUsd: '-50',
    });
    expect(message).toContain('instanceTypes');
    expect(message).toContain('maxTasks');
    expect(message).toContain('logRetentionDays');
    expect(message).toContain('modelsPrefix');
    expect(message).toContain('monthlyBudgetUsd');
  });

  it('refuses settings that contradict each other', () => {
    // Both above one tenant's allowance, so only "burst >= rate" can refuse it.
    expect(errorOf({ apiThrottleRate: 800, apiThrottleBurst: 700 })).toContain(
      'apiThrottleBurst: must be at least apiThrottleRate',
    );
    expect(errorOf({ workerNetwork: 'isolated', interfaceEndpoints: true })).toContain('interfaceEndpoints');
    expect(errorOf({ spot: 'yes' })).toContain('spot');
    // Commercial use of the image's baked-in default, which is non-commercial: every task refused
    expect(errorOf({ commercialUse: 'true', modelsSource: 'image' })).toContain(
      'commercialUse: with modelsSource image',
    );
    expect(
      readInfraConfig(
        source({ commercialUse: 'true', modelsSource: 'image', modelManifest: 'ours/pipeline.json' }),
      ),
    ).toMatchObject({ commercialUse: true, modelManifest: 'ours/pipeline.json' });
    expect(errorOf({ account: '1234' })).toContain('account');
  });

  it("defaults tenantDefaults to the runtime's own per-tenant defaults", () => {
    // Prepare: what the API enforces when none of its limit variables is set.
    const runtime = defaultTenantLimits(loadRuntimeConfig({}));
    // Act
    const { tenantDefaults } = readInfraConfig(source({}));
    // Assess: the stack sets the same limits, so leaving the block out changes nothing.
    expect(tenantDefaults).toEqual({
      createRatePerSecond: runtime.create.ratePerSecond,
      createBurst: runtime.create.burst,
      requestRatePerSecond: runtime.requests.ratePerSecond,
      requestBurst: runtime.requests.burst,
      maxJobsInFlight: runtime.maxJobsInFlight,
      monthlyImageQuota: runtime.monthlyImageQuota ?? 0,
      monthlyModelSecondsQuota: runtime.monthlyModelSecondsQuota ?? 0,
    });
  });

  it('reads tenantDefaults as a JSON object or as JSON text from -c, keeping defaults for keys left out', () => {
    // Prepare
    const fromCli = source({ tenantDefaults: '{"monthlyImageQuota":"1000","createRatePerSecond":0.5}' });
    const fromCdkJson = source({ tenantDefaults: { maxJobsInFlight: 200 } });
    // Act
    const cli = readInfraConfig(fromCli).tenantDefaults;
    const json = readInfraConfig(fromCdkJson).tenantDefaults;
    // Assess
    expect(cli).toMatchObject({ monthlyImageQuota: 1000, createRatePerSecond: 0.5, createBurst: 100 });
    expect(json).toMatchObject({ maxJobsInFlight: 200, requestRatePerSecond: 50, monthlyImageQuota: 0 });
  });

  it('refuses misspelt or out-of-range tenantDefaults, naming the key', () => {
    expect(errorOf({ tenantDefaults: { requestsBurst: 1000 } })).toContain('requestsBurst');
    expect(errorOf({ tenantDefaults: { monthlyImageQuota: -1 } })).toContain(
      'tenantDefaults.monthlyImageQuota',
    );
    expect(errorOf({ tenantDefaults: { maxJobsInFlight: 0 } })).toContain('tenantDefaults.maxJobsInFlight');
    expect(errorOf({ tenantDefaults: '{requestBurst: 1000' })).toContain(
      'tenantDefaults: must be a JSON object',
    );
  });

  it('sizes the stage throttle well above one tenant and under the account quota by default', () => {
    // Act
    const config = readInfraConfig(source({}));
    // Assess: room for about eight tenants at their full default rate and burst at once.
    expect(config.apiThrottleRate).toBe(500);
    expect(config.apiThrottleBurst).toBe(1000);
    expect(config.apiThrottleRate).toBeLessThan(10_000);
  });

  it('refuses a stage throttle one tenant could fill within its own limits, saying why', () => {
    // Prepare: one tenant's default allowance is 10 + 50 = 60/s and a burst of 100 + 500 = 600.
    const atTenantRate = { apiThrottleRate: 60, apiThrottleBurst: 1000 };
    const atTenantBurst = { apiThrottleRate: 500, apiThrottleBurst: 600 };
    const belowRequestRate = { apiThrottleRate: 50, apiThrottleBurst: 100 }; // the old defaults
    const raisedTenant = { tenantDefaults: { requestRatePerSecond: 490, requestBurst: 2000 } };
    // Act
    const rateMessage = errorOf(atTenantRate);
    const burstMessage = errorOf(atTenantBurst);
    const oldDefaults = errorOf(belowRequestRate);
    const raised = errorOf(raisedTenant);
    // Assess: the message names the key, the tenant's allowance and the consequence.
    expect(rateMessage).toContain("apiThrottleRate: must be above one tenant's default rate");
    expect(rateMessage).toContain('= 60/s');
    expect(rateMessage).toContain("API Gateway's bare 429");
    expect(rateMessage).not.toContain('apiThrottleBurst');
    expect(burstMessage).toContain("apiThrottleBurst: must be above one tenant's default burst");
    expect(burstMessage).toContain('= 600');
    expect(burstMessage).not.toContain('apiThrottleRate');
    expect(oldDefaults).toMatch(/apiThrottleRate: must be above[\s\S]*apiThrottleBurst: must be above/);
    expect(raised).toContain('= 500/s');
    expect(raised).toContain('= 2100');
  });

  it('accepts a stage throttle just above one tenant', () => {
    const config = readInfraConfig(source({ apiThrottleRate: 61, apiThrottleBurst: 601 }));
    expect(config).toMatchObject({ apiThrottleRate: 61, apiThrottleBurst: 601 });
  });

  it('leaves the worker 20 s between its shutdown deadline and the SIGKILL', () => {
    expect(shutdownDeadlineSeconds({ stopTimeoutSeconds: 120 })).toBe(100);
    expect(shutdownDeadlineSeconds({ stopTimeoutSeconds: 30 })).toBe(10);
  });
});
