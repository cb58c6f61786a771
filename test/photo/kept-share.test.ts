/**
 * A face `auto` hedged toward keeping (FinishPhotoOptions.keepShares) comes out as far as it is
 * kept as a kept face does: wholly kept, byte for byte the kept face's output (face upsampler's
 * layer, surroundings left by the background denoiser); nearly kept, within a level or two of
 * it, where pasting its aligned input back (the warp there and back) moves it further; half
 * kept, half of each end. Every
 * face, restored or not, lies on the face upsampler's layer: around a restored face's paste mask
 * the output is the kept face's.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidParametersError, type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import {
  type PreparedFace,
  finishPhoto,
  applySimilarity,
  pasteMaskAt,
  toPixels,
  warpToFrame,
} from '../../gpu-task/src/photo/index.js';
import { faceWindows, pasteOnto } from '../../gpu-task/src/photo/paste.js';
import { expectStreamedAsInMemory, preparedPhotoOf, shippedFaceUpsampler } from './helpers.js';

/** Smooth colour waves with seeded grain (about 9 levels of std): a photo the denoiser filters. */
function grainyScene(width: number, height: number, seed: number): RgbImage {
  const random = new SeededRandom(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const base = 90 + 60 * Math.sin(x / 9) * Math.cos(y / 7);
      for (let c = 0; c < 3; c++) {
        const value = base * (1 - 0.2 * c) + 30 * c + 30 * (random.uniform() - 0.5);
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return { data, width, height };
}

/** A face of `side` photo pixels centred at (cx, cy), turned by `angle`, cut from the photo as the photo stage cuts it. */
function faceIn(
  image: RgbImage,
  cx: number,
  cy: number,
  side: number,
  angle: number,
  upscale: number,
): PreparedFace {
  const a = Math.cos(-angle) / side;
  const b = Math.sin(-angle) / side;
  const toUnit = { a, b, tx: 0.5 - (a * cx - b * cy), ty: 0.5 - (b * cx + a * cy) };
  const pasteSide = Math.round(side * upscale);
  return {
    report: { box: [cx - side / 2, cy - side / 2, side, side], score: 0.9, landmarks: [] },
    toUnit,
    pasteSide,
    alignedInput: warpToFrame(image, toPixels(toUnit, pasteSide), pasteSide),
    modelInput: warpToFrame(image, toPixels(toUnit, 64), 64),
  };
}

async function rgbOf(bytes: Uint8Array): Promise<Buffer> {
  return sharp(bytes).removeAlpha().raw().toBuffer();
}

/** The mean absolute difference of two images' bytes, and the share of bytes more than 2 levels apart. */
function differences(a: Buffer, b: Buffer): { mean: number; overTwo: number } {
  let sum = 0;
  let overTwo = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    overTwo += Number(d > 2);
  }
  return { mean: sum / a.length, overTwo: overTwo / a.length };
}

describe('finishPhoto with keep shares', () => {
  const image = grainyScene(160, 120, 3);
  const face = faceIn(image, 70, 60, 56, 0.25, 2);
  const options = { format: 'png' as const, denoiseBackground: true };

  for (const alpha of [false, true]) {
    const path = alpha ? 'in memory (alpha)' : 'streamed';
    it(`gives a face wholly its input at keep 1 the kept face's bytes (${path})`, async () => {
      // Prepare
      const faceUpsampler = await shippedFaceUpsampler(2);
      const photo = preparedPhotoOf(image, 2, [face], { alpha });
      // Act
      const kept = await finishPhoto(photo, [null], { ...options, faceUpsampler });
      const wholly = await finishPhoto(photo, [face.alignedInput], {
        ...options,
        faceUpsampler,
        keepShares: [1],
      });
      // Assess: the photo was denoised, and the face came out as kept, to the byte.
      expect(kept.background?.denoised).toBe(true);
      expect(Buffer.compare(await rgbOf(wholly.bytes), await rgbOf(kept.bytes))).toBe(0);
    });
  }

  it('puts a nearly kept face within two levels of the kept face, nearer than pasting its input back', async () => {
    // (Within two levels but for a few pixels: the face upsampler picks its filter by the local
    // gradient, and a pixel of the photo a level apart can switch it.)
    // Prepare: the model gave the face back as it was (the fusion's output is its input).
    const faceUpsampler = await shippedFaceUpsampler(2);
    const photo = preparedPhotoOf(image, 2, [face]);
    const kept = await rgbOf((await finishPhoto(photo, [null], { ...options, faceUpsampler })).bytes);
    // Act
    const finish = async (share: number) =>
      rgbOf(
        (await finishPhoto(photo, [face.alignedInput], { ...options, faceUpsampler, keepShares: [share] }))
          .bytes,
      );
    const nearly = differences(await finish(0.97), kept);
    const pastedBack = differences(await finish(0), kept);
    // Assess
    expect(nearly.overTwo).toBeLessThan(0.0005);
    expect(pastedBack.overTwo).toBeGreaterThan(0.01);
    expect(pastedBack.mean).toBeGreaterThan(10 * nearly.mean);
  });

  it("lays a restored face over the face upsampler's layer: around its mask, the kept face's bytes", async () => {
    // Prepare: a restoration unlike the photo, no denoising (it would treat the two apart).
    const faceUpsampler = await shippedFaceUpsampler(2);
    const photo = preparedPhotoOf(image, 2, [face]);
    const restoration = grainyScene(face.pasteSide, face.pasteSide, 9);
    // Act
    const kept = await rgbOf((await finishPhoto(photo, [null], { format: 'png', faceUpsampler })).bytes);
    const restored = await rgbOf(
      (await finishPhoto(photo, [restoration], { format: 'png', faceUpsampler })).bytes,
    );
    const plain = await rgbOf((await finishPhoto(photo, [restoration], { format: 'png' })).bytes);
    // Assess: every output pixel the paste mask leaves alone is the kept face's, and the layer
    // changed some of them (it reaches 1.5 times the frame).
    let outside = 0;
    let layered = 0;
    for (let y = 0; y < 240; y++) {
      for (let x = 0; x < 320; x++) {
        const [u, v] = applySimilarity(face.toUnit, [(x + 0.5) / 2, (y + 0.5) / 2]);
        if (pasteMaskAt(u, v) > 0) continue;
        outside++;
        for (let c = 0; c < 3; c++) {
          const i = (y * 320 + x) * 3 + c;
          expect(restored[i], `(${x}, ${y})`).toBe(kept[i]);
          layered += Number(restored[i] !== plain[i]);
        }
      }
    }
    expect(outside).toBeGreaterThan(0.5 * 320 * 240);
    expect(layered).toBeGreaterThan(1000);
  });

  it('gives each pixel of a half-kept face half the kept output and half the restored one', async () => {
    // Prepare: a restoration R and the fused face half of it, half the aligned input; no
    // denoising (with it, the photo under the face is itself half denoised: docs/quality).
    const faceUpsampler = await shippedFaceUpsampler(2);
    const photo = preparedPhotoOf(image, 2, [face]);
    const restoration = grainyScene(face.pasteSide, face.pasteSide, 9);
    const input = face.alignedInput;
    const half = {
      ...input,
      data: input.data.map((value, i) => Math.round(0.5 * value + 0.5 * restoration.data[i]!)),
    };
    const finish = async (restored: RgbImage | null, share: number) =>
      rgbOf(
        (await finishPhoto(photo, [restored], { format: 'png', faceUpsampler, keepShares: [share] })).bytes,
      );
    // Act
    const kept = await finish(null, 0);
    const restored = await finish(restoration, 0);
    const mixed = await finish(half, 0.5);
    const pastedBack = await finish(half, 0);
    // Assess: inside the face (where its paste mask is whole), within half a level on average of
    // the mix of the two ends, where pasting the half face back whole is further off.
    const expected = Buffer.from(kept.map((value, i) => Math.round(0.5 * value + 0.5 * restored[i]!)));
    const inside = (image: Buffer): number => {
      let sum = 0;
      let count = 0;
      for (let y = 0; y < 240; y++) {
        for (let x = 0; x < 320; x++) {
          const [u, v] = applySimilarity(face.toUnit, [(x + 0.5) / 2, (y + 0.5) / 2]);
          if (pasteMaskAt(u, v) < 1) continue;
          for (let c = 0; c < 3; c++)
            sum += Math.abs(image[(y * 320 + x) * 3 + c]! - expected[(y * 320 + x) * 3 + c]!);
          count += 3;
        }
      }
      return sum / count;
    };
    console.log(
      inside(mixed),
      inside(pastedBack),
      differences(mixed, expected),
      differences(pastedBack, expected),
    );
    expect(inside(mixed)).toBeLessThan(0.5);
    expect(inside(pastedBack)).toBeGreaterThan(3 * inside(mixed));
    expect(differences(mixed, expected).mean).toBeLessThan(0.1);
  });

  it('streams the faces it composes in memory for hedged faces, overlapping and turned', async () => {
    const faceUpsampler = await shippedFaceUpsampler(2);
    const faces = [face, faceIn(image, 110, 70, 40, -0.4, 2)];
    const restored = faces.map((f, i) => grainyScene(f.pasteSide, f.pasteSide, 20 + i));
    for (const keepShares of [
      [0.5, 0.3],
      [0.97, 0],
    ]) {
      const [streamed, inMemory] = await Promise.all(
        [false, true].map(async (alpha) =>
          rgbOf(
            (
              await finishPhoto(preparedPhotoOf(image, 2, faces, { alpha }), restored, {
                ...options,
                faceUpsampler,
                keepShares,
              })
            ).bytes,
          ),
        ),
      );
      expectStreamedAsInMemory(
        streamed!,
        inMemory!,
        image.width * 2,
        2,
        faces.map((f) => f.toUnit),
        { label: JSON.stringify(keepShares), widen: 1.5 },
      );
    }
  });

  it('refuses a bad keep share in pasteOnto and faceWindows before writing anything', async () => {
    const restoration = grainyScene(face.pasteSide, face.pasteSide, 9);
    for (const keep of [Number.NaN, 1.5, -0.1]) {
      const faces = [
        { face, restored: restoration },
        { face, restored: restoration, keep },
      ];
      const target = { data: new Uint8Array(320 * 240 * 3).fill(7), width: 320, height: 240 };
      expect(() => pasteOnto({ image: target, offset: 0 }, 2, faces)).toThrow(InvalidParametersError);
      expect(target.data.every((b) => b === 7)).toBe(true);
      await expect(faceWindows(image, 2, faces, null)).rejects.toThrow(InvalidParametersError);
    }
  });

  it('refuses keep shares that do not fit the faces', async () => {
    const photo = preparedPhotoOf(image, 2, [face]);
    for (const keepShares of [[], [0.5, 0.5], [1.2], [Number.NaN], [-0.1]]) {
      await expect(
        finishPhoto(photo, [face.alignedInput], { format: 'png', keepShares }),
        JSON.stringify(keepShares),
      ).rejects.toThrow(InvalidParametersError);
    }
  });
});
