/**
 * Exponential backoff with jitter, for webhook retries and for releasing messages that failed
 * for a transient reason. (Waiting itself is `sleep` from shared/src/sleep.ts.)
 */

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  baseMs: number;
  /** Ceiling of any single delay, in ms. */
  maxMs: number;
  /**
   * Share of the delay that is random (0 = none, 1 = "full jitter"). Jitter keeps many workers
   * that failed at the same moment from retrying in lockstep.
   */
  jitter: number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): `baseMs * 2^(retry-1)`, capped at
 * `maxMs`, of which a `jitter` share is drawn at random.
 *
 * @example
 * ```ts
 * backoffDelayMs(3, { baseMs: 1000, maxMs: 8000, jitter: 0 }); // 4000
 * backoffDelayMs(3, { baseMs: 1000, maxMs: 8000, jitter: 0.5 }); // 2000 to 4000
 * ```
 */
export function backoffDelayMs(
  retry: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponential = policy.baseMs * 2 ** Math.max(0, retry - 1);
  const capped = Math.min(policy.maxMs, exponential);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(capped * (1 - jitter) + capped * jitter * random());
}
