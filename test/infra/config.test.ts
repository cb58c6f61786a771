/**
 * The context reader: cdk.json's documented defaults parse, `-c key=value` strings are coerced,
 * and bad values fail with a message naming the key.
 */
import { describe, expect, it } from 'vitest';
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
        maxTasks: '8',
        instanceTypes: 'g5.xlarge, g6.2xlarge',
        webhookAllowHosts: 'a.example.com,b.example.com',
        corsAllowedOrigins: 'https://app.example.com',
        logRetentionDays: '90',
      }),
    );
    expect(config).toMatchObject({
      spot: true,
      maxTasks: 8,
      instanceTypes: ['g5.xlarge', 'g6.2xlarge'],
      webhookAllowHosts: ['a.example.com', 'b.example.com'],
      corsAllowedOrigins: ['https://app.example.com'],
      logRetentionDays: 90,
    });
  });

  it('refuses bad values and names every bad key', () => {
    const message = errorOf({
      instanceTypes: 'm5.large',
      maxTasks: 0,
      logRetentionDays: 8,
      modelsPrefix: 'tenants/x/',
    });
    expect(message).toContain('instanceTypes');
    expect(message).toContain('maxTasks');
    expect(message).toContain('logRetentionDays');
    expect(message).toContain('modelsPrefix');
  });

  it('refuses settings that contradict each other', () => {
    expect(errorOf({ apiThrottleRate: 100, apiThrottleBurst: 10 })).toContain('apiThrottleBurst');
    expect(errorOf({ workerNetwork: 'isolated', interfaceEndpoints: true })).toContain('interfaceEndpoints');
    expect(errorOf({ spot: 'yes' })).toContain('spot');
    expect(errorOf({ account: '1234' })).toContain('account');
  });

  it('leaves the worker 20 s between its shutdown deadline and the SIGKILL', () => {
    expect(shutdownDeadlineSeconds({ stopTimeoutSeconds: 120 })).toBe(100);
    expect(shutdownDeadlineSeconds({ stopTimeoutSeconds: 30 })).toBe(10);
  });
});
