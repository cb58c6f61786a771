/**
 * The engine cap's setting (`DR2E_MAX_ENGINE_SECONDS`, WorkerSettings.maxEngineSeconds): how
 * long one photo may take in the engine before its job fails with `engine_timeout`
 * (worker.test.ts runs the cap itself).
 */
import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { DEFAULT_WORKER_SETTINGS, workerSettingsFromConfig } from '../../gpu-task/src/worker/index.js';
import { resolveWorkerSettings } from '../../gpu-task/src/worker/settings.js';

describe('the engine cap setting', () => {
  it('is 600 s unless DR2E_MAX_ENGINE_SECONDS says otherwise, 0 meaning no cap', () => {
    // Act
    const unset = workerSettingsFromConfig(loadRuntimeConfig({}));
    const set = workerSettingsFromConfig(loadRuntimeConfig({ DR2E_MAX_ENGINE_SECONDS: '120' }));
    const off = workerSettingsFromConfig(loadRuntimeConfig({ DR2E_MAX_ENGINE_SECONDS: '0' }));
    // Assess
    expect(unset.maxEngineSeconds).toBe(600);
    expect(DEFAULT_WORKER_SETTINGS.maxEngineSeconds).toBe(600);
    expect(set.maxEngineSeconds).toBe(120);
    expect(resolveWorkerSettings(off).maxEngineSeconds).toBe(0);
  });

  it('refuses a negative, fractional or non-numeric DR2E_MAX_ENGINE_SECONDS, naming it', () => {
    for (const bad of ['-1', '1.5', 'ten']) {
      expect(() => loadRuntimeConfig({ DR2E_MAX_ENGINE_SECONDS: bad }), bad).toThrow(
        /DR2E_MAX_ENGINE_SECONDS/,
      );
    }
    expect(() => resolveWorkerSettings({ maxEngineSeconds: -1 })).toThrow(/maxEngineSeconds must be >= 0/);
    expect(() => resolveWorkerSettings({ maxEngineSeconds: Number.NaN })).toThrow(/maxEngineSeconds/);
  });
});
