/**
 * A {@link UsageLedger} whose sums are kept for a short while: the API sums a tenant's month on
 * every quota-checked create and on every `GET /v1/usage`, and on S3 each sum lists the
 * period's records (a busy tenant's month is dozens of listings), so a client polling its usage,
 * or creating jobs quickly, would list the ledger on every request.
 */
import type { Clock } from './clock.js';
import type { UsageLedger, UsageRecord, UsageSummary } from './ports/usage-ledger.js';

export interface CachedUsageSumsOptions {
  /** How long a sum is served from memory (ms). */
  ttlMs: number;
  clock: Clock;
  /** Sums kept at most (oldest out first; default 1000). */
  maxEntries?: number;
}

interface Entry {
  at: number;
  summary: Promise<UsageSummary>;
}

/**
 * Sums of `ledger` served from memory for `ttlMs` per tenant and period (calls for the same one
 * meanwhile share the one sum). A record written through this object drops its tenant's sums;
 * records written elsewhere (the worker) show once the sums expire.
 *
 * @example
 * ```ts
 * const usage = new CachedUsageSums(new S3UsageLedger({ client, bucket }), { ttlMs: 60_000, clock: systemClock });
 * await usage.sum('acme', month); // lists and reads the ledger
 * await usage.sum('acme', month); // from memory, for a minute
 * ```
 */
export class CachedUsageSums implements UsageLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(
    private readonly ledger: UsageLedger,
    private readonly options: CachedUsageSumsOptions,
  ) {
    this.maxEntries = options.maxEntries ?? 1000;
  }

  async record(entry: UsageRecord): Promise<void> {
    await this.ledger.record(entry);
    const prefix = `${entry.tenantId}\n`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary> {
    const key = `${tenantId}\n${range.from.getTime()}\n${range.to.getTime()}`;
    const now = this.options.clock.now().getTime();
    const cached = this.entries.get(key);
    if (cached && now - cached.at < this.options.ttlMs) return cached.summary.then(copyOf);
    const summary = this.ledger.sum(tenantId, range);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { at: now, summary });
    // A failed sum is not kept: the next call tries again.
    summary.catch(() => {
      if (this.entries.get(key)?.summary === summary) this.entries.delete(key);
    });
    return summary.then(copyOf);
  }

  tenantIds(): Promise<string[]> {
    return this.ledger.tenantIds();
  }
}

/** Callers may change what they get: each gets its own copy. */
function copyOf(summary: UsageSummary): UsageSummary {
  return { ...summary, from: new Date(summary.from), to: new Date(summary.to) };
}
