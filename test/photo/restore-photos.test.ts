/**
 * Whole photos through `Dr2eEngine.restoreImages` (the path of the CLI and the worker) with the
 * tiny random-weight model: output size, face reports, skipped faces, warnings, paste-back
 * accuracy, and the bad inputs of issue 10 (60 faces, tiny faces, greyscale scans, 16-bit PNG
 * with alpha, a 20000 x 400 panorama, no face). Photos with faces need ../shared.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Dr2eEngine,
  type ImageRestoration,
  type RestoreProgress,
  FFHQ_FRAMING,
  SeededRandom,
  framingTemplate,
} from '../../gpu-task/src/engine/index.js';
import { addNoise, jpegRoundTrip, planarToRgb, rgbToPlanar } from '../../gpu-task/src/eval/index.js';
import {
  FaceDetector,
  facesInOutput,
  finishPhoto,
  MAX_UPSAMPLED_FACE,
  cubicBackground,
  loadFaceUpsampler,
  upsampleWindow,
  preparePhoto,
  resizeCubic,
} from '../../gpu-task/src/photo/index.js';
import { repoRoot } from '../engine/helpers/fixture-paths.js';
import {
  type AlignedFace,
  background,
  encode,
  hqDir,
  hqFaces,
  hqPresent,
  eyeMidpointOffset,
  placeFaces,
  utkFaces,
  utkPresent,
  utkTar,
} from './helpers.js';

const TINY_MODEL = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');
const params = { steps: 4, preset: 'mild' } as const;
type Ok = Extract<ImageRestoration, { ok: true }>;

let engine: Dr2eEngine;
beforeAll(async () => {
  engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu' });
});
afterAll(async () => {
  await engine?.dispose();
});

/** The photo prepared as the photo stage does at upscale 2 (FFHQ template, a 64 px model). */
async function preparedAt2x(
  photo: Parameters<typeof encode>[0],
): Promise<Awaited<ReturnType<typeof preparePhoto>>> {
  const detector = await FaceDetector.load();
  try {
    return await preparePhoto(await encode(photo), detector, {
      upscale: 2,
      modelSide: 64,
      template: framingTemplate(FFHQ_FRAMING),
    });
  } finally {
    await detector.dispose();
  }
}

async function restoreOne(
  bytes: Uint8Array,
  options: Parameters<Dr2eEngine['restoreImages']>[1] = {},
): Promise<Ok> {
  const [result] = await engine.restoreImages([{ id: 'photo', bytes, seed: 3 }], { params, ...options });
  if (!result?.ok)
    throw new Error(`restore failed: ${result?.ok === false ? result.error.message : 'no result'}`);
  return result;
}

