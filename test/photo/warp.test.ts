/**
 * The cubic samplers of warp.ts (separable grids for resizing, per-pixel sampling
 * under a similarity for cutting and pasting faces) give exactly the bytes of a straightforward
 * per-pixel, 16-tap reference on random images: odd sizes, 1-pixel images, factors 1, 2 and 4,
 * windows with origins, bounds partly outside, rotations (exact quarter turns included).
 */
import { describe, expect, it } from 'vitest';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import { applySimilarity, invertSimilarity, type Similarity } from '../../gpu-task/src/photo/similarity.js';
import {
  DEFAULT_PASTE_MASK,
  frameBounds,
  pasteFrame,
  type PasteMask,
  resizeCubic,
  warpToFrame,
} from '../../gpu-task/src/photo/warp.js';

// ---- The reference: one pixel at a time, 16 taps each, the arithmetic order the samplers keep.

function referenceSample(image: RgbImage, x: number, y: number): [number, number, number] {
  const reflect = (index: number, size: number): number => {
    const period = 2 * size;
    const wrapped = ((index % period) + period) % period;
    return wrapped < size ? wrapped : period - 1 - wrapped;
  };
  const weights = (t: number): number[] => {
    const t2 = t * t;
    const t3 = t2 * t;
    return [
      -0.5 * t3 + t2 - 0.5 * t,
      1.5 * t3 - 2.5 * t2 + 1,
      -1.5 * t3 + 2 * t2 + 0.5 * t,
      0.5 * t3 - 0.5 * t2,
    ];
  };
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  const wx = weights(x - ix);
  const wy = weights(y - iy);
  const sum = [0, 0, 0];
  for (let j = 0; j < 4; j++) {
    const row = reflect(iy - 1 + j, image.height) * image.width;
    for (let c = 0; c < 3; c++) {
      let rowSum = 0;
      for (let i = 0; i < 4; i++)
        rowSum += wx[i]! * image.data[(row + reflect(ix - 1 + i, image.width)) * 3 + c]!;
      sum[c] = sum[c]! + wy[j]! * rowSum;
    }
  }
  return [sum[0]!, sum[1]!, sum[2]!];
}

const clamp8 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

function referenceResize(image: RgbImage, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // The scale in / out, times the centre (pixel x's centre at x + 0.5).
      const px = referenceSample(
        image,
        (x + 0.5) * (image.width / width) - 0.5,
        (y + 0.5) * (image.height / height) - 0.5,
      );
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = clamp8(px[c]!);
    }
  }
  return { data, width, height };
}

function referenceWarp(image: RgbImage, toFrame: Similarity, side: number): RgbImage {
  const back = invertSimilarity(toFrame);
  const data = new Uint8Array(side * side * 3);
  for (let v = 0; v < side; v++) {
    for (let u = 0; u < side; u++) {
      const [x, y] = applySimilarity(back, [u + 0.5, v + 0.5]);
      const px = referenceSample(image, x - 0.5, y - 0.5);
      for (let c = 0; c < 3; c++) data[(v * side + u) * 3 + c] = clamp8(px[c]!);
    }
  }
  return { data, width: side, height: side };
}

function referencePaste(
  target: RgbImage,
  face: RgbImage,
  toFrame: Similarity,
  mask: PasteMask,
  origin: { x: number; y: number },
): void {
  const side = face.width;
  const { x0, y0, x1, y1 } = frameBounds(toFrame, side);
  for (let y = Math.max(origin.y, y0); y <= Math.min(origin.y + target.height - 1, y1); y++) {
    for (let x = Math.max(origin.x, x0); x <= Math.min(origin.x + target.width - 1, x1); x++) {
      const [u, v] = applySimilarity(toFrame, [x + 0.5, y + 0.5]);
      const d = Math.min(u / side, 1 - u / side, v / side, 1 - v / side) - mask.erode;
      if (d <= 0) continue;
      const t = d / mask.feather;
      const alpha = d >= mask.feather ? 1 : t * t * (3 - 2 * t);
      const px = referenceSample(face, u - 0.5, v - 0.5);
      const o = ((y - origin.y) * target.width + x - origin.x) * 3;
      for (let c = 0; c < 3; c++)
        target.data[o + c] = clamp8(target.data[o + c]! + alpha * (px[c]! - target.data[o + c]!));
    }
  }
}

// ---- Inputs

