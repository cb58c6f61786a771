/**
 * Framing adaptation on pixels and through the engine: an FFHQ-aligned face is cut so its eyes
 * and mouth land where the model's framing says, and the restored face goes back into the
 * input's framing with a feathered border, leaving the picture away from the face untouched.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, type ImageRestoration } from '../../../gpu-task/src/engine/dr2e-engine.js';
import {
  FFHQ_FRAMING,
  type FaceFraming,
  cutSquare,
  decodeAdaptedFace,
  pasteFace,
  planFaceCrop,
  resizeRgbImage,
  roundSquare,
} from '../../../gpu-task/src/engine/framing/index.js';
import { type RgbImage, decodeImageToRgb, tensorToRgb8 } from '../../../gpu-task/src/engine/image/index.js';
import { loadGroundTruth } from '../../../gpu-task/src/eval/index.js';
import { runCli } from '../../cli/cli-io.js';
import { repoRoot } from '../helpers/fixture-paths.js';
import { cartoonFacePng, patternImage, solidImage } from '../../eval/helpers.js';

const TIGHT: FaceFraming = { name: 'tight', eyeDistance: 0.41, eyeY: 0.29, mouthY: 0.68 };

/** FFHQ's proportions at 1.6x the size, eye line at 0.3: a mapping that can be exact. */
const ZOOMED: FaceFraming = {
  name: 'zoomed',
  eyeDistance: FFHQ_FRAMING.eyeDistance * 1.6,
  eyeY: 0.3,
  mouthY: 0.3 + (FFHQ_FRAMING.mouthY - FFHQ_FRAMING.eyeY) * 1.6,
};

/** Centroid (continuous coordinates, pixel centres at i + 0.5) of the pixels that pass a test. */
function centroid(image: RgbImage, keep: (r: number, g: number, b: number, x: number, y: number) => boolean) {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const i = (y * image.width + x) * 3;
      if (keep(image.data[i]!, image.data[i + 1]!, image.data[i + 2]!, x, y)) {
        sx += x + 0.5;
        sy += y + 0.5;
        n++;
      }
    }
  }
  return { x: sx / n, y: sy / n, n };
}

describe('cutting the face for the model', () => {
  it('puts an FFHQ-aligned face’s eyes and mouth at the model framing’s positions', async () => {
    // Prepare
    const size = 64;
    const bytes = await cartoonFacePng(256, 0, FFHQ_FRAMING);
    // Act
    const adapted = await decodeAdaptedFace(bytes, { size, mode: 'ffhq', modelFraming: ZOOMED });
    // Assess
    expect(adapted).not.toBeNull();
    const face = { data: tensorToRgb8(adapted!.tensor, size, size), width: size, height: size };
    const dark = (r: number, g: number, b: number): boolean => r + g + b < 200;
    const leftEye = centroid(face, (r, g, b, x, y) => dark(r, g, b) && x < size / 2 && y < size / 2);
    const rightEye = centroid(face, (r, g, b, x, y) => dark(r, g, b) && x >= size / 2 && y < size / 2);
    const mouth = centroid(face, (r, g, b) => r > 110 && g < 80 && b < 80);
    expect(leftEye.n).toBeGreaterThan(10);
    expect(leftEye.x).toBeCloseTo((0.5 - ZOOMED.eyeDistance / 2) * size, 0);
    expect(rightEye.x).toBeCloseTo((0.5 + ZOOMED.eyeDistance / 2) * size, 0);
    expect(leftEye.y).toBeCloseTo(ZOOMED.eyeY * size, 0);
    expect(rightEye.y).toBeCloseTo(ZOOMED.eyeY * size, 0);
    expect(mouth.y).toBeCloseTo(ZOOMED.mouthY * size, 0);
  });

  it('decodes nothing when no adaptation applies', async () => {
    // Prepare
    const bytes = await cartoonFacePng(128, 1, FFHQ_FRAMING);
    // Act + Assess
    expect(await decodeAdaptedFace(bytes, { size: 64, mode: 'model', modelFraming: TIGHT })).toBeNull();
    expect(await decodeAdaptedFace(bytes, { size: 64, mode: 'auto', modelFraming: undefined })).toBeNull();
  });

  it('fills a crop that passes the image border by reflection', () => {
    // Prepare
    const image = patternImage(8, 1);
    // Act
    const cut = cutSquare(image, { left: -2, top: 0, side: 4 });
    // Assess: columns -2, -1, 0, 1 read source columns 1, 0, 0, 1.
    const pixel = (img: RgbImage, x: number, y: number): number[] =>
      Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    expect(pixel(cut, 0, 2)).toEqual(pixel(image, 1, 2));
    expect(pixel(cut, 1, 2)).toEqual(pixel(image, 0, 2));
    expect(pixel(cut, 2, 2)).toEqual(pixel(image, 0, 2));
    expect(pixel(cut, 3, 2)).toEqual(pixel(image, 1, 2));
  });
});

