/** The operator CLI's entries work as they are: the printed key authenticates against the entry. */
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
});
