/**
 * The detector-template measurement's geometry (eval/detector-template.ts), on synthetic
 * keypoints: placed faces map back into their crops exactly, and the fitted template frames
 * its faces as their crops even when the keypoints scatter (the plain mean does not).
 */
import { describe, expect, it } from 'vitest';
import { SeededRandom, type TemplatePoint, fourPointTemplate } from '../../gpu-task/src/engine/index.js';
import {
  framingAgreement,
  keypointsInCrop,
  meanFraming,
  templateFromKeypoints,
  unitToTruthOf,
} from '../../gpu-task/src/eval/index.js';
import { applySimilarity, invertSimilarity } from '../../gpu-task/src/photo/index.js';

/** Eyes, nose tip and mouth centre of a made-up detector, in crop fractions. */
const TRUE_POINTS: TemplatePoint[] = [
  [0.3, 0.31],
  [0.68, 0.31],
  [0.49, 0.51],
  [0.49, 0.7],
];

/** Keypoints of `count` faces: the true points, each moved by normal scatter of `sigma`. */
function scattered(count: number, sigma: number, seed: number): TemplatePoint[][] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () =>
    TRUE_POINTS.map(([x, y]) => [x + sigma * random.normal(), y + sigma * random.normal()] as TemplatePoint),
  );
}

describe('detector template geometry', () => {
  it('maps the keypoints of a rotated, scaled, moved face back into its crop, and frames it as the crop through its own placement', () => {
    // Prepare: a 80 px face rolled 0.3 rad at (150, 90); its keypoints where the crop has them
    const face = { id: 'f', side: 80, angle: 0.3, cx: 150, cy: 90 };
    const cropToPhoto = unitToTruthOf(face, 1);
    const inPhoto = TRUE_POINTS.map((p) => applySimilarity(cropToPhoto, p));
    // Act
    const back = keypointsInCrop(face, inPhoto);
    const framing = framingAgreement(invertSimilarity(cropToPhoto), face);
    // Assess
    back.forEach((p, k) => {
      expect(p[0]).toBeCloseTo(TRUE_POINTS[k]![0], 9);
      expect(p[1]).toBeCloseTo(TRUE_POINTS[k]![1], 9);
    });
    expect(framing.sideRatio).toBeCloseTo(1, 9);
    expect(Math.hypot(...framing.centreOffset)).toBeLessThan(1e-9);
  });

  it('fits a template that frames scattered faces as their crops on average, where the plain means frame them loose', () => {
    // Prepare: 400 faces whose keypoints scatter by 0.03 of the side
    const samples = scattered(400, 0.03, 7);
    // Act
    const measured = templateFromKeypoints(samples);
    const fitted = meanFraming(samples, fourPointTemplate(measured.landmarks));
    // Assess: the means' bias is real, the fit removes it
    expect(measured.meanFraming.sideRatio).toBeGreaterThan(1.01);
    expect(fitted.sideRatio).toBeCloseTo(1, 6);
    expect(Math.hypot(...fitted.centreOffset)).toBeLessThan(1e-6);
    expect(measured.mean[0]![0]).toBeCloseTo(0.3, 2);
    expect(measured.faces).toBe(400);
  });

  it('keeps the means when the keypoints do not scatter, with mouth corners about the mouth centre', () => {
    // Prepare
    const samples = scattered(3, 0, 1);
    // Act
    const { landmarks } = templateFromKeypoints(samples);
    // Assess
    fourPointTemplate(landmarks).forEach((p, k) => {
      expect(p[0]).toBeCloseTo(TRUE_POINTS[k]![0], 9);
      expect(p[1]).toBeCloseTo(TRUE_POINTS[k]![1], 9);
    });
    expect(landmarks[4][0] - landmarks[3][0]).toBeGreaterThan(0.3);
  });

  it('refuses fewer than two faces and faces with fewer than four keypoints', () => {
    // Assess
    expect(() => templateFromKeypoints(scattered(1, 0, 1))).toThrow(/at least 2 faces/);
    expect(() => keypointsInCrop({ id: 'f', side: 80, angle: 0, cx: 50, cy: 50 }, [[1, 2]])).toThrow(
      /need 4 keypoints/,
    );
  });
});
