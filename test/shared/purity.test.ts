/**
 * The domain in shared/src must run in Lambda, Node and edge runtimes: no AWS SDK, no node:
 * modules, no Node globals. Adapters (shared/adapters/*) are where those belong.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const sharedSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/src');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(full);
      return Promise.resolve(entry.name.endsWith('.ts') ? [full] : []);
    }),
  );
  return nested.flat();
}

describe('shared/src purity', () => {
  it('imports neither the AWS SDK nor node: modules, and uses no Node globals', async () => {
    const offenders: string[] = [];
    const files = await sourceFiles(sharedSrc);
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      if (/from\s+['"](@aws-sdk\/|node:|fs['"]|crypto['"]|path['"])/.test(code))
        offenders.push(`${file}: import`);
      if (/\b(Buffer|process|require)\s*[.(]/.test(code)) offenders.push(`${file}: Node global`);
    }
    expect(files.length).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});
