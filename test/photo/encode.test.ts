/**
 * Writing restored photos (gpu-task/src/photo/encode.ts): the sRGB profile spliced into PNG,
 * JPEG and WebP files must be the one sharp writes, the pixels exactly sharp's own, alpha and greyscale
 * kept.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeSharp, type RgbImage } from '../../gpu-task/src/engine/index.js';
import { encodePhoto, reencodePhoto } from '../../gpu-task/src/photo/index.js';

const WIDTH = 96;
const HEIGHT = 64;
const image: RgbImage = {
  data: Uint8Array.from({ length: WIDTH * HEIGHT * 3 }, (_, i) => (i * 37 + (i >> 7)) % 256),
  width: WIDTH,
  height: HEIGHT,
};
const alpha = Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => (i * 5) % 256);

/**
 * What sharp writes with its own sRGB transform (the slow path this module avoids); a JPEG with
 * alpha is flattened onto white.
 */
async function reference(format: 'png' | 'jpeg' | 'webp', withAlpha: boolean): Promise<Buffer> {
  const rgba = Buffer.alloc(WIDTH * HEIGHT * 4);
  for (let i = 0; i < WIDTH * HEIGHT; i++) {
    rgba.set(image.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = alpha[i]!;
  }
  const rgbaPipeline = sharp(rgba, { raw: { width: WIDTH, height: HEIGHT, channels: 4 } });
  const pipeline = withAlpha
    ? format === 'jpeg'
      ? rgbaPipeline.flatten({ background: '#ffffff' })
      : rgbaPipeline
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
        const expected = await reference(format, withAlpha);
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

  it('gives a WebP without alpha the extended header its profile needs: VP8X (ICC flag, canvas), ICCP, VP8', async () => {
    // Prepare: an odd size, so a canvas field off by one or swapped shows.
    const odd: RgbImage = { data: image.data.subarray(0, 37 * 21 * 3), width: 37, height: 21 };
    // Act
    const bytes = Buffer.from(await encodePhoto(odd, { format: 'webp' }));
    // Assess: the RIFF size, the chunks in order, the VP8X fields, and sharp reads it back.
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    const chunks: string[] = [];
    for (let offset = 12; offset < bytes.length;) {
      const size = bytes.readUInt32LE(offset + 4);
      chunks.push(bytes.toString('latin1', offset, offset + 4));
      offset += 8 + size + (size & 1);
    }
    expect(chunks).toEqual(['VP8X', 'ICCP', 'VP8 ']);
    expect(bytes[20]).toBe(0x20);
    expect(bytes.readUIntLE(24, 3) + 1).toBe(37);
    expect(bytes.readUIntLE(27, 3) + 1).toBe(21);
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height, meta.icc !== undefined]).toEqual([37, 21, true]);
  });

  it('shows nothing that was transparent in a JPEG: alpha 0 is white, whatever colour lay under it', async () => {
    // Prepare: a dark photo, its left half fully transparent
    const dark: RgbImage = {
      data: new Uint8Array(WIDTH * HEIGHT * 3).fill(20),
      width: WIDTH,
      height: HEIGHT,
    };
    const halfHidden = Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) =>
      i % WIDTH < WIDTH / 2 ? 0 : 255,
    );
    // Act
    const bytes = await encodePhoto(dark, { format: 'jpeg', alpha: halfHidden });
    // Assess
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[(y * WIDTH + x) * 3] as number;
    expect(at(10, HEIGHT / 2)).toBeGreaterThan(250);
    expect(at(WIDTH - 10, HEIGHT / 2)).toBeLessThan(30);
  });

  it('writes a greyscale photo as grey, with its alpha', async () => {
    const grey = await sharp(await encodePhoto(image, { format: 'png', grey: true, alpha })).metadata();
    expect([grey.space, grey.channels]).toEqual(['b-w', 2]);
  });

  it("tags a grey PNG and JPEG with a grey profile of sRGB's tone curve, which colour engines read as the same levels", async () => {
    // Prepare: a grey ramp over every level
    const ramp = new Uint8Array(256 * 2 * 3);
    for (let i = 0; i < 512; i++) ramp.fill(i % 256, i * 3, i * 3 + 3);
    const picture = { data: ramp, width: 256, height: 2 };
    for (const format of ['png', 'jpeg'] as const) {
      // Act
      const bytes = await encodePhoto(picture, { format, grey: true });
      // Assess: a one-channel file with a monochrome display profile...
      const meta = await sharp(bytes).metadata();
      expect(meta.channels).toBe(1);
      const icc = Buffer.from(meta.icc!);
      expect(icc.toString('latin1', 12, 20)).toBe('mntrGRAY');
      expect(icc.readUInt32BE(0)).toBe(icc.length);
      // ...that libvips' colour engine (lcms) takes to sRGB without moving a level (PNG), or
      // beyond JPEG's own error
      const { data, info } = await sharp(bytes)
        .withIccProfile('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      let worst = 0;
      for (let x = 0; x < 256; x++) worst = Math.max(worst, Math.abs(data[x * info.channels]! - x));
      expect(worst).toBeLessThanOrEqual(format === 'png' ? 0 : 2);
    }
  });

  it('tags a grey WebP, which libwebp writes as colour, with the sRGB profile', async () => {
    const meta = await sharp(await encodePhoto(image, { format: 'webp', grey: true })).metadata();
    expect(Buffer.from(meta.icc!).toString('latin1', 12, 20)).toBe('mntrRGB ');
  });
});

describe('reencodePhoto (the worker writes each job its own format from the engine PNG)', () => {
  for (const format of ['jpeg', 'webp'] as const) {
    it(`writes an RGBA PNG as the ${format} encodePhoto writes for its pixels and alpha`, async () => {
      // Prepare
      const png = await encodePhoto(image, { format: 'png', alpha });
      // Act
      const bytes = await reencodePhoto(png, format);
      // Assess
      const expected = await encodePhoto(image, { format, alpha });
      expect(Buffer.compare(Buffer.from(bytes), Buffer.from(expected))).toBe(0);
      expect((await sharp(bytes).metadata()).channels).toBe(format === 'webp' ? 4 : 3);
    });
  }

  it('keeps a grey photo grey', async () => {
    const png = await encodePhoto(image, { format: 'png', grey: true });
    const jpeg = await reencodePhoto(png, 'jpeg');
    expect((await sharp(jpeg).metadata()).channels).toBe(1);
  });

  it('returns PNG unchanged', async () => {
    const png = await encodePhoto(image, { format: 'png' });
    expect(await reencodePhoto(png, 'png')).toBe(png);
  });
});
