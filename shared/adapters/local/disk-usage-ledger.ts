/**
 * {@link UsageLedger} on a local directory: one file per finished job under
 * `<dir>/<tenant>/<jobId>.json`, created exclusively so recording a job twice changes nothing.
 * `<tenant>` is the tenant id as one encoded path segment ({@link encodePathSegment}).
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assertUsageRecord, summarizeUsage } from '../../src/memory-usage-ledger.js';
import type { UsageLedger, UsageRecord, UsageSummary } from '../../src/ports/usage-ledger.js';
import { encodePathSegment, listFiles, readJsonIfExists } from './fs-util.js';

interface StoredUsage {
  tenantId: string;
  jobId: string;
  at: string;
  images: number;
  /** Absent in records written before photo mode. */
  faces?: number;
  modelSeconds: number;
}

export class DiskUsageLedger implements UsageLedger {
  private readonly dir: string;

  constructor(options: { dir: string }) {
    this.dir = path.resolve(options.dir);
  }

  async record(entry: UsageRecord): Promise<void> {
    assertUsageRecord(entry);
    const tenantDir = path.join(this.dir, encodePathSegment(entry.tenantId));
    await mkdir(tenantDir, { recursive: true });
    const stored: StoredUsage = { ...entry, at: entry.at.toISOString() };
    try {
      // 'wx' fails if the file exists: the first record of a job wins.
      await writeFile(path.join(tenantDir, `${entry.jobId}.json`), JSON.stringify(stored), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }

  async sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary> {
    const tenantDir = path.join(this.dir, encodePathSegment(tenantId));
    const records: UsageRecord[] = [];
    for (const name of await listFiles(tenantDir)) {
      const stored = (await readJsonIfExists(path.join(tenantDir, name))) as StoredUsage | undefined;
      if (stored) records.push({ ...stored, at: new Date(stored.at) });
    }
    return summarizeUsage(tenantId, range, records);
  }

  async tenantIds(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (error) {
      // No record written yet: the directory is created by the first one.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const ids: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const tenantId = decodePathSegment(entry.name);
      // A directory left empty (a record whose write failed after mkdir) holds no usage.
      if (tenantId !== undefined && (await listFiles(path.join(this.dir, entry.name))).length > 0) {
        ids.push(tenantId);
      }
    }
    return ids.sort();
  }
}

/** The tenant id of a directory name, or undefined for a name the ledger did not write. */
function decodePathSegment(name: string): string | undefined {
  try {
    const value = decodeURIComponent(name);
    return encodePathSegment(value) === name ? value : undefined;
  } catch {
    return undefined;
  }
}
