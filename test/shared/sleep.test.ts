import { describe, expect, it } from 'vitest';
import { sleep } from '../../shared/src/index.js';

describe('sleep', () => {
  it('resolves true once the time has passed', async () => {
    const started = performance.now();
    expect(await sleep(20)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
  });

  it('resolves false as soon as its signal aborts, without waiting out the time', async () => {
    // Prepare
    const stop = new AbortController();
    const started = performance.now();
    // Act
    const waited = sleep(60_000, stop.signal);
    setTimeout(() => stop.abort(), 5);
    // Assess
    expect(await waited).toBe(false);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('resolves false at once when the signal is already aborted', async () => {
    expect(await sleep(60_000, AbortSignal.abort())).toBe(false);
  });

  it('leaves no abort listener behind once the time has passed', async () => {
    // Prepare
    const stop = new AbortController();
    let calls = 0;
    const removeEventListener = stop.signal.removeEventListener.bind(stop.signal);
    stop.signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
      calls += 1;
      removeEventListener(...args);
    };
    // Act
    await sleep(1, stop.signal);
    // Assess
    expect(calls).toBe(1);
  });
});
