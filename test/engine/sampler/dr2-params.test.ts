import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import {
  DR2_PRESETS,
  defaultOmegaOffset,
  resolveDr2Params,
  validateDr2Params,
} from '../../../gpu-task/src/engine/sampler/dr2-params.js';

describe('resolveDr2Params', () => {
  it('defaults to the mild preset with K = 100 when nothing is given', () => {
    expect(resolveDr2Params({}, 256)).toEqual({ n: 4, tau: 22, omega: 42, steps: 100 });
  });

  it.each([
    ['mild', { n: 4, tau: 22, omega: 42 }],
    ['medium', { n: 8, tau: 35, omega: 60 }],
    ['severe', { n: 16, tau: 35, omega: 65 }],
  ] as const)('resolves the %s preset to the paper demo settings', (preset, expected) => {
    expect(resolveDr2Params({ preset }, 256)).toEqual({ ...expected, steps: 100 });
  });

  it('derives omega from N like the paper code (+5, +10, +20, +25, +30)', () => {
    expect([1, 2, 4, 8, 16, 32].map(defaultOmegaOffset)).toEqual([5, 10, 20, 25, 30, 30]);
    expect(resolveDr2Params({ n: 1, tau: 5 }, 64).omega).toBe(10);
    expect(resolveDr2Params({ n: 2, tau: 10 }, 64).omega).toBe(20);
  });

  it('lets explicit values override a preset', () => {
    expect(resolveDr2Params({ preset: 'severe', tau: 20 }, 256)).toEqual({
      n: 16,
      tau: 20,
      omega: 50,
      steps: 100,
    });
    expect(resolveDr2Params({ preset: 'mild', n: 8, omega: 70 }, 256)).toEqual({
      n: 8,
      tau: 22,
      omega: 70,
      steps: 100,
    });
  });

  it('caps the default omega at K - 1', () => {
    expect(resolveDr2Params({ n: 16, tau: 90 }, 256).omega).toBe(99);
  });

  it('moves presets to the same point of another K and treats explicit tau/omega as K-grid indices', () => {
    expect(resolveDr2Params({ preset: 'mild', steps: 50 }, 256)).toEqual({
      n: 4,
      tau: 11,
      omega: 21,
      steps: 50,
    });
    expect(resolveDr2Params({ preset: 'mild', steps: 50, tau: 30, omega: 49 }, 256)).toEqual({
      n: 4,
      tau: 30,
      omega: 49,
      steps: 50,
    });
  });

  it('accepts tau = 0 and omega = K - 1', () => {
    expect(resolveDr2Params({ n: 2, tau: 0, omega: 99 }, 64)).toEqual({
      n: 2,
      tau: 0,
      omega: 99,
      steps: 100,
    });
  });

  it.each([
    [{ preset: 'extreme' }, /unknown preset "extreme"/],
    [{ n: 3 }, /power of two/],
    [{ n: 128 }, /must divide the image size \(64\)/],
    [{ tau: 40, omega: 30 }, /tau \(40\) must be less than omega \(30\)/],
    [{ tau: 30, omega: 30 }, /tau \(30\) must be less than omega/],
    [{ tau: -1 }, /tau must be >= 0/],
    [{ omega: 100 }, /omega \(100\) must be at most steps - 1 \(99\)/],
    [{ tau: 2.5 }, /tau must be an integer/],
    [{ steps: 1 }, /steps must be between 2 and 1000/],
    [{ steps: 2000 }, /steps must be between 2 and 1000/],
    [{ steps: 60.5 }, /steps must be an integer/],
    [{ tau: 99 }, /tau \(99\) must be less than steps - 1 \(99\): .*100-step respaced schedule/],
    [{ tau: 200 }, /tau \(200\) must be less than steps - 1 \(99\)/],
    [{ tau: 20, steps: 20 }, /tau \(20\) must be less than steps - 1 \(19\)/],
  ])('rejects %o with a message naming the problem', (request, message) => {
    expect(() => resolveDr2Params(request, 64)).toThrow(InvalidParametersError);
    expect(() => resolveDr2Params(request, 64)).toThrow(message);
  });

  it('bounds K by the training timesteps when told', () => {
    expect(() => resolveDr2Params({ steps: 600 }, 64, { numTimesteps: 500 })).toThrow(/between 2 and 500/);
  });

  it('exposes immutable presets', () => {
    expect(Object.isFrozen(DR2_PRESETS)).toBe(true);
    expect(Object.isFrozen(DR2_PRESETS.mild)).toBe(true);
  });
});

describe('validateDr2Params', () => {
  it('accepts valid settings and rejects N that does not divide the resolution', () => {
    expect(() => validateDr2Params({ n: 4, tau: 22, omega: 42, steps: 100 }, 64)).not.toThrow();
    expect(() => validateDr2Params({ n: 16, tau: 22, omega: 42, steps: 100 }, 40)).toThrow(/must divide/);
  });
});
