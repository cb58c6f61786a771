/** The operator CLI's entries work as they are: the printed key authenticates against the entry. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTenantSecret } from '../../shared/adapters/aws/index.js';
import { StaticTenantDirectory } from '../../shared/src/index.js';
import { tenantsCli } from '../../functions/src/admin/tenants.js';

async function run(...args: string[]): Promise<string> {
  let output = '';
  await tenantsCli((text) => (output += text)).parseAsync(['node', 'tenants', ...args]);
  return output;
}

describe('npm run tenants', () => {
  it('add prints a key and an entry that authenticates it once pasted into the secret', async () => {
    // Act
    const output = await run('add', 'Acme Photos', '--id', 'acme');
    // Assess
    const apiKey = /API key[^:]*: (\S+)/.exec(output)?.[1] ?? '';
    const entry = JSON.parse(output.slice(output.indexOf('{'))) as unknown;
    const secret = parseTenantSecret(JSON.stringify({ tenants: [entry] }));
    const tenant = await new StaticTenantDirectory(secret.tenants).authenticate(apiKey);
    expect(tenant).toMatchObject({ id: 'acme', name: 'Acme Photos' });
    expect(output.slice(output.indexOf('{'))).not.toContain(apiKey);
  });

  it('derives a safe id from the name', async () => {
    // Act
    const output = await run('add', 'Ünïcode & Co. Photos!');
    // Assess
    expect(JSON.parse(output.slice(output.indexOf('{'))).id).toMatch(/^unicode-co-photos-[0-9a-f]{6}$/);
  });

  it('check refuses one API key under two tenants, and a secret over what Secrets Manager stores', async () => {
    // Prepare: two tenants sharing a key hash (a copy-paste), and 300 tenants' worth of JSON
    const first = JSON.parse((await run('add', 'Acme', '--id', 'acme')).replace(/^[^{]*/s, '')) as {
      apiKeyHashes: string[];
    };
    const second = {
      ...(JSON.parse((await run('add', 'Beta', '--id', 'beta')).replace(/^[^{]*/s, '')) as object),
    };
    const shared = JSON.stringify({ tenants: [first, { ...second, apiKeyHashes: first.apiKeyHashes }] });
    // Valid entries, each its own key: only the size is wrong (about 120 kB)
    const many = JSON.stringify({
      tenants: Array.from({ length: 500 }, (_, i) => ({
        ...first,
        id: `tenant-${i}`,
        apiKeyHashes: [`sha256:${String(i).padStart(43, 'A')}`],
      })),
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'dr2e-tenants-'));
    await writeFile(path.join(dir, 'shared.json'), shared);
    await writeFile(path.join(dir, 'many.json'), many);
    // Act / Assess
    await expect(run('check', path.join(dir, 'shared.json'))).rejects.toThrow(
      /listed under two tenants \(acme and beta\): it would sign in as acme/,
    );
    await expect(run('check', path.join(dir, 'many.json'))).rejects.toThrow(
      /Secrets Manager stores at most 65536/,
    );
    await rm(dir, { recursive: true, force: true });
  });
});
