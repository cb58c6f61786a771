/**
 * The time source port. Domain code takes a `Clock` instead of calling `Date.now()`, so tests
 * can freeze and move time (visibility timeouts, signature expiry) without sleeping.
 */
export interface Clock {
  /** The current time. */
  now(): Date;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that only moves when told to; for tests.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(new Date('2025-01-01T00:00:00Z'));
 * clock.advance(30_000); // 30 s later
 * ```
 */
export class ManualClock implements Clock {
  private current: number;

  constructor(start: Date | number = Date.UTC(2025, 0, 1)) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  /** Moves time forward by `milliseconds`. */
  advance(milliseconds: number): void {
    this.current += milliseconds;
  }

  /** Jumps to a given time. */
  set(time: Date | number): void {
    this.current = typeof time === 'number' ? time : time.getTime();
  }
}

/** Whole unix seconds of a date (the unit of signed-URL expiries and webhook timestamps). */
export function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
