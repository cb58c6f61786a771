import type { TenantLimitsOverride } from '../tenant-limits.js';

/** Port: who is calling. API keys are stored only as SHA-256 hashes (see `hashApiKey`). */

export interface Tenant {
  id: string;
  name: string;
  /** `whsec_...` secret that signs this tenant's webhooks. */
  webhookSecret: string;
  /** This tenant's overrides of the default limits (see `resolveTenantLimits`). */
  limits?: TenantLimitsOverride;
}

export interface TenantDirectory {
  /**
   * The tenant owning this API key, or `undefined`. Implementations hash the key and compare
   * hashes in constant time.
   *
   * @example
   * ```ts
   * const tenant = await tenants.authenticate(bearerToken);
   * if (!tenant) throw new UnauthorizedError('unknown API key');
   * ```
   */
  authenticate(apiKey: string): Promise<Tenant | undefined>;
  /** The tenant with this id (the worker needs its webhook secret), or `undefined`. */
  get(tenantId: string): Promise<Tenant | undefined>;
}
