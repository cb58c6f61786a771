import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DR2_PRESET,
  DEFAULT_DR2_STEPS,
  DEFAULT_IMAGE_LIMITS,
  DEVICES as ENGINE_DEVICES,
  DR2_PRESET_NAMES,
  DR2_PRESETS,
  resolveDr2Params,
} from '../../gpu-task/src/engine/index.js';
import {
  DEFAULT_MAX_FACES,
  DEFAULT_UPSCALE,
  UPSCALE_FACTORS as PHOTO_UPSCALE_FACTORS,
} from '../../gpu-task/src/photo/index.js';
import {
  DEVICES,
  FIXED_PRESETS,
  INPUT_LIMITS,
  PRESETS,
  RESTORE_DEFAULTS,
  UPSCALE_FACTORS,
} from '../../shared/src/index.js';

describe('the engine and the photo stage use the domain restore options', () => {
  it('know the same presets, devices and defaults as the API', () => {
    expect(DR2_PRESET_NAMES).toBe(PRESETS);
    expect(Object.keys(DR2_PRESETS)).toEqual([...FIXED_PRESETS]);
    expect(DEFAULT_DR2_PRESET).toBe(RESTORE_DEFAULTS.preset);
    expect(DEFAULT_DR2_STEPS).toBe(RESTORE_DEFAULTS.steps);
    expect(ENGINE_DEVICES).toBe(DEVICES);
    expect(DEFAULT_IMAGE_LIMITS).toEqual(INPUT_LIMITS);
    expect([DEFAULT_UPSCALE, DEFAULT_MAX_FACES, PHOTO_UPSCALE_FACTORS]).toEqual([
      RESTORE_DEFAULTS.upscale,
      RESTORE_DEFAULTS.maxFaces,
      UPSCALE_FACTORS,
    ]);
  });

  it('resolve every preset name the API accepts, and name them when refusing one', () => {
    for (const preset of PRESETS) expect(resolveDr2Params({ preset }, 64).steps).toBe(RESTORE_DEFAULTS.steps);
    expect(() => resolveDr2Params({ preset: 'extreme' }, 64)).toThrow(
      `expected one of ${PRESETS.join(', ')}`,
    );
  });
});
