/**
 * Behaviour every LimitStore adapter must have: token buckets (GCRA) and in-flight slots,
 * alone and under concurrent callers. Run on the disk adapter (limit-store.test.ts) and on the
 * DynamoDB adapter over a fake client that applies its conditional updates atomically.
 */
import { describe, expect, it } from 'vitest';
import type { LimitStore } from '../../../shared/src/ports/limit-store.js';

export interface LimitStoreContractOptions {
  makeStore: () => Promise<LimitStore>;
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const policy = { ratePerSecond: 2, burst: 5 };

export function describeLimitStoreContract(family: string, options: LimitStoreContractOptions): void {
  describe(`LimitStore contract: ${family}`, () => {
    it('allows a burst, then refuses with the wait until the next token', async () => {
      // Prepare
      const store = await options.makeStore();
      // Act
      const decisions = [];
      for (let i = 0; i < 6; i++) decisions.push(await store.take('t1', 'create', policy, T0));
      // Assess
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
      expect(decisions[5]).toMatchObject({ retryAfterMs: 500, allowed: false });
      expect(decisions[4]?.resetMs).toBe(2500);
    });

    it('refills at the rate', async () => {
      // Prepare
      const store = await options.makeStore();
      for (let i = 0; i < 5; i++) await store.take('t1', 'create', policy, T0);
      // Act
      const early = await store.take('t1', 'create', policy, at(499));
      const onTime = await store.take('t1', 'create', policy, at(500));
      const again = await store.take('t1', 'create', policy, at(500));
      const later = await store.take('t1', 'create', policy, at(10_000));
      // Assess
      expect(early).toMatchObject({ allowed: false, retryAfterMs: 1 });
      expect(onTime.allowed).toBe(true);
      expect(again.allowed).toBe(false);
      expect(later).toMatchObject({ allowed: true, remaining: 4 });
    });

    it('keeps tenants and buckets apart', async () => {
      // Prepare
      const store = await options.makeStore();
      for (let i = 0; i < 5; i++) await store.take('t1', 'create', policy, T0);
      // Act
      const otherBucket = await store.take('t1', 'requests', policy, T0);
      const otherTenant = await store.take('t2', 'create', policy, T0);
      // Assess
      expect(otherBucket).toMatchObject({ allowed: true, remaining: 4 });
      expect(otherTenant).toMatchObject({ allowed: true, remaining: 4 });
    });

    it('allows exactly the burst to 40 concurrent callers', async () => {
      // Prepare
      const store = await options.makeStore();
      const slow = { ratePerSecond: 0.001, burst: 7 };
      // Act
      const decisions = await Promise.all(
        Array.from({ length: 40 }, () => store.take('t1', 'create', slow, T0)),
      );
      // Assess
      expect(decisions.filter((d) => d.allowed)).toHaveLength(7);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.retryAfterMs > 0)).toBe(true);
    });

    it('holds at most max slots, once per job, and frees them on release', async () => {
      // Prepare
      const store = await options.makeStore();
      const lease = at(60_000);
      // Act
      const first = await store.acquireSlot('t1', 'job-a', 2, lease, T0);
      const repeat = await store.acquireSlot('t1', 'job-a', 2, lease, T0);
      const second = await store.acquireSlot('t1', 'job-b', 2, lease, T0);
      const full = await store.acquireSlot('t1', 'job-c', 2, lease, T0);
      const otherTenant = await store.acquireSlot('t2', 'job-x', 2, lease, T0);
      await store.releaseSlot('t1', 'job-a');
      await store.releaseSlot('t1', 'job-a');
      await store.releaseSlot('t1', 'never-held');
      const afterRelease = await store.acquireSlot('t1', 'job-c', 2, lease, T0);
      // Assess
      expect(first).toEqual({ acquired: true, inFlight: 1 });
      expect(repeat).toEqual({ acquired: true, inFlight: 1 });
      expect(second).toEqual({ acquired: true, inFlight: 2 });
      expect(full).toEqual({ acquired: false, inFlight: 2 });
      expect(otherTenant).toEqual({ acquired: true, inFlight: 1 });
      expect(afterRelease).toEqual({ acquired: true, inFlight: 2 });
      expect(await store.slotsInUse('t1', T0)).toBe(2);
    });

    it('stops counting a slot whose lease ended', async () => {
      // Prepare
      const store = await options.makeStore();
      await store.acquireSlot('t1', 'crashed', 1, at(1000), T0);
      // Act
      const during = await store.acquireSlot('t1', 'next', 1, at(5000), at(999));
      const after = await store.acquireSlot('t1', 'next', 1, at(5000), at(1000));
      // Assess
      expect(during.acquired).toBe(false);
      expect(after).toEqual({ acquired: true, inFlight: 1 });
      expect(await store.slotsInUse('t1', at(1000))).toBe(1);
    });

    it('gives exactly max slots to 30 concurrent jobs', async () => {
      // Prepare
      const store = await options.makeStore();
      // Act
      const decisions = await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.acquireSlot('t1', `job-${i}`, 4, at(60_000), T0)),
      );
      // Assess
      expect(decisions.filter((d) => d.acquired)).toHaveLength(4);
      expect(await store.slotsInUse('t1', T0)).toBe(4);
    });
  });
}
