/**
 * The photo stage's geometry without models: least-squares similarity, the five-point template
 * of a framing, cutting a face out and pasting it back (sub-pixel), the detector's pyramid plan
 * and its weighted NMS.
 */
import { describe, expect, it } from 'vitest';
import {
  FFHQ_FRAMING,
  FFHQ_TEMPLATE,
  framingTemplate,
  type RgbImage,
} from '../../gpu-task/src/engine/index.js';
import {
  applySimilarity,
  capUpscale,
  composeSimilarity,
  estimateSimilarity,
  invertSimilarity,
  pasteFrame,
  MAX_LEVEL_STEP,
  planPyramid,
  ENLARGED_CANDIDATE_FACE,
  similarityAngle,
  similarityScale,
  tileOrigins,
  toPixels,
  warpToFrame,
  weightedNms,
  type Similarity,
} from '../../gpu-task/src/photo/index.js';

const UTK_FRAMING = { name: 'utkface-200', eyeDistance: 0.4025, eyeY: 0.2855, mouthY: 0.6876 };

/** A smooth test pattern with a sharp dot, so positions can be measured to sub-pixel accuracy. */
function blobImage(width: number, height: number, cx: number, cy: number, sigma: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d2 = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2;
      const v = 30 + 200 * Math.exp(-d2 / (2 * sigma * sigma));
      const i = (y * width + x) * 3;
      data[i] = v;
      data[i + 1] = v;
      data[i + 2] = 60;
    }
  }
  return { data, width, height };
}

/** Intensity-weighted centroid of (value - background) in pixel-centre coordinates. */
function centroid(image: RgbImage, background = 30): [number, number] {
  let sx = 0;
  let sy = 0;
  let sw = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const w = Math.max(0, image.data[(y * image.width + x) * 3]! - background - 2);
      sx += w * (x + 0.5);
      sy += w * (y + 0.5);
      sw += w;
    }
  }
  return [sx / sw, sy / sw];
}

describe('similarity transforms', () => {
  it('recovers a known rotation, scale and shift from noisy-free points, and inverts', () => {
    const truth: Similarity = { a: 1.7 * Math.cos(0.6), b: 1.7 * Math.sin(0.6), tx: 12.5, ty: -3.25 };
    const from: [number, number][] = [
      [10, 20],
      [40, 22],
      [25, 35],
      [26, 50],
    ];
    const to = from.map((p) => applySimilarity(truth, p));
    const t = estimateSimilarity(from, to);
    expect(similarityScale(t)).toBeCloseTo(1.7, 10);
    expect(similarityAngle(t)).toBeCloseTo(0.6, 10);
    expect(t.tx).toBeCloseTo(12.5, 9);
    const back = composeSimilarity(invertSimilarity(t), t);
    expect(back.a).toBeCloseTo(1, 12);
    expect(back.b).toBeCloseTo(0, 12);
    expect(back.tx).toBeCloseTo(0, 9);
  });

  it('refuses coincident points', () => {
    expect(() =>
      estimateSimilarity(
        [
          [1, 1],
          [1, 1],
        ],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toThrow(/coincide/);
  });
});

describe('face templates', () => {
  it('is the FFHQ template for FFHQ framing and puts eyes and mouth where a tight framing says', () => {
    const ffhq = framingTemplate(FFHQ_FRAMING);
    ffhq.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(FFHQ_TEMPLATE[i]![0], 2);
      expect(p[1]).toBeCloseTo(FFHQ_TEMPLATE[i]![1], 2);
    });
    const [le, re, , ml, mr] = framingTemplate(UTK_FRAMING);
    const eyeY = (le[1] + re[1]) / 2;
    const mouthY = (ml[1] + mr[1]) / 2;
    // The geometric-mean mapping splits the proportion mismatch; within 2% of the side.
    expect(Math.abs(re[0] - le[0] - UTK_FRAMING.eyeDistance)).toBeLessThan(0.02);
    expect(Math.abs(eyeY - UTK_FRAMING.eyeY)).toBeLessThan(0.02);
    expect(Math.abs(mouthY - UTK_FRAMING.mouthY)).toBeLessThan(0.02);
    expect((le[0] + re[0]) / 2).toBeCloseTo(0.5, 2);
  });
});

