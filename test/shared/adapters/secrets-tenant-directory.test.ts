/** The Secrets Manager tenant directory with a stub client: format, caching, refresh rules. */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import {
  parseTenantSecret,
  SecretsManagerTenantDirectory,
  TenantDirectoryUnavailableError,
} from '../../../shared/adapters/aws/secrets-tenant-directory.js';
import { hashApiKey } from '../../../shared/src/api-keys.js';
import { ManualClock } from '../../../shared/src/clock.js';
import { ValidationError } from '../../../shared/src/errors.js';
import { MAX_JOBS_IN_FLIGHT } from '../../../shared/src/tenant-limits.js';
import { generateWebhookSecret } from '../../../shared/src/webhooks.js';

async function secretWith(keys: Record<string, string>): Promise<string> {
  const tenants = [];
  for (const [id, key] of Object.entries(keys)) {
    tenants.push({
      id,
      name: id.toUpperCase(),
      apiKeyHashes: [await hashApiKey(key)],
      webhookSecret: generateWebhookSecret(),
    });
  }
  return JSON.stringify({ tenants });
}

/** A client answering with `current.text` (or throwing when it is an Error), counting calls. */
function stubClient(current: { text: string | Error }) {
  const calls = { count: 0 };
  const client = {
    send: async () => {
      calls.count += 1;
      if (current.text instanceof Error) throw current.text;
      return { SecretString: current.text };
    },
  } as unknown as SecretsManagerClient;
  return { client, calls };
}

describe('SecretsManagerTenantDirectory', () => {
  it('authenticates keys by hash and caches the secret', async () => {
    // Prepare
    const { client, calls } = stubClient({ text: await secretWith({ acme: 'key-acme', beta: 'key-beta' }) });
    const directory = new SecretsManagerTenantDirectory({ client, secretId: 'arn:test' });
    // Act
    const acme = await directory.authenticate('key-acme');
    const beta = await directory.authenticate('key-beta');
    const byId = await directory.get('acme');
    // Assess
    expect([acme?.id, beta?.id, byId?.name]).toEqual(['acme', 'beta', 'ACME']);
    expect(acme?.webhookSecret).toMatch(/^whsec_/);
    expect(calls.count).toBe(1);
  });

  it('picks up a new key early, but refreshes at most every unknownKeyRefreshMs for bad keys', async () => {
    // Prepare
    const clock = new ManualClock();
    const current = { text: (await secretWith({ acme: 'key-acme' })) as string | Error };
    const { client, calls } = stubClient(current);
    const directory = new SecretsManagerTenantDirectory({
      client,
      secretId: 's',
      clock,
      unknownKeyRefreshMs: 30_000,
    });
    await directory.authenticate('key-acme');
    current.text = await secretWith({ acme: 'key-acme', gamma: 'key-gamma' });
    // Act
    clock.advance(31_000);
    const gamma = await directory.authenticate('key-gamma');
    const bad1 = await directory.authenticate('bad');
    const bad2 = await directory.authenticate('bad');
    // Assess
    expect(gamma?.id).toBe('gamma');
    expect([bad1, bad2]).toEqual([undefined, undefined]);
    expect(calls.count).toBe(2);
  });

  it('keeps serving the cached tenants when a refresh fails', async () => {
    // Prepare
    const clock = new ManualClock();
    const current = { text: (await secretWith({ acme: 'key-acme' })) as string | Error };
    const { client } = stubClient(current);
    const directory = new SecretsManagerTenantDirectory({ client, secretId: 's', clock, cacheTtlMs: 60_000 });
    await directory.authenticate('key-acme');
    current.text = new Error('throttled');
    // Act
    clock.advance(120_000);
    const acme = await directory.authenticate('key-acme');
    // Assess
    expect(acme?.id).toBe('acme');
  });

  it('fails when the secret cannot be read and nothing is cached', async () => {
    // Prepare
    const { client } = stubClient({ text: new Error('AccessDenied') });
    const directory = new SecretsManagerTenantDirectory({ client, secretId: 's' });
    // Act / Assess
    await expect(directory.authenticate('x')).rejects.toThrow('AccessDenied');
  });

  it('stops honouring a key once the cache may no longer serve through failing refreshes, without calling on every request', async () => {
    // Prepare: the reads start failing (a bad edit, throttling) after the first load
    const clock = new ManualClock();
    const current = { text: (await secretWith({ acme: 'key-acme' })) as string | Error };
    const { client, calls } = stubClient(current);
    const directory = new SecretsManagerTenantDirectory({
      client,
      secretId: 's',
      clock,
      cacheTtlMs: 60_000,
      maxStaleMs: 600_000,
      unknownKeyRefreshMs: 30_000,
    });
    await directory.authenticate('key-acme');
    current.text = new Error('ThrottlingException');
    // Act
    clock.advance(300_000);
    const withinStale = await directory.authenticate('key-acme');
    clock.advance(301_000);
    const beyondStale = directory.authenticate('key-acme');
    await expect(beyondStale).rejects.toBeInstanceOf(TenantDirectoryUnavailableError);
    const callsAfterFailure = calls.count;
    const again = directory.authenticate('key-acme');
    await expect(again).rejects.toBeInstanceOf(TenantDirectoryUnavailableError);
    const callsWithinBackOff = calls.count;
    clock.advance(31_000);
    current.text = await secretWith({ acme: 'key-acme' });
    const recovered = await directory.authenticate('key-acme');
    // Assess
    expect(withinStale?.id).toBe('acme');
    expect(callsWithinBackOff).toBe(callsAfterFailure);
    expect(recovered?.id).toBe('acme');
  });

  it('answers a secret that does not parse with an internal error, not a validation error callers would see', async () => {
    // Prepare
    const { client } = stubClient({
      text: JSON.stringify({ tenants: [{ id: 'acme', apiKeyHashes: ['nope'] }] }),
    });
    const directory = new SecretsManagerTenantDirectory({ client, secretId: 's' });
    // Act
    const attempt = directory.authenticate('whatever');
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(TenantDirectoryUnavailableError);
    await expect(attempt).rejects.not.toBeInstanceOf(ValidationError);
  });
});

