import { describe, expect, it } from 'vitest';
import {
  checkImageGeometry,
  DEFAULT_IMAGE_GEOMETRY_LIMITS,
} from '../../../functions/src/services/uploads.js';
import { DEFAULT_MAX_ASPECT_RATIO, INPUT_LIMITS } from '../../../shared/src/index.js';

describe('upload geometry limits', () => {
  it("default to the engine's own input limits, so the dispatcher refuses what the worker would", () => {
    expect(DEFAULT_IMAGE_GEOMETRY_LIMITS).toEqual({
      minSide: INPUT_LIMITS.minSide,
      maxPixels: INPUT_LIMITS.maxInputPixels,
      maxAspectRatio: DEFAULT_MAX_ASPECT_RATIO,
    });
    const side = INPUT_LIMITS.minSide;
    expect(checkImageGeometry({ width: side, height: side }, DEFAULT_IMAGE_GEOMETRY_LIMITS).ok).toBe(true);
    expect(
      checkImageGeometry({ width: side - 1, height: side }, DEFAULT_IMAGE_GEOMETRY_LIMITS),
    ).toMatchObject({
      ok: false,
      error: { code: 'image_too_small' },
    });
  });
});
