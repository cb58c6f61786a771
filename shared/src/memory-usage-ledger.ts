/** A {@link UsageLedger} held in memory; for tests and single-process local runs. */
import { ValidationError } from './errors.js';
import { isJobId } from './ids.js';
import type { UsageLedger, UsageRecord, UsageSummary } from './ports/usage-ledger.js';

export class InMemoryUsageLedger implements UsageLedger {
  private readonly byJob = new Map<string, UsageRecord>();

  async record(entry: UsageRecord): Promise<void> {
    assertUsageRecord(entry);
    if (!this.byJob.has(entry.jobId)) this.byJob.set(entry.jobId, { ...entry, at: new Date(entry.at) });
  }

  async sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary> {
    return summarizeUsage(tenantId, range, this.byJob.values());
  }

  async tenantIds(): Promise<string[]> {
    return [...new Set([...this.byJob.values()].map((record) => record.tenantId))].sort();
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
    faces: 0,
    modelSeconds: 0,
  };
  for (const record of records) {
    const at = record.at.getTime();
    if (record.tenantId !== tenantId || at < range.from.getTime() || at >= range.to.getTime()) continue;
    summary.jobs += 1;
    summary.images += record.images;
    // Records from before photo mode restored one face per image.
    summary.faces += record.faces ?? record.images;
    summary.modelSeconds += record.modelSeconds;
  }
  return summary;
}

/**
 * Checks a usage record before any adapter stores it, so a bug upstream cannot bill nonsense.
 *
 * @throws {ValidationError} for a malformed job id, an invalid date, negative or fractional
 * counts, or a negative or non-finite `modelSeconds`.
 */
export function assertUsageRecord(entry: UsageRecord): void {
  if (!isJobId(entry.jobId)) throw new ValidationError(`not a job id: ${entry.jobId}`);
  if (Number.isNaN(entry.at.getTime())) throw new ValidationError('usage time is not a valid date');
  const count = (value: number) => Number.isInteger(value) && value >= 0;
  if (!count(entry.images) || (entry.faces !== undefined && !count(entry.faces))) {
    throw new ValidationError('usage images and faces must be non-negative integers');
  }
  if (!Number.isFinite(entry.modelSeconds) || entry.modelSeconds < 0) {
    throw new ValidationError('usage modelSeconds must be a non-negative number');
  }
}