describe('evaluation ground truth from FFHQ-aligned faces', () => {
  it('is cut to the model framing with --clean-framing ffhq, and taken whole otherwise', async () => {
    // Prepare
    const bytes = await cartoonFacePng(256, 3, FFHQ_FRAMING);
    const faces = [{ id: 'face.png', read: async () => new Uint8Array(bytes) }];
    const eyeRow = (image: RgbImage): number =>
      centroid(image, (r, g, b, _x, y) => r + g + b < 200 && y < image.height * 0.55).y / image.height;
    // Act
    const adapted = await loadGroundTruth(faces, 128, { basis: null, framing: 'ffhq', modelFraming: ZOOMED });
    const whole = await loadGroundTruth(faces, 128, { basis: null, framing: 'model', modelFraming: ZOOMED });
    // Assess
    expect(eyeRow(adapted.images[0]!)).toBeCloseTo(ZOOMED.eyeY, 1);
    expect(eyeRow(whole.images[0]!)).toBeCloseTo(FFHQ_FRAMING.eyeY, 1);
  });
});

describe('pasting the restored face back', () => {
  it('keeps the input’s size, blends the face in, and leaves everything outside the crop unchanged', async () => {
    // Prepare: restored face at the crop's own size, so the output is at the source's scale.
    const source = patternImage(256, 3);
    const crop = { left: 64, top: 40, side: 128 };
    const restored = solidImage(128, 128, [10, 200, 30]);
    // Act
    const out = await pasteFace(source, crop, restored);
    // Assess
    expect([out.width, out.height]).toEqual([256, 256]);
    let changedOutside = 0;
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        const inside = x >= 64 && x < 192 && y >= 40 && y < 168;
        const i = (y * 256 + x) * 3;
        if (!inside && (out.data[i] !== source.data[i] || out.data[i + 1] !== source.data[i + 1]))
          changedOutside++;
      }
    }
    expect(changedOutside).toBe(0);
    const centre = ((40 + 64) * 256 + 128) * 3;
    expect(Array.from(out.data.subarray(centre, centre + 3))).toEqual([10, 200, 30]);
    // At the crop's edge the input shows through almost entirely.
    const edge = ((40 + 64) * 256 + 64) * 3;
    expect(Math.abs(out.data[edge + 1]! - source.data[edge + 1]!)).toBeLessThan(
      Math.abs(200 - source.data[edge + 1]!) * 0.05 + 1,
    );
  });

  it('scales the output to the restored face’s resolution and clips a crop beyond the border', async () => {
    // Prepare
    const source = patternImage(200, 4);
    const restored = solidImage(64, 64, [0, 0, 0]);
    // Act
    const out = await pasteFace(source, { left: -20, top: 100, side: 128 }, restored);
    // Assess: 64 / 128 output pixels per input pixel.
    expect([out.width, out.height]).toEqual([100, 100]);
  });
});

