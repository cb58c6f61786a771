/**
 * A model's own values of fixed presets: a pipeline manifest's `presets` replaces the scale-aware
 * (N, τ) of the presets it names (the default 64-px model's medium is N = 4, τ = 22, as N = 2
 * left colour speckle over faces), leaves the others as they are, and is checked against the
 * denoiser's resolution when the engine loads, not when the first job asks for it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, ModelContractError, resolveDr2Params } from '../../gpu-task/src/engine/index.js';
import { tinyModelDir } from './helpers/fixture-paths.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'dr2e-model-presets-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The tiny networks (64 px) under a pipeline with these `presets`. */
async function pipelineWith(presets: unknown): Promise<string> {
  const file = path.join(work, `tiny-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(
    file,
    JSON.stringify({
      schemaVersion: 1,
      role: 'pipeline',
      name: 'tiny-presets',
      denoiser: path.join(tinyModelDir, 'denoiser.json'),
      enhancer: path.join(tinyModelDir, 'enhancer.json'),
      presets,
    }),
  );
  return file;
}

describe("a pipeline's own preset values", () => {
  it('replace the scale-aware values of the presets they name, and only those', async () => {
    // Prepare
    const engine = await Dr2eEngine.load({
      model: await pipelineWith({ medium: { n: 4, tau: 22 } }),
      device: 'cpu',
    });
    try {
      // Act
      const medium = engine.resolveParams({ preset: 'medium' });
      const severe = engine.resolveParams({ preset: 'severe' });
      const overridden = engine.resolveParams({ preset: 'medium', tau: 30 });
      // Assess: ω follows N as for any preset; explicit values still win
      expect(medium).toEqual({ n: 4, tau: 22, omega: 42, steps: 100 });
      expect(severe).toEqual(resolveDr2Params({ preset: 'severe' }, 64));
      expect(overridden).toMatchObject({ n: 4, tau: 30 });
    } finally {
      await engine.dispose();
    }
  });

  it('are refused when the engine loads if the model cannot run them', async () => {
    // Prepare: N = 3 does not divide 64 (a power of two is asked for); N = 128 exceeds it
    const odd = await pipelineWith({ medium: { n: 3, tau: 22 } });
    const large = await pipelineWith({ severe: { n: 128, tau: 35 } });
    const misspelt = await pipelineWith({ meduim: { n: 4, tau: 22 } });
    // Act
    const errors = [];
    for (const model of [odd, large, misspelt]) {
      errors.push(
        await Dr2eEngine.load({ model, device: 'cpu' }).then(
          () => null,
          (error: unknown) => error,
        ),
      );
    }
    // Assess
    expect(errors[0]).toBeInstanceOf(ModelContractError);
    expect(String(errors[0])).toMatch(/presets\.medium/);
    expect(errors[1]).toBeInstanceOf(ModelContractError);
    expect(String(errors[1])).toMatch(/presets\.severe/);
    expect(String(errors[2])).toMatch(/meduim/);
  });
});
