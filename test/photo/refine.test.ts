/**
 * A restored face meeting its aligned input (photo/refine.ts): colour matched to the input, and
 * a face whose input has no colour of its own (black-and-white, toned) given the input's colour.
 */
import { describe, expect, it } from 'vitest';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import {
  chromaSpread,
  COLOURLESS_CHROMA_STD,
  matchLowFrequencies,
  refineFace,
} from '../../gpu-task/src/photo/index.js';
import { largestChannelSpread } from '../engine/helpers/colour.js';

const SIDE = 64;

/** A face-sized picture: a lit disc on a darker ground, `tint` (r, g, b multipliers) over it. */
function input(tint: [number, number, number]): RgbImage {
  const data = new Uint8Array(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const lit = Math.hypot(x - SIDE / 2, y - SIDE / 2) < SIDE / 3 ? 180 : 70;
      const level = lit + ((x * 7 + y * 3) % 20);
      for (let c = 0; c < 3; c++) data[(y * SIDE + x) * 3 + c] = Math.min(255, Math.round(level * tint[c]!));
    }
  }
  return { data, width: SIDE, height: SIDE };
}

/** A "restoration" with colour of its own everywhere (random levels). */
function colourful(seed: number): RgbImage {
  const random = new SeededRandom(seed);
  const data = Uint8Array.from({ length: SIDE * SIDE * 3 }, () => Math.floor(random.uniform() * 256));
  return { data, width: SIDE, height: SIDE };
}

describe('refineFace', () => {
  it('gives a face of a black-and-white photo no colour, whatever the restoration painted', async () => {
    // Prepare
    const grey = input([1, 1, 1]);
    // Act
    const refined = await refineFace(colourful(1), grey);
    // Assess
    expect(chromaSpread(grey)).toBeLessThan(1e-9);
    expect(largestChannelSpread(refined.data)).toBe(0);
  });

  it("gives a toned (sepia) face the input's tone and keeps the restoration's light and shade", async () => {
    // Prepare
    const sepia = input([1.02, 0.99, 0.94]);
    const restored = colourful(2);
    // Act
    const refined = await refineFace(restored, sepia);
    // Assess: under the threshold, every pixel reddish-brown like the input (R > G > B) ...
    expect(chromaSpread(sepia)).toBeLessThan(COLOURLESS_CHROMA_STD);
    for (let i = 0; i < refined.data.length; i += 3) {
      const [r, g, b] = [refined.data[i]!, refined.data[i + 1]!, refined.data[i + 2]!];
      if (g > 8 && g < 247) expect(r >= g && g >= b).toBe(true);
    }
    // ... while its luma is the colour-matched restoration's, detail and all.
    const matched = await matchLowFrequencies(restored, sepia);
    const luma = (image: RgbImage, i: number): number =>
      0.299 * image.data[i]! + 0.587 * image.data[i + 1]! + 0.114 * image.data[i + 2]!;
    let off = 0;
    for (let i = 0; i < refined.data.length; i += 3) off += Math.abs(luma(refined, i) - luma(matched, i));
    expect(off / (SIDE * SIDE)).toBeLessThan(2);
  });

  it("leaves a colour face's colour-matched restoration as it was", async () => {
    // Prepare: a face with colour of its own (skin on a green ground).
    const face = input([1, 1, 1]);
    for (let i = 0; i < face.data.length; i += 3) {
      if (face.data[i]! < 130) face.data.set([40, 110, 50], i);
      else face.data.set([Math.min(255, face.data[i]! + 30), face.data[i + 1]!, face.data[i + 2]! - 40], i);
    }
    const restored = colourful(3);
    // Act
    const refined = await refineFace(restored, face);
    // Assess
    expect(chromaSpread(face)).toBeGreaterThan(COLOURLESS_CHROMA_STD);
    expect(
      Buffer.from(refined.data).equals(Buffer.from((await matchLowFrequencies(restored, face)).data)),
    ).toBe(true);
  });

  it('returns the restoration untouched without colour matching', async () => {
    const restored = colourful(4);
    expect((await refineFace(restored, input([1, 1, 1]), { colorMatch: false })).data).toBe(restored.data);
  });
});
