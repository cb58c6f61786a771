/**
 * The evaluation's `auto` measures what the service returns: a face without colour of its own
 * keeps the input's colour (photo/refine.ts `withInputColourIfColourless`, the engine's aligned
 * path), so `dr2e eval` does not score colour the service would not give. Tiny random-weight
 * model, whose output is colour noise on any input.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, type RgbImage } from '../../gpu-task/src/engine/index.js';
import { keepsInput, runAuto } from '../../gpu-task/src/eval/index.js';
import { chromaSpread, COLOURLESS_CHROMA_STD } from '../../gpu-task/src/photo/index.js';
import { tinyModelDir } from '../engine/helpers/fixture-paths.js';
import { largestChannelSpread } from '../engine/helpers/colour.js';

const TINY_MODEL = path.join(tinyModelDir, 'pipeline.json');

let engine: Dr2eEngine;
beforeAll(async () => {
  engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await engine?.dispose();
});

/** A noisy 32 px face stand-in; `grey`: the same level in R, G and B (a mono photo as RGB). */
function noisyFace(grey: boolean): RgbImage {
  const side = 32;
  const data = new Uint8Array(side * side * 3);
  let state = 7;
  const noise = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state / 2147483648 - 0.5) * 60;
  };
  for (let i = 0; i < side * side; i++) {
    const x = i % side;
    const y = Math.floor(i / side);
    const level = 110 + 30 * Math.sin(x / 4) * Math.cos(y / 5) + noise();
    // The colour face's colour varies across it (a constant tint has no chroma spread).
    data.set(
      grey ? [level, level, level] : [level + 40 * Math.sin(y / 3), level, level - 40 * Math.cos(x / 3)],
      i * 3,
    );
  }
  return { data, width: side, height: side };
}

/**
 * Mean |Cb| difference between horizontal neighbours: high for the tiny model's colour noise,
 * low for the input's low-pass colour that the grey rule keeps.
 */
function chromaRoughness(image: RgbImage): number {
  const cb = (i: number) =>
    -0.168736 * image.data[i]! - 0.331264 * image.data[i + 1]! + 0.5 * image.data[i + 2]!;
  let sum = 0;
  let count = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x + 1 < image.width; x++) {
      const at = (y * image.width + x) * 3;
      sum += Math.abs(cb(at + 3) - cb(at));
      count++;
    }
  }
  return sum / count;
}

describe("the evaluation's auto on faces without colour of their own", () => {
  it('scores them without colour, as the service returns them, and leaves colour faces alone', async () => {
    // Prepare
    const faces = [noisyFace(true), noisyFace(false)];
    // Act
    const run = await runAuto(engine, faces, [3, 3], { batch: 2 });
    // Assess: both were restored (not kept as they were), the grey one stays grey
    expect(run.choices.map((choice) => keepsInput(choice.fusion))).toEqual([false, false]);
    const [grey, colour] = run.images;
    expect(chromaSpread(faces[1]!)).toBeGreaterThanOrEqual(COLOURLESS_CHROMA_STD);
    expect(largestChannelSpread(grey!.data)).toBeLessThanOrEqual(1);
    // The colour face keeps the model's colour (noise from the tiny model), not the input's low-pass.
    expect(chromaRoughness(colour!)).toBeGreaterThan(5);
  });
});
