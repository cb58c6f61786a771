import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ImageDecodeError,
  ImageTooLargeError,
  ImageTooSmallError,
  UnsupportedImageFormatError,
} from '../../../gpu-task/src/engine/errors.js';
import {
  decodeImage,
  decodeImageToRgb,
  decodeImageWithAlpha,
  DEFAULT_IMAGE_LIMITS,
  type ImageFormat,
  probeImage,
} from '../../../gpu-task/src/engine/image/index.js';
import {
  blackBilevelPng,
  BLUE,
  colourDistance,
  GREEN,
  LIGHT,
  noiseRgb,
  pixelAt,
  quadrantRgb,
  readFixture,
  RED,
  type Rgb,
  sharpFromRgb,
} from './helpers.js';

/** Sample the centre of each quadrant, away from edges that lossy codecs blur. */
function quadrantCentres(image: { width: number; height: number; data: Uint8Array }): Rgb[] {
  const x1 = Math.floor(image.width / 4);
  const x2 = Math.floor((3 * image.width) / 4);
  const y1 = Math.floor(image.height / 4);
  const y2 = Math.floor((3 * image.height) / 4);
  return [pixelAt(image, x1, y1), pixelAt(image, x2, y1), pixelAt(image, x1, y2), pixelAt(image, x2, y2)];
}

function expectColours(actual: Rgb[], expected: Rgb[], tolerance: number): void {
  actual.forEach((colour, i) => {
    const distance = colourDistance(colour, expected[i]!);
    expect(
      distance,
      `quadrant ${i}: got ${colour.join(',')}, expected ${expected[i]!.join(',')}`,
    ).toBeLessThanOrEqual(tolerance);
  });
}

/** Run `act`, require it to reject with `errorClass`, and hand the error back for more checks. */
async function rejection<T extends Error>(
  act: Promise<unknown>,
  errorClass: new (...args: never[]) => T,
): Promise<T> {
  const error: unknown = await act.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(errorClass);
  return error as T;
}

describe('decodeImage: every supported format', () => {
  const encoders: Record<Exclude<ImageFormat, 'heic'>, (image: Sharp) => Sharp> = {
    jpeg: (image) => image.jpeg({ quality: 95 }),
    png: (image) => image.png(),
    webp: (image) => image.webp({ lossless: true }),
    avif: (image) => image.avif({ quality: 90, chromaSubsampling: '4:4:4' }),
    tiff: (image) => image.tiff(),
  };

  for (const [format, encode] of Object.entries(encoders)) {
    it(`decodes ${format.toUpperCase()} to upright RGB with the right colours`, async () => {
      // Prepare
      const bytes = await encode(sharpFromRgb(quadrantRgb())).toBuffer();

      // Act
      const { image, info } = await decodeImageToRgb(bytes);
      const decoded = await decodeImage(bytes, { size: 32 });

      // Assess
      expect(info).toMatchObject({
        format,
        width: 64,
        height: 48,
        orientation: 1,
        byteLength: bytes.length,
        frames: 1,
      });
      expectColours(quadrantCentres(image), [RED, GREEN, BLUE, LIGHT], 12);
      expect(decoded.dims).toEqual([1, 3, 32, 32]);
      expect(decoded.tensor).toHaveLength(3 * 32 * 32);
      expect(decoded.source.format).toBe(format);
    });
  }

  it('decodes HEIC (HEVC via heic-decode) and reads its size from the header first', async () => {
    // Prepare
    const bytes = readFixture('quadrants.heic');

    // Act
    const info = await probeImage(bytes);
    const { image } = await decodeImageToRgb(bytes);
    const decoded = await decodeImage(bytes, { size: 32, fit: 'crop' });

    // Assess
    expect(info).toMatchObject({ format: 'heic', width: 64, height: 48, orientation: 1 });
    expect([image.width, image.height]).toEqual([64, 48]);
    expectColours(quadrantCentres(image), [RED, GREEN, BLUE, LIGHT], 8);
    expect(decoded.dims).toEqual([1, 3, 32, 32]);
  });

  it('rotates a HEIC by its irot property once, ignoring the EXIF orientation that phones also write', async () => {
    // Prepare: stored 64x48 unrotated, irot = 90 degrees clockwise, EXIF Orientation = 6.
    const bytes = readFixture('quadrants-irot270-exif6.heic');

    // Act
    const { image, info } = await decodeImageToRgb(bytes);

    // Assess: one clockwise quarter turn moves bottom-left (blue) to top-left.
    expect([info.width, info.height]).toEqual([48, 64]);
    expect([image.width, image.height]).toEqual([48, 64]);
    expectColours(quadrantCentres(image), [BLUE, RED, LIGHT, GREEN], 8);
  });

  it('refuses a HEIC over the pixel limit from its header, before decoding', async () => {
    // Prepare
    const bytes = readFixture('quadrants.heic');

    // Act
    const error = await rejection(
      decodeImage(bytes, { size: 32, limits: { maxInputPixels: 1000 } }),
      ImageTooLargeError,
    );

    // Assess
    expect(error.code).toBe('image_too_large');
    expect(error.message).toBe('image is 64x48 (3072 pixels); the limit is 1000 pixels');
  });
});

