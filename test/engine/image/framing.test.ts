import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import {
  decodeImage,
  planFraming,
  type RgbImage,
  unframeImage,
} from '../../../gpu-task/src/engine/image/index.js';
import { BLUE, colourDistance, GREEN, pixelAt, RED, type Rgb, sharpFromRgb } from './helpers.js';

/** 128x64: vertical stripes red | green (middle half) | blue. */
function stripes(): RgbImage {
  const width = 128;
  const height = 64;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < 32 ? RED : x < 96 ? GREEN : BLUE, (y * width + x) * 3);
  }
  return { data, width, height };
}

/** 128x64: the top 8 rows red, the rest green. */
function redTopBand(): RgbImage {
  const width = 128;
  const height = 64;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(y < 8 ? RED : GREEN, (y * width + x) * 3);
  }
  return { data, width, height };
}

function expectNear(actual: Rgb, expected: Rgb, tolerance = 6): void {
  expect(
    colourDistance(actual, expected),
    `got ${actual.join(',')}, expected ${expected.join(',')}`,
  ).toBeLessThanOrEqual(tolerance);
}

describe('planFraming', () => {
  it('pads a landscape image: longer side to S, centred on the short axis', () => {
    // Act
    const framing = planFraming(1000, 500, 512, 'pad');

    // Assess
    expect(framing).toEqual({
      fit: 'pad',
      padMode: 'reflect',
      size: 512,
      sourceRect: { left: 0, top: 0, width: 1000, height: 500 },
      modelRect: { left: 0, top: 128, width: 512, height: 256 },
    });
  });

  it('pads a portrait image with a rounded width and edge padding when asked', () => {
    // Act
    const framing = planFraming(333, 1000, 512, 'pad', 'edge');

    // Assess: 333 * 0.512 = 170.5 (170.496) -> 170, left = floor((512 - 170) / 2) = 171.
    expect(framing.padMode).toBe('edge');
    expect(framing.modelRect).toEqual({ left: 171, top: 0, width: 170, height: 512 });
  });

  it('crops the centred largest square', () => {
    // Act
    const landscape = planFraming(1001, 500, 512, 'crop');
    const portrait = planFraming(480, 640, 512, 'crop');

    // Assess
    expect(landscape.sourceRect).toEqual({ left: 250, top: 0, width: 500, height: 500 });
    expect(landscape.modelRect).toEqual({ left: 0, top: 0, width: 512, height: 512 });
    expect(portrait.sourceRect).toEqual({ left: 0, top: 80, width: 480, height: 480 });
  });

  it('keeps at least one model pixel for extreme aspect ratios', () => {
    // Act
    const framing = planFraming(32, 100_000, 512, 'pad');

    // Assess
    expect(framing.modelRect.width).toBe(1);
    expect(framing.modelRect.height).toBe(512);
  });

  it('rejects unknown modes and non-integer sizes', () => {
    // Act + Assess
    expect(() => planFraming(10, 10, 512, 'stretch' as 'pad')).toThrow(InvalidParametersError);
    expect(() => planFraming(10, 10, 512, 'pad', 'zeros' as 'edge')).toThrow(InvalidParametersError);
    expect(() => planFraming(10.5, 10, 512)).toThrow(/width must be a positive integer/);
  });
});

describe('decodeImage framing', () => {
  it("fit 'crop' keeps only the centre square", async () => {
    // Prepare
    const bytes = await sharpFromRgb(stripes()).png().toBuffer();

    // Act
    const decoded = await decodeImage(bytes, { size: 32, fit: 'crop' });

    // Assess: the centre 64x64 square is the green stripe, so every model pixel is green.
    expect(decoded.framing.sourceRect).toEqual({ left: 32, top: 0, width: 64, height: 64 });
    expect(decoded.framing.modelRect).toEqual({ left: 0, top: 0, width: 32, height: 32 });
    for (const [x, y] of [
      [0, 0],
      [31, 0],
      [0, 31],
      [31, 31],
      [16, 16],
    ] as const) {
      expectNear(pixelAt(decoded.rgb, x, y), GREEN);
    }
  });

  it("fit 'pad' keeps the whole image in the model rectangle", async () => {
    // Prepare
    const bytes = await sharpFromRgb(stripes()).png().toBuffer();

    // Act
    const decoded = await decodeImage(bytes, { size: 64 });

    // Assess
    expect(decoded.framing.modelRect).toEqual({ left: 0, top: 16, width: 64, height: 32 });
    expectNear(pixelAt(decoded.rgb, 4, 32), RED);
    expectNear(pixelAt(decoded.rgb, 32, 32), GREEN);
    expectNear(pixelAt(decoded.rgb, 60, 32), BLUE);
  });

  it('reflect padding mirrors the content, edge padding repeats the border row', async () => {
    // Prepare: in the 64x64 frame the content spans rows 16-47; its rows 16-19 are red.
    const bytes = await sharpFromRgb(redTopBand()).png().toBuffer();

    // Act
    const reflected = await decodeImage(bytes, { size: 64, fit: 'pad', padMode: 'reflect' });
    const edged = await decodeImage(bytes, { size: 64, fit: 'pad', padMode: 'edge' });

    // Assess: row 15 mirrors row 16 (red) in both; row 2 mirrors row 29 (green) vs repeats row 16 (red).
    expectNear(pixelAt(reflected.rgb, 32, 17), RED);
    expectNear(pixelAt(reflected.rgb, 32, 15), RED);
    expectNear(pixelAt(reflected.rgb, 32, 2), GREEN);
    expectNear(pixelAt(edged.rgb, 32, 2), RED);
    expectNear(pixelAt(edged.rgb, 32, 0), RED);
  });

  it('unframeImage maps a padded frame back to the source size and layout', async () => {
    // Prepare
    const bytes = await sharpFromRgb(stripes()).png().toBuffer();
    const decoded = await decodeImage(bytes, { size: 64 });

    // Act
    const back = await unframeImage(decoded.rgb, decoded.framing);

    // Assess
    expect([back.width, back.height]).toEqual([128, 64]);
    expectNear(pixelAt(back, 10, 5), RED);
    expectNear(pixelAt(back, 64, 60), GREEN);
    expectNear(pixelAt(back, 120, 30), BLUE);
  });

  it('unframeImage gives a cropped frame back at the crop size', async () => {
    // Prepare
    const bytes = await sharpFromRgb(stripes()).png().toBuffer();
    const decoded = await decodeImage(bytes, { size: 32, fit: 'crop' });

    // Act
    const back = await unframeImage(decoded.rgb, decoded.framing);

    // Assess
    expect([back.width, back.height]).toEqual([64, 64]);
    expectNear(pixelAt(back, 32, 32), GREEN);
  });

  it('rejects a frame of the wrong size', async () => {
    // Prepare
    const framing = planFraming(100, 50, 64);

    // Act + Assess
    await expect(
      unframeImage({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 }, framing),
    ).rejects.toThrow(InvalidParametersError);
  });
});
