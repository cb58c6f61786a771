/** A {@link UsageLedger} held in memory; for tests and single-process local runs. */
import type { UsageLedger, UsageRecord, UsageSummary } from './ports/usage-ledger.js';

export class InMemoryUsageLedger implements UsageLedger {
  private readonly byJob = new Map<string, UsageRecord>();

  async record(entry: UsageRecord): Promise<void> {
    if (!this.byJob.has(entry.jobId)) this.byJob.set(entry.jobId, { ...entry, at: new Date(entry.at) });
  }

  async sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary> {
    return summarizeUsage(tenantId, range, this.byJob.values());
  }
}

/** Totals of the records of one tenant with `from <= at < to`. */
export function summarizeUsage(
  tenantId: string,
  range: { from: Date; to: Date },
  records: Iterable<UsageRecord>,
): UsageSummary {
  const summary: UsageSummary = {
    tenantId,
    from: range.from,
    to: range.to,
    jobs: 0,
    images: 0,
    modelSeconds: 0,
  };
  for (const record of records) {
    const at = record.at.getTime();
    if (record.tenantId !== tenantId || at < range.from.getTime() || at >= range.to.getTime()) continue;
    summary.jobs += 1;
    summary.images += record.images;
    summary.modelSeconds += record.modelSeconds;
  }
  return summary;
}
