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
    for (const aligned of [false, true]) {
      expect(
        checkImageGeometry({ width: side, height: side }, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned }).ok,
      ).toBe(true);
      expect(
        checkImageGeometry({ width: side - 1, height: side }, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned }),
      ).toMatchObject({
        ok: false,
        error: { code: 'image_too_small' },
      });
    }
  });

  it('refuse an input longer than its output format holds, naming the formats that do', () => {
    // Prepare: 17000 px, over WebP's 16383 and within JPEG's 65535
    const long = { width: 17_000, height: 300 };
    // Act
    const webp = checkImageGeometry(long, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: false, format: 'webp' });
    const jpeg = checkImageGeometry(long, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: false, format: 'jpeg' });
    // Assess
    expect(webp).toMatchObject({ ok: false, error: { code: 'image_too_large' } });
    expect(webp.ok ? '' : webp.error.message).toMatch(/at most 16383 px a side.*ask for png or jpeg/);
    expect(jpeg.ok).toBe(true);
  });

  it('limit the aspect ratio of aligned face crops only: a whole photo of any shape is restored', () => {
    // Prepare
    const panorama = { width: 20_000, height: 400 };
    const fourToOne = { width: 1600, height: 400 };
    // Act
    const asPhoto = checkImageGeometry(panorama, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: false });
    const asCrop = checkImageGeometry(panorama, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: true });
    // Assess
    expect(asPhoto.ok).toBe(true);
    expect(asCrop).toMatchObject({ ok: false, error: { code: 'image_aspect_ratio_unsupported' } });
    expect(checkImageGeometry(fourToOne, DEFAULT_IMAGE_GEOMETRY_LIMITS, { aligned: true }).ok).toBe(true);
  });
});
