/**
 * FaceBoxes, the detector's second opinion (photo/faceboxes.ts): the anchors, box decoding and
 * input padding that the translated graph leaves to TypeScript, checked against the original
 * TF.js graph evaluated op by op (models/dr2e_models/faceboxes_fixture.py wrote what it makes
 * of the fixture photo), and the vendored graph's contract.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import {
  FaceBoxesModel,
  type FaceBox,
  faceBoxesAnchors,
  faceBoxesModelPath,
  faceBoxesNms,
} from '../../gpu-task/src/photo/index.js';
import { expectAsRecorded } from './helpers.js';

const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'faceboxes');

describe('the vendored FaceBoxes graph', () => {
  it('is the file its source.json records', async () => {
    await expectAsRecorded(faceBoxesModelPath());
  });
});

describe('faceBoxesAnchors', () => {
  it('lays out the graph anchors: densified copies, cells row by row, clipped to the input', () => {
    // Act: a 256 x 384 input, the fixture photo's padded size
    const anchors = faceBoxesAnchors(256, 384);
    const at = (k: number): number[] => Array.from(anchors.subarray(4 * k, 4 * k + 4));
    // Assess: 8 x 12 cells of 16 + 4 + 1 anchors, 4 x 6 cells of one, 2 x 3 cells of one
    expect(anchors.length / 4).toBe(8 * 12 * 21 + 4 * 6 + 2 * 3);
    // the 32 px anchor's 4 x 4 copies in the first cell, centred 8 px apart from (4, 4), x outer
    // and y inner; the first reaches 12 px past the corner and is clipped to 20 x 20
    expect(at(0)).toEqual([10, 10, 20, 20]);
    expect(at(1)).toEqual([14, 10, 28, 20]);
    expect(at(4)).toEqual([10, 14, 20, 28]);
    expect(at(5)).toEqual([14, 14, 28, 28]);
    // the 64 px anchor's first copy, centred on the corner, clipped to 32 x 32
    expect(at(16)).toEqual([16, 16, 32, 32]);
    // the 128 px anchor of the third row's seventh cell lies whole in the input
    expect(at(21 * 12 * 2 + 21 * 6 + 20)).toEqual([80, 208, 128, 128]);
    // the 512 px anchor of the last cell (centre 192, 320), clipped to the input
    expect(at(anchors.length / 4 - 1)).toEqual([(0 + 256) / 2, (64 + 384) / 2, 256, 320]);
  });
});

describe('FaceBoxesModel', () => {
  let model: FaceBoxesModel;
  beforeAll(async () => {
    model = await FaceBoxesModel.load(undefined, 1);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('decodes every anchor as the original graph does', async () => {
    // Prepare: the fixture photo (320 x 200, padded to 384 x 256) and the TF.js graph's boxes
    const photo = (await decodeImageToRgb(await readFile(path.join(FIXTURE, 'photo.png')))).image;
    const expected = JSON.parse(await readFile(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
      floor: number;
      detections: FaceBox[];
    };
    // Act
    const decoded = await model.anchorBoxes(photo, expected.floor);
    // Assess: the same anchors over the floor, each box within 0.01 px and its score within 1e-3.
    // Not compared: an anchor at the floor (it may fall either side of it), and the boxes the
    // graph keeps in its padding, clipped to nothing (decodeFaceBoxes drops them)
    const nearFloor = (d: FaceBox): boolean => Math.abs(d.score - expected.floor) < 1e-3;
    const wanted = expected.detections.filter((d) => !nearFloor(d) && d.box[2] > 0 && d.box[3] > 0);
    expect(wanted.length).toBeGreaterThan(100);
    expect(decoded.filter((d) => !nearFloor(d))).toHaveLength(wanted.length);
    for (const want of wanted) {
      const got = decoded.find((d) => want.box.every((v, i) => Math.abs(v - d.box[i]!) < 0.01));
      expect(got, `box ${want.box.join(', ')}`).toBeDefined();
      expect(Math.abs(got!.score - want.score)).toBeLessThan(1e-3);
    }
  });

  it('finds the face of the fixture photo once, where it was pasted', async () => {
    // Prepare: an aligned face crop (the face about half its side) pasted as a 150 px square at (130, 30)
    const photo = (await decodeImageToRgb(await readFile(path.join(FIXTURE, 'photo.png')))).image;
    // Act
    const faces = await model.detect(photo, 0.5);
    // Assess: one box, centred in the crop, about half its side
    expect(faces).toHaveLength(1);
    const [x, y, w, h] = faces[0]!.box;
    expect(Math.hypot(x + w / 2 - 205, y + h / 2 - 110)).toBeLessThan(15);
    expect(Math.sqrt(w * h) / 150).toBeGreaterThan(0.4);
    expect(Math.sqrt(w * h) / 150).toBeLessThan(0.7);
  });

  it('finds nothing in a flat photo', async () => {
    const flat = { data: new Uint8Array(200 * 150 * 3).fill(128), width: 200, height: 150 };
    expect(await model.detect(flat, 0.5)).toEqual([]);
  });

  it('refuses a graph that is not FaceBoxes', async () => {
    const blazeFace = path.join(
      import.meta.dirname,
      '..',
      '..',
      'gpu-task',
      'models',
      'blazeface',
      'face_detection_front_128x128_barracuda.onnx',
    );
    await expect(FaceBoxesModel.load(blazeFace, 1)).rejects.toThrow(/not the FaceBoxes graph/);
  });
});

describe('faceBoxesNms', () => {
  it('keeps the best of overlapping boxes and boxes apart', () => {
    const kept = faceBoxesNms([
      { box: [0, 0, 10, 10], score: 0.6 },
      { box: [1, 1, 10, 10], score: 0.9 },
      { box: [30, 30, 10, 10], score: 0.7 },
    ]);
    expect(kept).toEqual([
      { box: [1, 1, 10, 10], score: 0.9 },
      { box: [30, 30, 10, 10], score: 0.7 },
    ]);
  });
});
