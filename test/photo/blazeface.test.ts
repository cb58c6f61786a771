/**
 * The batched BlazeFace graph against the vendored batch-1 graph it is derived from (models/
 * dr2e_models/batch_blazeface.py): the same raw outputs for every tile of a batch of different
 * tiles, and BlazeFaceModel.runBatch's per-tile detections equal to run's. Runs offline on the
 * repository's own samples/.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import {
  BLAZEFACE_INPUT,
  BlazeFaceModel,
  blazeFaceModelPath,
  decodeBlazeFace,
  FaceDetector,
  mirrorTile,
  type RawDetection,
  unmirror,
} from '../../gpu-task/src/photo/index.js';

/** Floats in one NHWC tile. */
const BLAZEFACE_TILE_LENGTH = BLAZEFACE_INPUT * BLAZEFACE_INPUT * 3;

const SAMPLES = ['sample-mild.jpg', 'sample-medium.jpg', 'sample-severe.jpg'].map((name) =>
  fileURLToPath(new URL(`../../samples/${name}`, import.meta.url)),
);

/** A sample face at `side` px, centred on a mid-grey 256 x 256 tile, as NHWC floats in [-1, 1]. */
async function faceTile(file: string, side: number, dx = 0): Promise<Float32Array> {
  const left = Math.round((BLAZEFACE_INPUT - side) / 2) + dx;
  const top = Math.round((BLAZEFACE_INPUT - side) / 2);
  const face = await sharp(await readFile(file))
    .resize(side, side)
    .removeAlpha()
    .toBuffer();
  const { data } = await sharp({
    create: { width: BLAZEFACE_INPUT, height: BLAZEFACE_INPUT, channels: 3, background: '#808080' },
  })
    .composite([{ input: face, left, top }])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Float32Array.from(data, (v) => v / 127.5 - 1);
}

/** Smooth pseudo-random colour blocks (not a face), in [-1, 1]. */
function blocksTile(seed: number): Float32Array {
  const tile = new Float32Array(BLAZEFACE_TILE_LENGTH);
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  };
  const colours = Array.from({ length: 16 * 16 * 3 }, next);
  for (let y = 0; y < BLAZEFACE_INPUT; y++) {
    for (let x = 0; x < BLAZEFACE_INPUT; x++) {
      for (let c = 0; c < 3; c++) {
        tile[(y * BLAZEFACE_INPUT + x) * 3 + c] = colours[((y >> 4) * 16 + (x >> 4)) * 3 + c]!;
      }
    }
  }
  return tile;
}

