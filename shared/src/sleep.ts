/**
 * Waiting: the one `sleep` of the code base (API, adapters, worker, local stack), so every wait
 * can be cut short the same way when a shutdown or a closed connection aborts it.
 */

/**
 * Resolves after `ms` milliseconds with `true`, or as soon as `signal` aborts with `false` (at
 * once when it is already aborted), so a shutdown does not wait out a backoff or a poll interval.
 * The timer and the abort listener are both removed whichever comes first.
 *
 * @example
 * ```ts
 * await sleep(250); // true after a quarter second
 * const stop = new AbortController();
 * const waited = sleep(60_000, stop.signal);
 * stop.abort();
 * await waited; // false, at once
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