describe('restoring through the engine', () => {
  let work: string;
  let engine: Dr2eEngine;
  let ffhqFace: Uint8Array;

  beforeAll(async () => {
    // A copy of the tiny random model whose denoiser declares a tight framing.
    work = await mkdtemp(path.join(tmpdir(), 'dr2e-framing-'));
    const tiny = path.join(repoRoot, 'gpu-task', 'models', 'tiny');
    for (const file of ['pipeline.json', 'enhancer.json', 'enhancer.onnx', 'denoiser.onnx']) {
      await copyFile(path.join(tiny, file), path.join(work, file));
    }
    const denoiser = JSON.parse(await readFile(path.join(tiny, 'denoiser.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(path.join(work, 'denoiser.json'), JSON.stringify({ ...denoiser, framing: TIGHT }));
    engine = await Dr2eEngine.load({ model: path.join(work, 'pipeline.json') });
    ffhqFace = await cartoonFacePng(256, 2, FFHQ_FRAMING);
  });

  afterAll(async () => {
    await engine?.dispose();
    await rm(work, { recursive: true, force: true });
  });

  const params = { preset: 'mild', steps: 10 };

  it('adapts a square aligned input by default and returns the whole input, restored, at input size x upscale', async () => {
    // Prepare
    const crop = roundSquare(planFaceCrop(256, 256, FFHQ_FRAMING, TIGHT).crop);
    const faceSide = Math.round((256 * engine.outputSize) / crop.side);
    // Act
    const [result] = (await engine.restoreImages([{ id: 'face', bytes: ffhqFace, seed: 1 }], {
      params,
      keepDr2: true,
      aligned: true,
      upscale: 1,
    })) as [ImageRestoration];
    // Assess
    expect(engine.framing).toEqual(TIGHT);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect([result.width, result.height]).toEqual([256, 256]);
    const dr2 = await sharp(result.dr2!).metadata();
    expect(dr2.width).toBe(Math.round((256 * engine.resolution) / crop.side));
    // Away from the face (the top-left corner, outside the crop) the output is the input, enlarged
    // to the face's resolution and back (so within resampling error of it).
    const { image: source } = await decodeImageToRgb(ffhqFace);
    const background = await resizeRgbImage(await resizeRgbImage(source, faceSide, faceSide), 256, 256);
    const { data } = await sharp(result.restored).raw().toBuffer({ resolveWithObject: true });
    const limit = crop.left - 4;
    for (let y = 0; y < limit; y++) {
      for (let x = 0; x < limit; x++) {
        const i = (y * 256 + x) * 3;
        expect(Math.abs(data[i]! - background.data[i]!)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('reads an adapted face’s compression on the grid it was compressed on, not the crop’s', async () => {
    // Prepare: the aligned face at 64 px, compressed hard, enlarged x4 and saved lightly
    // compressed: its blocks lie every 32 px from the input's corner; the adapted crop starts off
    // that grid.
    const small = await sharp(await cartoonFacePng(64, 3, FFHQ_FRAMING))
      .jpeg({ quality: 20 })
      .toBuffer();
    const enlarged = await sharp(small)
      .resize(256, 256, { kernel: 'cubic' })
      .jpeg({ quality: 95 })
      .toBuffer();
    const crop = roundSquare(planFaceCrop(256, 256, FFHQ_FRAMING, TIGHT).crop);
    expect(crop.left % 32).not.toBe(0);
    // Act
    const [result] = (await engine.restoreImages([{ id: 'face', bytes: enlarged, seed: 1 }], {
      params: { preset: 'auto', steps: 10 },
      aligned: true,
    })) as [ImageRestoration];
    // Assess: blocking as strong as the q 20 compression leaves, at the face's effective size.
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const estimate = result.faces[0]!.estimate!;
    expect(estimate.jpeg).toBeGreaterThan(0.3);
    expect(estimate.faceSize).toBeLessThan(crop.side / 2);
  });

  it('passes inputs through unchanged in mode model, and non-square inputs in mode auto', async () => {
    // Prepare
    const wide = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#806040' } })
      .png()
      .toBuffer();
    // Act
    const [asModel] = (await engine.restoreImages([{ id: 'face', bytes: ffhqFace, seed: 1 }], {
      params,
      inputFraming: 'model',
      aligned: true,
      keepDr2: true,
    })) as [ImageRestoration];
    const [wideAuto] = (await engine.restoreImages([{ id: 'wide', bytes: wide, seed: 1 }], {
      params,
      aligned: true,
      keepDr2: true,
    })) as [ImageRestoration];
    // Assess: the model's own resolution shows in DR2's output; the result is the input x 2.
    expect(asModel.ok && (await sharp(asModel.dr2!).metadata()).width).toBe(64);
    expect(asModel.ok && [asModel.width, asModel.height]).toEqual([512, 512]);
    // The plain path keeps the input's 3:2 aspect.
    expect(wideAuto.ok && [wideAuto.width, wideAuto.height]).toEqual([600, 400]);
    expect(wideAuto.ok && (await sharp(wideAuto.dr2!).metadata()).width).toBe(64);
  });

  it('is offered by dr2e restore, which refuses an unknown framing mode', async () => {
    // Prepare
    const input = path.join(work, 'face.png');
    await writeFile(input, ffhqFace);
    // Act
    const bad = await runCli([
      'restore',
      input,
      '-o',
      path.join(work, 'out-bad'),
      '--input-framing',
      'tight',
    ]);
    const good = await runCli([
      'restore',
      input,
      '-o',
      path.join(work, 'out'),
      '--model',
      path.join(work, 'pipeline.json'),
      '--input-framing',
      'ffhq',
      '--steps',
      '10',
      '--seed',
      '1',
      '-q',
    ]);
    // Assess
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--input-framing.*tight.*invalid|Allowed choices are auto, ffhq, model/);
    expect(good.status).toBe(0);
    const meta = await sharp(path.join(work, 'out', 'face.png')).metadata();
    expect(meta.width).toBeGreaterThan(128);
  });
});
