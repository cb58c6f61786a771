/**
 * Per-tenant request rate limits (token buckets, see `LimitStore`): `POST /v1/jobs` draws from
 * the tenant's `create` bucket, every other `/v1` request from its `requests` bucket. Every
 * answer carries the IETF draft headers (draft-ietf-httpapi-ratelimit-headers-07):
 *
 * - `RateLimit-Limit`: the burst (requests the bucket holds);
 * - `RateLimit-Remaining`: tokens left after this request;
 * - `RateLimit-Reset`: seconds until the bucket is full again;
 * - `RateLimit-Policy`: `<burst>;w=<seconds to refill it>`, e.g. `100;w=10` for 10/s, burst 100.
 *
 * A refused request gets `429 rate_limited` with `Retry-After` (seconds until one token).
 * If the counter store fails, the request is let through and the failure logged: an outage of
 * the limits must not take the API down with it.
 */
import type { Context, MiddlewareHandler } from 'hono';
import {
  type Clock,
  type LimitStore,
  type RateDecision,
  type RatePolicy,
  resolveTenantLimits,
  type TenantLimits,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';
import type { AuthVariables } from './auth.js';
import { ApiError } from './errors.js';

export interface RateLimitOptions {
  limits: LimitStore;
  /** The deployment's defaults; a tenant's `limits` override them. */
  defaults: TenantLimits;
  clock: Clock;
  logger: Logger;
}

/** Whole seconds, at least 1 when anything is left. */
const seconds = (milliseconds: number) => Math.max(0, Math.ceil(milliseconds / 1000));

/** Sets the `RateLimit-*` headers of a decision. */
export function setRateLimitHeaders(c: Context, policy: RatePolicy, decision: RateDecision): void {
  c.header('RateLimit-Limit', String(policy.burst));
  c.header('RateLimit-Remaining', String(decision.remaining));
  c.header('RateLimit-Reset', String(seconds(decision.resetMs)));
  c.header(
    'RateLimit-Policy',
    `${policy.burst};w=${Math.max(1, Math.round(policy.burst / policy.ratePerSecond))}`,
  );
}

/**
 * @example
 * ```ts
 * app.use('/v1/*', bearerAuth(tenants), rateLimit({ limits, defaults: DEFAULT_TENANT_LIMITS, clock, logger }));
 * ```
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const tenant = c.var.tenant;
    const limits = resolveTenantLimits(options.defaults, tenant.limits);
    const isCreate = c.req.method === 'POST' && /^\/v1\/jobs\/?$/.test(c.req.path);
    const bucket = isCreate ? 'create' : 'requests';
    const policy = isCreate ? limits.create : limits.requests;
    let decision: RateDecision;
    try {
      decision = await options.limits.take(tenant.id, bucket, policy, options.clock.now());
    } catch (error) {
      options.logger.warn('rate limit store failed; request let through', {
        tenantId: tenant.id,
        ...errorFields(error),
      });
      await next();
      return;
    }
    setRateLimitHeaders(c, policy, decision);
    if (!decision.allowed) {
      const retryAfter = Math.max(1, seconds(decision.retryAfterMs));
      c.header('Retry-After', String(retryAfter));
      throw new ApiError(
        'rate_limited',
        429,
        `too many ${isCreate ? 'job creations' : 'requests'} for this API key: ${policy.ratePerSecond}/s with bursts of ${policy.burst}; retry in ${retryAfter} s`,
        {
          limit: bucket,
          ratePerSecond: policy.ratePerSecond,
          burst: policy.burst,
          retryAfterSeconds: retryAfter,
        },
      );
    }
    await next();
  };
}