describe('photos without faces', () => {
  it('succeeds with no faces and the warning no_face_detected, enlarged by upscale', async () => {
    // Prepare
    const photo = background(300, 200);
    // Act
    const result = await restoreOne(await encode(photo));
    const x4 = await restoreOne(await encode(photo), { upscale: 4 });
    // Assess
    expect(result.faces).toEqual([]);
    expect(result.skippedFaces).toEqual([]);
    expect(result.warnings).toEqual(['no_face_detected']);
    expect([result.width, result.height]).toEqual([600, 400]);
    expect([x4.width, x4.height]).toEqual([1200, 800]);
    // Nothing pasted: the output is the background enlargement.
    const { image: expected } = await cubicBackground(photo, 2);
    const { data } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
    expect(Buffer.compare(data, Buffer.from(expected.data))).toBe(0);
  });

  it('caps the upscale under the pixel limit and says so', async () => {
    const result = await restoreOne(await encode(background(300, 200)), {
      upscale: 4,
      limits: { maxInputPixels: 300_000 },
    });
    expect(result.upscale).toBe(2);
    expect([result.width, result.height]).toEqual([600, 400]);
    expect(result.warnings).toContain('upscale_capped');
  });

  it('restores a 20000 x 400 panorama to 40000 x 800 without a crash', async () => {
    const result = await restoreOne(await encode(background(20000, 400), 'jpeg'));
    expect([result.width, result.height]).toEqual([40000, 800]);
  });

  it("caps the upscale to the output format's largest side, and refuses up front a photo no upscale fits", async () => {
    // Prepare: WebP holds 16383 px a side at most
    const wide = await encode(background(8200, 64), 'jpeg');
    const tooWide = await encode(background(17000, 40), 'jpeg');
    // Act
    const asWebp = await restoreOne(wide, { format: 'webp' });
    const reencodedLater = await engine.restoreImages([{ id: 'w', bytes: wide, finalFormat: 'webp' }], {
      params,
      format: 'png',
    });
    const asPng = await restoreOne(wide, { format: 'png' });
    const [refused] = await engine.restoreImages([{ id: 't', bytes: tooWide }], { params, format: 'webp' });
    // Assess
    expect([asWebp.upscale, asWebp.width, [...asWebp.warnings].sort()]).toEqual([
      1,
      8200,
      ['no_face_detected', 'upscale_capped'],
    ]);
    expect((await sharp(asWebp.restored).metadata()).format).toBe('webp');
    expect(reencodedLater[0]?.ok && reencodedLater[0].upscale).toBe(1);
    expect(asPng.upscale).toBe(2);
    expect(refused?.ok).toBe(false);
    expect(refused?.ok === false && refused.error).toMatchObject({
      code: 'image_too_large',
      retryable: false,
    });
    expect(refused?.ok === false && refused.error.message).toMatch(/16383 px/);
    // JPEG holds 65535 px a side: both formats that would take the photo are named.
    expect(refused?.ok === false && refused.error.message).toMatch(/ask for png or jpeg$/);
  });

  it("caps an aligned crop's upscale to the output format's largest side too", async () => {
    // Prepare: x4 would be 16800 px wide, over WebP's 16383 (and within the pixel limit)
    const crop = await encode(background(4200, 600), 'jpeg');
    // Act
    const result = await restoreOne(crop, { aligned: true, upscale: 4, format: 'webp' });
    // Assess
    expect([result.upscale, result.width, result.height]).toEqual([2, 8400, 1200]);
    expect(result.warnings).toContain('upscale_capped');
  });

  it("gives an aligned crop's face pair with saveFaces: what the model saw and its restoration, in the crop's framing", async () => {
    // Prepare: a 4:3 crop (padded to the model's square)
    const picture = background(160, 120);
    // Act
    const result = await restoreOne(await encode(picture), { aligned: true, saveFaces: true });
    // Assess: one pair, the same size, the crop's shape; the input side is the crop itself
    expect(result.faceCrops).toHaveLength(1);
    const [pair] = result.faceCrops!;
    const input = await sharp(pair!.input).raw().toBuffer({ resolveWithObject: true });
    const restored = await sharp(pair!.restored).metadata();
    expect([input.info.width, input.info.height]).toEqual([restored.width, restored.height]);
    expect(input.info.width / input.info.height).toBeCloseTo(160 / 120, 1);
    const original = await sharp(Buffer.from(picture.data), { raw: { width: 160, height: 120, channels: 3 } })
      .resize(input.info.width, input.info.height)
      .raw()
      .toBuffer();
    let difference = 0;
    for (let i = 0; i < original.length; i++) difference += Math.abs(original[i]! - input.data[i]!);
    expect(difference / original.length).toBeLessThan(8);
  });

  it('warns aligned_not_square for an aligned input far from square, not for a square or 4:5 crop', async () => {
    // Act
    const photo = await restoreOne(await encode(background(160, 100)), { aligned: true });
    const square = await restoreOne(await encode(background(96, 96)), { aligned: true });
    const portrait = await restoreOne(await encode(background(80, 100)), { aligned: true });
    // Assess
    expect(photo.warnings).toContain('aligned_not_square');
    expect(square.warnings).not.toContain('aligned_not_square');
    expect(portrait.warnings).not.toContain('aligned_not_square');
  });

  it('writes the sRGB profile into an aligned crop and its files, as into a whole photo', async () => {
    // Prepare
    const picture = await encode(background(96, 96));
    // Act
    const aligned = await restoreOne(picture, {
      aligned: true,
      keepDr2: true,
      saveFaces: true,
      format: 'jpeg',
    });
    const whole = await restoreOne(picture, { format: 'jpeg' });
    // Assess: the same profile in the output, the DR2 image and the face pair
    const profileOf = async (bytes: Uint8Array) => (await sharp(bytes).metadata()).icc;
    const srgb = await profileOf(whole.restored);
    expect(srgb).toBeDefined();
    for (const bytes of [
      aligned.restored,
      aligned.dr2!,
      aligned.faceCrops![0]!.input,
      aligned.faceCrops![0]!.restored,
    ]) {
      expect(Buffer.compare(Buffer.from((await profileOf(bytes)) ?? []), srgb!)).toBe(0);
    }
  });

  it('restores the first frame of an animated image and says so, aligned or not', async () => {
    // Prepare: a two-frame animated WebP and the same picture as a still
    const frame = await encode(background(160, 120));
    const other = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#996633' } })
      .png()
      .toBuffer();
    const animated = new Uint8Array(
      await sharp([Buffer.from(frame), other], { join: { animated: true } })
        .webp()
        .toBuffer(),
    );
    // Act
    const fromAnimated = await restoreOne(animated);
    const fromStill = await restoreOne(frame);
    const alignedAnimated = await restoreOne(animated, { aligned: true });
    const alignedStill = await restoreOne(frame, { aligned: true });
    // Assess: as a whole photo and as an aligned crop
    expect(fromAnimated.warnings).toContain('first_frame_only');
    expect([fromAnimated.width, fromAnimated.height]).toEqual([320, 240]);
    expect(fromStill.warnings).not.toContain('first_frame_only');
    expect(alignedAnimated.warnings).toContain('first_frame_only');
    expect(alignedStill.warnings).not.toContain('first_frame_only');
  });

  it('refuses bad option values with invalid_parameters', async () => {
    await expect(
      engine.restoreImages([{ id: 'x', bytes: await encode(background(64, 64)) }], { upscale: 3 as 2 }),
    ).rejects.toThrow(/upscale must be 1, 2 or 4/);
  });
});