describe('decodeImage: normalisation', () => {
  it('applies EXIF orientation 6 (rotate 90 degrees clockwise) and reports it', async () => {
    // Prepare
    const bytes = await sharpFromRgb(quadrantRgb())
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();

    // Act
    const { image, info } = await decodeImageToRgb(bytes);

    // Assess
    expect(info).toMatchObject({ width: 48, height: 64, orientation: 6 });
    expect([image.width, image.height]).toEqual([48, 64]);
    expectColours(quadrantCentres(image), [BLUE, RED, LIGHT, GREEN], 12);
  });

  it('flattens transparency onto white by default, or onto the given background', async () => {
    // Prepare: left half fully transparent red, right half opaque blue.
    const rgba = new Uint8Array(64 * 64 * 4);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) rgba.set(x < 32 ? [255, 0, 0, 0] : [0, 0, 255, 255], (y * 64 + x) * 4);
    }
    const bytes = await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } })
      .png()
      .toBuffer();

    // Act
    const onWhite = await decodeImageToRgb(bytes);
    const onBlack = await decodeImageToRgb(bytes, { background: { r: 0, g: 0, b: 0 } });

    // Assess
    expect(onWhite.info.hasAlpha).toBe(true);
    expect(pixelAt(onWhite.image, 10, 10)).toEqual([255, 255, 255]);
    expect(pixelAt(onBlack.image, 10, 10)).toEqual([0, 0, 0]);
    expect(pixelAt(onWhite.image, 50, 10)).toEqual([0, 0, 255]);
  });

  it('expands a one-channel greyscale PNG to three equal channels', async () => {
    // Prepare
    const bytes = await sharp(new Uint8Array(64 * 64).fill(77), {
      raw: { width: 64, height: 64, channels: 1 },
    })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(1);

    // Act
    const { image } = await decodeImageToRgb(bytes);
    const decoded = await decodeImage(bytes, { size: 32 });

    // Assess
    expect(image.data).toHaveLength(64 * 64 * 3);
    expect(pixelAt(image, 5, 5)).toEqual([77, 77, 77]);
    expect(decoded.tensor[0]).toBeCloseTo(77 / 127.5 - 1, 6);
    expect(decoded.tensor[32 * 32]).toBeCloseTo(77 / 127.5 - 1, 6);
  });

  it('reduces a 16-bit PNG to 8 bits per channel', async () => {
    // Prepare: 51400 = 200 * 257, i.e. exactly 200 in 8 bits.
    const samples = new Uint16Array(64 * 64 * 3);
    for (let i = 0; i < samples.length; i += 3) samples.set([51400, 257 * 20, 65535], i);
    const bytes = await sharp(samples, { raw: { width: 64, height: 64, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(bytes).metadata()).depth).toBe('ushort');

    // Act
    const { image } = await decodeImageToRgb(bytes);

    // Assess
    expect(image.data).toHaveLength(64 * 64 * 3);
    expect(pixelAt(image, 3, 3)).toEqual([200, 20, 255]);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    // Prepare: muted colours inside the CMYK gamut, stored as four inverted ink channels.
    const muted: Rgb[] = [
      [180, 70, 60],
      [80, 150, 80],
      [60, 80, 150],
      [200, 200, 200],
    ];
    const pixels = new Uint8Array(64 * 48 * 3);
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 64; x++) pixels.set(muted[(y < 24 ? 0 : 2) + (x < 32 ? 0 : 1)]!, (y * 64 + x) * 3);
    }
    const bytes = await sharpFromRgb({ data: pixels, width: 64, height: 48 })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer();
    const stored = await sharp(bytes).metadata();
    expect([stored.space, stored.channels]).toEqual(['cmyk', 4]);

    // Act
    const { image } = await decodeImageToRgb(bytes);

    // Assess: the default CMYK profile round trip shifts colours by up to ~20 levels; reading
    // the ink channels as RGB would be off by well over 100.
    expect(image.data).toHaveLength(64 * 48 * 3);
    expectColours(quadrantCentres(image), muted, 25);
  });

  it('converts pixels tagged with a Display P3 ICC profile to sRGB', async () => {
    // Prepare: stored values are P3 numbers, visibly different from the sRGB ones.
    const bytes = await sharpFromRgb(quadrantRgb()).withIccProfile('p3').png().toBuffer();
    const stored = await sharp(bytes, { ignoreIcc: true }).raw().toBuffer();
    expect(colourDistance([stored[0]!, stored[1]!, stored[2]!], RED)).toBeGreaterThan(10);

    // Act
    const { image } = await decodeImageToRgb(bytes);

    // Assess
    expectColours(quadrantCentres(image), [RED, GREEN, BLUE, LIGHT], 3);
  });
  it('converts a 16-bit PNG tagged with a Display P3 ICC profile to sRGB, with and without alpha', async () => {
    // Prepare: the P3 numbers of the quadrants at 16 bits, with the P3 profile spliced in as is
    // (libvips would convert them if asked to attach it), opaque and with an alpha channel.
    const p3 = await sharpFromRgb(quadrantRgb()).withIccProfile('p3').png().toBuffer();
    const profile = (await sharp(p3).metadata()).icc!;
    const { data: numbers, info } = await sharp(p3, { ignoreIcc: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const files: Buffer[] = [];
    for (const channels of [3, 4] as const) {
      const samples = new Uint16Array(info.width * info.height * channels);
      for (let i = 0; i < info.width * info.height; i++) {
        for (let c = 0; c < 3; c++) samples[i * channels + c] = numbers[i * 3 + c]! * 257;
        if (channels === 4) samples[i * 4 + 3] = 65535;
      }
      const untagged = await sharp(samples, { raw: { width: info.width, height: info.height, channels } })
        .toColourspace('rgb16')
        .png()
        .toBuffer();
      files.push(withIccChunk(untagged, profile));
    }
    const stored = await sharp(files[0]!).metadata();
    expect([stored.space, stored.hasProfile]).toEqual(['rgb16', true]);

    // Act
    const opaque = await decodeImageToRgb(files[0]!);
    const withAlpha = await decodeImageWithAlpha(files[1]!);

    // Assess: sRGB's colours, not P3's numbers read as sRGB (red 234/51/34)
    expectColours(quadrantCentres(opaque.image), [RED, GREEN, BLUE, LIGHT], 3);
    expectColours(quadrantCentres(withAlpha.image), [RED, GREEN, BLUE, LIGHT], 3);
  });
});

