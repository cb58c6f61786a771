/**
 * Per-face settings through the engine with the shipped default model: one batched sampler loop
 * carrying faces with different (N, ω, τ) gives each face what it gets alone with the same seed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine } from '../../../gpu-task/src/engine/dr2e-engine.js';
import { SeededNormalSource } from '../../../gpu-task/src/engine/random/noise-source.js';
import { repoRoot } from '../helpers/fixture-paths.js';

describe('Dr2eEngine.restoreTensors with per-face settings (default model)', () => {
  let engine: Dr2eEngine;

  beforeAll(async () => {
    engine = await Dr2eEngine.load({
      model: path.join(repoRoot, 'gpu-task', 'models', 'default', 'pipeline.json'),
      intraOpThreads: 1,
    });
  });

  afterAll(async () => {
    await engine?.dispose();
  });

  it('gives each face of a mixed batch its result alone (same seeds), one model call per step', async () => {
    // Prepare: three faces entering at different omega and leaving at different tau
    const s = engine.resolution;
    const per = 3 * s * s;
    const y = new Float32Array(3 * per);
    new SeededNormalSource(4).fill(y);
    for (let k = 0; k < y.length; k++) y[k] = Math.tanh(0.5 * y[k]!);
    const settings = [
      engine.resolveParams({ n: 1, tau: 4, omega: 8 }),
      engine.resolveParams({ n: 4, tau: 6, omega: 12 }),
      engine.resolveParams({ n: 2, tau: 2, omega: 5 }),
    ];
    const seeds = [101, 102, 103];

    // Act
    const mixed = await engine.restoreTensors({ y, batch: 3, params: settings, seeds });
    const alone = [];
    for (let b = 0; b < 3; b++) {
      alone.push(
        await engine.restoreTensors({
          y: y.slice(b * per, (b + 1) * per),
          batch: 1,
          params: settings[b]!,
          seeds: [seeds[b]!],
        }),
      );
    }

    // Assess: the network evaluates each sample on its own; allow the backend's batch-size
    // dependent float rounding, nothing more
    expect(mixed.sampler.steps).toBe(12 - 2 + 1);
    for (let b = 0; b < 3; b++) {
      const together = mixed.dr2.subarray(b * per, (b + 1) * per);
      const single = alone[b]!.dr2;
      let worst = 0;
      for (let k = 0; k < per; k++) worst = Math.max(worst, Math.abs(together[k]! - single[k]!));
      expect(worst, `face ${b}`).toBeLessThan(1e-4);
    }
  });

  it('refuses a batch whose faces ask for different step counts K', async () => {
    const s = engine.resolution;
    await expect(
      engine.restoreTensors({
        y: new Float32Array(2 * 3 * s * s),
        batch: 2,
        params: [engine.resolveParams({ n: 2, tau: 2, steps: 50 }), engine.resolveParams({ n: 2, tau: 2 })],
        seeds: [1, 2],
      }),
    ).rejects.toThrow(/same steps/);
  });
});