/**
 * Random pixels, half the images with long runs of 0 and 255 (so the cubic's overshoot is
 * clamped often); `random` decides which.
 */
function randomImage(random: SeededRandom, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const saturated = random.uniform() < 0.5;
  for (let i = 0; i < data.length; i++) {
    data[i] =
      saturated && random.uniform() < 0.6 ? (random.uniform() < 0.5 ? 0 : 255) : random.integer(0, 255);
  }
  return { data, width, height };
}

function copy(image: RgbImage): RgbImage {
  return { ...image, data: image.data.slice() };
}

/** The index of the first differing byte and the count of differing bytes (both -1/0 when equal). */
function difference(
  actual: Uint8Array,
  expected: Uint8Array,
): { first: number; count: number; length: number } {
  let first = -1;
  let count = 0;
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { first, count, length: actual.length - expected.length };
}

const SAME = { first: -1, count: 0, length: 0 };

/** A similarity rotating by `angle` and scaling by `scale` about random points. */
function randomSimilarity(random: SeededRandom, angle: number, scale: number, shift: number): Similarity {
  const a = scale * Math.cos(angle);
  const b = scale * Math.sin(angle);
  return { a, b, tx: random.between(-shift, shift), ty: random.between(-shift, shift) };
}

/** Angles to try: random, exact quarter turns (b or a exactly 0) and a hair off a quarter turn. */
function someAngle(random: SeededRandom, trial: number): number {
  switch (trial % 5) {
    case 0:
      return 0;
    case 1:
      return Math.PI / 2; // cos is 6e-17, not 0: a "quarter turn" as the photo stage computes one
    case 2:
      return random.between(-Math.PI, Math.PI);
    case 3:
      return random.between(-0.4, 0.4);
    default:
      return Math.PI;
  }
}

// ---- The properties

describe('resizeCubic (separable) equals the per-pixel reference', () => {
  it('enlarges and reduces odd and 1-pixel sizes to the same bytes', () => {
    const random = new SeededRandom(41);
    const sizes: [number, number, number, number][] = [
      [1, 1, 5, 3],
      [1, 7, 4, 9],
      [3, 2, 3, 2],
      [5, 5, 15, 15],
      [17, 11, 68, 44],
      [13, 9, 29, 31],
      [40, 33, 17, 7],
      [9, 14, 2, 1],
    ];
    for (let i = 0; i < 12; i++)
      sizes.push([
        random.integer(1, 23),
        random.integer(1, 23),
        random.integer(1, 60),
        random.integer(1, 60),
      ]);
    for (const [w, h, ow, oh] of sizes) {
      const image = randomImage(random, w, h);
      const found = resizeCubic(image, ow, oh);
      expect([found.width, found.height]).toEqual([ow, oh]);
      expect(difference(found.data, referenceResize(image, ow, oh).data), `${w}x${h} -> ${ow}x${oh}`).toEqual(
        SAME,
      );
    }
  });
});

describe('warpToFrame equals the per-pixel reference', () => {
  it('for rotated, scaled frames inside, across and outside the photo', () => {
    const random = new SeededRandom(1234);
    for (let trial = 0; trial < 40; trial++) {
      const photo = randomImage(random, random.integer(1, 31), random.integer(1, 31));
      const side = random.integer(1, 37);
      const scale = random.between(0.3, 3);
      // Frame coordinates = scale·R·photo + t: shifts past the photo put parts of it outside.
      const toFrame = randomSimilarity(random, someAngle(random, trial), scale, 40 * scale);
      const found = warpToFrame(photo, toFrame, side);
      const expected = referenceWarp(photo, toFrame, side);
      expect(difference(found.data, expected.data), JSON.stringify({ trial, side, toFrame })).toEqual(SAME);
    }
  });
});

