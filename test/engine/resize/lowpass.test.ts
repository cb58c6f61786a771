import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import { verifyFixture } from '../../../gpu-task/src/engine/fixtures/verify-fixture.js';
import { axisWeights, BicubicResizer, resizeBicubic } from '../../../gpu-task/src/engine/resize/bicubic.js';
import { LowPassFilter } from '../../../gpu-task/src/engine/resize/lowpass.js';
import {
  extraFixturesDir,
  fixtureDirs,
  repositoryFixtureDirs,
  SHARED_ABSENT_MESSAGE,
  sharedFixturesDir,
  sharedFixturesPresent,
} from '../helpers/fixture-paths.js';

function randomPlanes(count: number, seed = 1): Float32Array {
  // Small LCG: the tests need varied values, not statistical quality.
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

describe('low-pass filter against reference fixtures', () => {
  const local = repositoryFixtureDirs('lowpass-');

  it.each(local.map((dir) => [path.basename(dir), dir]))(
    'committed %s matches within 1e-5',
    async (_name, dir) => {
      // Act
      const result = await verifyFixture(dir);

      // Assess
      expect(result.tolerance).toBe(1e-5);
      expect(result.maxAbsError).toBeLessThanOrEqual(1e-5);
      expect(result.passed).toBe(true);
    },
  );

  it.skipIf(!sharedFixturesPresent)(
    'every shared lowpass-* fixture matches within 1e-5 (down and Phi_N)',
    async () => {
      const dirs = fixtureDirs(sharedFixturesDir, 'lowpass-');
      expect(dirs.length).toBeGreaterThanOrEqual(2);
      for (const dir of dirs) {
        const result = await verifyFixture(dir);
        if (result.details.kind !== 'lowpass') throw new Error('expected a lowpass fixture');
        for (const factor of result.details.factors) {
          expect(factor.downMaxAbsError, `${path.basename(dir)} down_${factor.n}`).toBeLessThanOrEqual(1e-5);
          expect(factor.lowPassMaxAbsError, `${path.basename(dir)} lowpass_${factor.n}`).toBeLessThanOrEqual(
            1e-5,
          );
        }
      }
    },
  );
  if (!sharedFixturesPresent) it.skip(SHARED_ABSENT_MESSAGE, () => undefined);
});

describe('LowPassFilter', () => {
  it('is the identity for N = 1', () => {
    const x = randomPlanes(3 * 16 * 16);
    const out = new Float32Array(x.length);
    LowPassFilter.get(16, 1).apply(x, out, 3);
    expect(out).toEqual(x);
  });

  it('gives the same result in place as out of place, for a batch of planes', () => {
    // Prepare
    const x = randomPlanes(6 * 32 * 32, 7);
    const filter = LowPassFilter.get(32, 4);
    const out = new Float32Array(x.length);

    // Act
    filter.apply(x, out, 6);
    const inPlace = x.slice();
    filter.applyInPlace(inPlace, 6);

    // Assess
    expect(inPlace).toEqual(out);
  });

  it('keeps constant images constant (normalised weights, mirrored borders)', () => {
    const out = new Float32Array(64 * 64);
    LowPassFilter.get(64, 16).apply(new Float32Array(64 * 64).fill(0.25), out, 1);
    for (const value of out) expect(value).toBeCloseTo(0.25, 6);
  });

  it.each([
    [64, 3, /power of two/],
    [64, 0, /power of two/],
    [64, 128, /must divide the image size/],
    [48, 32, /must divide the image size/],
    [64, 2.5, /power of two/],
  ])('rejects size %i with N = %s', (size, factor, message) => {
    expect(() => new LowPassFilter(size, factor)).toThrow(InvalidParametersError);
    expect(() => new LowPassFilter(size, factor)).toThrow(message);
  });
});

interface ResizeCase {
  in_size: [number, number];
  out_size: [number, number];
  input: number[][];
  expected: number[][];
}

describe('bicubic resize (general sizes)', () => {
  const generated = JSON.parse(
    readFileSync(path.join(extraFixturesDir, 'resize-general', 'case.json'), 'utf8'),
  ) as { cases: ResizeCase[] };

  it.each(generated.cases.map((c) => [`${c.in_size.join('x')} -> ${c.out_size.join('x')}`, c]))(
    'matches the independent float64 generator for %s',
    (_label, resizeCase) => {
      // Prepare
      const [inHeight, inWidth] = resizeCase.in_size;
      const [outHeight, outWidth] = resizeCase.out_size;
      const input = Float32Array.from(resizeCase.input.flat());

      // Act
      const out = resizeBicubic(input, 1, inHeight, inWidth, outHeight, outWidth);

      // Assess
      const expected = resizeCase.expected.flat();
      let max = 0;
      for (let i = 0; i < expected.length; i++)
        max = Math.max(max, Math.abs((out[i] as number) - (expected[i] as number)));
      expect(max).toBeLessThanOrEqual(1e-6);
    },
  );

  it('uses a fixed number of taps per output and normalised weights', () => {
    const axis = axisWeights(100, 64);
    expect(axis.indices.length).toBe(64 * axis.taps);
    for (let o = 0; o < 64; o++) {
      let sum = 0;
      for (let k = 0; k < axis.taps; k++) sum += axis.weights[o * axis.taps + k] as number;
      expect(sum).toBeCloseTo(1, 12);
    }
    expect(Math.min(...axis.indices)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...axis.indices)).toBeLessThan(100);
  });

  it('upscales 64 -> 128 reproducing a linear ramp away from the borders', () => {
    // Prepare: f(x, y) = x; bicubic interpolation reproduces linear functions exactly.
    const ramp = Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 64) / 64);

    // Act
    const out = resizeBicubic(ramp, 1, 64, 64, 128, 128);

    // Assess: output column o samples input position (o + 0.5) / 2 - 0.5.
    for (const o of [8, 40, 100]) expect(out[50 * 128 + o]).toBeCloseTo(((o + 0.5) / 2 - 0.5) / 64, 6);
  });

  it('refuses output arrays that are too small', () => {
    const resizer = BicubicResizer.get(8, 8, 4, 4);
    expect(() => resizer.resize(new Float32Array(64), new Float32Array(10), 1)).toThrow(
      InvalidParametersError,
    );
  });
});

describe('LowPassFilter.refine', () => {
  it('computes x - Phi_N(x) + reference in one pass', () => {
    // Prepare
    const planes = 3;
    const x = randomPlanes(planes * 32 * 32, 21);
    const reference = randomPlanes(planes * 32 * 32, 22);
    const filter = LowPassFilter.get(32, 8);
    const filtered = new Float32Array(x.length);
    filter.apply(x, filtered, planes);

    // Act
    const refined = x.slice();
    filter.refine(refined, reference, planes);

    // Assess
    for (let i = 0; i < x.length; i += 37) {
      expect(refined[i]).toBeCloseTo(
        (x[i] as number) - (filtered[i] as number) + (reference[i] as number),
        6,
      );
    }
  });

  it('replaces x by the reference for N = 1', () => {
    const x = randomPlanes(16 * 16, 1);
    const reference = randomPlanes(16 * 16, 2);
    LowPassFilter.get(16, 1).refine(x, reference, 1);
    expect(x).toEqual(reference);
  });
});
