/**
 * {@link TenantDirectory} backed by one AWS Secrets Manager secret (client injected), cached in
 * memory so a request does not cost a Secrets Manager call.
 *
 * Secret format (`SecretString`, JSON): shared/src/tenant-secret.ts. `npm run tenants -- add <name>`
 * prints a new key and its entry.
 *
 * Caching: the parsed secret is kept for `cacheTtlMs` (default 5 min). An unknown API key
 * triggers one early refresh (at most every `unknownKeyRefreshMs`, default 30 s), so a key
 * added to the secret works within seconds without letting bad keys hammer Secrets Manager.
 * When a refresh fails and a cached copy exists, the cached copy is used (and the failure is
 * retried on the next call after `unknownKeyRefreshMs`), but for at most `maxStaleMs` (default
 * 30 min) after it was loaded: a key removed from the secret (revoked) stops working within
 * `cacheTtlMs` while Secrets Manager answers, and within `maxStaleMs` when it does not; after
 * that, requests fail with 500 until the secret can be read again, rather than let a revoked key
 * spend a tenant's money through an outage. A secret that does not parse (e.g. a bad edit) is an
 * operator's error: requests answer a bare 500 `internal_error` (the log names the problem),
 * never a 400 that tells callers how the secret is laid out.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock, type Clock } from '../../src/clock.js';
import type { Tenant, TenantDirectory } from '../../src/ports/tenant-directory.js';
import { StaticTenantDirectory } from '../../src/tenants.js';
import { parseTenantSecret } from '../../src/tenant-secret.js';

// The secret's format is the domain's (a local tenants file uses it too): re-exported here, where
// callers have always found it.
export {
  parseTenantSecret,
  SECRET_MAX_BYTES,
  type TenantSecret,
  type TenantSecretEntry,
  TenantSecretEntrySchema,
  TenantSecretSchema,
} from '../../src/tenant-secret.js';

export interface SecretsManagerTenantDirectoryOptions {
  client: SecretsManagerClient;
  /** ARN or name of the secret. */
  secretId: string;
  cacheTtlMs?: number;
  unknownKeyRefreshMs?: number;
  /** How long a cached copy may serve while refreshes fail (default 30 min). */
  maxStaleMs?: number;
  clock?: Clock;
}

/**
 * The tenants secret could not be read or parsed, and no cached copy may serve. Not a domain
 * error: the API answers 500 `internal_error` and logs this message with its cause.
 */
export class TenantDirectoryUnavailableError extends Error {
  override readonly name = 'TenantDirectoryUnavailableError';
}

/**
 * @example
 * ```ts
 * const tenants = new SecretsManagerTenantDirectory({
 *   client: new SecretsManagerClient({}), secretId: process.env.DR2E_TENANTS_SECRET_ARN!,
 * });
 * const tenant = await tenants.authenticate(bearerToken);
 * ```
 */
export class SecretsManagerTenantDirectory implements TenantDirectory {
  private readonly client: SecretsManagerClient;
  private readonly secretId: string;
  private readonly cacheTtlMs: number;
  private readonly unknownKeyRefreshMs: number;
  private readonly maxStaleMs: number;
  private readonly clock: Clock;
  private cached: { directory: StaticTenantDirectory; loadedAt: number } | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<StaticTenantDirectory> | undefined;
  /** The last failed load's error while no cached copy may serve (rethrown until the next try). */
  private lastFailure: TenantDirectoryUnavailableError | undefined;

  constructor(options: SecretsManagerTenantDirectoryOptions) {
    this.client = options.client;
    this.secretId = options.secretId;
    this.cacheTtlMs = options.cacheTtlMs ?? 5 * 60_000;
    this.unknownKeyRefreshMs = options.unknownKeyRefreshMs ?? 30_000;
    this.maxStaleMs = Math.max(this.cacheTtlMs, options.maxStaleMs ?? 30 * 60_000);
    this.clock = options.clock ?? systemClock;
  }

  async authenticate(apiKey: string): Promise<Tenant | undefined> {
    const found = await (await this.directory()).authenticate(apiKey);
    if (found || !this.mayRefreshEarly()) return found;
    return (await this.directory(true)).authenticate(apiKey);
  }

  async get(tenantId: string): Promise<Tenant | undefined> {
    const found = await (await this.directory()).get(tenantId);
    if (found || !this.mayRefreshEarly()) return found;
    return (await this.directory(true)).get(tenantId);
  }

  private mayRefreshEarly(): boolean {
    return this.clock.now().getTime() - this.lastAttemptAt >= this.unknownKeyRefreshMs;
  }

  /** The cached directory, reloaded when stale (or when `force`); one load at a time. */
  private async directory(force = false): Promise<StaticTenantDirectory> {
    const now = this.clock.now().getTime();
    const cached = this.cached && now - this.cached.loadedAt < this.maxStaleMs ? this.cached : undefined;
    const fresh = cached && now - cached.loadedAt < this.cacheTtlMs;
    if (cached && fresh && !force) return cached.directory;
    // A failed refresh is not retried on every request while a cached copy can serve.
    if (cached && now - this.lastAttemptAt < this.unknownKeyRefreshMs) return cached.directory;
    // Nor, without one, on every request of an outage (that would deepen a throttling).
    if (!cached && this.lastFailure && now - this.lastAttemptAt < this.unknownKeyRefreshMs)
      throw this.lastFailure;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    try {
      const directory = await this.loading;
      this.lastFailure = undefined;
      return directory;
    } catch (error) {
      if (cached) return cached.directory;
      this.lastFailure = new TenantDirectoryUnavailableError(
        `cannot read the tenants secret ${this.secretId}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
      throw this.lastFailure;
    }
  }

  private async load(): Promise<StaticTenantDirectory> {
    this.lastAttemptAt = this.clock.now().getTime();
    const response = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (response.SecretString === undefined) throw new Error('tenants secret has no SecretString');
    const secret = parseTenantSecret(response.SecretString);
    const directory = new StaticTenantDirectory(secret.tenants);
    this.cached = { directory, loadedAt: this.clock.now().getTime() };
    return directory;
  }
}