describe.skipIf(!hqPresent || !utkPresent)(
  `photos with faces${hqPresent && utkPresent ? '' : ` (skipped: ${hqPresent ? utkTar : hqDir} is absent)`}`,
  () => {
    let hq: AlignedFace[];
    let utk: AlignedFace[];
    beforeAll(async () => {
      hq = await hqFaces();
      utk = await utkFaces(60);
    });

    it('restores every face of a group photo in one sampler run, reports them largest first, in input pixels', async () => {
      // Prepare
      const photo = background(1200, 800);
      const placed = placeFaces(photo, [
        { face: hq[0]!, cx: 300, cy: 380, side: 420 },
        { face: hq[1]!, cx: 750, cy: 360, side: 260, angle: 0.4 },
        { face: utk[0]!, cx: 1020, cy: 560, side: 150 },
      ]);
      const runs = new Set<number>();
      // Act
      const [result] = (await engine.restoreImages(
        [{ id: 'group', bytes: await encode(photo, 'jpeg'), seed: 9 }],
        {
          params,
          saveFaces: true,
          onStep: (p) => void runs.add(p.run),
        },
      )) as [ImageRestoration];
      // Assess
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect([result.width, result.height]).toEqual([2400, 1600]);
      expect(result.faces).toHaveLength(3);
      expect([...runs]).toEqual([1]);
      const areas = result.faces.map((f) => f.box[2] * f.box[3]);
      expect([...areas].sort((a, b) => b - a)).toEqual(areas);
      for (const truth of placed) expect(eyeMidpointOffset(truth, result.faces)).toBeLessThanOrEqual(1);
      expect(result.faceCrops).toHaveLength(3);
      const crop = await sharp(result.faceCrops![0]!.restored).metadata();
      expect(crop.width).toBe(crop.height);
      expect(result.warnings).toEqual([]);
    });

    it('reports one forward progress when the faces take more than one sampler run', async () => {
      // Prepare: three faces, runs of two
      const photo = background(900, 500);
      placeFaces(photo, [
        { face: hq[0]!, cx: 200, cy: 250, side: 300 },
        { face: hq[1]!, cx: 520, cy: 250, side: 240 },
        { face: utk[0]!, cx: 770, cy: 260, side: 160 },
      ]);
      const reports: RestoreProgress[] = [];
      // Act
      const [result] = (await engine.restoreImages(
        [{ id: 'group', bytes: await encode(photo, 'jpeg'), seed: 9 }],
        {
          params,
          batchSize: 2,
          onStep: (p) => void reports.push(p),
        },
      )) as [ImageRestoration];
      // Assess: two runs, counted as one from 1 to the total known from the start
      expect(result.ok && result.faces.length).toBe(3);
      expect(new Set(reports.map((p) => p.run))).toEqual(new Set([1, 2]));
      const total = reports[0]!.total;
      expect(reports.map((p) => p.step)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(reports.every((p) => p.total === total && p.images[0] === 'group')).toBe(true);
    });

    it('puts a face back exactly where it was (identity restoration, 2x output)', async () => {
      // Prepare: restoring with the aligned input itself must give back the enlarged photo.
      const photo = background(640, 480);
      placeFaces(photo, [{ face: hq[0]!, cx: 330, cy: 250, side: 360, angle: -0.3 }]);
      const prepared = await preparedAt2x(photo);
      expect(prepared.faces).toHaveLength(1);
      const face = prepared.faces[0]!;
      // Act
      const finished = await finishPhoto(prepared, [face.alignedInput], { format: 'png', colorMatch: false });
      // Assess: inside the face the output matches the background enlargement to within interpolation
      // error; a paste one output pixel off would differ by several times more.
      const out = await sharp(finished.bytes).raw().toBuffer();
      const { image: reference } = await cubicBackground(photo, 2);
      const shifted = (dx: number): number => {
        let sum = 0;
        let n = 0;
        for (let y = 440; y < 560; y++) {
          for (let x = 600; x < 720; x++) {
            for (let c = 0; c < 3; c++) {
              sum += Math.abs(out[(y * 1280 + x) * 3 + c]! - reference.data[(y * 1280 + x + dx) * 3 + c]!);
              n++;
            }
          }
        }
        return sum / n;
      };
      // (Measured: 0.2 levels in place, 2.3 one output pixel off in x or y.)
      const aligned = shifted(0);
      expect(aligned).toBeLessThan(0.5);
      expect(aligned * 5).toBeLessThan(Math.min(shifted(1), shifted(-1), shifted(1280), shifted(-1280)));
    });

    it("cuts kept faces' saved crops out of the output, where the faces are (facesInOutput)", async () => {
      // Prepare: a photo with two faces; as its "output", the enlargement with every level
      // inverted, so a crop read from it is told apart from the aligned input, and one read off
      // the face (a wrong place or scale) matches neither.
      const photo = background(640, 480);
      placeFaces(photo, [
        { face: hq[1]!, cx: 190, cy: 200, side: 240, angle: 0.35 },
        // (hq[2]'s crop also holds half of a second child's face, found at some sizes)
        { face: hq[3]!, cx: 480, cy: 300, side: 200, angle: -0.2 },
      ]);
      const prepared = await preparedAt2x(photo);
      expect(prepared.faces).toHaveLength(2);
      const { image: enlarged } = await cubicBackground(photo, 2);
      const inverted = await sharp(
        enlarged.data.map((v) => 255 - v),
        {
          raw: { width: 1280, height: 960, channels: 3 },
        },
      )
        .png()
        .toBuffer();
      // Act
      const crops = await facesInOutput(new Uint8Array(inverted), prepared, [1, 0]);
      // Assess: each crop is its face's inverted aligned input, to within two cubic resamplings
      for (const index of [0, 1]) {
        const crop = crops.get(index)!;
        const aligned = prepared.faces[index]!.alignedInput;
        expect([crop.width, crop.height]).toEqual([aligned.width, aligned.height]);
        let fromInverted = 0;
        let fromInput = 0;
        for (let i = 0; i < crop.data.length; i++) {
          fromInverted += Math.abs(crop.data[i]! - (255 - aligned.data[i]!));
          fromInput += Math.abs(crop.data[i]! - aligned.data[i]!);
        }
        // (Measured: 0.18 levels on average from the inverted input in place, 2.2 when cut one
        // output pixel off; over 100 from the input itself.)
        expect(fromInverted / crop.data.length).toBeLessThan(0.6);
        expect(fromInput / crop.data.length).toBeGreaterThan(20);
      }
      // Cut from one decoded rectangle or from one each, the crops are the same bytes
      const apart = await facesInOutput(new Uint8Array(inverted), prepared, [0, 1], 1);
      for (const index of [0, 1]) expect(apart.get(index)!.data).toEqual(crops.get(index)!.data);
    });

    it('restores the 20 largest of 60 faces and leaves the rest untouched, listed as skipped', async () => {
      // Prepare: a 10 x 6 grid of faces, the first row larger.
      const photo = background(1500, 1000);
      const placements = utk.slice(0, 60).map((face, i) => ({
        face,
        cx: 75 + (i % 10) * 150,
        cy: 80 + Math.floor(i / 10) * 165,
        side: i < 10 ? 120 : 100,
      }));
      placeFaces(photo, placements);
      // Act
      const result = await restoreOne(await encode(photo));
      // Assess
      expect(result.faces).toHaveLength(20);
      // 59 of the 60 are found (the one missed: a tight crop of a face under a hand, which scores
      // 0.3-0.4 at the 28-51 px the pyramid sees it at, 0.7-0.9 from 65 px): 39 skipped
      expect(result.skippedFaces.length).toBeGreaterThanOrEqual(39);
      expect(result.skippedFaces.every((f) => f.reason === 'max_faces')).toBe(true);
      const smallestRestored = Math.min(...result.faces.map((f) => f.box[2]));
      expect(Math.max(...result.skippedFaces.map((f) => f.box[2]))).toBeLessThanOrEqual(
        smallestRestored + 1e-9,
      );
      // Every skipped face is left as it was: the background enlargement, bit for bit, across its box.
      const { data } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
      const { image: enlarged } = await cubicBackground(photo, 2);
      for (const face of result.skippedFaces) {
        const [x, y, w, h] = face.box.map((v) => Math.round(2 * v)) as [number, number, number, number];
        for (const row of [y + Math.round(h / 4), y + Math.round(h / 2)]) {
          const from = (row * 3000 + x) * 3;
          const to = from + w * 3;
          expect(Buffer.compare(data.subarray(from, to), Buffer.from(enlarged.data.subarray(from, to)))).toBe(
            0,
          );
        }
      }
    });

    it('skips faces below --min-face with reason min_face', async () => {
      const photo = background(900, 600);
      placeFaces(photo, [
        // (not hq[2], whose crop also holds half of a second child's face, found at this size)
        { face: hq[3]!, cx: 300, cy: 300, side: 300 },
        { face: utk[1]!, cx: 700, cy: 300, side: 50 },
      ]);
      const result = await restoreOne(await encode(photo), { minFace: 80 });
      expect(result.faces).toHaveLength(1);
      expect(result.skippedFaces).toHaveLength(1);
      expect(result.skippedFaces[0]!.reason).toBe('min_face');
      expect(result.skippedFaces[0]!.box[2]).toBeLessThan(80);
    });

    it('keeps a greyscale scan grey and a 16-bit PNG’s alpha', async () => {
      // Prepare
      const grey = background(400, 400, true);
      placeFaces(grey, [{ face: hq[3]!, cx: 200, cy: 200, side: 300 }]);
      const greyJpeg = new Uint8Array(
        await sharp(Buffer.from(grey.data), { raw: { width: 400, height: 400, channels: 3 } })
          .toColourspace('b-w')
          .jpeg()
          .toBuffer(),
      );
      const colour = background(400, 400);
      placeFaces(colour, [{ face: hq[1]!, cx: 200, cy: 210, side: 300 }]);
      // 16 bits per channel (v * 257 is v in 8 bits), alpha 0 in a band at the top.
      const samples = new Uint16Array(400 * 400 * 4);
      for (let i = 0; i < 400 * 400; i++) {
        samples[i * 4] = colour.data[i * 3]! * 257;
        samples[i * 4 + 1] = colour.data[i * 3 + 1]! * 257;
        samples[i * 4 + 2] = colour.data[i * 3 + 2]! * 257;
        samples[i * 4 + 3] = i < 400 * 40 ? 0 : 65535;
      }
      const rgba16 = await sharp(samples, { raw: { width: 400, height: 400, channels: 4 } })
        .toColourspace('rgb16')
        .png()
        .toBuffer();
      expect((await sharp(rgba16).metadata()).depth).toBe('ushort');
      // Act
      const fromGrey = await restoreOne(greyJpeg);
      const fromAlpha = await restoreOne(new Uint8Array(rgba16));
      // Assess
      expect(fromGrey.faces).toHaveLength(1);
      const greyMeta = await sharp(fromGrey.restored).metadata();
      expect([greyMeta.width, greyMeta.channels]).toEqual([800, 1]);
      expect(fromAlpha.faces).toHaveLength(1);
      const { data, info } = await sharp(fromAlpha.restored).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([800, 800, 4]);
      expect(data[(10 * 800 + 400) * 4 + 3]).toBe(0);
      expect(data[(600 * 800 + 400) * 4 + 3]).toBe(255);
    });

    it('neither restores nor reports a face under transparency, and a JPEG shows none of it', async () => {
      // Prepare: two faces; the right half of the photo (and its face) has alpha 0
      const photo = background(640, 320);
      placeFaces(photo, [
        { face: hq[1]!, cx: 160, cy: 160, side: 240 },
        { face: hq[2]!, cx: 480, cy: 160, side: 240 },
      ]);
      const rgba = Buffer.alloc(640 * 320 * 4);
      for (let i = 0; i < 640 * 320; i++) {
        rgba.set(photo.data.subarray(i * 3, i * 3 + 3), i * 4);
        rgba[i * 4 + 3] = i % 640 < 320 ? 255 : 0;
      }
      const png = new Uint8Array(
        await sharp(rgba, { raw: { width: 640, height: 320, channels: 4 } })
          .png()
          .toBuffer(),
      );
      // Act
      const result = await restoreOne(png, { format: 'jpeg', upscale: 1 });
      // Assess
      expect(result.faces).toHaveLength(1);
      const [x, , w] = result.faces[0]!.box;
      expect(x + w / 2).toBeLessThan(320);
      expect(result.skippedFaces).toEqual([]);
      const { data, info } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(3);
      let hidden = 0;
      for (let y = 0; y < 320; y++) {
        for (let xx = 330; xx < 640; xx++)
          hidden = Math.max(hidden, 255 - (data[(y * 640 + xx) * 3] as number));
      }
      expect(hidden).toBeLessThan(8);
    });

    it('estimates each face on the photo’s own pixels: a noisy, compressed photo reads severe, its clean original clean', async () => {
      // Prepare: one face, the photo then degraded as a severe photo is (noise σ 20, JPEG q 30).
      const photo = background(360, 280);
      placeFaces(photo, [{ face: utk[1]!, cx: 180, cy: 140, side: 150, angle: 0.25 }]);
      const planar = rgbToPlanar(photo);
      addNoise(planar, 'gaussian', 20, new SeededRandom(5));
      const degraded = await jpegRoundTrip(planarToRgb(planar), 30);
      // Act
      const [noisy] = (await restoreOne(await encode(degraded))).faces;
      const [clean] = (await restoreOne(await encode(photo))).faces;
      // Assess: the resampled aligned cut read such faces at noise 1-2 and blocking <= 0.05.
      expect(noisy?.estimate).toBeDefined();
      expect(clean?.estimate).toBeDefined();
      expect(noisy!.estimate!.jpeg).toBeGreaterThan(0.1);
      expect(noisy!.estimate!.coarseNoise!).toBeGreaterThan(10);
      expect(clean!.estimate!.coarseNoise!).toBeLessThan(5);
    });

    it('leans small faces found in a photo toward their input (fidelity 0.7 at the default), not large ones or aligned crops', async () => {
      // Prepare: two UTKFace crops, far apart: one of 21 px (the tiny model frames it at ~33 px,
      // under SMALL_FACE_BELOW) and one of 140 px (framed at ~112).
      const photo = background(420, 260);
      placeFaces(photo, [
        { face: utk[0]!, cx: 110, cy: 130, side: 140 },
        { face: utk[1]!, cx: 330, cy: 130, side: 21 },
      ]);
      const bytes = await encode(photo);
      const fidelities = async (fidelity?: number): Promise<number[]> => {
        const { faces } = await restoreOne(bytes, {
          params: { preset: 'auto', steps: 4, ...(fidelity !== undefined ? { fidelity } : {}) },
        });
        expect(faces).toHaveLength(2);
        return faces.map((f) => f.settings!.fidelity!);
      };
      // Act
      const byDefault = await fidelities();
      const lowest = await fidelities(0);
      const highest = await fidelities(1);
      const crop = await sharp(Buffer.from(utk[1]!.image.data), {
        raw: { width: utk[1]!.image.width, height: utk[1]!.image.height, channels: 3 },
      })
        .resize(32, 32)
        .png()
        .toBuffer();
      const [aligned] = (
        await restoreOne(new Uint8Array(crop), { aligned: true, params: { preset: 'auto', steps: 4 } })
      ).faces;
      // Assess: faces are reported largest first; the small one's frame is under SMALL_FACE_BELOW.
      expect(byDefault).toHaveLength(2);
      expect(byDefault[0]).toBe(0.5);
      expect(byDefault[1]).toBeCloseTo(0.7, 9);
      expect(lowest[0]).toBe(0);
      expect(lowest[1]).toBeCloseTo(0.4, 9);
      expect(highest).toEqual([1, 1]);
      expect(aligned?.settings?.fidelity).toBe(0.5);
    });

    it('does not run the faces auto keeps as they are: enlarged by the pipeline face upsampler, else as the background', async () => {
      // Prepare: a small face (below the tiny model's 64 px cut-off: at fidelity 1 auto keeps it)
      // and a large one, far apart; PNG, so the decoded photo is the photo. A second pipeline:
      // the tiny networks with the default's face upsampler banks.
      const photo = background(900, 600);
      placeFaces(photo, [
        { face: hq[0]!, cx: 220, cy: 300, side: 320 },
        { face: hq[1]!, cx: 700, cy: 300, side: 90 },
      ]);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-banks-'));
      const models = path.join(repoRoot, 'gpu-task', 'models');
      const pipeline = {
        ...(JSON.parse(await readFile(TINY_MODEL, 'utf8')) as Record<string, unknown>),
        denoiser: path.join(models, 'tiny', 'denoiser.json'),
        enhancer: path.join(models, 'tiny', 'enhancer.json'),
        faceUpsampler: {
          x2: path.join(models, 'default', 'face-upsampler', 'x2.json'),
          x4: path.join(models, 'default', 'face-upsampler', 'x4.json'),
        },
      };
      await writeFile(path.join(dir, 'pipeline.json'), JSON.stringify(pipeline));
      const withBanks = await Dr2eEngine.load({ model: path.join(dir, 'pipeline.json'), device: 'cpu' });
      const spy = vi.spyOn(engine, 'restoreTensors');
      // Act
      let result: Ok;
      let upsampled: Ok;
      let modelFaces: number;
      const request = { params: { preset: 'auto', fidelity: 1, steps: 4 } } as const;
      try {
        result = await restoreOne(await encode(photo), request);
        modelFaces = spy.mock.calls.reduce((sum, [call]) => sum + call.batch, 0);
        const [done] = await withBanks.restoreImages(
          [{ id: 'photo', bytes: await encode(photo), seed: 3 }],
          request,
        );
        if (!done?.ok) throw new Error('restore with the banks failed');
        upsampled = done;
      } finally {
        spy.mockRestore();
        await withBanks.dispose();
        await rm(dir, { recursive: true, force: true });
      }
      // Assess: every face reported, the kept ones with settings.kept and not given to the model.
      expect(result.faces).toHaveLength(2);
      const kept = result.faces.filter((f) => f.settings?.kept);
      expect(kept.length).toBeGreaterThanOrEqual(1);
      expect(modelFaces).toBe(result.faces.length - kept.length);
      expect(upsampled.faces.map((f) => f.settings?.kept)).toEqual(result.faces.map((f) => f.settings?.kept));
      expect(withBanks.licenses.map((l) => l.name)).toContain('UTKFace: non-commercial research use only');
      // Without banks, the output across a kept face's box is the photo's own enlargement, bit
      // for bit, and that is the float cubic rounded: within one level of it, equal on all but a
      // few samples. A row far from the faces is within a level of it (the streamed
      // background's `fast` levels).
      const { data, info } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
      const { image: enlarged } = await cubicBackground(photo, 2);
      const float = resizeCubic(photo, photo.width * 2, photo.height * 2);
      const rows = kept.flatMap(({ box: [x, y, w, h] }) => {
        const span: [number, number, number][] = [];
        for (let row = Math.round(2 * y); row < Math.round(2 * (y + h)); row++) {
          span.push([row, Math.round(2 * x), Math.round(2 * (x + w))]);
        }
        return span;
      });
      let samples = 0;
      let off = 0;
      const far = 40 * info.width * 3;
      for (let i = far; i < far + info.width * 3; i++) {
        expect(Math.abs(data[i]! - enlarged.data[i]!)).toBeLessThanOrEqual(1);
      }
      for (const [row, from, to] of rows) {
        const a = (row * info.width + from) * 3;
        const b = (row * info.width + to) * 3;
        expect(Buffer.compare(data.subarray(a, b), Buffer.from(enlarged.data.subarray(a, b)))).toBe(0);
        for (let i = a; i < b; i++) {
          expect(Math.abs(data[i]! - float.data[i]!)).toBeLessThanOrEqual(1);
          if (data[i] !== float.data[i]) off++;
          samples++;
        }
      }
      expect(off / samples).toBeLessThan(1e-3);
      // With the banks, across the middle of a kept face's box (inside its frame, where the layer
      // is whole) the output is the photo enlarged by the face upsampler (up to the size cap);
      // far rows are unchanged.
      const layered = await sharp(upsampled.restored).raw().toBuffer();
      expect(
        Buffer.compare(layered.subarray(0, 80 * info.width * 3), data.subarray(0, 80 * info.width * 3)),
      ).toBe(0);
      const bank = await loadFaceUpsampler(path.join(models, 'default', 'face-upsampler', 'x2.json'));
      // A kept face's frame side (input pixels), as estimated: faces over MAX_UPSAMPLED_FACE keep
      // the plain enlargement.
      const frameSide = (x: number, y: number): number =>
        upsampled.faces.find(({ box }) => box[0] === x && box[1] === y)?.estimate?.faceSize ?? Number.NaN;
      for (const {
        box: [x, y, w, h],
      } of kept) {
        const window = {
          x0: Math.round(2 * (x + w / 4)),
          y0: Math.round(2 * (y + h / 4)),
          x1: Math.round(2 * (x + (3 * w) / 4)) - 1,
          y1: Math.round(2 * (y + (3 * h) / 4)) - 1,
        };
        const learned = upsampleWindow(photo, bank, window);
        const ww = window.x1 - window.x0 + 1;
        let fromUpsampler = 0;
        let fromEnlargement = 0;
        let count = 0;
        for (let row = window.y0; row <= window.y1; row++) {
          for (let i = 0; i < ww * 3; i++) {
            const out = layered[(row * info.width + window.x0) * 3 + i]!;
            // The layer clamps to 0-255 and rounds.
            const value = learned[(row - window.y0) * ww * 3 + i]!;
            fromUpsampler += Number(out === Math.min(255, Math.max(0, Math.round(value))));
            fromEnlargement += Number(out === enlarged.data[(row * info.width + window.x0) * 3 + i]);
            count++;
          }
        }
        if (frameSide(x, y) > MAX_UPSAMPLED_FACE) {
          expect(fromEnlargement / count).toBe(1);
        } else {
          expect(fromUpsampler / count).toBeGreaterThan(0.999);
          expect(fromEnlargement / count).toBeLessThan(0.9);
        }
      }
      // Both kinds were met: the 320 px face is kept and over the cap, the 90 px one kept and under it.
      expect(kept.map(({ box: [x, y] }) => frameSide(x, y) > MAX_UPSAMPLED_FACE).sort()).toEqual([
        false,
        true,
      ]);
    });

    it('restores a photo that is all face, and an aligned crop with --aligned at input size x upscale', async () => {
      const closeUp = await encode((await hqFaces())[0]!.image);
      const asPhoto = await restoreOne(closeUp);
      const asAligned = await restoreOne(closeUp, { aligned: true, upscale: 1 });
      expect(asPhoto.faces).toHaveLength(1);
      expect([asPhoto.width, asPhoto.height]).toEqual([1024, 1024]);
      expect([asAligned.width, asAligned.height]).toEqual([512, 512]);
      expect(asAligned.faces).toHaveLength(1);
    });
  },
);
