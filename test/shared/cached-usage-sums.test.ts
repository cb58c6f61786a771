/**
 * CachedUsageSums: the API's usage sums (quota checks, GET /v1/usage) served from memory for a
 * minute, so polling clients and quick creates do not list the S3 ledger on every request.
 */
import { describe, expect, it } from 'vitest';
import {
  CachedUsageSums,
  InMemoryUsageLedger,
  ManualClock,
  newJobId,
  type UsageRecord,
} from '../../shared/src/index.js';

const MONTH = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-02-01T00:00:00Z') };

function usage(tenantId: string, images = 1): UsageRecord {
  const at = new Date('2025-01-10T00:00:00Z');
  return { tenantId, jobId: newJobId(at), at, images, faces: images, modelSeconds: 1 };
}

/** A ledger that counts its sums (and can be made to fail). */
function countingLedger() {
  const inner = new InMemoryUsageLedger();
  const counts = { sums: 0 };
  let failing = false;
  const ledger = {
    record: (entry: UsageRecord) => inner.record(entry),
    sum: async (tenantId: string, range: { from: Date; to: Date }) => {
      counts.sums += 1;
      if (failing) throw new Error('S3 SlowDown');
      return inner.sum(tenantId, range);
    },
    tenantIds: () => inner.tenantIds(),
  };
  return { ledger, counts, fail: (value: boolean) => (failing = value) };
}

describe('CachedUsageSums', () => {
  it('sums a tenant and period once a minute, whatever the number of calls', async () => {
    // Prepare
    const { ledger, counts } = countingLedger();
    await ledger.record(usage('acme', 2));
    const clock = new ManualClock();
    const cached = new CachedUsageSums(ledger, { ttlMs: 60_000, clock });
    // Act: ten calls at once, one later within the minute, another period, then after the minute.
    const burst = await Promise.all(Array.from({ length: 10 }, () => cached.sum('acme', MONTH)));
    clock.advance(59_000);
    await cached.sum('acme', MONTH);
    await cached.sum('acme', { from: MONTH.from, to: new Date('2025-01-15T00:00:00Z') });
    const afterOne = counts.sums;
    clock.advance(2_000);
    await cached.sum('acme', MONTH);
    // Assess
    expect(burst.every((summary) => summary.images === 2)).toBe(true);
    expect(afterOne).toBe(2);
    expect(counts.sums).toBe(3);
  });

  it("shows usage recorded through it at once, and a worker's (recorded elsewhere) once the minute is over", async () => {
    // Prepare
    const { ledger } = countingLedger();
    const clock = new ManualClock();
    const cached = new CachedUsageSums(ledger, { ttlMs: 60_000, clock });
    await cached.sum('acme', MONTH);
    // Act
    await cached.record(usage('acme'));
    const throughIt = (await cached.sum('acme', MONTH)).images;
    await ledger.record(usage('acme')); // the worker's process
    const beforeMinute = (await cached.sum('acme', MONTH)).images;
    clock.advance(60_000);
    const afterMinute = (await cached.sum('acme', MONTH)).images;
    // Assess
    expect([throughIt, beforeMinute, afterMinute]).toEqual([1, 1, 2]);
  });

  it('keeps no failed sum, and gives each caller its own copy', async () => {
    // Prepare
    const { ledger, counts, fail } = countingLedger();
    const cached = new CachedUsageSums(ledger, { ttlMs: 60_000, clock: new ManualClock() });
    fail(true);
    // Act
    await expect(cached.sum('acme', MONTH)).rejects.toThrow('SlowDown');
    fail(false);
    const first = await cached.sum('acme', MONTH);
    first.images = 999;
    const second = await cached.sum('acme', MONTH);
    // Assess
    expect(counts.sums).toBe(2);
    expect(second.images).toBe(0);
  });
});
