/**
 * The photo's background enlargement: centre-aligned (content stays where the input had it, so
 * pasted faces and every edge of the photo line up with a centre-aligned ground truth), borders
 * replicated rather than darkened, alpha enlarged the same way.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import { psnr, resizeRgb } from '../../gpu-task/src/eval/index.js';
import {
  type EnlargeLevels,
  type Similarity,
  cubicBackground,
  enlargeCentred,
  finishPhoto,
  prepareFace,
  reencodePhoto,
  resizeAlpha,
  toPreciseSamples,
} from '../../gpu-task/src/photo/index.js';
import { largestChannelSpread } from '../engine/helpers/colour.js';
import { expectStreamedAsInMemory, preparedPhotoOf } from './helpers.js';

/** A smooth picture with detail at several scales (sines), the same formula at any size. */
function scene(width: number, height: number, period: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x + 0.5) / width;
      const v = (y + 0.5) / height;
      const i = (y * width + x) * 3;
      data[i] = Math.round(128 + 90 * Math.sin((2 * Math.PI * u * width) / period) * Math.cos(3 * v));
      data[i + 1] = Math.round(128 + 80 * Math.cos((2 * Math.PI * v * height) / (period * 1.3)));
      data[i + 2] = Math.round(60 + 120 * u * v);
    }
  }
  return { data, width, height };
}

/** Cut `margin` pixels off every side. */
function inner(image: RgbImage, margin: number): RgbImage {
  const width = image.width - 2 * margin;
  const height = image.height - 2 * margin;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y + margin) * image.width + margin) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data, width, height };
}

/** The image moved by (dx, dy) whole pixels (edge pixels repeated), same size. */
function shifted(image: RgbImage, d: number): RgbImage {
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, x - d));
      const sy = Math.min(image.height - 1, Math.max(0, y - d));
      data.set(
        image.data.subarray((sy * image.width + sx) * 3, (sy * image.width + sx) * 3 + 3),
        (y * image.width + x) * 3,
      );
    }
  }
  return { data, width: image.width, height: image.height };
}

