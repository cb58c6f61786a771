/**
 * RetinaFace, the detector's fourth opinion (photo/retinaface.ts): the decoding the graph leaves
 * to TypeScript (anchors, box and landmark deltas), the vendored any-size graph on a real face at
 * two photo sizes, and the graph's contract.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import {
  FaceDetector,
  RETINAFACE_LANDMARK_STD,
  RetinaFaceModel,
  decodeRetinaFace,
  fullRangeModelPath,
  retinaFaceModelPath,
  retinaFaceNms,
} from '../../gpu-task/src/photo/index.js';
import { expectAsRecorded, setInGrey } from './helpers.js';

/** The full-range fixture photo: a face crop pasted as an 80 px square at (90, 40) on a grey 192 px photo. */
async function fixturePhoto() {
  const file = path.join(import.meta.dirname, '..', 'fixtures', 'full-range', 'photo.png');
  return (await decodeImageToRgb(await readFile(file))).image;
}

describe('the vendored RetinaFace graph', () => {
  it('is the file its source.json records', async () => {
    await expectAsRecorded(retinaFaceModelPath());
  });
});

describe('decodeRetinaFace', () => {
  it("reads the face channel of each anchor, its box and landmarks as deltas of the anchor's side", () => {
    // Prepare: stride 8, 2 x 3 cells. Anchor 1 (16 px) of the cell at row 1, column 2 (centre
    // 7.5 + 16, 7.5 + 8) is a face at 0.9; the cell at row 0, column 0 is sure of background
    // only (its background channel 0.99), which must not read as a face.
    const cells = 6;
    const probabilities = new Float32Array(4 * cells);
    probabilities[0 * cells + 0] = 0.99;
    probabilities[(2 + 1) * cells + 5] = 0.9;
    const boxes = new Float32Array(8 * cells);
    [0.5, -0.25, Math.log(2), 0].forEach((v, k) => (boxes[(4 + k) * cells + 5] = v));
    const landmarks = new Float32Array(20 * cells);
    const deltas = [-1, -1, 1, -1, 0, 0, -1, 1, 1, 1];
    deltas.forEach((v, k) => (landmarks[(10 + k) * cells + 5] = v));
    // Act
    const [face, ...others] = decodeRetinaFace(
      { stride: 8, rows: 2, columns: 3, probabilities, boxes, landmarks },
      0.5,
    );
    // Assess: centre (23.5 + 8, 15.5 - 4), 32 x 16; landmarks 0.2 x 16 = 3.2 px per delta
    expect(others).toEqual([]);
    expect(face!.score).toBeCloseTo(0.9, 6);
    [31.5 - 16, 11.5 - 8, 32, 16].forEach((v, i) => expect(face!.box[i]).toBeCloseTo(v, 6));
    const step = RETINAFACE_LANDMARK_STD * 16;
    face!.landmarks.forEach(([x, y], k) => {
      expect(x).toBeCloseTo(23.5 + deltas[2 * k]! * step, 6);
      expect(y).toBeCloseTo(15.5 + deltas[2 * k + 1]! * step, 6);
    });
    expect(face!.landmarks).toHaveLength(5);
  });

  it('keeps the better of two overlapping faces and both of two apart', () => {
    const face = (x: number, score: number) => ({
      box: [x, 0, 20, 20] as [number, number, number, number],
      score,
      landmarks: [],
    });
    expect(retinaFaceNms([face(0, 0.6), face(2, 0.9), face(40, 0.7)]).map((d) => d.score)).toEqual([
      0.9, 0.7,
    ]);
  });
});

describe('RetinaFaceModel', () => {
  let model: RetinaFaceModel;
  beforeAll(async () => {
    model = await RetinaFaceModel.load(undefined, 1);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it("finds the fixture face once, at any photo size, its eyes and nose where BlazeFace's are", async () => {
    // Prepare: the fixture photo (192 px, a multiple of 32), the same photo set at (37, 21) in a
    // 301 x 250 grey one (padded), and BlazeFace's landmarks of the fixture face
    const photo = await fixturePhoto();
    const larger = setInGrey(photo, 301, 250, 37, 21);
    const detector = await FaceDetector.load(undefined, 1);
    const [blazeFace] = await detector
      .detect(photo, { secondDetector: false })
      .finally(() => detector.dispose());
    expect(blazeFace).toBeDefined();
    const [left, right] = blazeFace!.keypoints;
    const eyes = Math.hypot(right![0] - left![0], right![1] - left![1]);
    for (const [image, dx, dy] of [
      [photo, 0, 0],
      [larger, 37, 21],
    ] as const) {
      // Act
      const faces = await model.detect(image, 0.5);
      // Assess: one face (0.91 here), on BlazeFace's; eyes and nose within 0.3 eye distances of
      // BlazeFace's (two detectors' own definitions of the points), the mouth corners either
      // side of BlazeFace's mouth centre, below the nose
      expect(faces).toHaveLength(1);
      expect(faces[0]!.score).toBeGreaterThan(0.8);
      const [x, y, w, h] = faces[0]!.box;
      const [bx, by, bw, bh] = blazeFace!.box;
      expect(Math.hypot(x + w / 2 - dx - (bx + bw / 2), y + h / 2 - dy - (by + bh / 2))).toBeLessThan(
        0.25 * bw,
      );
      for (const k of [0, 1, 2]) {
        const [px, py] = faces[0]!.landmarks[k]!;
        const [qx, qy] = blazeFace!.keypoints[k]!;
        expect(Math.hypot(px - dx - qx, py - dy - qy) / eyes, `landmark ${k}`).toBeLessThan(0.3);
      }
      const [mouthLeft, mouthRight] = faces[0]!.landmarks.slice(3);
      const mouth = blazeFace!.keypoints[3]!;
      expect(mouthLeft![0] - dx).toBeLessThan(mouth[0]);
      expect(mouthRight![0] - dx).toBeGreaterThan(mouth[0]);
      expect(mouthLeft![1]).toBeGreaterThan(faces[0]!.landmarks[2]![1]);
    }
  });

  it('finds nothing in a flat photo', async () => {
    const flat = { data: new Uint8Array(200 * 150 * 3).fill(128), width: 200, height: 150 };
    expect(await model.detect(flat, 0.5)).toEqual([]);
  });

  it('refuses a graph that is not RetinaFace', async () => {
    await expect(RetinaFaceModel.load(fullRangeModelPath(), 1)).rejects.toThrow(/not the RetinaFace graph/);
  });
});
