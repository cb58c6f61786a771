/**
 * Framing geometry: when an input is adapted, where the crop goes, where the input's eyes and
 * mouth land in the model frame, and the feathered paste-back mask.
 */
import { describe, expect, it } from 'vitest';
import {
  FFHQ_FRAMING,
  type FaceFraming,
  faceFrame,
  featherMask,
  framingsDiffer,
  inputFramingToAdapt,
  planFaceCrop,
  roundSquare,
} from '../../../gpu-task/src/engine/framing/index.js';

const TIGHT: FaceFraming = { name: 'tight', eyeDistance: 0.41, eyeY: 0.29, mouthY: 0.68 };

/** A framing with FFHQ's proportions, `zoom` times larger, eye line at `eyeY`. */
function zoomedFfhq(zoom: number, eyeY: number): FaceFraming {
  return {
    name: `ffhq x${zoom}`,
    eyeDistance: FFHQ_FRAMING.eyeDistance * zoom,
    eyeY,
    mouthY: eyeY + (FFHQ_FRAMING.mouthY - FFHQ_FRAMING.eyeY) * zoom,
  };
}

describe('deciding whether to adapt', () => {
  it('adapts square inputs in auto mode when the model declares a non-FFHQ framing', () => {
    // Act + Assess
    expect(inputFramingToAdapt('auto', TIGHT, 512, 512)).toEqual(FFHQ_FRAMING);
    expect(inputFramingToAdapt('auto', TIGHT, 640, 480)).toBeNull();
    expect(inputFramingToAdapt('ffhq', TIGHT, 640, 480)).toEqual(FFHQ_FRAMING);
  });

  it('never adapts for mode model, a model without framing, or an FFHQ-framed model', () => {
    // Act + Assess
    expect(inputFramingToAdapt('model', TIGHT, 512, 512)).toBeNull();
    expect(inputFramingToAdapt('ffhq', undefined, 512, 512)).toBeNull();
    expect(inputFramingToAdapt('ffhq', { ...FFHQ_FRAMING, name: 'close', eyeY: 0.47 }, 512, 512)).toBeNull();
    expect(framingsDiffer(FFHQ_FRAMING, TIGHT)).toBe(true);
  });

  it('refuses an unknown mode', () => {
    expect(() => inputFramingToAdapt('tight' as never, TIGHT, 64, 64)).toThrow(
      /input framing must be one of/,
    );
  });
});

describe('planning the crop', () => {
  it('is the whole frame when the framings are equal', () => {
    // Act
    const plan = planFaceCrop(300, 300, TIGHT, TIGHT);
    // Assess
    expect(plan.scale).toBeCloseTo(1, 12);
    expect(plan.crop.left).toBeCloseTo(0, 9);
    expect(plan.crop.top).toBeCloseTo(0, 9);
    expect(plan.crop.side).toBeCloseTo(300, 9);
  });

  it('maps eyes and mouth exactly onto a model framing of the same proportions', () => {
    // Prepare
    const model = zoomedFfhq(1.6, 0.3);
    // Act
    const plan = planFaceCrop(512, 512, FFHQ_FRAMING, model);
    // Assess
    expect(plan.scale).toBeCloseTo(1 / 1.6, 12);
    expect(plan.landmarks.eyeDistance).toBeCloseTo(model.eyeDistance, 12);
    expect(plan.landmarks.eyeY).toBeCloseTo(model.eyeY, 12);
    expect(plan.landmarks.mouthY).toBeCloseTo(model.mouthY, 12);
    expect(plan.crop.left + plan.crop.side / 2).toBeCloseTo(256, 9); // centred horizontally
  });

  it('splits a proportion mismatch evenly between eye line and mouth', () => {
    // Act
    const plan = planFaceCrop(512, 512, FFHQ_FRAMING, TIGHT);
    // Assess: the eye-mouth midpoint lands exactly; eyes and mouth miss by the same amount.
    const { eyeY, mouthY, eyeDistance } = plan.landmarks;
    expect((eyeY + mouthY) / 2).toBeCloseTo((TIGHT.eyeY + TIGHT.mouthY) / 2, 12);
    expect(TIGHT.eyeY - eyeY).toBeCloseTo(mouthY - TIGHT.mouthY, 12);
    // The scale is between the eye-distance and the eye-mouth estimates, so both errors stay small.
    expect(Math.abs(eyeDistance - TIGHT.eyeDistance)).toBeLessThan(0.02);
    expect(Math.abs(mouthY - TIGHT.mouthY)).toBeLessThan(0.02);
    expect(plan.scale).toBeGreaterThan(0.2459 / 0.41);
    expect(plan.scale).toBeLessThan((0.7252 - 0.4688) / 0.39);
  });

  it('places the face frame of a non-square input by the fit policy', () => {
    // Act
    const padded = faceFrame(400, 200, 'pad');
    const cropped = faceFrame(400, 200, 'crop');
    const plan = planFaceCrop(400, 200, FFHQ_FRAMING, zoomedFfhq(2, 0.3), 'crop');
    // Assess
    expect(padded).toEqual({ left: 0, top: -100, side: 400 });
    expect(cropped).toEqual({ left: 100, top: 0, side: 200 });
    expect(plan.crop.side).toBeCloseTo(100, 9);
    expect(plan.crop.left).toBeCloseTo(150, 9);
  });

  it('rounds a planned crop to whole pixels', () => {
    expect(roundSquare({ left: -3.6, top: 10.5, side: 99.4 })).toEqual({ left: -4, top: 11, side: 99 });
  });
});

describe('the feather mask', () => {
  it('is 1 in the middle, rises smoothly from near 0 at the border, and is symmetric', () => {
    // Act
    const size = 100;
    const mask = featherMask(size, 0.1);
    const row = Array.from({ length: size }, (_, x) => mask[50 * size + x]!);
    // Assess
    expect(mask[50 * size + 50]).toBe(1);
    expect(row[0]!).toBeLessThan(0.01);
    expect(row[5]!).toBeGreaterThan(0.4);
    expect(row[5]!).toBeLessThan(0.6);
    expect(row[10]).toBe(1);
    for (let x = 1; x < 10; x++) expect(row[x]!).toBeGreaterThan(row[x - 1]!);
    for (let x = 0; x < size; x++) expect(row[x]).toBeCloseTo(row[size - 1 - x]!, 6);
    expect(mask[0]!).toBeLessThan(row[0]!); // corners fade on both axes
  });

  it('refuses a feather wider than half the side', () => {
    expect(() => featherMask(10, 0.6)).toThrow(/feather must be in/);
  });
});
