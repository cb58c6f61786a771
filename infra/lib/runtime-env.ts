/**
 * Environment variables for the Lambda functions and the worker container, typed against the
 * runtime's contract (`shared/runtime/config.ts`), so the stack can only set variables the code
 * reads, under the names the code reads them.
 */
import { RUNTIME_VARIABLES, type RuntimeConfig } from '../../shared/runtime/index.js';
import type { TenantDefaults } from './config.js';

/** Variables outside the DR2E contract that the platform itself reads. */
export const PLATFORM_VARIABLES = ['NODE_OPTIONS'] as const;

/** Values by runtime variable name; `undefined` entries are left out. */
export type RuntimeEnvironment = Partial<
  Record<keyof RuntimeConfig | (typeof PLATFORM_VARIABLES)[number], string>
>;

/** A variable name the runtime contract does not know. */
export class UnknownRuntimeVariableError extends Error {
  override readonly name = 'UnknownRuntimeVariableError';
  readonly code = 'unknown_runtime_variable';
}

/**
 * Drop unset entries and check every name against the runtime contract (a guard for values
 * built with casts or spread from elsewhere; the type already rules out unknown names).
 *
 * @example
 * ```ts
 * runtimeEnvironment({ DR2E_MODE: 'aws', DR2E_BUCKET: bucket.bucketName, DR2E_MODEL: undefined });
 * // -> { DR2E_MODE: 'aws', DR2E_BUCKET: '${Token[...]}' }
 * ```
 */
export function runtimeEnvironment(values: RuntimeEnvironment): Record<string, string> {
  const allowed = new Set<string>([...RUNTIME_VARIABLES, ...PLATFORM_VARIABLES]);
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (!allowed.has(name)) {
      throw new UnknownRuntimeVariableError(`${name} is not a variable of shared/runtime/config.ts`);
    }
    if (value !== undefined) environment[name] = value;
  }
  return environment;
}

/**
 * The API function's variables for the deployment-wide per-tenant limits (read by
 * `defaultTenantLimits` in shared/runtime/config.ts). Every one is set, the quota's 0 ("no cap")
 * included, so the template states the limits in force rather than leaving them to defaults
 * an operator cannot see.
 *
 * @example
 * ```ts
 * tenantDefaultsEnvironment(config.tenantDefaults);
 * // -> { DR2E_CREATE_RATE_PER_SECOND: '10', DR2E_CREATE_BURST: '100', ..., DR2E_MONTHLY_IMAGE_QUOTA: '0' }
 * ```
 */
export function tenantDefaultsEnvironment(defaults: TenantDefaults): RuntimeEnvironment {
  return {
    DR2E_CREATE_RATE_PER_SECOND: String(defaults.createRatePerSecond),
    DR2E_CREATE_BURST: String(defaults.createBurst),
    DR2E_REQUEST_RATE_PER_SECOND: String(defaults.requestRatePerSecond),
    DR2E_REQUEST_BURST: String(defaults.requestBurst),
    DR2E_MAX_JOBS_IN_FLIGHT: String(defaults.maxJobsInFlight),
    DR2E_MONTHLY_IMAGE_QUOTA: String(defaults.monthlyImageQuota),
    DR2E_MONTHLY_MODEL_SECONDS_QUOTA: String(defaults.monthlyModelSecondsQuota),
  };
}
