/**
 * A `fidelity` that changed nothing is reported, not left silent: the engine adds the warning
 * `fidelity_unused` to each result when the schedule was fixed, whether by the request (explicit
 * n/tau) or by the model's pipeline defaulting to a fixed preset. The latter is what a worker
 * meets: the API accepts `fidelity` without a preset, not knowing the deployment's model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_WARNINGS } from '../../shared/src/index.js';
import { Dr2eEngine, type Dr2ParamsRequest, fidelityIgnoredBy } from '../../gpu-task/src/engine/index.js';
import { tinyModelDir, writeFixedPresetPipeline } from './helpers/fixture-paths.js';

let work: string;
let fixedDefault: Dr2eEngine;
let autoDefault: Dr2eEngine;
let input: Uint8Array;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'dr2e-fidelity-unused-'));
  // The tiny networks under a pipeline that defaults to the fixed preset medium.
  const manifest = await writeFixedPresetPipeline(path.join(work, 'tiny-medium.json'), 'medium');
  fixedDefault = await Dr2eEngine.load({ model: manifest, device: 'cpu' });
  autoDefault = await Dr2eEngine.load({ model: path.join(tinyModelDir, 'pipeline.json'), device: 'cpu' });
  const side = 64;
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = 60 + ((i * 37) % 120);
  input = new Uint8Array(
    await sharp(data, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toBuffer(),
  );
});
afterAll(async () => {
  await fixedDefault?.dispose();
  await autoDefault?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The warnings of one aligned crop restored with `params` (a few steps: only the schedule matters). */
async function warningsOf(engine: Dr2eEngine, params: Dr2ParamsRequest): Promise<string[]> {
  const [result] = await engine.restoreImages([{ id: 'crop', bytes: input, seed: 3 }], {
    aligned: true,
    params: { steps: 4, ...params },
  });
  if (!result?.ok) throw new Error(`restore failed: ${result?.ok === false ? result.error.message : 'none'}`);
  return result.warnings;
}

describe('fidelity that changed nothing', () => {
  it('is reported when the model defaults to a fixed preset, and not once auto is asked for', async () => {
    // Act
    const defaulted = await warningsOf(fixedDefault, { fidelity: 0.2 });
    const withAuto = await warningsOf(fixedDefault, { preset: 'auto', fidelity: 0.2 });
    const withoutFidelity = await warningsOf(fixedDefault, {});
    // Assess
    expect(defaulted).toContain('fidelity_unused');
    expect(withAuto).not.toContain('fidelity_unused');
    expect(withoutFidelity).not.toContain('fidelity_unused');
  });

  it('is reported beside explicit n/tau, and not on an auto model', async () => {
    // Act
    const explicit = await warningsOf(autoDefault, { n: 2, tau: 1, omega: 3, fidelity: 0.2 });
    const auto = await warningsOf(autoDefault, { fidelity: 0.2 });
    // Assess
    expect(explicit).toContain('fidelity_unused');
    expect(auto).not.toContain('fidelity_unused');
  });

  it('is a warning the API knows, and fidelityIgnoredBy tells its causes apart', () => {
    expect(Object.keys(KNOWN_WARNINGS)).toContain('fidelity_unused');
    expect(fidelityIgnoredBy({ preset: 'medium', fidelity: 0.2 })).toBe('preset');
    expect(fidelityIgnoredBy({ n: 4, tau: 22, fidelity: 0.2 })).toBe('explicit');
    expect(fidelityIgnoredBy({ preset: 'auto', fidelity: 0.2 })).toBeNull();
    expect(fidelityIgnoredBy({ preset: 'medium' })).toBeNull();
  });
});
