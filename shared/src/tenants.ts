/**
 * A {@link TenantDirectory} over a fixed list of tenants (from configuration or a secret), for
 * local runs and small deployments.
 */
import { API_KEY_HASH_PATTERN, verifyApiKey } from './api-keys.js';
import { ValidationError } from './errors.js';
import type { Tenant, TenantDirectory } from './ports/tenant-directory.js';

/** A tenant with the hashes of its API keys (several, so keys can be rotated). */
export interface TenantRecord extends Tenant {
  apiKeyHashes: readonly string[];
}

/**
 * @example
 * ```ts
 * const tenants = new StaticTenantDirectory([
 *   { id: 'acme', name: 'Acme', webhookSecret: 'whsec_...', apiKeyHashes: [await hashApiKey(key)] },
 * ]);
 * ```
 */
export class StaticTenantDirectory implements TenantDirectory {
  private readonly records: readonly TenantRecord[];

  constructor(records: readonly TenantRecord[]) {
    for (const record of records) {
      for (const hash of record.apiKeyHashes) {
        if (!API_KEY_HASH_PATTERN.test(hash)) {
          throw new ValidationError(`tenant ${record.id}: API key hash is not "sha256:<base64url>"`);
        }
      }
    }
    this.records = records.map((record) => ({ ...record, apiKeyHashes: [...record.apiKeyHashes] }));
  }

  async authenticate(apiKey: string): Promise<Tenant | undefined> {
    let found: TenantRecord | undefined;
    // Check every hash, even after a match, so response time does not depend on which key matched.
    for (const record of this.records) {
      for (const hash of record.apiKeyHashes) {
        if ((await verifyApiKey(apiKey, hash)) && !found) found = record;
      }
    }
    return found ? toTenant(found) : undefined;
  }

  async get(tenantId: string): Promise<Tenant | undefined> {
    const record = this.records.find((candidate) => candidate.id === tenantId);
    return record ? toTenant(record) : undefined;
  }
}

function toTenant(record: TenantRecord): Tenant {
  return {
    id: record.id,
    name: record.name,
    webhookSecret: record.webhookSecret,
    ...(record.limits ? { limits: record.limits } : {}),
  };
}