describe('background enlargement', () => {
  it.each([2, 4])('keeps content where a centre-aligned enlargement puts it (x%i)', async (factor) => {
    // Prepare: a picture at the output size, and its centre-aligned reduction as the input.
    const truth = scene(96 * factor, 64 * factor, 6 * factor);
    const low = resizeRgb(truth, 96, 64);
    // Act
    const { image, offset } = await cubicBackground(low, factor);
    // Assess: right size, no offset to compensate, and best aligned with the truth unshifted.
    expect([image.width, image.height, offset]).toEqual([96 * factor, 64 * factor, 0]);
    const at = (d: number): number => psnr(inner(shifted(image, d), 8), inner(truth, 8));
    expect(at(0)).toBeGreaterThan(at(1) + 1);
    expect(at(0)).toBeGreaterThan(at(-1) + 1);
    // As close to the truth as MATLAB-style bicubic of the same input, within 0.3 dB.
    const bicubic = psnr(inner(resizeRgb(low, image.width, image.height), 8), inner(truth, 8));
    expect(at(0)).toBeGreaterThan(bicubic - 0.3);
  });

  it('replicates the border: a flat photo stays flat up to its edges', async () => {
    const flat: RgbImage = { data: new Uint8Array(10 * 7 * 3).fill(200), width: 10, height: 7 };
    const { image } = await cubicBackground(flat, 4);
    expect(image.data.every((v) => v === 200)).toBe(true);
    const alpha = await resizeAlpha(new Uint8Array(10 * 7).fill(255), 10, 7, 4);
    expect(alpha.length).toBe(40 * 28);
    expect(alpha.every((v) => v === 255)).toBe(true);
  });

  it('enlarges one channel like three', async () => {
    const rgb = scene(20, 12, 5);
    const red = rgb.data.filter((_, i) => i % 3 === 0);
    const one = await enlargeCentred(red, 20, 12, 1, 2);
    const three = await enlargeCentred(rgb.data, 20, 12, 3, 2);
    expect(Array.from(one)).toEqual(Array.from(three.filter((_, i) => i % 3 === 0)));
  });

  it('carries level v as the 16-bit sample v * 256 + 128, at any length and byte offset', () => {
    const random = new SeededRandom(3);
    const bytes = Uint8Array.from({ length: 67 }, () => Math.floor(random.uniform() * 256));
    bytes[0] = 255;
    bytes[5] = 0;
    for (const [from, to] of [
      [0, 67],
      [1, 66],
      [4, 11],
      [3, 6],
      [0, 0],
    ] as const) {
      const view = bytes.subarray(from, to);
      expect(Array.from(toPreciseSamples(view))).toEqual(Array.from(view, (v) => v * 256 + 128));
    }
  });

  it('writes the samples into a given array, aligned or not, and refuses one of another length', () => {
    const random = new SeededRandom(4);
    const bytes = Uint8Array.from({ length: 41 }, () => Math.floor(random.uniform() * 256));
    const expected = Array.from(bytes, (v) => v * 256 + 128);
    const backing = new Uint16Array(50).fill(7);
    for (const offset of [0, 1, 2]) {
      const out = backing.subarray(offset, offset + bytes.length);
      expect(toPreciseSamples(bytes, out)).toBe(out);
      expect(Array.from(out)).toEqual(expected);
    }
    expect(() => toPreciseSamples(bytes, new Uint16Array(40))).toThrow(/40 samples for 41 levels/);
  });

  it('gives each large photo its own enlargement when the kept samples pass from photo to photo', async () => {
    // Prepare: photos over the size whose 16-bit samples are kept between photos (1 MP): a
    // larger one, then a smaller one that reuses its buffer, then the larger one again.
    const photos = [
      [1100, 1000, 5],
      [1000, 1050, 6],
      [1100, 1000, 7],
    ].map(([width, height, seed]) => {
      const random = new SeededRandom(seed!);
      return {
        width: width!,
        height: height!,
        data: Uint8Array.from({ length: width! * height! * 3 }, () => Math.floor(random.uniform() * 256)),
      };
    });
    for (const { data, width, height } of photos) {
      // Act
      const enlarged = await enlargeCentred(data, width, height, 3, 2);
      // Assess: only this photo's pixels (a stale sample of the one before would show)
      expect(Buffer.compare(Buffer.from(enlarged), await paddedEnlargement(data, width, height, 3, 2))).toBe(
        0,
      );
    }
  });

  it.each([
    [64, 48, 3, 2],
    [37, 101, 3, 4],
    [17, 16, 1, 2],
    [200, 33, 1, 4],
    [15, 40, 3, 2],
  ] as const)(
    'is the float cubic with replicated borders, rounded to the nearest level (%ix%i, %i channels, x%i)',
    async (width, height, channels, factor) => {
      // Prepare: harsh content (random values, half of them 0), so an edge darkened, a tap
      // misplaced or a level lost to fixed-point arithmetic anywhere shows.
      const random = new SeededRandom(width * height);
      const data = Uint8Array.from({ length: width * height * channels }, () =>
        random.uniform() < 0.5 ? 0 : Math.floor(random.uniform() * 256),
      );
      // Act
      const enlarged = await enlargeCentred(data, width, height, channels, factor);
      // Assess: the bytes of the straightforward way (the photo padded, enlarged whole, cut
      // back), which the edge strips stand in for ...
      expect(
        Buffer.compare(Buffer.from(enlarged), await paddedEnlargement(data, width, height, channels, factor)),
      ).toBe(0);
      // ... and every sample within one level of the float result, all but a few equal to it
      // (libvips' bicubic on the 8-bit levels themselves is a level off on about 1 sample in 6).
      const expected = replicatedFloatCubic(data, width, height, channels, factor);
      expect(enlarged.length).toBe(expected.length);
      let off = 0;
      let worst = 0;
      for (let i = 0; i < expected.length; i++) {
        const d = Math.abs(enlarged[i]! - expected[i]!);
        if (d > 0) off++;
        worst = Math.max(worst, d);
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(off / expected.length).toBeLessThan(1e-3);
    },
  );

  it.each([
    [64, 48, 3, 2],
    [37, 101, 3, 4],
    [200, 33, 1, 4],
    [15, 40, 3, 2],
  ] as const)(
    'at fast levels is libvips 8-bit bicubic of the padded photo, within a level of the float cubic (%ix%i, %i channels, x%i)',
    async (width, height, channels, factor) => {
      // Prepare: smooth content with some harsh samples (the streamed background's levels).
      const random = new SeededRandom(width + height);
      const data = Uint8Array.from({ length: width * height * channels }, (_, i) =>
        random.uniform() < 0.1
          ? Math.floor(random.uniform() * 256)
          : 128 + Math.round(100 * Math.sin(i / 17)),
      );
      // Act
      const enlarged = await enlargeCentred(data, width, height, channels, factor, 'fast');
      // Assess: the strips stand in for the padding to the byte; no sample more than a level
      // off the float result, and most equal to it (no bias toward either side).
      expect(
        Buffer.compare(
          Buffer.from(enlarged),
          await paddedEnlargement(data, width, height, channels, factor, 'fast'),
        ),
      ).toBe(0);
      const expected = replicatedFloatCubic(data, width, height, channels, factor);
      let above = 0;
      let below = 0;
      for (let i = 0; i < expected.length; i++) {
        const d = enlarged[i]! - expected[i]!;
        expect(Math.abs(d)).toBeLessThanOrEqual(1);
        if (d > 0) above++;
        if (d < 0) below++;
      }
      expect((above + below) / expected.length).toBeLessThan(0.35);
      expect(Math.abs(above - below) / expected.length).toBeLessThan(0.05);
    },
  );
});

/**
 * The centre-aligned enlargement the plain way: the photo padded by replicating 2 pixels, enlarged
 * whole by libvips on 16-bit samples (toPreciseSamples; `fast`: on the 8-bit levels), cut back.
 */
async function paddedEnlargement(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  factor: number,
  levels: EnlargeLevels = 'exact',
): Promise<Buffer> {
  const pw = width + 4;
  const ph = height + 4;
  const padded = new Uint8Array(pw * ph * channels);
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      const sy = Math.min(height - 1, Math.max(0, y - 2));
      const sx = Math.min(width - 1, Math.max(0, x - 2));
      for (let c = 0; c < channels; c++)
        padded[(y * pw + x) * channels + c] = data[(sy * width + sx) * channels + c]!;
    }
  }
  const samples = levels === 'exact' ? toPreciseSamples(padded) : padded;
  const affine = sharp(samples, { raw: { width: pw, height: ph, channels } }).affine([factor, 0, 0, factor], {
    interpolator: sharp.interpolators.bicubic,
    idx: 0.5,
    idy: 0.5,
    odx: -0.5,
    ody: -0.5,
  });
  const whole = await (channels === 1 ? affine.extractChannel(0) : affine).raw().toBuffer();
  const row = width * factor * channels;
  const out = Buffer.alloc(row * height * factor);
  for (let y = 0; y < height * factor; y++) {
    const from = ((y + 2 * factor) * pw * factor + 2 * factor) * channels;
    whole.copy(out, y * row, from, from + row);
  }
  return out;
}

