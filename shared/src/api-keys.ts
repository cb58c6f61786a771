/**
 * API keys: random bearer tokens handed to a tenant once and stored only as SHA-256 hashes.
 * A fast hash is enough here (unlike passwords) because keys carry 256 bits of randomness, so
 * a leaked hash table cannot be brute-forced back into keys.
 *
 * @example
 * ```ts
 * const apiKey = generateApiKey();           // give to the tenant once
 * const apiKeyHash = await hashApiKey(apiKey); // store this
 * await verifyApiKey(presented, apiKeyHash);   // true / false, constant time
 * ```
 */
import { constantTimeEqual, fromBase64, randomBytes, sha256, toBase64Url } from './encoding.js';

/** Prefix that makes keys recognisable to secret scanners and humans. */
export const API_KEY_PREFIX = 'dr2e_sk_';

/** Pattern of a stored key hash: `sha256:` + base64url of the digest. */
export const API_KEY_HASH_PATTERN = /^sha256:[A-Za-z0-9_-]{43}$/;

/** A new API key: prefix + base64url of 32 random bytes. */
export function generateApiKey(prefix: string = API_KEY_PREFIX): string {
  return prefix + toBase64Url(randomBytes(32));
}

/**
 * The stored form of a key, `sha256:<base64url digest>`.
 *
 * @example await hashApiKey('dr2e_sk_abc') // 'sha256:...'
 */
export async function hashApiKey(apiKey: string): Promise<string> {
  return `sha256:${toBase64Url(await sha256(apiKey))}`;
}

/** True when `apiKey` hashes to `storedHash`; compares digests in constant time. */
export async function verifyApiKey(apiKey: string, storedHash: string): Promise<boolean> {
  if (!API_KEY_HASH_PATTERN.test(storedHash)) return false;
  const expected = fromBase64(storedHash.slice('sha256:'.length));
  return constantTimeEqual(await sha256(apiKey), expected);
}
