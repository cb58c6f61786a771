/**
 * The worker's model loading (loadWorkerEngine, the ECS worker's and the local stack's alike):
 * an operator who deploys another model than the embedded one is told that `auto`, the jobs'
 * default, chooses with a calibration fitted elsewhere.
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
});
