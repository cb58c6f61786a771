/**
 * Port: shared counters behind per-tenant limits (DynamoDB with conditional updates in AWS, a
 * file per tenant locally). Two primitives, both atomic in the store, so any number of API
 * instances (Lambdas, processes) enforce one limit together:
 *
 * - a token bucket per tenant and bucket name, kept as GCRA (generic cell rate algorithm): one
 *   number per bucket, the "theoretical arrival time" `tat`, in epoch milliseconds. With rate
 *   r/s and burst b, a request at `now` is allowed when `max(tat, now) + 1000/r <= now + b * 1000/r`,
 *   and then `tat` moves to `max(tat, now) + 1000/r`. A full bucket is `tat <= now`.
 * - slots for jobs in flight: a set of job ids per tenant, each with a lease end, of which at
 *   most `max` may be held. Releasing is idempotent; a lease that was never released (a crash
 *   between a job's end and its release) stops counting once it ends.
 */

/** A token bucket: `ratePerSecond` tokens refill per second, at most `burst` are kept. */
export interface RatePolicy {
  ratePerSecond: number;
  burst: number;
}

/** Outcome of {@link LimitStore.take}. */
export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Refused: milliseconds until one token is available. 0 when allowed. */
  retryAfterMs: number;
}

/** Outcome of {@link LimitStore.acquireSlot}. */
export interface SlotDecision {
  acquired: boolean;
  /** Slots held (unexpired) after the call, this job's included when acquired. */
  inFlight: number;
}

export interface LimitStore {
  /**
   * Takes one token from the tenant's bucket `bucket`, or refuses.
   *
   * @example
   * ```ts
   * const decision = await limits.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, new Date());
   * if (!decision.allowed) return tooManyRequests(decision.retryAfterMs);
   * ```
   */
  take(tenantId: string, bucket: string, policy: RatePolicy, now: Date): Promise<RateDecision>;
  /**
   * Holds a slot for `jobId` until `leaseUntil` if fewer than `max` unexpired slots are held.
   * Acquiring a slot the job already holds succeeds without taking another.
   */
  acquireSlot(
    tenantId: string,
    jobId: string,
    max: number,
    leaseUntil: Date,
    now: Date,
  ): Promise<SlotDecision>;
  /** Frees the job's slot; nothing happens when it holds none. */
  releaseSlot(tenantId: string, jobId: string): Promise<void>;
  /** Unexpired slots held by the tenant. */
  slotsInUse(tenantId: string, now: Date): Promise<number>;
}

/**
 * One GCRA step, shared by the adapters so they agree to the millisecond.
 *
 * @example
 * ```ts
 * gcra(undefined, 1000, { ratePerSecond: 10, burst: 100 }); // allowed, tat = 1100, remaining 99
 * ```
 */
export function gcra(
  tat: number | undefined,
  nowMs: number,
  policy: RatePolicy,
): RateDecision & { tat: number } {
  const interval = 1000 / policy.ratePerSecond;
  const window = policy.burst * interval;
  const start = Math.max(tat ?? nowMs, nowMs);
  const next = start + interval;
  if (next - nowMs > window + 1e-6) {
    const retryAfterMs = Math.ceil(next - nowMs - window);
    return { allowed: false, remaining: 0, resetMs: Math.ceil(start - nowMs), retryAfterMs, tat: start };
  }
  const remaining = Math.max(0, Math.floor((nowMs + window - next) / interval + 1e-9));
  return { allowed: true, remaining, resetMs: Math.ceil(next - nowMs), retryAfterMs: 0, tat: next };
}
