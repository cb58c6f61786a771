/**
 * The face upsampler (photo/face-upsampler.ts): the shipped banks load and enlarge exactly as
 * the training module does (parity fixtures written by train_face_upsampler --fixture), a broken
 * bank is refused with a clear error, and flat or smooth content is enlarged without ringing.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { ModelContractError, type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import {
  MAX_UPSAMPLED_FACE,
  type PreparedFace,
  finishPhoto,
  loadFaceUpsampler,
  upsampleWindow,
} from '../../gpu-task/src/photo/index.js';
import { expectStreamedAsInMemory, preparedPhotoOf, shippedFaceUpsampler } from './helpers.js';

interface ParityFixture {
  factor: number;
  width: number;
  height: number;
  input: number[];
  output: number[];
}

async function fixture(factor: number): Promise<ParityFixture> {
  const file = path.join(__dirname, '..', 'fixtures', 'face-upsampler', `x${factor}-parity.json`);
  return JSON.parse(await readFile(file, 'utf8')) as ParityFixture;
}

describe('the face upsampler banks the default pipeline ships', () => {
  for (const factor of [2, 4]) {
    it(`x${factor} enlarges as the training module does, to float precision`, async () => {
      // Prepare
      const parity = await fixture(factor);
      const bank = await shippedFaceUpsampler(factor);
      const image: RgbImage = {
        data: Uint8Array.from(parity.input),
        width: parity.width,
        height: parity.height,
      };
      // Act
      const out = upsampleWindow(image, bank, {
        x0: 0,
        y0: 0,
        x1: parity.width * factor - 1,
        y1: parity.height * factor - 1,
      });
      // Assess
      expect(out.length).toBe(parity.output.length);
      let worst = 0;
      out.forEach((value, i) => (worst = Math.max(worst, Math.abs(value - parity.output[i]!))));
      expect(worst).toBeLessThan(2e-3);
    });

    it(`x${factor}: a window equals the same pixels of the whole enlargement`, async () => {
      const parity = await fixture(factor);
      const bank = await shippedFaceUpsampler(factor);
      const image: RgbImage = {
        data: Uint8Array.from(parity.input),
        width: parity.width,
        height: parity.height,
      };
      const whole = upsampleWindow(image, bank, {
        x0: 0,
        y0: 0,
        x1: parity.width * factor - 1,
        y1: parity.height * factor - 1,
      });
      const window = { x0: 3, y0: 5, x1: 2 * factor + 6, y1: 3 * factor + 4 };
      const part = upsampleWindow(image, bank, window);
      const ww = window.x1 - window.x0 + 1;
      const outWidth = parity.width * factor;
      for (let y = window.y0; y <= window.y1; y++) {
        for (let x = window.x0; x <= window.x1; x++) {
          for (let c = 0; c < 3; c++) {
            expect(part[((y - window.y0) * ww + x - window.x0) * 3 + c]).toBe(
              whole[(y * outWidth + x) * 3 + c],
            );
          }
        }
      }
    });
  }

  it('keeps a flat grey flat and a grey face grey (one filter for R, G and B)', async () => {
    const bank = await shippedFaceUpsampler(4);
    const width = 16;
    const height = 12;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++)
        data.fill(x < 8 ? 120 : 120 + 10 * (y % 3), (y * width + x) * 3, (y * width + x + 1) * 3);
    }
    const out = upsampleWindow({ data, width, height }, bank, { x0: 0, y0: 0, x1: 63, y1: 47 });
    for (let i = 0; i < out.length; i += 3) {
      expect(out[i + 1]).toBeCloseTo(out[i]!, 3);
      expect(out[i + 2]).toBeCloseTo(out[i]!, 3);
    }
    // Far from the textured half, the flat grey stays itself (the filters sum to about 1).
    for (let y = 0; y < 48; y++) {
      for (let x = 0; x < 12; x++) expect(Math.abs(out[(y * 64 + x) * 3]! - 120)).toBeLessThan(1.5);
    }
  });

  it('refuses a window outside the output', async () => {
    const bank = await shippedFaceUpsampler(2);
    const image: RgbImage = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 };
    expect(() => upsampleWindow(image, bank, { x0: 0, y0: 0, x1: 8, y1: 7 })).toThrow(
      /not inside the 8x8 output/,
    );
  });
});

describe('loadFaceUpsampler', () => {
  async function withBank(edit: (bank: Record<string, unknown>) => void): Promise<unknown> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-upsampler-'));
    const shipped = JSON.parse(
      await readFile(
        path.join(__dirname, '..', '..', 'gpu-task', 'models', 'default', 'face-upsampler', 'x2.json'),
        'utf8',
      ),
    ) as Record<string, unknown>;
    edit(shipped);
    const file = path.join(dir, 'bank.json');
    await writeFile(file, JSON.stringify(shipped));
    try {
      return await loadFaceUpsampler(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('refuses another format, a wrong shape, short weights, non-finite weights and no licence', async () => {
    await expect(withBank((b) => (b.format = 'other/1'))).rejects.toThrow(
      /format must be dr2e-face-upsampler\/1/,
    );
    await expect(withBank((b) => (b.shape = [48, 4, 49]))).rejects.toThrow(/does not match/);
    await expect(withBank((b) => (b.weights = (b.weights as string).slice(0, 400)))).rejects.toThrow(
      ModelContractError,
    );
    await expect(
      withBank((b) => {
        const bytes = Buffer.from(b.weights as string, 'base64');
        bytes.writeFloatLE(Number.NaN, 40);
        b.weights = bytes.toString('base64');
      }),
    ).rejects.toThrow(/finite/);
    await expect(withBank((b) => delete b.license)).rejects.toThrow(/license must be/);
  });

  it('names a missing file', async () => {
    await expect(loadFaceUpsampler('/nonexistent/x2.json')).rejects.toThrow(
      /cannot read the face upsampler \/nonexistent/,
    );
  });
});

describe('finishPhoto with a face upsampler', () => {
  /** A textured scene: smooth waves and a little seeded noise, in colour. */
  function scene(width: number, height: number, seed: number): RgbImage {
    const random = new SeededRandom(seed);
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const base = 90 + 60 * Math.sin(x / 7) * Math.cos(y / 5) + 30 * random.uniform();
        data.set(
          [Math.round(base), Math.round(0.8 * base + 20), Math.round(200 - 0.5 * base)],
          (y * width + x) * 3,
        );
      }
    }
    return { data, width, height };
  }

  /** A face of `side` input pixels centred at (cx, cy), turned by `angle`. */
  function faceAt(cx: number, cy: number, side: number, angle: number, upscale: number): PreparedFace {
    const a = Math.cos(-angle) / side;
    const b = Math.sin(-angle) / side;
    const pasteSide = Math.round(side * upscale);
    return {
      report: { box: [cx - side / 2, cy - side / 2, side, side], score: 0.9, landmarks: [] },
      toUnit: { a, b, tx: 0.5 - (a * cx - b * cy), ty: 0.5 - (b * cx + a * cy) },
      pasteSide,
      alignedInput: scene(pasteSide, pasteSide, 7),
      modelInput: scene(64, 64, 8),
    };
  }

  async function rgbOf(bytes: Uint8Array): Promise<Buffer> {
    return sharp(bytes).removeAlpha().raw().toBuffer();
  }

  // [name, photo width, height, upscale, faces as [cx, cy, side, angle, restored]]
  const cases: [string, number, number, 2 | 4, [number, number, number, number, boolean][]][] = [
    [
      'a kept face under a restored one',
      200,
      160,
      2,
      [
        [80, 80, 60, 0, false],
        [125, 90, 50, 0.3, true],
      ],
    ],
    [
      'faces across the photo edges at x4',
      120,
      90,
      4,
      [
        [3, 4, 50, 0.5, false],
        [110, 80, 40, 0, true],
      ],
    ],
    [
      'two kept faces overlapping',
      150,
      120,
      2,
      [
        [60, 60, 50, 0.1, false],
        [95, 65, 45, -0.4, false],
      ],
    ],
    ['a photo smaller than the filter', 9, 7, 4, [[4, 3, 8, 0.2, false]]],
  ];
  for (const [name, width, height, upscale, specs] of cases) {
    it(`streams the faces it composes in memory: ${name}`, async () => {
      // Prepare: the same photo without alpha (streamed windows) and with an opaque alpha (in memory).
      const faceUpsampler = await shippedFaceUpsampler(upscale);
      const image = scene(width, height, 1);
      const faces = specs.map(([cx, cy, side, angle]) => faceAt(cx, cy, side, angle, upscale));
      const restored = specs.map(([, , , , isRestored], i) =>
        isRestored ? scene(faces[i]!.pasteSide, faces[i]!.pasteSide, 3 + i) : null,
      );
      // Act
      const streamed = await finishPhoto(preparedPhotoOf(image, upscale, faces), restored, {
        format: 'png',
        faceUpsampler,
      });
      const inMemory = await finishPhoto(preparedPhotoOf(image, upscale, faces, { alpha: true }), restored, {
        format: 'png',
        faceUpsampler,
      });
      const plain = await finishPhoto(preparedPhotoOf(image, upscale, faces), restored, { format: 'png' });
      // Assess: equal bytes over the faces' layers (the background away from them within a
      // level), and the layer did change the output.
      const [a, b, c] = [await rgbOf(streamed.bytes), await rgbOf(inMemory.bytes), await rgbOf(plain.bytes)];
      expectStreamedAsInMemory(
        a,
        b,
        width * upscale,
        upscale,
        faces.map((f) => f.toUnit),
        { widen: 1.5 },
      );
      expect(Buffer.compare(a, c)).not.toBe(0);
    });
  }

  it(`leaves kept faces larger than ${MAX_UPSAMPLED_FACE} px as the plain enlargement`, async () => {
    const faceUpsampler = await shippedFaceUpsampler(2);
    const image = scene(700, 600, 2);
    const large = [faceAt(350, 300, MAX_UPSAMPLED_FACE + 20, 0, 2)];
    const small = [faceAt(350, 300, MAX_UPSAMPLED_FACE - 20, 0, 2)];
    const [largeLayered, largePlain, smallLayered, smallPlain] = await Promise.all([
      finishPhoto(preparedPhotoOf(image, 2, large), [null], { format: 'png', faceUpsampler }),
      finishPhoto(preparedPhotoOf(image, 2, large), [null], { format: 'png' }),
      finishPhoto(preparedPhotoOf(image, 2, small), [null], { format: 'png', faceUpsampler }),
      finishPhoto(preparedPhotoOf(image, 2, small), [null], { format: 'png' }),
    ]);
    expect(Buffer.compare(await rgbOf(largeLayered.bytes), await rgbOf(largePlain.bytes))).toBe(0);
    expect(Buffer.compare(await rgbOf(smallLayered.bytes), await rgbOf(smallPlain.bytes))).not.toBe(0);
  });

  it('refuses a bank for another upscale', async () => {
    const image = scene(60, 50, 3);
    const photo = preparedPhotoOf(image, 2, [faceAt(30, 25, 30, 0, 2)]);
    await expect(
      finishPhoto(photo, [null], { format: 'png', faceUpsampler: await shippedFaceUpsampler(4) }),
    ).rejects.toThrow(ModelContractError);
  });
});
