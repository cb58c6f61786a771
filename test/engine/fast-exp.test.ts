import { describe, expect, it } from 'vitest';
import { fastExp } from '../../gpu-task/src/engine/sampler/fast-exp.js';

describe('fastExp', () => {
  it('is within 1e-8 relative of Math.exp over the range the sampler uses and beyond', () => {
    // Prepare
    let worst = 0;

    // Act
    for (let u = -60; u <= 60; u += 0.0137) {
      worst = Math.max(worst, Math.abs(fastExp(u) / Math.exp(u) - 1));
    }

    // Assess
    expect(worst).toBeLessThan(1e-8);
  });

  it('falls back to Math.exp outside its table and for non-finite input', () => {
    expect(fastExp(800)).toBe(Math.exp(800));
    expect(fastExp(-800)).toBe(0);
    expect(fastExp(Number.NaN)).toBeNaN();
    expect(fastExp(0)).toBe(1);
  });
});
