/**
 * MediaPipe's full-range face detector, the detector's third opinion (photo/full-range.ts): the
 * anchors and decoding that the translated graph leaves to TypeScript, checked against the
 * original TF.js graph evaluated op by op (models/dr2e_models/full_range_fixture.py wrote what it
 * makes of the fixture photo), the any-size graph on photos that are not 192 px, and the vendored
 * graph's contract.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import {
  FullRangeModel,
  type RawDetection,
  decodeFullRange,
  fullRangeModelPath,
} from '../../gpu-task/src/photo/index.js';
import { expectAsRecorded, setInGrey } from './helpers.js';

const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'full-range');

/** The fixture photo: a face crop pasted as an 80 px square at (90, 40) on a grey 192 px photo. */
async function fixturePhoto() {
  return (await decodeImageToRgb(await readFile(path.join(FIXTURE, 'photo.png')))).image;
}

describe('the vendored full-range graph', () => {
  it('is the file its source.json records', async () => {
    await expectAsRecorded(fullRangeModelPath());
  });
});

describe('decodeFullRange', () => {
  it('reads each cell as offsets from its centre, in input pixels', () => {
    // Prepare: a 2 x 3 grid; only the cell of row 1, column 2 (centre 10, 6) scores over 0.5
    const scores = new Float32Array([-5, -5, -5, -5, -5, 2]);
    const boxes = new Float32Array(6 * 16);
    boxes.set([1, -2, 8, 6, -3, -1, 3, -1, 0, 1, 0, 3, -5, 0, 5, 0], 5 * 16);
    // Act
    const [face, ...others] = decodeFullRange(scores, boxes, 2, 3, 0.5);
    // Assess
    expect(others).toEqual([]);
    expect(face!.box).toEqual([11 - 4, 4 - 3, 8, 6]);
    expect(face!.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(face!.keypoints).toEqual([
      [7, 5],
      [13, 5],
      [10, 7],
      [10, 9],
      [5, 6],
      [15, 6],
    ]);
  });
});

describe('FullRangeModel', () => {
  let model: FullRangeModel;
  beforeAll(async () => {
    model = await FullRangeModel.load(undefined, 1);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('decodes every anchor as the original graph does', async () => {
    // Prepare: the fixture photo (192 px, the graph's own size) and the TF.js graph's anchors
    const expected = JSON.parse(await readFile(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
      floor: number;
      detections: RawDetection[];
    };
    // Act
    const decoded = await model.cellDetections(await fixturePhoto(), expected.floor);
    // Assess: the same anchors over the floor, boxes and keypoints within 0.01 px, scores within
    // 1e-3 (an anchor at the floor may fall either side of it: not compared)
    const nearFloor = (d: RawDetection): boolean => Math.abs(d.score - expected.floor) < 1e-3;
    const wanted = expected.detections.filter((d) => !nearFloor(d));
    expect(wanted.length).toBeGreaterThan(40);
    expect(decoded.filter((d) => !nearFloor(d))).toHaveLength(wanted.length);
    for (const want of wanted) {
      const got = decoded.find((d) => want.box.every((v, i) => Math.abs(v - d.box[i]!) < 0.01));
      expect(got, `box ${want.box.join(', ')}`).toBeDefined();
      expect(Math.abs(got!.score - want.score)).toBeLessThan(1e-3);
      got!.keypoints.forEach(([x, y], k) => {
        expect(Math.hypot(x - want.keypoints[k]![0], y - want.keypoints[k]![1])).toBeLessThan(0.01);
      });
    }
  });

  it('finds the fixture face once, eyes above the mouth, on a photo of any size', async () => {
    // Prepare: the fixture photo, and the same photo set at (37, 21) in a 301 x 250 grey one
    // (its sides not multiples of 32: padded)
    const photo = await fixturePhoto();
    const larger = setInGrey(photo, 301, 250, 37, 21);
    for (const [image, dx, dy] of [
      [photo, 0, 0],
      [larger, 37, 21],
    ] as const) {
      // Act
      const faces = await model.detect(image, 0.5);
      // Assess: one face, centred in the pasted crop's face (the crop's centre, a little lower),
      // half the crop's side; the eyes level, left before right, above the nose and mouth
      expect(faces).toHaveLength(1);
      const [x, y, w, h] = faces[0]!.box;
      expect(Math.hypot(x + w / 2 - (130 + dx), y + h / 2 - (85 + dy))).toBeLessThan(6);
      expect(w / 80).toBeGreaterThan(0.4);
      expect(w / 80).toBeLessThan(0.65);
      const [left, right, nose, mouth] = faces[0]!.keypoints;
      expect(right![0] - left![0]).toBeGreaterThan(10);
      expect(Math.abs(right![1] - left![1])).toBeLessThan(3);
      expect(nose![1]).toBeGreaterThan(left![1]);
      expect(mouth![1]).toBeGreaterThan(nose![1]);
    }
  });

  it('finds nothing in a flat photo', async () => {
    const flat = { data: new Uint8Array(200 * 150 * 3).fill(128), width: 200, height: 150 };
    expect(await model.detect(flat, 0.5)).toEqual([]);
  });

  it('refuses a graph that is not the full-range detector', async () => {
    const faceBoxes = path.join(
      import.meta.dirname,
      '..',
      '..',
      'gpu-task',
      'models',
      'faceboxes',
      'faceboxes.onnx',
    );
    await expect(FullRangeModel.load(faceBoxes, 1)).rejects.toThrow(/not the full-range face graph/);
  });
});
