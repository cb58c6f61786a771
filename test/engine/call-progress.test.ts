/**
 * A call's progress over its sampler runs (engine/call-progress): one count from 1 to a total
 * known before the first run, never falling back when the next run starts.
 */
import { describe, expect, it } from 'vitest';
import { CallProgress, type RestoreProgress } from '../../gpu-task/src/engine/call-progress.js';
import { modelCallsOf } from '../../gpu-task/src/engine/sampler/dr2-sampler.js';

/**
 * Drive one sampler run's onStep as the sampler does (steps 1..total of that run), then tell
 * the progress the run came through whole; with `breakAfter`, the run breaks after that step
 * instead and `reruns` run again alone.
 */
async function runSteps(
  progress: CallProgress,
  images: readonly string[],
  total: number,
  broken?: { breakAfter: number; reruns: { omega: number; tau: number }[][] },
): Promise<void> {
  const onStep = progress.nextRun(images);
  for (let step = 1; step <= (broken?.breakAfter ?? total); step++) {
    await onStep?.({ step, total, index: 0, timestep: 0 });
  }
  await (broken ? progress.runBroke(broken.reruns) : progress.runDone());
}

/** What every listener of a call relies on: the count only rises and meets the total once, at the end. */
function expectForwardToTheEnd(reports: readonly RestoreProgress[]): void {
  const steps = reports.map((p) => p.step);
  expect(steps.every((step, i) => i === 0 || step >= steps[i - 1]!)).toBe(true);
  expect(reports.every((p) => p.step <= p.total)).toBe(true);
  expect(reports.slice(0, -1).every((p) => p.step < p.total)).toBe(true);
  const last = reports.at(-1)!;
  expect(last.step).toBe(last.total);
}

const TEN = { omega: 9, tau: 0 };

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
    await runSteps(progress, ['a.jpg', 'b.jpg'], 21);
    await runSteps(progress, ['b.jpg'], 11);
    // Assess
    expect(reports.map((p) => p.step)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(new Set(reports.map((p) => p.total))).toEqual(new Set([32]));
    expect(reports[20]).toEqual({ step: 21, total: 32, run: 1, images: ['a.jpg', 'b.jpg'] });
    expect(reports[21]).toEqual({ step: 22, total: 32, run: 2, images: ['b.jpg'] });
    expectForwardToTheEnd(reports);
  });

  it('holds the last step until its run came through whole', async () => {
    // Prepare
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress([[TEN]], (p) => void reports.push(p));
    // Act: every step of the only run, not yet done
    const onStep = progress.nextRun(['a']);
    for (let step = 1; step <= 10; step++) await onStep?.({ step, total: 10, index: 0, timestep: 0 });
    const before = reports.length;
    await progress.runDone();
    // Assess
    expect(before).toBe(9);
    expect(reports.at(-1)).toEqual({ step: 10, total: 10, run: 1, images: ['a'] });
  });

  it('drops what a run broken partway did not do, adds its reruns, and still ends on the total', async () => {
    // Prepare: two planned runs of 10; the first (two images) breaks after step 3
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress([[TEN, TEN], [TEN]], (p) => void reports.push(p));
    // Act
    await runSteps(progress, ['first', 'white'], 10, { breakAfter: 3, reruns: [[TEN], [TEN]] });
    await runSteps(progress, ['first'], 10);
    await runSteps(progress, ['white'], 10);
    await runSteps(progress, ['third'], 10);
    // Assess: 3 + 10 + 10 + 10 model calls
    expect(reports.slice(0, 3).map((p) => p.total)).toEqual([20, 20, 20]);
    expect(reports[3]).toEqual({ step: 3, total: 33, run: 1, images: ['first', 'white'] });
    expect(reports.slice(4).every((p) => p.total === 33)).toBe(true);
    expect(reports.at(-1)).toEqual({ step: 33, total: 33, run: 4, images: ['third'] });
    expectForwardToTheEnd(reports);
  });

  it('reports the new total of a run that broke after its last step (the enhancer), not the old one', async () => {
    // Prepare: one run of two images, whose output breaks once sampled
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress([[TEN, TEN]], (p) => void reports.push(p));
    // Act
    await runSteps(progress, ['first', 'white'], 10, { breakAfter: 10, reruns: [[TEN], [TEN]] });
    await runSteps(progress, ['first'], 10);
    await runSteps(progress, ['white'], 10);
    // Assess: 10 of 10 is never said while the reruns are still to come
    expect(reports.some((p) => p.step === 10 && p.total === 10)).toBe(false);
    expect(reports[9]).toEqual({ step: 10, total: 30, run: 1, images: ['first', 'white'] });
    expectForwardToTheEnd(reports);
  });

  it('ends on the total when the last run, of one image, breaks partway', async () => {
    // Prepare
    const reports: RestoreProgress[] = [];
    const progress = new CallProgress([[TEN], [TEN]], (p) => void reports.push(p));
    // Act
    await runSteps(progress, ['a'], 10);
    await runSteps(progress, ['b'], 10, { breakAfter: 4, reruns: [] });
    // Assess
    expect(reports.at(-1)).toEqual({ step: 14, total: 14, run: 2, images: ['b'] });
    expectForwardToTheEnd(reports);
  });

  it('reports nothing without a listener', () => {
    const progress = new CallProgress([[TEN]], undefined);
    expect(progress.nextRun(['a'])).toBeUndefined();
  });
});
