/**
 * Writing restored photos (gpu-task/src/photo/encode.ts): the sRGB profile spliced into PNG and
 * JPEG files must be the one sharp writes, the pixels exactly sharp's own, alpha and greyscale
 * kept.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeSharp, type RgbImage } from '../../gpu-task/src/engine/index.js';
import { encodePhoto } from '../../gpu-task/src/photo/index.js';

const WIDTH = 96;
const HEIGHT = 64;
const image: RgbImage = {
  data: Uint8Array.from({ length: WIDTH * HEIGHT * 3 }, (_, i) => (i * 37 + (i >> 7)) % 256),
  width: WIDTH,
  height: HEIGHT,
};
const alpha = Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => (i * 5) % 256);

/** What sharp writes with its own sRGB transform (the slow path this module avoids). */
async function reference(format: 'png' | 'jpeg' | 'webp', withAlpha: boolean): Promise<Buffer> {
  const rgba = Buffer.alloc(WIDTH * HEIGHT * 4);
  for (let i = 0; i < WIDTH * HEIGHT; i++) {
    rgba.set(image.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = alpha[i]!;
  }
  const pipeline = withAlpha
    ? sharp(rgba, { raw: { width: WIDTH, height: HEIGHT, channels: 4 } })
    : sharp(image.data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } });
  return encodeSharp(pipeline.withIccProfile('srgb'), format, 92);
}

describe('encodePhoto', () => {
  for (const format of ['png', 'jpeg', 'webp'] as const) {
    for (const withAlpha of [false, true]) {
      it(`writes ${format}${withAlpha ? ' with alpha' : ''} with sharp's sRGB profile and pixels`, async () => {
        // Act
        const bytes = await encodePhoto(image, { format, alpha: withAlpha ? alpha : null });
        // Assess
        const expected = await reference(format, withAlpha && format !== 'jpeg');
        const [meta, expectedMeta] = await Promise.all([sharp(bytes).metadata(), sharp(expected).metadata()]);
        expect(meta.icc).toBeDefined();
        expect(Buffer.compare(meta.icc!, expectedMeta.icc!)).toBe(0);
        expect(meta.channels).toBe(withAlpha && format !== 'jpeg' ? 4 : 3);
        const [pixels, expectedPixels] = await Promise.all([
          sharp(bytes).raw().toBuffer(),
          sharp(expected).raw().toBuffer(),
        ]);
        expect(Buffer.compare(pixels, expectedPixels)).toBe(0);
      });
    }
  }

  it('writes a greyscale photo as grey, with its alpha', async () => {
    const grey = await sharp(await encodePhoto(image, { format: 'png', grey: true, alpha })).metadata();
    expect([grey.space, grey.channels]).toEqual(['b-w', 2]);
  });
});
