/**
 * The tenants secret's format (`DR2E_TENANTS_SECRET_ARN` in AWS, `DR2E_TENANTS_FILE` in a local
 * stack): tenants with their ids, names, hashed API keys, webhook secrets and limit overrides.
 *
 * ```json
 * { "tenants": [
 *   { "id": "acme", "name": "Acme Photos",
 *     "apiKeyHashes": ["sha256:3q2-7w..."],
 *     "webhookSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
 *     "limits": { "create": { "ratePerSecond": 20, "burst": 200 }, "maxJobsInFlight": 200,
 *                 "monthlyImageQuota": 10000 } } ] }
 * ```
 * `limits` is optional (defaults from the configuration, see tenant-limits.ts). `id` becomes a
 * storage key segment (letters, digits, `-`, `_`, `.`); `apiKeyHashes` are `hashApiKey(key)`
 * values (several during a key rotation). `npm run tenants -- add <name>` prints a new key and
 * its entry.
 */
import { z } from 'zod';
import { API_KEY_HASH_PATTERN } from './api-keys.js';
import { parseWith } from './schemas.js';
import { TenantLimitsOverrideSchema } from './tenant-limits.js';
import { WEBHOOK_SECRET_PREFIX } from './webhooks.js';

/** One tenant entry of the secret. */
export const TenantSecretEntrySchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'tenant id: 1-63 letters, digits, ".", "_", "-"')
    .refine((id) => !id.includes('..'), 'tenant id must not contain ".."'),
  name: z.string().min(1).max(200),
  apiKeyHashes: z.array(z.string().regex(API_KEY_HASH_PATTERN, 'expected "sha256:<base64url>"')).min(1),
  webhookSecret: z
    .string()
    .startsWith(WEBHOOK_SECRET_PREFIX)
    .min(WEBHOOK_SECRET_PREFIX.length + 16),
  /** Overrides of the deployment's default limits, e.g. `{ "maxJobsInFlight": 200 }`. */
  limits: TenantLimitsOverrideSchema.optional(),
});
export type TenantSecretEntry = z.infer<typeof TenantSecretEntrySchema>;

/** The whole secret: `{ "tenants": [...] }` with unique ids. */
export const TenantSecretSchema = z.strictObject({
  tenants: z
    .array(TenantSecretEntrySchema)
    .refine(
      (tenants) => new Set(tenants.map((t) => t.id)).size === tenants.length,
      'tenant ids must be unique',
    )
    // One key under two tenants signs in as the first: its jobs, usage and bills would be theirs.
    .superRefine((tenants, context) => {
      const owners = new Map<string, string>();
      for (const tenant of tenants) {
        for (const hash of tenant.apiKeyHashes) {
          const owner = owners.get(hash);
          if (owner !== undefined && owner !== tenant.id) {
            context.addIssue({
              code: 'custom',
              message: `an API key hash is listed under two tenants (${owner} and ${tenant.id}): it would sign in as ${owner}`,
            });
          }
          owners.set(hash, owner ?? tenant.id);
        }
      }
    }),
});

/** Largest secret value Secrets Manager stores (64 KiB): a tenants secret must stay under it. */
export const SECRET_MAX_BYTES = 65_536;
export type TenantSecret = z.infer<typeof TenantSecretSchema>;

/**
 * Parses and validates the secret's JSON text.
 *
 * @throws {ValidationError} naming the first problem (e.g. `tenants.0.apiKeyHashes.0`).
 */
export function parseTenantSecret(text: string): TenantSecret {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return parseWith(TenantSecretSchema, json, 'tenants secret');
}
