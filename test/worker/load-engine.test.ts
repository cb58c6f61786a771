/**
 * The worker's model loading (loadWorkerEngine, the ECS worker's and the local stack's alike):
 * an operator who deploys another model than the embedded one is told that `auto`, the jobs'
 * default, chooses with a calibration fitted elsewhere; one who declares commercial use
 * (DR2E_COMMERCIAL_USE) gets no worker on non-commercial weights.
 */
import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { createJsonLogger } from '../../shared/src/index.js';
import { loadWorkerEngine } from '../../gpu-task/src/worker/index.js';
import { TINY_MODEL } from './helpers/worker-env.js';

/** Load a model as the worker does, and the warnings it logged. */
async function warningsLoading(model: string | undefined): Promise<{ msg: string; fix?: string }[]> {
  const lines: string[] = [];
  const config = loadRuntimeConfig({ DR2E_MODE: 'local', ...(model ? { DR2E_MODEL: model } : {}) });
  const engine = await loadWorkerEngine(config, createJsonLogger({ write: (line) => lines.push(line) }));
  await engine.dispose();
  return lines
    .map((line) => JSON.parse(line) as { level: string; msg: string; fix?: string })
    .filter((entry) => entry.level === 'warn');
}

describe('loadWorkerEngine', () => {
  it("warns that auto's calibration belongs to another model, saying what to do, and not for the embedded model", async () => {
    // Act
    const tiny = await warningsLoading(TINY_MODEL);
    const embedded = await warningsLoading(undefined);
    // Assess
    expect(tiny).toHaveLength(1);
    expect(tiny[0]?.msg).toMatch(/auto's calibration was not fitted on this model/);
    expect(tiny[0]?.fix).toMatch(/scripts\/calibrate-quality\.ts/);
    expect(embedded).toEqual([]);
  });

  it('refuses to start on non-commercial weights when the deployment declares commercial use, and starts on others', async () => {
    // Prepare
    const env = { DR2E_MODE: 'local', DR2E_COMMERCIAL_USE: 'true' };
    const lines: string[] = [];
    const log = createJsonLogger({ write: (line) => lines.push(line) });
    // Act
    const refused = loadWorkerEngine(loadRuntimeConfig(env), log).then((engine) => engine.dispose());
    const settled = await refused.then(
      () => null,
      (error: unknown) => error,
    );
    const tiny = await loadWorkerEngine(loadRuntimeConfig({ ...env, DR2E_MODEL: TINY_MODEL }), log);
    await tiny.dispose();
    // Assess: the embedded default (UTKFace, non-commercial) is refused with a code and the
    // licence named; the tiny model (MIT) starts, its load logged with the declaration
    expect(settled).toMatchObject({ code: 'non_commercial_weights', retryable: false });
    expect((settled as Error).message).toMatch(/UTKFace: non-commercial research use only/);
    const loaded = lines
      .map((line) => JSON.parse(line) as { msg: string; model?: string; commercialUse?: boolean })
      .filter((entry) => entry.msg === 'model loaded');
    expect(loaded).toEqual([expect.objectContaining({ model: 'tiny', commercialUse: true })]);
  });

  it('reads DR2E_COMMERCIAL_USE as true or false only (default false)', () => {
    expect(loadRuntimeConfig({}).DR2E_COMMERCIAL_USE).toBe(false);
    expect(loadRuntimeConfig({ DR2E_COMMERCIAL_USE: 'true' }).DR2E_COMMERCIAL_USE).toBe(true);
    expect(loadRuntimeConfig({ DR2E_COMMERCIAL_USE: 'false' }).DR2E_COMMERCIAL_USE).toBe(false);
    expect(() => loadRuntimeConfig({ DR2E_COMMERCIAL_USE: 'yes' })).toThrow(/DR2E_COMMERCIAL_USE/);
  });
});
