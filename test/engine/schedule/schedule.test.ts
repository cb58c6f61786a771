import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import { verifyFixture } from '../../../gpu-task/src/engine/fixtures/verify-fixture.js';
import { betaSchedule, linspace } from '../../../gpu-task/src/engine/schedule/beta-schedule.js';
import {
  RespacedSchedule,
  respacedTimesteps,
} from '../../../gpu-task/src/engine/schedule/respaced-schedule.js';
import { roundHalfToEven } from '../../../gpu-task/src/engine/schedule/rounding.js';
import {
  fixtureDirs,
  repositoryFixtureDirs,
  SHARED_ABSENT_MESSAGE,
  sharedFixturesDir,
  sharedFixturesPresent,
} from '../helpers/fixture-paths.js';

describe('respaced schedule against reference fixtures', () => {
  const local = repositoryFixtureDirs('schedule-');

  it.each(local.map((dir) => [path.basename(dir), dir]))(
    'committed %s matches exactly',
    async (_name, dir) => {
      // Act
      const result = await verifyFixture(dir);

      // Assess: every non-log array and the map bit for bit, logs within 1 ulp.
      expect(
        result.details.notes.filter((note) => !note.startsWith('posterior_log_variance_clipped')),
      ).toEqual([]);
      expect(result.passed).toBe(true);
    },
  );

  it.skipIf(!sharedFixturesPresent)('every shared schedule-* fixture matches exactly', async () => {
    // Prepare
    const dirs = fixtureDirs(sharedFixturesDir, 'schedule-');
    expect(dirs.length).toBeGreaterThanOrEqual(3);

    for (const dir of dirs) {
      // Act
      const result = await verifyFixture(dir);

      // Assess
      expect(result.passed, `${path.basename(dir)}: ${result.details.notes.join('; ')}`).toBe(true);
      if (result.details.kind !== 'schedule') throw new Error('expected a schedule fixture');
      for (const [name, array] of Object.entries(result.details.arrays)) {
        if (name === 'posterior_log_variance_clipped') expect(array.maxUlps).toBeLessThanOrEqual(1);
        else expect(array.mismatches, name).toBe(0);
      }
    }
  });
  if (!sharedFixturesPresent) it.skip(SHARED_ABSENT_MESSAGE, () => undefined);
});

describe('respacedTimesteps', () => {
  it('keeps the reference timesteps for K = 100 (not exactly every 10th)', () => {
    expect(respacedTimesteps(1000, 100).slice(0, 8)).toEqual([0, 10, 20, 30, 40, 50, 61, 71]);
  });

  it('accumulates the stride like the reference, so an exact .5 can round down (K = 21)', () => {
    // 10 * 999 / 20 = 499.5 exactly, but the accumulated stride lands just below it.
    expect(respacedTimesteps(1000, 21)[10]).toBe(499);
  });

  it('keeps every timestep when K = T and both ends always', () => {
    const map = respacedTimesteps(50, 50);
    expect(map).toEqual(Array.from({ length: 50 }, (_, k) => k));
    expect(respacedTimesteps(1000, 2)).toEqual([0, 999]);
  });

  it.each([1, 0, 1001, 2.5, Number.NaN])('rejects K = %s', (steps) => {
    expect(() => respacedTimesteps(1000, steps)).toThrow(InvalidParametersError);
  });
});

describe('RespacedSchedule', () => {
  it('is cached per config and shared between batches', () => {
    const config = { betaSchedule: 'linear', numTimesteps: 1000, steps: 100 } as const;
    expect(RespacedSchedule.get(config)).toBe(RespacedSchedule.get({ ...config }));
    expect(RespacedSchedule.get({ ...config, steps: 50 })).not.toBe(RespacedSchedule.get(config));
  });

  it('rejects K outside 2..T with a message naming the range', () => {
    expect(() => RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 1 })).toThrow(
      /steps must be an integer between 2 and 1000/,
    );
    expect(() => RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 1500 })).toThrow(
      InvalidParametersError,
    );
  });

  it('derives fixed variances as improved DDPM does', () => {
    // Prepare
    const schedule = RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 10 });

    // Act
    const small = schedule.fixedVariance('fixed_small');
    const large = schedule.fixedVariance('fixed_large');

    // Assess: small is the posterior variance; large is beta' with entry 0 from the posterior.
    expect(small.variance).toBe(schedule.posteriorVariance);
    expect(large.variance[0]).toBe(schedule.posteriorVariance[1]);
    expect(Array.from(large.variance.subarray(1))).toEqual(Array.from(schedule.betas.subarray(1)));
    expect(large.logVariance[3]).toBeCloseTo(Math.log(schedule.betas[3] as number), 15);
  });

  it('supports the cosine schedule (monotone abar, betas clipped at 0.999)', () => {
    // Act
    const betas = betaSchedule({ name: 'cosine', numTimesteps: 1000 });
    const schedule = RespacedSchedule.get({ betaSchedule: 'cosine', numTimesteps: 1000, steps: 100 });

    // Assess
    expect(Math.max(...betas)).toBeLessThanOrEqual(0.999);
    expect(betas[999]).toBe(0.999);
    expect(betas[0]).toBeGreaterThan(0);
    for (let k = 1; k < schedule.steps; k++) {
      expect(schedule.alphasCumprod[k]).toBeLessThan(schedule.alphasCumprod[k - 1] as number);
    }
  });

  it('scales the linear schedule to T like guided-diffusion (scale = 1000 / T)', () => {
    const betas = betaSchedule({ name: 'linear', numTimesteps: 500 });
    expect(betas[0]).toBeCloseTo(2e-4, 15);
    expect(betas[499]).toBeCloseTo(0.04, 15);
  });

  it('rejects an unknown beta schedule', () => {
    expect(() => betaSchedule({ name: 'quadratic' as 'linear', numTimesteps: 1000 })).toThrow(
      /unknown beta schedule/,
    );
  });
});

describe('numeric helpers', () => {
  it('roundHalfToEven rounds ties to the even neighbour like Python', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001].map(roundHalfToEven)).toEqual([0, 2, 2, 4, 2, 3]);
  });

  it('linspace ends exactly at both bounds', () => {
    const values = linspace(0.0001, 0.02, 1000);
    expect(values[0]).toBe(0.0001);
    expect(values[999]).toBe(0.02);
  });
});