describe('parseTenantSecret', () => {
  it.each([
    ['not json', 'not json'],
    ['missing tenants', '{}'],
    [
      'a plain key instead of a hash',
      JSON.stringify({
        tenants: [
          { id: 'a', name: 'A', apiKeyHashes: ['dr2e_sk_x'], webhookSecret: 'whsec_' + 'A'.repeat(40) },
        ],
      }),
    ],
    [
      'an unsafe id',
      JSON.stringify({
        tenants: [{ id: '../x', name: 'A', apiKeyHashes: [], webhookSecret: 'whsec_' + 'A'.repeat(40) }],
      }),
    ],
    [
      'duplicate ids',
      JSON.stringify({
        tenants: [1, 2].map(() => ({
          id: 'a',
          name: 'A',
          apiKeyHashes: ['sha256:' + 'A'.repeat(43)],
          webhookSecret: 'whsec_' + 'A'.repeat(40),
        })),
      }),
    ],
    [
      // The DynamoDB item holding a tenant's slots (400 KB) could not hold that many jobs.
      'a jobs-in-flight cap over MAX_JOBS_IN_FLIGHT',
      JSON.stringify({
        tenants: [
          {
            id: 'a',
            name: 'A',
            apiKeyHashes: ['sha256:' + 'A'.repeat(43)],
            webhookSecret: 'whsec_' + 'A'.repeat(40),
            limits: { maxJobsInFlight: 5_001 },
          },
        ],
      }),
    ],
  ])('refuses %s', (_what, text) => {
    // Act / Assess
    expect(() => parseTenantSecret(text)).toThrow(ValidationError);
  });

  it('takes a jobs-in-flight cap of MAX_JOBS_IN_FLIGHT', () => {
    // Prepare
    const entry = {
      id: 'a',
      name: 'A',
      apiKeyHashes: ['sha256:' + 'A'.repeat(43)],
      webhookSecret: 'whsec_' + 'A'.repeat(40),
      limits: { maxJobsInFlight: 5_000 },
    };
    // Act / Assess
    expect(MAX_JOBS_IN_FLIGHT).toBe(5_000);
    expect(parseTenantSecret(JSON.stringify({ tenants: [entry] })).tenants[0]?.limits?.maxJobsInFlight).toBe(
      5_000,
    );
  });
});
