/**
 * The sampler time a canceled job is metered for (batch-runner.ts StepClock): steps taken times
 * the median gap between them, so the time around the sampler (decoding, detection, encoding,
 * the enhancer between face groups) is not billed as model time.
 */
import { describe, expect, it } from 'vitest';
import { StepClock } from '../../gpu-task/src/worker/batch-runner.js';

/** A clock that returns the given instants (ms) in turn. */
function clockAt(...instants: number[]): () => number {
  let i = 0;
  return () => instants[i++] ?? Number.NaN;
}

describe('StepClock', () => {
  it('bills steps x the median step, not the gaps between face groups', () => {
    // Prepare: five steps of 50 ms, with a 1 s gap (another group's enhancer) between the 3rd and 4th
    const steps = new StepClock(clockAt(2000, 2050, 2100, 3100, 3150));
    // Act
    for (let i = 0; i < 5; i++) steps.tick();
    // Assess
    expect(steps.modelSeconds()).toBeCloseTo(0.25, 9);
  });

  it('bills nothing before two steps (a call aborted while decoding or detecting)', () => {
    const none = new StepClock(clockAt());
    const one = new StepClock(clockAt(10));
    one.tick();
    expect([none.modelSeconds(), one.modelSeconds()]).toEqual([0, 0]);
  });
});
