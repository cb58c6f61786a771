/**
 * The engine cap's setting (`DR2E_MAX_ENGINE_SECONDS`, WorkerSettings.maxEngineSeconds): how
 * long one photo may take in the engine before its job fails with `engine_timeout`
 * (worker.test.ts runs the cap itself).
 */
import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { DEFAULT_WORKER_SETTINGS, workerSettingsFromConfig } from '../../gpu-task/src/worker/index.js';
import { engineTimeout } from '../../gpu-task/src/worker/batch-runner.js';
import { MAX_ENGINE_SECONDS_LIMIT, resolveWorkerSettings } from '../../gpu-task/src/worker/settings.js';

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

  it('refuses a negative, fractional, non-numeric or over-a-day DR2E_MAX_ENGINE_SECONDS, naming it', () => {
    // Over 2^31 - 1 ms a Node timer fires at once: every job would fail
    expect(loadRuntimeConfig({ DR2E_MAX_ENGINE_SECONDS: '86400' }).DR2E_MAX_ENGINE_SECONDS).toBe(86_400);
    for (const bad of ['-1', '1.5', 'ten', '86401', '3000000']) {
      expect(() => loadRuntimeConfig({ DR2E_MAX_ENGINE_SECONDS: bad }), bad).toThrow(
        /DR2E_MAX_ENGINE_SECONDS/,
      );
    }
    expect(() => resolveWorkerSettings({ maxEngineSeconds: -1 })).toThrow(/maxEngineSeconds must be 0 \(no cap\) to/);
    expect(() => resolveWorkerSettings({ maxEngineSeconds: Number.NaN })).toThrow(/maxEngineSeconds/);
    expect(() => resolveWorkerSettings({ maxEngineSeconds: Infinity })).toThrow(/maxEngineSeconds/);
    expect(() => resolveWorkerSettings({ maxEngineSeconds: MAX_ENGINE_SECONDS_LIMIT + 1 })).toThrow(
      /0 \(no cap\) to 86400/,
    );
  });

  it("tells the tenant what takes less time, for a whole photo and an aligned crop, not the operator's variable", () => {
    const photo = engineTimeout({ aligned: false }, 600);
    const crop = engineTimeout({ aligned: true }, 600);
    expect(photo).toEqual({
      code: 'engine_timeout',
      message:
        'restoring this photo took longer than this service allows (600 s); fewer faces (maxFaces), a smaller upscale or a smaller photo take less time',
    });
    expect(crop.message).toMatch(/\(600 s\); a smaller upscale or a smaller crop takes less time$/);
  });
});
