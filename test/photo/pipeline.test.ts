/**
 * The photo's background enlargement: centre-aligned (content stays where the input had it, so
 * pasted faces and every edge of the photo line up with a centre-aligned ground truth), borders
 * replicated rather than darkened, alpha enlarged the same way.
 */
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import { psnr, resizeRgb } from '../../gpu-task/src/eval/index.js';
import {
  type PreparedPhoto,
  type Similarity,
  cubicBackground,
  enlargeCentred,
  finishPhoto,
  prepareFace,
  resizeAlpha,
  UNDERLAY_RAMP,
  underlayCubic,
  resizeCubic,
} from '../../gpu-task/src/photo/index.js';

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

  it.each([
    [64, 48, 3, 2],
    [37, 101, 3, 4],
    [17, 16, 1, 2],
    [200, 33, 1, 4],
    [15, 40, 3, 2],
  ] as const)(
    'gives the bytes of the whole photo padded, enlarged and cut back (%ix%i, %i channels, x%i)',
    async (width, height, channels, factor) => {
      // Prepare: harsh content (random values, half of them 0), so an edge darkened or a tap
      // misplaced anywhere shows.
      const random = new SeededRandom(width * height);
      const data = Uint8Array.from({ length: width * height * channels }, () =>
        random.uniform() < 0.5 ? 0 : Math.floor(random.uniform() * 256),
      );
      // Act
      const enlarged = await enlargeCentred(data, width, height, channels, factor);
      // Assess: against the straightforward way (replicate 2 pixels, affine, cut).
      expect(
        Buffer.compare(Buffer.from(enlarged), await paddedEnlargement(data, width, height, channels, factor)),
      ).toBe(0);
    },
  );
});

/** The centre-aligned enlargement done the plain way, in three sharp calls. */
async function paddedEnlargement(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  factor: number,
): Promise<Buffer> {
  const keep = (p: Sharp): Sharp => (channels === 1 ? p.toColourspace('b-w') : p);
  const raw = { width: width + 4, height: height + 4, channels };
  const padded = await keep(
    sharp(data, { raw: { width, height, channels } }).extend({
      top: 2,
      bottom: 2,
      left: 2,
      right: 2,
      extendWith: 'copy',
    }),
  )
    .raw()
    .toBuffer();
  const enlarged = await keep(
    sharp(padded, { raw }).affine([factor, 0, 0, factor], {
      interpolator: sharp.interpolators.bicubic,
      idx: 0.5,
      idy: 0.5,
      odx: -0.5,
      ody: -0.5,
    }),
  )
    .raw()
    .toBuffer();
  return keep(
    sharp(enlarged, { raw: { ...raw, width: raw.width * factor, height: raw.height * factor } }).extract({
      left: 2 * factor,
      top: 2 * factor,
      width: width * factor,
      height: height * factor,
    }),
  )
    .raw()
    .toBuffer();
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
    [2, 'jpeg', false, 12, 40],
  ] as const)(
    'streams the output (x%i %s, grey %s, %ix%i) to the bytes of pasting into the whole enlargement',
    async (upscale, format, grey, width, height) => {
      // Prepare: two overlapping faces, one over the corner, one turned, one small.
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
      const photo: PreparedPhoto = {
        decoded: {
          image,
          alpha: null,
          grey,
          info: { width, height, format: 'png', hasAlpha: false, orientation: 1, byteLength: 0 },
        },
        upscale,
        faces,
        skippedFaces: [],
        warnings: [],
        decodeMs: 0,
        detectMs: 0,
        decodeCpuMs: 0,
        detectCpuMs: 0,
      };
      const restored = faces.map(() => ({
        data: Uint8Array.from({ length: 128 * 128 * 3 }, () => Math.floor(random.uniform() * 256)),
        width: 128,
        height: 128,
      }));
      // Act: the streaming path, and the in-memory one (taken for any background given).
      const streamed = await finishPhoto(photo, restored, { format });
      const inMemory = await finishPhoto(photo, restored, { format, background: cubicBackground });
      // Again: the streaming path reuses its kept difference image, which must be zero again.
      const again = await finishPhoto(photo, restored, { format });
      // Assess
      expect([streamed.width, streamed.height]).toEqual([width * upscale, height * upscale]);
      expect(Buffer.compare(Buffer.from(streamed.bytes), Buffer.from(inMemory.bytes))).toBe(0);
      expect(Buffer.compare(Buffer.from(again.bytes), Buffer.from(streamed.bytes))).toBe(0);
    },
  );
});

describe('underlayCubic', () => {
  it('lays the float cubic enlargement under a face rectangle, faded in from the background at its sides', async () => {
    // Prepare: a textured photo, its libvips enlargement x2 and its float cubic enlargement
    const photo = scene(80, 60, 5);
    const { image: background } = await cubicBackground(photo, 2);
    const float = resizeCubic(photo, 160, 120);
    const target = { ...background, data: background.data.slice() };
    const bounds = { x0: 30, y0: 20, x1: 109, y1: 89 };
    // Act
    underlayCubic(target, photo, 2, bounds);
    // Assess: the two enlargements do differ (else this proves nothing) ...
    expect(Buffer.compare(Buffer.from(background.data), Buffer.from(float.data))).not.toBe(0);
    const at = (image: RgbImage, x: number, y: number) => image.data[(y * image.width + x) * 3]!;
    let inside = 0;
    let untouched = 0;
    for (let y = 0; y < 120; y++) {
      for (let x = 0; x < 160; x++) {
        const i = (y * 160 + x) * 3;
        const pixel = target.data.subarray(i, i + 3);
        const fromEdge = Math.min(x - bounds.x0, bounds.x1 - x, y - bounds.y0, bounds.y1 - y);
        if (fromEdge < 0) {
          // ... outside the rectangle: the background, untouched
          expect(Buffer.compare(pixel, background.data.subarray(i, i + 3))).toBe(0);
          untouched++;
        } else if (fromEdge >= UNDERLAY_RAMP) {
          // ... inside, past the fade: the float enlargement, bit for bit
          expect(Buffer.compare(pixel, float.data.subarray(i, i + 3))).toBe(0);
          inside++;
        } else {
          // ... in the fade: between the two, closer to the background at the rectangle's side
          const lo = Math.min(at(background, x, y), at(float, x, y));
          const hi = Math.max(at(background, x, y), at(float, x, y));
          expect(at(target, x, y)).toBeGreaterThanOrEqual(lo);
          expect(at(target, x, y)).toBeLessThanOrEqual(hi);
        }
      }
    }
    expect(inside).toBeGreaterThan(2000);
    expect(untouched).toBeGreaterThan(10000);
  });

  it('leaves a photo at upscale 1 as it is (the enlargement is the photo)', () => {
    const photo = scene(40, 30, 5);
    const target = { ...photo, data: photo.data.slice() };
    underlayCubic(target, photo, 1, { x0: 0, y0: 0, x1: 39, y1: 29 });
    expect(Buffer.compare(Buffer.from(target.data), Buffer.from(photo.data))).toBe(0);
  });
});
