/**
 * A call's progress over its sampler runs (engine/call-progress): one count from 1 to a total
 * known before the first run, never falling back when the next run starts.
 */
import { describe, expect, it } from 'vitest';
import { CallProgress, type RestoreProgress } from '../../gpu-task/src/engine/call-progress.js';
import { modelCallsOf } from '../../gpu-task/src/engine/sampler/dr2-sampler.js';

/** Drive one sampler run's onStep as the sampler does: steps 1..total of that run. */
async function runSteps(onStep: ReturnType<CallProgress['nextRun']>, total: number): Promise<void> {
  for (let step = 1; step <= total; step++) await onStep?.({ step, total, index: 0, timestep: 0 });
}

describe('modelCallsOf', () => {
  it('counts the steps from the largest omega to the smallest tau where some image is active', () => {
    expect(modelCallsOf([{ omega: 30, tau: 10 }])).toBe(21);
    // Overlapping ranges share their steps.
    expect(
      modelCallsOf([
        { omega: 30, tau: 10 },
        { omega: 40, tau: 20 },
      ]),
    ).toBe(31);
    // Steps between two ranges that no image needs are skipped.
    expect(
      modelCallsOf([
        { omega: 30, tau: 10 },
        { omega: 50, tau: 40 },
      ]),
    ).toBe(32);
    expect(modelCallsOf([])).toBe(0);
  });
});

describe('CallProgress', () => {
  it('adds the runs up: every step one more than the last, the total the plan', async () => {
    // Prepare: two runs of 21 and 11 model calls
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress(
      [
        [{ omega: 30, tau: 10 }],
        [
          { omega: 50, tau: 40 },
          { omega: 45, tau: 41 },
        ],
      ],
      (p) => void reports.push(p),
    );
    // Act
    await runSteps(progress.nextRun(['a.jpg', 'b.jpg']), 21);
    await runSteps(progress.nextRun(['b.jpg']), 11);
    // Assess
    expect(reports.map((p) => p.step)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(new Set(reports.map((p) => p.total))).toEqual(new Set([32]));
    expect(reports[20]).toEqual({ step: 21, total: 32, run: 1, images: ['a.jpg', 'b.jpg'] });
    expect(reports[21]).toEqual({ step: 22, total: 32, run: 2, images: ['b.jpg'] });
  });

  it('grows the total for a run the plan did not count, and the count never falls', async () => {
    // Prepare: one planned run of 10; its output breaks, so its two members run again alone
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress(
      [
        [
          { omega: 9, tau: 0 },
          { omega: 9, tau: 0 },
        ],
      ],
      (p) => void reports.push(p),
    );
    // Act
    await runSteps(progress.nextRun(['first', 'white']), 10);
    await runSteps(progress.nextRun(['first']), 10);
    await runSteps(progress.nextRun(['white']), 10);
    // Assess
    const steps = reports.map((p) => p.step);
    expect(steps).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const totals = reports.map((p) => p.total);
    expect(totals.slice(0, 10)).toEqual(new Array(10).fill(10));
    expect(totals.every((total, i) => i === 0 || total >= totals[i - 1]!)).toBe(true);
    expect(reports.every((p) => p.step <= p.total)).toBe(true);
    expect(reports.at(-1)).toEqual({ step: 30, total: 30, run: 3, images: ['white'] });
  });

  it('counts nothing without a listener', () => {
    const progress = new CallProgress([[{ omega: 9, tau: 0 }]], undefined);
    expect(progress.nextRun(['a'])).toBeUndefined();
  });
});