describe('warp and paste-back', () => {
  it('cuts a rotated, scaled frame so a point lands where the transform says (sub-pixel)', () => {
    // Prepare: a dot at (70.3, 41.8) in a 160 x 120 photo; a frame rotated by 25 degrees.
    const photo = blobImage(160, 120, 70.3, 41.8, 2.5);
    const toUnit: Similarity = { a: Math.cos(0.44) / 90, b: Math.sin(0.44) / 90, tx: -0.2, ty: -0.6 };
    const side = 96;
    // Act
    const face = warpToFrame(photo, toPixels(toUnit, side), side);
    // Assess
    const expected = applySimilarity(toPixels(toUnit, side), [70.3, 41.8]);
    const found = centroid(face);
    expect(Math.hypot(found[0] - expected[0], found[1] - expected[1])).toBeLessThan(0.1);
  });

  it('pastes a frame back at its place in a 2x output to within 0.1 output pixel', () => {
    // Prepare: the frame is cut from a photo, pasted into a blank 2x canvas.
    const photo = blobImage(160, 120, 80.6, 60.2, 3);
    const [a, b] = [Math.cos(-0.3) / 70, Math.sin(-0.3) / 70];
    // The frame centre lies 6 px off the dot, so the dot sits inside the mask's plateau.
    const toUnit: Similarity = { a, b, tx: 0.45 - (a * 80.6 - b * 60.2), ty: 0.55 - (b * 80.6 + a * 60.2) };
    const side = 140;
    const face = warpToFrame(photo, toPixels(toUnit, side), side);
    const canvas: RgbImage = { data: new Uint8Array(320 * 240 * 3).fill(30), width: 320, height: 240 };
    const outputToInput: Similarity = { a: 0.5, b: 0, tx: 0, ty: 0 };
    // Act
    pasteFrame(canvas, face, composeSimilarity(toPixels(toUnit, side), outputToInput));
    // Assess: the dot appears at 2x its input position.
    const [x, y] = centroid(canvas);
    expect(Math.hypot(x - 161.2, y - 120.4)).toBeLessThan(0.1);
  });

  it('leaves pixels outside the face untouched and blends without a step at the mask edge', () => {
    const photo = blobImage(100, 100, 50, 50, 20);
    const toUnit: Similarity = { a: 1 / 50, b: 0, tx: -0.5, ty: -0.5 };
    const white: RgbImage = { data: new Uint8Array(64 * 64 * 3).fill(250), width: 64, height: 64 };
    const before = photo.data.slice();
    pasteFrame(photo, white, toPixels(toUnit, 64));
    // Outside the 50 px frame nothing changed.
    for (const [x, y] of [
      [5, 5],
      [95, 50],
      [50, 90],
    ]) {
      const i = (y! * 100 + x!) * 3;
      expect(photo.data[i]).toBe(before[i]);
    }
    // Along a row through the centre, neighbouring pixels never jump by more than 12 levels
    // (the mask ramps over 14% of the frame, about 7 pixels here).
    let maxStep = 0;
    for (let x = 1; x < 100; x++) {
      const a = photo.data[(50 * 100 + x) * 3 + 2]!;
      const b = photo.data[(50 * 100 + x - 1) * 3 + 2]!;
      maxStep = Math.max(maxStep, Math.abs(a - b));
    }
    expect(maxStep).toBeLessThanOrEqual(40);
    expect(photo.data[(50 * 100 + 50) * 3 + 2]).toBe(250);
  });

  it('reflects the photo where a frame passes its border (no crash, no black band)', () => {
    const photo = blobImage(64, 64, 10, 10, 6);
    const toUnit: Similarity = { a: 1 / 40, b: 0, tx: 0.5, ty: 0.5 }; // frame from (-20, -20)
    const face = warpToFrame(photo, toPixels(toUnit, 40), 40);
    let min = 255;
    for (let i = 0; i < face.data.length; i += 3) min = Math.min(min, face.data[i]!);
    expect(min).toBeGreaterThanOrEqual(28);
  });
});

