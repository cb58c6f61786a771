import { describe, expect, it } from 'vitest';
import { expNearZero } from '../../../gpu-task/src/engine/sampler/fast-exp.js';

describe('expNearZero', () => {
  it('matches Math.exp within 1e-9 relative on the polynomial range and its edges', () => {
    let worst = 0;
    for (let i = -1000; i <= 1000; i++) {
      const z = (i / 1000) * 0.25;
      worst = Math.max(worst, Math.abs(expNearZero(z) / Math.exp(z) - 1));
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('falls back to Math.exp outside the range and for NaN', () => {
    for (const z of [0.2500001, -0.3, 5, -40, 800]) expect(expNearZero(z)).toBe(Math.exp(z));
    expect(expNearZero(Number.NaN)).toBeNaN();
    expect(expNearZero(0)).toBe(1);
  });
});
