/**
 * Deployment-wide per-tenant limits (`tenantDefaults`) and the stage throttle above them: the
 * configured limits reach the function that enforces them, as the variables the runtime reads,
 * and the stage lets one tenant use its whole allowance without touching anyone else's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantLimits, loadRuntimeConfig } from '../../shared/runtime/index.js';
import { onlyResource, removeSynthOutputs, resourcesOfType, synthDr2e, type Synthesized } from './helpers.js';

/** The variables that carry the deployment's per-tenant limits. */
const LIMIT_VARIABLES = [
  'DR2E_CREATE_RATE_PER_SECOND',
  'DR2E_CREATE_BURST',
  'DR2E_REQUEST_RATE_PER_SECOND',
  'DR2E_REQUEST_BURST',
  'DR2E_MAX_JOBS_IN_FLIGHT',
  'DR2E_MONTHLY_IMAGE_QUOTA',
  'DR2E_MONTHLY_MODEL_SECONDS_QUOTA',
] as const;

let synth: Synthesized;

afterAll(removeSynthOutputs);

beforeAll(() => {
  // As an operator would pass them on the command line: every value a string.
  synth = synthDr2e({
    context: {
      tenantDefaults:
        '{"createRatePerSecond":2.5,"createBurst":20,"requestRatePerSecond":40,"requestBurst":300,"maxJobsInFlight":7,"monthlyImageQuota":1000,"monthlyModelSecondsQuota":3600}',
      apiThrottleRate: '2000',
      apiThrottleBurst: '4000',
    },
  });
});

/** Environment variables of each Lambda function, by logical id. */
function lambdaEnvironments(): Map<string, Record<string, unknown>> {
  return new Map(
    resourcesOfType(synth.template, 'AWS::Lambda::Function').map(([id, fn]) => [
      id,
      (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
    ]),
  );
}

/** The API function's variables (logical id `ApiHttp…`; there is one). */
function apiEnvironment(): Record<string, unknown> {
  const api = [...lambdaEnvironments()].filter(([id]) => id.startsWith('ApiHttp'));
  expect(api.length).toBe(1);
  return api[0]?.[1] ?? {};
}

describe('tenantDefaults', () => {
  it('reach the API function as the DR2E_* limit variables, with the configured values', () => {
    // Act
    const environment = apiEnvironment();
    // Assess
    expect(Object.fromEntries(LIMIT_VARIABLES.map((name) => [name, environment[name]]))).toEqual({
      DR2E_CREATE_RATE_PER_SECOND: '2.5',
      DR2E_CREATE_BURST: '20',
      DR2E_REQUEST_RATE_PER_SECOND: '40',
      DR2E_REQUEST_BURST: '300',
      DR2E_MAX_JOBS_IN_FLIGHT: '7',
      DR2E_MONTHLY_IMAGE_QUOTA: '1000',
      DR2E_MONTHLY_MODEL_SECONDS_QUOTA: '3600',
    });
  });

  it('are read back by the runtime as the limits the API enforces for tenants without overrides', () => {
    // Prepare: the API function's limit variables, as the Lambda runtime would hand them over.
    const environment = apiEnvironment();
    const variables = Object.fromEntries(LIMIT_VARIABLES.map((name) => [name, String(environment[name])]));
    // Act
    const limits = defaultTenantLimits(loadRuntimeConfig(variables));
    // Assess
    expect(limits).toEqual({
      create: { ratePerSecond: 2.5, burst: 20 },
      requests: { ratePerSecond: 40, burst: 300 },
      maxJobsInFlight: 7,
      monthlyImageQuota: 1000,
      monthlyModelSecondsQuota: 3600,
    });
  });

  it('are set only on the API function: the dispatcher, webhook delivery and worker enforce no limits', () => {
    // Prepare
    const others = [...lambdaEnvironments()].filter(([id]) => !id.startsWith('ApiHttp'));
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    const [container] = taskDefinition.Properties?.ContainerDefinitions as {
      Environment?: { Name: string }[];
    }[];
    // Act
    const leaked = [
      ...others.flatMap(([id, variables]) =>
        Object.keys(variables)
          .filter((name) => (LIMIT_VARIABLES as readonly string[]).includes(name))
          .map((name) => `${id}: ${name}`),
      ),
      ...(container?.Environment ?? [])
        .filter(({ Name }) => (LIMIT_VARIABLES as readonly string[]).includes(Name))
        .map(({ Name }) => `worker: ${Name}`),
    ];
    // Assess: those functions exist, and none of them carries a limit variable.
    expect(others.map(([id]) => id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ApiDispatcher/), expect.stringMatching(/^Webhooks/)]),
    );
    expect(leaked).toEqual([]);
  });

  it('leave the stage throttle as configured', () => {
    const [, stage] = onlyResource(synth.template, 'AWS::ApiGatewayV2::Stage');
    expect(stage.Properties?.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 2000,
      ThrottlingBurstLimit: 4000,
    });
  });
});
