import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { generateApiKey, hashApiKey, verifyApiKey } from '../../shared/src/api-keys.js';
import { ValidationError } from '../../shared/src/errors.js';
import { StaticTenantDirectory } from '../../shared/src/tenants.js';

describe('API keys', () => {
  it('generates distinct prefixed keys with 256 bits of randomness', () => {
    const a = generateApiKey();
    expect(a).toMatch(/^dr2e_sk_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey()).not.toBe(a);
  });

  it('stores keys as SHA-256 digests', async () => {
    const digest = createHash('sha256').update('dr2e_sk_example').digest('base64url');
    expect(await hashApiKey('dr2e_sk_example')).toBe(`sha256:${digest}`);
  });

  it('verifies the right key and refuses others and malformed hashes', async () => {
    const key = generateApiKey();
    const hash = await hashApiKey(key);
    expect(await verifyApiKey(key, hash)).toBe(true);
    expect(await verifyApiKey(`${key}x`, hash)).toBe(false);
    expect(await verifyApiKey(key, 'plain-text-key')).toBe(false);
  });
});

describe('StaticTenantDirectory', () => {
  it('finds the tenant of any of its keys and nobody for unknown keys', async () => {
    // Prepare
    const [oldKey, newKey, otherKey] = [generateApiKey(), generateApiKey(), generateApiKey()];
    const tenants = new StaticTenantDirectory([
      {
        id: 'acme',
        name: 'Acme',
        webhookSecret: 'whsec_a',
        apiKeyHashes: [await hashApiKey(oldKey), await hashApiKey(newKey)],
      },
      { id: 'globex', name: 'Globex', webhookSecret: 'whsec_g', apiKeyHashes: [await hashApiKey(otherKey)] },
    ]);
    // Act / Assess
    expect(await tenants.authenticate(oldKey)).toEqual({
      id: 'acme',
      name: 'Acme',
      webhookSecret: 'whsec_a',
    });
    expect((await tenants.authenticate(newKey))?.id).toBe('acme');
    expect((await tenants.authenticate(otherKey))?.id).toBe('globex');
    expect(await tenants.authenticate(generateApiKey())).toBeUndefined();
    expect((await tenants.get('globex'))?.webhookSecret).toBe('whsec_g');
    expect(await tenants.get('nobody')).toBeUndefined();
  });

  it('refuses configuration with plain-text keys instead of hashes', () => {
    expect(
      () =>
        new StaticTenantDirectory([
          { id: 'a', name: 'A', webhookSecret: 'whsec_a', apiKeyHashes: ['dr2e_sk_plain'] },
        ]),
    ).toThrow(ValidationError);
  });
});