function concat(tiles: readonly Float32Array[]): Float32Array {
  const all = new Float32Array(tiles.length * BLAZEFACE_TILE_LENGTH);
  tiles.forEach((tile, i) => all.set(tile, i * BLAZEFACE_TILE_LENGTH));
  return all;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Detections as comparable numbers, in a fixed order. */
function flat(detections: readonly RawDetection[]): number[][] {
  return detections
    .map((d) => [...d.box, d.score, ...d.keypoints.flat()])
    .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
}

describe('batched BlazeFace graph', () => {
  let tiles: Float32Array[];
  let vendored: BlazeFaceModel;
  let batched: BlazeFaceModel;

  beforeAll(async () => {
    // Faces at sizes the detector finds, one shifted, a face too large to score well, and
    // non-faces: every tile's outputs differ.
    tiles = [
      await faceTile(SAMPLES[0]!, 48),
      await faceTile(SAMPLES[1]!, 32, 40),
      await faceTile(SAMPLES[2]!, 64),
      await faceTile(SAMPLES[0]!, 200),
      blocksTile(1),
      new Float32Array(BLAZEFACE_TILE_LENGTH),
    ];
    vendored = await BlazeFaceModel.load(blazeFaceModelPath('vendored'), 1);
    batched = await BlazeFaceModel.load(blazeFaceModelPath(), 1);
  });

  afterAll(async () => {
    await vendored?.dispose();
    await batched?.dispose();
  });

  it('gives every tile of a batch the raw outputs the vendored graph gives it alone', async () => {
    const options = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 as const };
    const one = await ort.InferenceSession.create(blazeFaceModelPath('vendored'), options);
    const many = await ort.InferenceSession.create(blazeFaceModelPath(), options);
    try {
      const shape = [tiles.length, BLAZEFACE_INPUT, BLAZEFACE_INPUT, 3];
      const outputs = await many.run({ 'input:0': new ort.Tensor('float32', concat(tiles), shape) });
      const sizes = {
        'Identity:0': 512,
        'Identity_1:0': 384,
        'Identity_2:0': 512 * 16,
        'Identity_3:0': 384 * 16,
      };
      for (const [index, tile] of tiles.entries()) {
        const single = await one.run({ 'input:0': new ort.Tensor('float32', tile, [1, ...shape.slice(1)]) });
        for (const [name, size] of Object.entries(sizes)) {
          const all = outputs[name]!.data as Float32Array;
          expect(all.length).toBe(tiles.length * size);
          const mine = all.subarray(index * size, (index + 1) * size);
          expect(
            maxDifference(mine, single[name]!.data as Float32Array),
            `tile ${index} ${name}`,
          ).toBeLessThan(1e-4);
        }
      }
      // The tiles really differ, so a batch that repeated or shuffled them would fail above.
      const scores = outputs['Identity:0']!.data as Float32Array;
      expect(maxDifference(scores.subarray(0, 512), scores.subarray(512, 1024))).toBeGreaterThan(1);
    } finally {
      await one.release();
      await many.release();
    }
  });

  it('finds in a batch, tile by tile and at each tile its threshold, what run finds', async () => {
    const thresholds = [0.5, 0.7, 0.3, 0.5, 0.3, 0.5];
    const results = await batched.runBatch(concat(tiles), thresholds);
    expect(results).toHaveLength(tiles.length);
    let faces = 0;
    for (const [index, tile] of tiles.entries()) {
      const alone = await vendored.run(tile, thresholds[index]!);
      expect(flat(results[index]!).length).toBe(alone.length);
      flat(results[index]!).forEach((values, k) =>
        values.forEach((v, j) => expect(v).toBeCloseTo(flat(alone)[k]![j]!, 3)),
      );
      faces += alone.length;
    }
    expect(faces).toBeGreaterThan(0);
    expect(results[0]!.length).toBeGreaterThan(0);
    expect(results[5]).toEqual([]);
  });

  it('takes fewer tiles than its buffer holds, and refuses a buffer too short or a batch the graph cannot take', async () => {
    const buffer = new Float32Array(8 * BLAZEFACE_TILE_LENGTH);
    buffer.set(tiles[0]!);
    buffer.set(tiles[2]!, BLAZEFACE_TILE_LENGTH);
    const [first, second] = await batched.runBatch(buffer, [0.5, 0.5]);
    expect(flat(first!)).toEqual(flat(await batched.run(tiles[0]!, 0.5)));
    expect(flat(second!)).toEqual(flat(await batched.run(tiles[2]!, 0.5)));
    expect(await batched.runBatch(buffer, [])).toEqual([]);
    await expect(batched.runBatch(tiles[0]!, [0.5, 0.5])).rejects.toThrow(/2 tiles need/);
    expect(vendored.maxBatch).toBe(1);
    expect(batched.maxBatch).toBe(Infinity);
    await expect(vendored.runBatch(buffer, [0.5, 0.5])).rejects.toThrow(/1 tile\(s\) per run/);
    expect(() => decodeBlazeFace({ 'Identity:0': { data: new Float32Array(512) } }, 0.5)).toThrow(/missing/);
    const other = fileURLToPath(new URL('../../gpu-task/models/tiny/enhancer.onnx', import.meta.url));
    await expect(BlazeFaceModel.load(other, 1)).rejects.toThrow(/not a BlazeFace graph/);
  });

  it('detects the same faces in a photo with either graph and any batch size', async () => {
    const { image } = await decodeImageToRgb(new Uint8Array(await readFile(SAMPLES[0]!)));
    const photo = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(160, 160)
      .extend({ top: 300, bottom: 200, left: 500, right: 340, background: '#6a7a5a' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const rgb = { data: new Uint8Array(photo.data), width: photo.info.width, height: photo.info.height };
    const one = await FaceDetector.load(blazeFaceModelPath('vendored'), 1);
    const many = await FaceDetector.load(undefined, 1);
    const three = await FaceDetector.load(undefined, 1, 3);
    try {
      const a = await one.detect(rgb, { smallestFace: 24 });
      expect(a.length).toBeGreaterThan(0);
      const boxes = (faces: typeof a): number[][] => faces.map((f) => f.box.map((v) => Math.round(v * 100)));
      expect(boxes(await many.detect(rgb, { smallestFace: 24 }))).toEqual(boxes(a));
      expect(boxes(await three.detect(rgb, { smallestFace: 24 }))).toEqual(boxes(a));
    } finally {
      await one.dispose();
      await many.dispose();
      await three.dispose();
    }
    await expect(FaceDetector.load(undefined, 1, 0)).rejects.toThrow(/batch must be/);
  });
});

describe('mirrored second looks (verify.ts)', () => {
  it('map a face seen in the mirrored view back onto the face seen in the view, eyes in order', async () => {
    // Prepare: a face right of the tile's centre, so that the mirror moves it.
    const model = await BlazeFaceModel.load(blazeFaceModelPath(), 1);
    try {
      const tile = await faceTile(SAMPLES[0]!, 40, 60);
      // Act
      const best = (ds: RawDetection[]): RawDetection => ds.reduce((a, b) => (b.score > a.score ? b : a));
      const plain = best(await model.run(tile, 0.5));
      const mirrored = best(await model.run(mirrorTile(tile), 0.5));
      const back = unmirror(mirrored);
      // Assess: the mirrored view's face lies on the left half; brought back, on the plain one.
      expect(mirrored.box[0] + mirrored.box[2] / 2).toBeLessThan(BLAZEFACE_INPUT / 2);
      back.box.forEach((v, i) => expect(Math.abs(v - plain.box[i]!)).toBeLessThan(3));
      for (const k of [0, 1, 2, 3, 4, 5]) {
        expect(
          Math.hypot(
            back.keypoints[k]![0] - plain.keypoints[k]![0],
            back.keypoints[k]![1] - plain.keypoints[k]![1],
          ),
        ).toBeLessThan(3);
      }
      expect(back.keypoints[0]![0]).toBeLessThan(back.keypoints[1]![0]);
      expect(back.keypoints[4]![0]).toBeLessThan(back.keypoints[5]![0]);
      expect(Array.from(mirrorTile(mirrorTile(tile)))).toEqual(Array.from(tile));
    } finally {
      await model.dispose();
    }
  });
});

describe('front-camera graph (second looks, verify.ts)', () => {
  it('reads its input side from the graph and finds a sample face filling part of its view', async () => {
    // Prepare: the mild sample at 48 px, centred on a mid-grey 128 x 128 tile.
    const model = await BlazeFaceModel.load(blazeFaceModelPath('front'), 1);
    try {
      const face = await sharp(await readFile(SAMPLES[0]!))
        .resize(48, 48)
        .removeAlpha()
        .toBuffer();
      const { data } = await sharp({
        create: { width: 128, height: 128, channels: 3, background: '#808080' },
      })
        .composite([{ input: face, left: 40, top: 40 }])
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      // Act
      const found = await model.run(
        Float32Array.from(data, (v) => v / 127.5 - 1),
        0.7,
      );
      // Assess: in the tile's own 128-px frame, on the face.
      expect(model.inputSize).toBe(128);
      expect(model.tileLength).toBe(128 * 128 * 3);
      expect(found.length).toBeGreaterThan(0);
      const [x, y, w, h] = found[0]!.box;
      expect(Math.abs(x + w / 2 - 64)).toBeLessThan(8);
      expect(Math.abs(y + h / 2 - 64)).toBeLessThan(12);
      expect(w).toBeGreaterThan(20);
      expect(w).toBeLessThan(60);
    } finally {
      await model.dispose();
    }
  });

  it('is refused as the photo detector, whose tiles are 256 px', async () => {
    await expect(FaceDetector.load(blazeFaceModelPath('front'), 1)).rejects.toThrow(
      /takes 128 px tiles; the photo detector needs the 256 px back-camera graph/,
    );
  });
});
