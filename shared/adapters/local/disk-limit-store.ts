/**
 * {@link LimitStore} on a local directory: one JSON file per tenant
 * (`<dir>/<tenant>.json`: `{ "tat": { bucket: ms }, "slots": { jobId: leaseEndMs } }`), each
 * read-modify-write under the tenant's lock (in-process and across processes), so the API and
 * a separately started worker share the counters and a restart keeps them. Concurrent changes
 * for one tenant are committed together (see `update`).
 */
import path from 'node:path';
import {
  gcra,
  type LimitStore,
  type RateDecision,
  type RatePolicy,
  type SlotDecision,
} from '../../src/ports/limit-store.js';
import { atomicWriteFile, encodePathSegment, readJsonIfExists, withLock } from './fs-util.js';

interface TenantCounters {
  tat: Record<string, number>;
  slots: Record<string, number>;
}

interface PendingChange {
  change: (counters: TenantCounters) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface DiskLimitStoreOptions {
  /** Directory of the counter files (created on first write). */
  dir: string;
}

/**
 * @example
 * ```ts
 * const limits = new DiskLimitStore({ dir: '.data/limits' });
 * await limits.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, new Date());
 * ```
 */
export class DiskLimitStore implements LimitStore {
  private readonly dir: string;

  constructor(options: DiskLimitStoreOptions) {
    this.dir = path.resolve(options.dir);
  }

  /** Operations waiting for their tenant file, per file (see {@link update}). */
  private readonly pending = new Map<string, PendingChange[]>();
  private readonly flushing = new Set<string>();

  private fileOf(tenantId: string): string {
    return path.join(this.dir, `${encodePathSegment(tenantId)}.json`);
  }

  /**
   * Applies `change` to the tenant's counters atomically. Changes that arrive while the file is
   * busy are applied together, in arrival order, in ONE locked read-modify-write (group
   * commit): a burst of requests from one tenant costs one read and one write, not one each.
   */
  private update<T>(tenantId: string, change: (counters: TenantCounters) => T): Promise<T> {
    const file = this.fileOf(tenantId);
    return new Promise<T>((resolve, reject) => {
      const queue = this.pending.get(file) ?? [];
      this.pending.set(file, queue);
      queue.push({ change, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing.has(file)) void this.flush(file);
    });
  }

  private async flush(file: string): Promise<void> {
    this.flushing.add(file);
    try {
      while ((this.pending.get(file)?.length ?? 0) > 0) {
        await withLock(`${file}.lock`, async () => {
          const batch = this.pending.get(file)?.splice(0) ?? [];
          try {
            const stored = (await readJsonIfExists(file)) as Partial<TenantCounters> | undefined;
            const counters: TenantCounters = { tat: { ...stored?.tat }, slots: { ...stored?.slots } };
            const before = JSON.stringify(counters);
            const outcomes = batch.map((op) => {
              try {
                return { ok: true as const, value: op.change(counters) };
              } catch (error) {
                return { ok: false as const, error };
              }
            });
            if (JSON.stringify(counters) !== before) await atomicWriteFile(file, JSON.stringify(counters));
            outcomes.forEach((outcome, i) => {
              const op = batch[i];
              if (outcome.ok) op?.resolve(outcome.value);
              else op?.reject(outcome.error);
            });
          } catch (error) {
            for (const op of batch) op.reject(error);
          }
        });
      }
    } finally {
      this.flushing.delete(file);
      this.pending.delete(file);
    }
  }

  take(tenantId: string, bucket: string, policy: RatePolicy, now: Date): Promise<RateDecision> {
    return this.update(tenantId, (counters) => {
      const { tat, ...decision } = gcra(counters.tat[bucket], now.getTime(), policy);
      if (decision.allowed) counters.tat[bucket] = tat;
      return decision;
    });
  }

  acquireSlot(
    tenantId: string,
    jobId: string,
    max: number,
    leaseUntil: Date,
    now: Date,
  ): Promise<SlotDecision> {
    return this.update(tenantId, (counters) => {
      pruneExpired(counters.slots, now.getTime());
      const held = Object.keys(counters.slots).length;
      if (counters.slots[jobId] !== undefined) return { acquired: true, inFlight: held };
      if (held >= max) return { acquired: false, inFlight: held };
      counters.slots[jobId] = leaseUntil.getTime();
      return { acquired: true, inFlight: held + 1 };
    });
  }

  async releaseSlot(tenantId: string, jobId: string): Promise<void> {
    await this.update(tenantId, (counters) => {
      delete counters.slots[jobId];
    });
  }

  async slotsInUse(tenantId: string, now: Date): Promise<number> {
    const file = this.fileOf(tenantId);
    const stored = (await readJsonIfExists(file)) as Partial<TenantCounters> | undefined;
    return Object.values(stored?.slots ?? {}).filter((end) => end > now.getTime()).length;
  }
}

function pruneExpired(slots: Record<string, number>, nowMs: number): void {
  for (const [jobId, end] of Object.entries(slots)) if (end <= nowMs) delete slots[jobId];
}