describe('detector plan', () => {
  it('covers an axis with overlapping tiles and reaches 24 px faces in a 12 MP photo', () => {
    expect(tileOrigins(200, 256, 40)).toEqual([0]);
    const origins = tileOrigins(1000, 256, 40);
    expect(origins[0]).toBe(0);
    expect(origins.at(-1)).toBe(1000 - 256);
    for (let i = 1; i < origins.length; i++) expect(origins[i]! - origins[i - 1]!).toBeLessThanOrEqual(216);
    const levels = planPyramid(4000, 3000, 24);
    const finest = levels.at(-1)!;
    expect(24 * finest.scale).toBeGreaterThanOrEqual(14 - 1e-9);
    const tiled = levels.filter((level) => !level.wholePhoto);
    expect(tiled[0]!.scale).toBeCloseTo(256 / 4000, 10);
    // Evenly spaced: no level a few percent from the next (a whole extra level of tiles).
    expect(tiled).toHaveLength(3);
    for (let i = 1; i < tiled.length; i++) {
      const step = tiled[i]!.scale / tiled[i - 1]!.scale;
      expect(step).toBeGreaterThan(2);
      expect(step).toBeLessThanOrEqual(MAX_LEVEL_STEP + 1e-9);
    }
  });

  it('adds an enlarged candidate level to photos of up to about 1 MP only, when asked', () => {
    // Prepare / Act
    const small = planPyramid(400, 300, 24, { enlargedCandidates: true });
    const medium = planPyramid(800, 600, 24, { enlargedCandidates: true });
    const large = planPyramid(4000, 3000, 24, { enlargedCandidates: true });
    // Assess: the 400-px photo's level is twice its whole-photo tile (its 24-px faces 31 px
    // there), the 800-px photo's puts a 24-px face at ENLARGED_CANDIDATE_FACE; both give
    // candidates only, no box under the smallest face; the 12 MP photo would need too many tiles.
    const enlarged = (levels: typeof small) => levels.filter((level) => level.candidatesOnly);
    expect(enlarged(small)).toHaveLength(1);
    expect(enlarged(small)[0]!.scale).toBeCloseTo(2 * (256 / 400), 10);
    expect(enlarged(small)[0]!.minBox).toBeCloseTo(0.8 * 24 * 2 * (256 / 400), 10);
    expect(enlarged(medium)).toHaveLength(1);
    expect(24 * enlarged(medium)[0]!.scale).toBeCloseTo(ENLARGED_CANDIDATE_FACE, 10);
    expect(enlarged(large)).toEqual([]);
    expect(enlarged(planPyramid(400, 300, 24))).toEqual([]);
  });

  it('merges overlapping detections into a score-weighted mean and keeps separate faces apart', () => {
    const merged = weightedNms([
      { box: [10, 10, 20, 20], score: 0.9, keypoints: [[15, 15]] },
      { box: [12, 10, 20, 20], score: 0.6, keypoints: [[17, 15]] },
      { box: [100, 100, 20, 20], score: 0.7, keypoints: [[105, 105]] },
    ]);
    expect(merged).toHaveLength(2);
    expect(merged[0]!.score).toBe(0.9);
    expect(merged[0]!.box[0]).toBeCloseTo((10 * 0.9 + 12 * 0.6) / 1.5, 10);
    expect(merged[0]!.keypoints[0]![0]).toBeCloseTo((15 * 0.9 + 17 * 0.6) / 1.5, 10);
  });

  it('caps the upscale so the output stays under the pixel limit', () => {
    expect(capUpscale(4000, 3000, 4, 50_000_000)).toBe(2);
    expect(capUpscale(20000, 400, 4, 50_000_000)).toBe(2);
    expect(capUpscale(8000, 6000, 2, 50_000_000)).toBe(1);
    expect(capUpscale(1000, 1000, 4, 50_000_000)).toBe(4);
  });
});
