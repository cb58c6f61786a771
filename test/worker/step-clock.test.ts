/**
 * The model time a job canceled mid-run is metered for (batch-runner.ts StepClock): from the
 * engine call's start to its last sampler step, or to the abort when no step was reached, so the
 * step cut short and what follows the abort are not billed.
 */
import { describe, expect, it } from 'vitest';
import { StepClock } from '../../gpu-task/src/worker/batch-runner.js';

/** A clock that returns the given instants (ms) in turn, then the last one again. */
function clockAt(...instants: number[]): () => number {
  let i = 0;
  return () => instants[Math.min(i++, instants.length - 1)]!;
}

describe('StepClock', () => {
  it('bills from the call start to its last step, not the step cut short by the abort', () => {
    // Prepare: started at 1000, detection until 1200, steps at 1250 ... 1400
    const clock = new StepClock(clockAt(1000, 1250, 1300, 1350, 1400));
    // Act
    for (let i = 0; i < 4; i++) clock.tick();
    // Assess: 0.4 s, whatever the time when it is read
    expect(clock.modelSeconds()).toBeCloseTo(0.4, 9);
  });

  it('bills a single step (omega one above tau), and the time until the abort when no step was reached', () => {
    const oneStep = new StepClock(clockAt(0, 5000));
    oneStep.tick();
    const duringDetection = new StepClock(clockAt(100, 350));
    expect([oneStep.modelSeconds(), duringDetection.modelSeconds()]).toEqual([5, 0.25]);
  });
});