/**
 * The centre-aligned enlargement computed directly: Keys cubic (a = -0.5) in floating point,
 * indices clamped to the photo (replication), rounded to the nearest level and clamped.
 */
function replicatedFloatCubic(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  factor: number,
): Uint8Array {
  const keys = (x: number): number => {
    const a = Math.abs(x);
    if (a <= 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
    if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
    return 0;
  };
  const taps = (o: number, size: number): [number, number][] => {
    const x = (o + 0.5) / factor - 0.5;
    const base = Math.floor(x);
    return [-1, 0, 1, 2].map((k) => [Math.min(size - 1, Math.max(0, base + k)), keys(x - (base + k))]);
  };
  const outWidth = width * factor;
  const outHeight = height * factor;
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    const rows = taps(y, height);
    for (let x = 0; x < outWidth; x++) {
      const columns = taps(x, width);
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (const [iy, wy] of rows) {
          for (const [ix, wx] of columns) sum += wy * wx * data[(iy * width + ix) * channels + c]!;
        }
        out[(y * outWidth + x) * channels + c] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}

describe('finishPhoto', () => {
  /** Photo -> frame fractions for a frame of `side` photo pixels centred at (cx, cy), turned by `angle`. */
  const frameAt = (cx: number, cy: number, side: number, angle: number): Similarity => {
    const a = Math.cos(angle) / side;
    const b = Math.sin(angle) / side;
    return { a, b, tx: 0.5 - (a * cx - b * cy), ty: 0.5 - (b * cx + a * cy) };
  };

  it.each([
    [2, 'png', false, 301, 203],
    [4, 'png', false, 120, 90],
    [1, 'jpeg', false, 300, 200],
    [2, 'webp', true, 250, 260],
    [2, 'webp', false, 250, 260],
    [2, 'jpeg', false, 12, 40],
    [4, 'jpeg', false, 64, 48],
    [2, 'png', true, 180, 150],
    [4, 'jpeg', true, 90, 70],
  ] as const)(
    'gives the output (x%i %s, grey %s, %ix%i) the faces of pasting into the whole enlargement (streamed without alpha)',
    async (upscale, format, grey, width, height) => {
      // Prepare: two overlapping faces, one over the corner, one turned, one small; one (the
      // fourth) left as it was, and one skipped (over --max-faces: only its detector box).
      const random = new SeededRandom(width + height);
      const image = scene(width, height, 7);
      if (grey) for (let i = 0; i < image.data.length; i += 3) image.data.fill(image.data[i]!, i, i + 3);
      const short = Math.min(width, height);
      const frames = [
        frameAt(width * 0.3, height * 0.4, short * 0.5, 0.3),
        frameAt(width * 0.4, height * 0.45, short * 0.3, -0.2),
        frameAt(5, height - 3, 40, 0.1),
        frameAt(width * 0.8, height * 0.2, 30, 0.7),
        frameAt(width * 0.8, height * 0.75, 20, 0),
      ];
      const report = { box: [0, 0, 1, 1] as [number, number, number, number], score: 1, landmarks: [] };
      const faces = await Promise.all(frames.map((t) => prepareFace(image, report, t, upscale, 64)));
      const photo = preparedPhotoOf(image, upscale, faces, { grey });
      const skippedSide = Math.max(4, Math.round(short * 0.12));
      const [sx, sy] = [Math.round(width * 0.12), Math.round(height * 0.8)];
      photo.skippedFaces.push({
        box: [sx - skippedSide / 2, sy - skippedSide / 2, skippedSide, skippedSide],
        score: 0.9,
        landmarks: [],
        reason: 'max_faces',
      });
      // Its frame as the photo stage reckons it from the box (finish.ts skippedFrame).
      const skippedFrame = frameAt(sx, sy, 1.6 * skippedSide, 0);
      const restored = faces.map((_, i) =>
        i === 3
          ? null
          : {
              data: Uint8Array.from({ length: 128 * 128 * 3 }, () => Math.floor(random.uniform() * 256)),
              width: 128,
              height: 128,
            },
      );
      // Act: the streaming path, its pixels (as PNG), and the in-memory path (taken for any
      // background given).
      const streamed = await finishPhoto(photo, restored, { format });
      const streamedPng = format === 'png' ? streamed : await finishPhoto(photo, restored, { format: 'png' });
      const inMemory = await finishPhoto(photo, restored, { format: 'png', upscaler: cubicBackground });
      // Again: the streaming path reuses its kept difference image, which must be zero again.
      const again = await finishPhoto(photo, restored, { format });
      // Assess: the faces' frames as pasted into the whole enlargement (the kept face's as
      // enlarged), to the byte, the background within a level of it; a lossy format encodes
      // those very pixels; a grey photo comes out grey, with the grey profile.
      expect([streamed.width, streamed.height]).toEqual([width * upscale, height * upscale]);
      const streamedInfo = await sharp(streamedPng.bytes).metadata();
      const inMemoryInfo = await sharp(inMemory.bytes).metadata();
      expect(streamedInfo.channels).toBe(grey ? 1 : 3);
      expect(streamedInfo.channels).toBe(inMemoryInfo.channels);
      expect(Buffer.compare(streamedInfo.icc!, inMemoryInfo.icc!)).toBe(0);
      const rgb = (bytes: Uint8Array): Promise<Buffer> =>
        sharp(bytes).toColourspace('srgb').removeAlpha().raw().toBuffer();
      expectStreamedAsInMemory(
        await rgb(streamedPng.bytes),
        await rgb(inMemory.bytes),
        width * upscale,
        upscale,
        [...frames, skippedFrame],
      );
      if (format !== 'png') {
        const pixelsEncoded = await reencodePhoto(streamedPng.bytes, format);
        expect(Buffer.compare(Buffer.from(streamed.bytes), Buffer.from(pixelsEncoded))).toBe(0);
      }
      expect(Buffer.compare(Buffer.from(again.bytes), Buffer.from(streamed.bytes))).toBe(0);
    },
  );

  it('restores the faces of a black-and-white photo stored as colour without colour', async () => {
    // Prepare: a grey scene in three equal channels (a phone's mono filter, a scan saved as
    // RGB), one face, and a "restoration" full of colour, as the model paints into grey faces.
    const [width, height] = [160, 120];
    const image = scene(width, height, 7);
    for (let i = 0; i < image.data.length; i += 3) image.data.fill(image.data[i]!, i, i + 3);
    const frame = frameAt(80, 60, 70, 0.2);
    const report = { box: [0, 0, 1, 1] as [number, number, number, number], score: 1, landmarks: [] };
    const face = await prepareFace(image, report, frame, 2, 64);
    const random = new SeededRandom(5);
    const restored = {
      data: Uint8Array.from({ length: 128 * 128 * 3 }, () => Math.floor(random.uniform() * 256)),
      width: 128,
      height: 128,
    };
    // Act
    const { bytes } = await finishPhoto(preparedPhotoOf(image, 2, [face]), [restored], {
      format: 'png',
    });
    // Assess: the face was pasted (the output is no plain enlargement), and no pixel has colour.
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    const plain = await finishPhoto(preparedPhotoOf(image, 2, []), [], { format: 'png' });
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(plain.bytes))).not.toBe(0);
    expect(largestChannelSpread(data)).toBe(0);
  });

  it.each(['png', 'jpeg', 'webp'] as const)(
    'keeps the colours of a colour photo (%s, x2)',
    async (format) => {
      // Prepare: a flat colour far from grey, no face (sharp took the stream's 16-bit samples,
      // when it carried them, for Display P3, and an sRGB profile applied by sharp shifted it).
      const [width, height] = [64, 48];
      const image: RgbImage = { data: new Uint8Array(width * height * 3), width, height };
      for (let i = 0; i < image.data.length; i += 3) image.data.set([200, 40, 40], i);
      const photo = preparedPhotoOf(image, 2, []);
      // Act
      const { bytes } = await finishPhoto(photo, [], { format, quality: 95 });
      // Assess: every pixel within the lossy encoders' reach of the colour.
      const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([128, 96, 3]);
      let worst = 0;
      for (let i = 0; i < data.length; i += 3) {
        worst = Math.max(
          worst,
          Math.abs(data[i]! - 200),
          Math.abs(data[i + 1]! - 40),
          Math.abs(data[i + 2]! - 40),
        );
      }
      expect(worst).toBeLessThanOrEqual(format === 'png' ? 0 : 3);
    },
  );
});