/** A PNG with an iCCP chunk holding `profile` inserted after its header chunk. */
function withIccChunk(png: Buffer, profile: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflateSync(profile)]);
  const type = Buffer.from('iCCP', 'latin1');
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  type.copy(chunk, 4);
  body.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(Buffer.concat([type, body])), 8 + body.length);
  const afterHeader = 8 + 25; // the signature, then IHDR (13 bytes of data and 12 of frame)
  return Buffer.concat([png.subarray(0, afterHeader), chunk, png.subarray(afterHeader)]);
}

describe('decodeImage: bad inputs', () => {
  it('refuses a zero-byte file', async () => {
    // Act
    const error = await rejection(decodeImage(new Uint8Array(0), { size: 32 }), ImageDecodeError);

    // Assess
    expect(error.code).toBe('image_decode_failed');
    expect(error.message).toBe('empty file (0 bytes)');
  });

  it('refuses a truncated PNG instead of returning partly blank pixels', async () => {
    // Prepare: noise does not compress, so the cut removes real pixel rows.
    const png = await sharpFromRgb(noiseRgb(128, 128)).png().toBuffer();
    const truncated = png.subarray(0, Math.floor(png.length * 0.6));

    // Act
    const error = await rejection(decodeImage(truncated, { size: 32 }), ImageDecodeError);

    // Assess
    expect(error.code).toBe('image_decode_failed');
    expect(error.message).toMatch(/^truncated or corrupt PNG: .+/);
  });

  it("refuses a PNG whose pixel data fails its checksum, saying what to do rather than libpng's 'read error'", async () => {
    // Prepare: one byte of the compressed pixel data changed (its chunk's CRC no longer matches)
    const png = Buffer.from(await sharpFromRgb(noiseRgb(64, 64)).png().toBuffer());
    const idat = png.indexOf('IDAT');
    png.writeUInt8(png.readUInt8(idat + 40) ^ 0xff, idat + 40);

    // Act
    const error = await rejection(decodeImage(png, { size: 32 }), ImageDecodeError);

    // Assess
    expect(error.code).toBe('image_decode_failed');
    expect(error.message).toMatch(/^truncated or corrupt PNG: .*send the original file again/);
    expect(error.message).not.toMatch(/unknown error|libpng read error|vipspng/i);
  });

  it('refuses a truncated JPEG', async () => {
    // Prepare
    const jpeg = await sharpFromRgb(noiseRgb(128, 128)).jpeg({ quality: 90 }).toBuffer();

    // Act
    const error = await rejection(
      decodeImageToRgb(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))),
      ImageDecodeError,
    );

    // Assess
    expect(error.message).toMatch(/JPEG.*premature end/i);
  });

  it('decodes a whole JPEG that lacks only its end marker, as viewers do', async () => {
    // Prepare: every row there, the last two bytes (FF D9) dropped
    const jpeg = await sharpFromRgb(quadrantRgb(64, 64)).jpeg({ quality: 95 }).toBuffer();
    const withoutEnd = jpeg.subarray(0, jpeg.length - 2);

    // Act
    const decoded = await decodeImageToRgb(withoutEnd);
    const photo = await decodeImageWithAlpha(withoutEnd);
    const clean = await decodeImageToRgb(jpeg);

    // Assess: the same pixels as the whole file
    expect(Buffer.from(decoded.image.data)).toEqual(Buffer.from(clean.image.data));
    expect(Buffer.from(photo.image.data)).toEqual(Buffer.from(clean.image.data));
  });

  it('refuses a JPEG whose data was damaged mid-file instead of returning it half grey', async () => {
    // Prepare: a byte flipped every 97 bytes of the entropy-coded data; under 'error' libvips
    // decodes the first rows and fills the rest
    const jpeg = await sharpFromRgb(noiseRgb(256, 256)).jpeg({ quality: 90 }).toBuffer();
    const damaged = Buffer.from(jpeg);
    for (let i = 1200; i < damaged.length - 10; i += 97) damaged[i]! ^= 0x55;

    // Act: every decoding entry point the pipeline uses
    const whole = await rejection(decodeImageToRgb(damaged), ImageDecodeError);
    const forModel = await rejection(decodeImage(damaged, { size: 64 }), ImageDecodeError);
    const photo = await rejection(decodeImageWithAlpha(damaged), ImageDecodeError);

    // Assess
    for (const error of [whole, forModel, photo]) {
      expect(error.code).toBe('image_decode_failed');
      expect(error.message).toMatch(/^corrupt JPEG data \(.+\): part of the picture is lost/);
    }
  });

  it('still decodes a JPEG with stray bytes between its segments, a warning phones and editors cause', async () => {
    // Prepare: two bytes before the Huffman tables' marker (libjpeg warns "2 extraneous bytes")
    const jpeg = await sharpFromRgb(quadrantRgb(64, 64)).jpeg({ quality: 95 }).toBuffer();
    const marker = jpeg.indexOf(Buffer.from([0xff, 0xc4]));
    const stray = Buffer.concat([jpeg.subarray(0, marker), Buffer.from([0x12, 0x34]), jpeg.subarray(marker)]);
    await expect(sharp(stray, { failOn: 'warning' }).raw().toBuffer()).rejects.toThrow(/extraneous bytes/);

    // Act
    const decoded = await decodeImageToRgb(stray);
    const clean = await decodeImageToRgb(jpeg);

    // Assess
    expect(Buffer.from(decoded.image.data)).toEqual(Buffer.from(clean.image.data));
  });

  it('refuses a truncated HEIC with the box that is cut', async () => {
    // Prepare
    const heic = readFixture('quadrants.heic');

    // Act
    const error = await rejection(
      decodeImage(heic.subarray(0, heic.length - 50), { size: 32 }),
      ImageDecodeError,
    );

    // Assess
    expect(error.message).toMatch(/^truncated or corrupt HEIC: box 'mdat' at offset \d+ declares \d+ bytes/);
  });

  it('refuses a text file whatever its name says', async () => {
    // Prepare: what an upload named "photo.jpg" might really hold.
    const bytes = new TextEncoder().encode('This is not a photo.\nIt is a note named photo.jpg.\n');

    // Act
    const error = await rejection(decodeImage(bytes, { size: 32 }), ImageDecodeError);

    // Assess
    expect(error.code).toBe('image_decode_failed');
    expect(error.message).toBe('not an image: the bytes look like text');
  });

  it('tells an image just over the pixel limit from the limit in its message', async () => {
    // Prepare: 1001 x 1000 against 1 megapixel; both round to "1 megapixel"
    const bomb = blackBilevelPng(1001, 1000);

    // Act
    const error = await rejection(
      probeImage(bomb, { limits: { maxInputPixels: 1_000_000 } }),
      ImageTooLargeError,
    );

    // Assess
    expect(error.message).toBe(
      'image is 1001x1000 (1001000 pixels); the limit is 1000000 pixels (1 megapixel)',
    );
  });

  it('refuses a 20000x20000 PNG from its header without decoding it', async () => {
    // Prepare: a valid 1-bit PNG of ~50 KB that would be 1.2 GB as RGB.
    const bomb = blackBilevelPng(20000, 20000);
    expect(bomb.length).toBeLessThan(200_000);

    // Act
    const fromProbe = await rejection(probeImage(bomb), ImageTooLargeError);
    const fromDecode = await rejection(decodeImage(bomb, { size: 512 }), ImageTooLargeError);

    // Assess
    expect(fromDecode.code).toBe('image_too_large');
    expect(fromDecode.message).toBe('image is 20000x20000 (400 megapixels); the limit is 50 megapixels');
    expect(fromProbe.message).toBe(fromDecode.message);
  });

  it('refuses a 1x1 image, naming the minimum side', async () => {
    // Prepare
    const bytes = await sharp(new Uint8Array([10, 20, 30]), { raw: { width: 1, height: 1, channels: 3 } })
      .png()
      .toBuffer();

    // Act
    const error = await rejection(decodeImage(bytes, { size: 32 }), ImageTooSmallError);

    // Assess
    expect(error.code).toBe('image_too_small');
    expect(error.message).toBe(
      `image is 1x1 px; its shorter side must be at least ${DEFAULT_IMAGE_LIMITS.minSide} px`,
    );
  });

  it('refuses a GIF as an unsupported format', async () => {
    // Prepare
    const gif = await sharpFromRgb(quadrantRgb()).gif().toBuffer();

    // Act
    const error = await rejection(decodeImage(gif, { size: 32 }), UnsupportedImageFormatError);

    // Assess
    expect(error.code).toBe('unsupported_image_format');
    expect(error.message).toMatch(
      /^GIF images are not supported \(accepted: JPEG, PNG, WebP, AVIF, TIFF, HEIC\); convert it to PNG or JPEG$/,
    );
  });

  it('refuses an SVG as an unsupported format', async () => {
    // Prepare
    const svg = new TextEncoder().encode(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30"/></svg>',
    );

    // Act
    const error = await rejection(decodeImage(svg, { size: 32 }), UnsupportedImageFormatError);

    // Assess
    expect(error.code).toBe('unsupported_image_format');
    expect(error.message).toMatch(/^SVG images are not supported/);
  });

  it('refuses files over the byte limit before looking inside', async () => {
    // Prepare
    const png = await sharpFromRgb(noiseRgb(64, 64)).png().toBuffer();

    // Act
    const error = await rejection(
      decodeImage(png, { size: 32, limits: { maxFileBytes: 1024 } }),
      ImageTooLargeError,
    );

    // Assess
    expect(error.message).toMatch(/^file is [\d.]+ KiB; the limit is 1 KiB: re-save it as a JPEG/);
  });

  it('refuses a JPEG signature followed by garbage as a corrupt header', async () => {
    // Prepare
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 0x17)]);

    // Act
    const error = await rejection(decodeImage(bytes, { size: 32 }), ImageDecodeError);

    // Assess
    expect(error.message).toMatch(/^truncated or corrupt JPEG header: .+/);
  });
});