describe('pasteFrame equals the per-pixel reference', () => {
  it('for rotated faces pasted into whole targets and windows with origins, any mask', () => {
    const random = new SeededRandom(99);
    const masks: PasteMask[] = [
      DEFAULT_PASTE_MASK,
      { erode: 0, feather: 0.2 },
      { erode: 0.1, feather: 0 },
      { erode: -0.05, feather: 0.3 },
      { erode: 0.6, feather: 0.1 }, // nothing is left of the face
    ];
    for (let trial = 0; trial < 60; trial++) {
      const side = random.integer(1, 41);
      const face = randomImage(random, side, side);
      const width = random.integer(1, 70);
      const height = random.integer(1, 70);
      // Window of a larger picture at `origin` every other trial.
      const origin =
        trial % 2 === 0 ? { x: 0, y: 0 } : { x: random.integer(-5, 60), y: random.integer(-5, 60) };
      const target = randomImage(random, width, height);
      // target -> frame: the face spans about side / scale target pixels, centred near the target.
      const scale = random.between(0.25, 2.5);
      const angle = someAngle(random, trial);
      const toFrame = randomSimilarity(random, angle, scale, 1);
      const cx = origin.x + random.between(-10, width + 10);
      const cy = origin.y + random.between(-10, height + 10);
      const [fx, fy] = applySimilarity(toFrame, [cx, cy]);
      toFrame.tx += side / 2 - fx;
      toFrame.ty += side / 2 - fy;
      const mask = masks[trial % masks.length]!;
      const expected = copy(target);
      referencePaste(expected, face, toFrame, mask, origin);
      pasteFrame(target, face, toFrame, mask, origin);
      expect(
        difference(target.data, expected.data),
        JSON.stringify({ trial, side, toFrame, origin, mask }),
      ).toEqual(SAME);
    }
  });

  it('rejects a mask that is not a number rather than writing garbage', () => {
    const face = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 };
    const target = { data: new Uint8Array(8 * 8 * 3).fill(7), width: 8, height: 8 };
    const toFrame = { a: 0.5, b: 0, tx: 0, ty: 0 };
    expect(() => pasteFrame(target, face, toFrame, { erode: Number.NaN, feather: 0.1 })).toThrow(
      /finite erode/,
    );
    expect(target.data.every((b) => b === 7)).toBe(true);
  });
});

describe('pasteFrame with a kept part takes that share from the target', () => {
  /** A flat square face of one colour. */
  const flat = (side: number, value: number): RgbImage => ({
    data: new Uint8Array(side * side * 3).fill(value),
    width: side,
    height: side,
  });
  // A 20 px face pasted 1:1 onto a 20 px target: the mask is whole over its middle.
  const toFrame: Similarity = { a: 1, b: 0, tx: 0, ty: 0 };
  const centre = (image: RgbImage) => image.data[(10 * 20 + 10) * 3]!;

  it('gives the face as it lies in the target for its kept share, the rest from the restoration', () => {
    // Prepare: input 100, restoration 200, fused with keep 0.75: 0.75·100 + 0.25·200 = 125;
    // the target (the face as kept there) holds 60.
    const input = flat(20, 100);
    const fused = flat(20, 125);
    const target = flat(20, 60);
    // Act
    pasteFrame(target, fused, toFrame, DEFAULT_PASTE_MASK, { x: 0, y: 0 }, { input, keep: 0.75 });
    // Assess: 0.75·60 + 0.25·200 = 95 where the mask is whole (a plain paste gives 125).
    expect(centre(target)).toBe(95);
  });

  it('leaves the target as it is for a face wholly kept, and pastes plainly at keep 0', () => {
    const random = new SeededRandom(5);
    const input = randomImage(random, 20, 20);
    const under = randomImage(random, 20, 20);
    const kept = copy(under);
    pasteFrame(kept, input, toFrame, DEFAULT_PASTE_MASK, { x: 0, y: 0 }, { input, keep: 1 });
    expect(difference(kept.data, under.data)).toEqual(SAME);
    const face = randomImage(random, 20, 20);
    const [plain, none] = [copy(under), copy(under)];
    pasteFrame(plain, face, toFrame);
    pasteFrame(none, face, toFrame, DEFAULT_PASTE_MASK, { x: 0, y: 0 }, { input, keep: 0 });
    expect(difference(none.data, plain.data)).toEqual(SAME);
  });

  it('refuses a kept share outside 0..1 or an input of another size, writing nothing', () => {
    const target = flat(20, 7);
    const face = flat(20, 100);
    for (const kept of [
      { input: flat(20, 100), keep: 1.5 },
      { input: flat(20, 100), keep: Number.NaN },
      { input: flat(19, 100), keep: 0.5 },
    ]) {
      expect(() => pasteFrame(target, face, toFrame, DEFAULT_PASTE_MASK, { x: 0, y: 0 }, kept)).toThrow(
        /kept/,
      );
    }
    expect(target.data.every((b) => b === 7)).toBe(true);
  });
});
