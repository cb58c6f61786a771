/** DiskUsageLedger paths the contract cannot reach: what else may lie in its directory. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskUsageLedger } from '../../../shared/adapters/local/disk-usage-ledger.js';
import { newJobId } from '../../../shared/src/ids.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-disk-usage-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DiskUsageLedger tenantIds', () => {
  it('lists no tenants when the directory does not exist yet', async () => {
    // Prepare
    const ledger = new DiskUsageLedger({ dir: path.join(dir, 'never-written') });
    // Act
    const tenantIds = await ledger.tenantIds();
    // Assess
    expect(tenantIds).toEqual([]);
  });

  it('skips empty tenant directories, stray files and names it did not encode', async () => {
    // Prepare: one real record, then what a crash or a person could leave beside it.
    const ledger = new DiskUsageLedger({ dir });
    const at = new Date('2025-01-03T00:00:00Z');
    await ledger.record({ tenantId: 'acme.photos', jobId: newJobId(at), at, images: 1, modelSeconds: 1 });
    await mkdir(path.join(dir, 'empty-tenant'));
    await writeFile(path.join(dir, 'notes.txt'), 'not a tenant');
    for (const foreign of ['acme.photos', '%E0%A4%A']) {
      await mkdir(path.join(dir, foreign));
      await writeFile(path.join(dir, foreign, 'x.json'), '{}');
    }
    // Act
    const tenantIds = await ledger.tenantIds();
    // Assess
    expect(tenantIds).toEqual(['acme.photos']);
  });
});
