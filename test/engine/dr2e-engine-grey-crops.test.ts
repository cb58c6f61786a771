/**
 * A black-and-white aligned crop stored as colour comes back without colour: the model paints
 * colour into grey faces (photo/refine.ts `withInputColourIfColourless`). Tiny random-weight
 * model, whose output is colour noise on any input.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine } from '../../gpu-task/src/engine/index.js';
import { tinyModelDir } from './helpers/fixture-paths.js';

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
  let spread = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    spread = Math.max(
      spread,
      Math.max(data[i]!, data[i + 1]!, data[i + 2]!) - Math.min(data[i]!, data[i + 1]!, data[i + 2]!),
    );
  }
  return spread;
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
