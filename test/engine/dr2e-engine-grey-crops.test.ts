/**
 * A black-and-white aligned crop stored as colour comes back without colour: the model paints
 * colour into grey faces (photo/refine.ts `withInputColourIfColourless`). Tiny random-weight
 * model, whose output is colour noise on any input.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine } from '../../gpu-task/src/engine/index.js';
import { repoRoot, tinyModelDir } from './helpers/fixture-paths.js';
import { largestChannelSpread } from './helpers/colour.js';

const TINY_MODEL = path.join(tinyModelDir, 'pipeline.json');

let engine: Dr2eEngine;
beforeAll(async () => {
  engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await engine?.dispose();
});

/** A square PNG of waves; `grey`: the same level in R, G and B (a mono photo saved as RGB). */
async function crop(side: number, grey: boolean): Promise<Uint8Array> {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    const x = i % side;
    const y = Math.floor(i / side);
    const level = 100 + x / 2 + 20 * Math.sin(x / 5) * Math.cos(y / 7);
    data.set(grey ? [level, level, level] : [level + 30, level, level - 40], i * 3);
  }
  return new Uint8Array(
    await sharp(data, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** The largest max - min of R, G and B over an encoded image's pixels. */
async function largestSpread(bytes: Uint8Array): Promise<number> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return largestChannelSpread(data, info.channels);
}

describe('aligned crops without colour of their own', () => {
  it('come back without colour, while a colour crop keeps the colour the model gives', async () => {
    // Prepare
    const inputs = [
      { id: 'grey', bytes: await crop(96, true), seed: 3 },
      { id: 'colour', bytes: await crop(96, false), seed: 3 },
    ];
    // Act
    const results = await engine.restoreImages(inputs, {
      aligned: true,
      params: { preset: 'medium' },
      format: 'png',
    });
    // Assess
    const [grey, colour] = results;
    if (!grey?.ok || !colour?.ok) throw new Error('a crop failed');
    expect(await largestSpread(grey.restored)).toBe(0);
    expect(await largestSpread(colour.restored)).toBeGreaterThan(40);
  });
});

describe('an aligned crop auto keeps as it is', () => {
  it('comes back as its input, its faint tone untouched (no model colour to undo)', async () => {
    // Prepare: a sharp face (the mild sample) made faintly toned (sepia of chroma spread under
    // the colourless bar): auto keeps such a face as it is
    const { data: grey, info } = await sharp(path.join(repoRoot, 'samples', 'sample-mild.jpg'))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const data = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) {
      const level = grey[i]!;
      const tone = 4 + (level / 255) * 3;
      data.set([level + tone, level, level - tone], i * 3);
    }
    const bytes = new Uint8Array(
      await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
        .png()
        .toBuffer(),
    );
    // Act
    const [result] = await engine.restoreImages([{ id: 'toned', bytes, seed: 3 }], {
      aligned: true,
      upscale: 1,
      format: 'png',
    });
    // Assess
    if (!result?.ok) throw new Error('the crop failed');
    expect(result.faces[0]?.settings?.kept).toBe(true);
    const { data: out } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
    const { data: input } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    let largest = 0;
    for (let i = 0; i < input.length; i++) largest = Math.max(largest, Math.abs(out[i]! - input[i]!));
    expect(largest).toBe(0);
  });
});
