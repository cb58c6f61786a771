/** createServices in local mode: keys, tenants and secrets that survive a restart. */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemBlobStore } from '../../../shared/adapters/local/fs-blob-store.js';
import { GuardedWebhookSender } from '../../../shared/adapters/node/guarded-webhook-sender.js';
import { loadRuntimeConfig } from '../../../shared/runtime/config.js';
import { createServices, localPublicUrl, localTenantId } from '../../../shared/runtime/services.js';
import { generateApiKey, generateWebhookSecret, hashApiKey } from '../../../shared/src/index.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-services-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createServices (local)', () => {
  it('generates one API key when none is configured, keeps it private, and reuses it after a restart', async () => {
    // Prepare
    const config = loadRuntimeConfig({ DR2E_DATA_DIR: dir });
    // Act
    const first = await createServices(config);
    const second = await createServices(config);
    // Assess
    expect(first.generatedApiKey).toMatch(/^dr2e_sk_/);
    expect(second.generatedApiKey).toBe(first.generatedApiKey);
    const tenant = await second.tenants.authenticate(first.generatedApiKey ?? '');
    expect(tenant?.id).toMatch(/^local-[0-9a-f]{16}$/);
    // A keyed hash: the id is not derived from the key alone.
    expect(tenant?.id).toBe(
      await localTenantId(
        first.generatedApiKey ?? '',
        (await readFile(path.join(dir, 'tenant-id-secret'), 'utf8')).trim(),
      ),
    );
    expect(tenant?.id).not.toBe(await localTenantId(first.generatedApiKey ?? '', 'another-secret-of-length'));
    expect((await stat(path.join(dir, 'local-api-key'))).mode & 0o077).toBe(0);
    // A data dir the stack makes is readable by its owner only (photos, job records, secrets).
    const fresh = path.join(dir, 'made-here');
    await createServices(loadRuntimeConfig({ DR2E_DATA_DIR: fresh }));
    expect((await stat(fresh)).mode & 0o077).toBe(0);
    expect(await readFile(path.join(dir, 'tenants.json'), 'utf8')).not.toContain(first.generatedApiKey ?? '');
  });

  it('makes each configured key a tenant whose webhook secret survives a restart', async () => {
    // Prepare
    const config = loadRuntimeConfig({ DR2E_DATA_DIR: dir, DR2E_API_KEYS: 'key-one, key-two' });
    // Act
    const first = await createServices(config);
    const second = await createServices(config);
    // Assess
    expect(first.generatedApiKey).toBeUndefined();
    const one = await first.tenants.authenticate('key-one');
    const two = await first.tenants.authenticate('key-two');
    expect(one?.id).not.toBe(two?.id);
    expect(one?.webhookSecret).toMatch(/^whsec_/);
    expect((await second.tenants.authenticate('key-one'))?.webhookSecret).toBe(one?.webhookSecret);
    expect(await first.tenants.authenticate('key-three')).toBeUndefined();
    expect(first.localTenants?.map((t) => t.id)).toEqual([one?.id, two?.id]);
  });

  it("takes the deployment's tenants from DR2E_TENANTS_FILE: ids, names, keys, webhook secrets and limits as in the secret", async () => {
    // Prepare: a tenants file as `npm run tenants -- add` entries make it.
    const key = generateApiKey();
    const webhookSecret = generateWebhookSecret();
    const file = path.join(dir, 'secret.json');
    await writeFile(
      file,
      JSON.stringify({
        tenants: [
          {
            id: 'acme',
            name: 'Acme Photos',
            apiKeyHashes: [await hashApiKey(key)],
            webhookSecret,
            limits: { maxJobsInFlight: 2 },
          },
        ],
      }),
    );
    // Act
    const services = await createServices(loadRuntimeConfig({ DR2E_DATA_DIR: dir, DR2E_TENANTS_FILE: file }));
    // Assess
    const tenant = await services.tenants.authenticate(key);
    expect(tenant).toMatchObject({ id: 'acme', name: 'Acme Photos', webhookSecret });
    expect((await services.tenants.get('acme'))?.limits).toEqual({ maxJobsInFlight: 2 });
    expect(services.generatedApiKey).toBeUndefined();
    expect(services.localTenants).toEqual([{ id: 'acme', name: 'Acme Photos' }]);
    expect(await services.tenants.authenticate(generateApiKey())).toBeUndefined();
  });

  it('refuses a tenants file that is missing or not a tenants secret, or that comes with DR2E_API_KEYS, naming the file', async () => {
    // Prepare
    const bad = path.join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({ tenants: [{ id: 'acme', name: 'Acme', apiKeyHashes: ['plain-key'] }] }),
    );
    const start = (env: Record<string, string>) =>
      createServices(loadRuntimeConfig({ DR2E_DATA_DIR: dir, ...env }));
    // Act / Assess
    await expect(start({ DR2E_TENANTS_FILE: path.join(dir, 'none.json') })).rejects.toThrow(
      /DR2E_TENANTS_FILE .*none\.json.*ENOENT/,
    );
    await expect(start({ DR2E_TENANTS_FILE: bad })).rejects.toThrow(
      /DR2E_TENANTS_FILE .*bad\.json.*apiKeyHashes/,
    );
    await expect(start({ DR2E_TENANTS_FILE: bad, DR2E_API_KEYS: 'k' })).rejects.toThrow(/not both/);
  });

  it('wires the local adapters, signed links to the public URL, and the guarded sender', async () => {
    // Prepare
    const config = loadRuntimeConfig({ DR2E_DATA_DIR: dir, PORT: '9123', HOST: '::1' });
    // Act
    const services = await createServices(config);
    const link = await services.blobs.createDownloadUrl('tenants/a/jobs/x/input', 60);
    // Assess
    expect(services.mode).toBe('local');
    expect(services.localBlobs).toBeInstanceOf(FilesystemBlobStore);
    expect(services.webhookSender).toBeInstanceOf(GuardedWebhookSender);
    expect(services.webhookPolicy).toEqual({ mode: 'local', allowHosts: [] });
    expect(link.url.startsWith('http://[::1]:9123/local-download?')).toBe(true);
    expect(localPublicUrl(loadRuntimeConfig({ DR2E_PUBLIC_URL: 'https://dr2e.example.com/' }))).toBe(
      'https://dr2e.example.com',
    );
  });
});
