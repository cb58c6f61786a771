/**
 * Upside-down faces (photo/orientation.ts): the detector fires weakly on a face turned by 180
 * degrees and places its keypoints as if it were upright; such a face is recognised by a second
 * look at its view turned, and reported with its own keypoints, so it is aligned upright. Faces
 * that are upright stay as detected. The photo tests need ../shared.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RgbImage, decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import {
  type BlazeFaceModel,
  FaceDetector,
  type DetectedFace,
  type RawDetection,
  turnTile,
  unturn,
  uprightFace,
} from '../../gpu-task/src/photo/index.js';
import { wholePhotosDir } from './helpers.js';

const PHOTO = path.join(wholePhotosDir, 'Blake_Lively.jpg');
const photoPresent = existsSync(PHOTO);

/** Which way the face's mouth lies from its eyes' midpoint: +1 below (image y grows), -1 above. */
function mouthSide(face: DetectedFace): number {
  const [left, right, , mouth] = face.keypoints;
  return Math.sign(mouth![1] - (left![1] + right![1]) / 2);
}

/** A detection's eyes and mouth turned by 180 degrees in a `width` x `height` photo. */
function turned(face: DetectedFace, width: number, height: number): [number, number][] {
  return [0, 1, 3].map((k) => [width - face.keypoints[k]![0], height - face.keypoints[k]![1]]);
}

describe('turning a view', () => {
  it('turns a tile by 180 degrees and a detection on it back', () => {
    // Prepare: a 4 px tile whose pixels count up
    const tile = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => i);
    // Act
    const once = turnTile(tile, 4);
    const back = unturn(
      {
        box: [0, 1, 2, 2],
        score: 0.9,
        keypoints: [
          [1, 1],
          [3, 1],
        ],
      },
      4,
    );
    // Assess
    expect([...once.subarray(0, 3)]).toEqual([45, 46, 47]);
    expect([...turnTile(once, 4)]).toEqual([...tile]);
    expect(back).toEqual({
      box: [2, 1, 2, 2],
      score: 0.9,
      keypoints: [
        [3, 3],
        [1, 3],
      ],
    });
  });
});

/**
 * A graph that answers each run with a face filling the middle of its view, at the scores given
 * in turn (null: nothing found), and counts its runs.
 */
function scriptedGraph(inputSize: number, scores: (number | null)[]): BlazeFaceModel & { runs: number } {
  const graph = {
    inputSize,
    runs: 0,
    async run(): Promise<RawDetection[]> {
      const score = scores[graph.runs++];
      if (score === null || score === undefined) return [];
      const side = inputSize / 3;
      const at = (inputSize - side) / 2;
      return [
        {
          box: [at, at, side, side],
          score,
          keypoints: [
            [at, at],
            [at + side, at],
            [0, 0],
            [0, 0],
          ],
        },
      ];
    },
  };
  return graph as unknown as BlazeFaceModel & { runs: number };
}

describe('deciding that a face is upside down', () => {
  const photo: RgbImage = { data: new Uint8Array(300 * 300 * 3).fill(128), width: 300, height: 300 };
  const face: RawDetection = {
    box: [100, 100, 90, 90],
    score: 0.6,
    keypoints: [
      [120, 130],
      [170, 130],
      [145, 150],
      [145, 170],
    ],
  };

  // The front graph looks at 32 px, then at 48 px (as it is, then turned, each time): a margin at
  // either size sends the face on to the back graph; the strong rule takes the mean of the two.
  it.each([
    ['both graphs favour the turned view by 0.1', [0.5, 0.65, 0.5, 0.65], [0.6, 0.72], true],
    [
      'the front graph by 0.2 or more and the back graph at least as much',
      [0.5, 0.75, 0.5, 0.75],
      [0.7, 0.72],
      true,
    ],
    ['the front graph by 0.15 only, the back graph by 0.02', [0.5, 0.65, 0.5, 0.65], [0.7, 0.72], false],
    ['the front graph by 0.3, the back graph less', [0.5, 0.8, 0.5, 0.8], [0.75, 0.7], false],
    // a small face: the front graph sure at 32 px only, the back graph sure
    [
      'the front graph by 0.17 at 32 px and 0.08 at 48, the back graph by 0.75',
      [0.78, 0.95, 0.62, 0.7],
      [null, 0.75],
      true,
    ],
    // either size sends the face on to the back graph, which decides
    [
      'the front graph by 0.15 at 48 px, against it at 32, the back graph sure',
      [0.8, 0.5, 0.5, 0.65],
      [null, 0.9],
      true,
    ],
    [
      'the front graph by 0.25 at 32 px, against it at 48, the back graph sure',
      [0.5, 0.75, 0.7, 0.5],
      [null, 0.9],
      true,
    ],
    [
      'the front graph by under 0.1 at both sizes, the back graph sure',
      [0.5, 0.58, 0.5, 0.55],
      [null, 0.9],
      false,
    ],
    // the strong rule takes the mean: 0.25 at one size and 0.05 at the other is 0.15
    [
      'the front graph by 0.25 at 32 px and 0.05 at 48, the back graph by 0.02',
      [0.5, 0.75, 0.5, 0.55],
      [0.7, 0.72],
      false,
    ],
    // front sizes that disagree (a mean margin of 0 or less) call a face upside down only where
    // the back graph is sure of the turned view (SURE_TURNED_SCORE): a severe upright face of
    // train/ read +0.11 at 32 px and -0.23 at 48, and the back graph saw it only turned, at 0.42
    [
      'the front graph by 0.11 at 32 px, against it by 0.23 at 48, the back graph sees it only turned, faintly',
      [0.5, 0.61, 0.73, 0.5],
      [null, 0.42],
      false,
    ],
    [
      'the front graph by 0.12 at 32 px and 0.02 at 48, the back graph sees it only turned, faintly',
      [0.5, 0.62, 0.5, 0.52],
      [null, 0.42],
      true,
    ],
    // a size that sees the face only turned counts its turned score in full
    [
      'the front graph sees it only turned at 32 px (0.3) and by 0.02 at 48',
      [null, 0.3, 0.6, 0.62],
      [0.6, 0.72],
      true,
    ],
  ] as const)(
    'when %s (front %j, back %j): turned %s',
    async (_label, frontScores, [backUp, backTurned], turned) => {
      // Prepare
      const front = scriptedGraph(128, [...frontScores]);
      const back = scriptedGraph(256, [backUp, backTurned]);
      // Act
      const result = await uprightFace(back, front, photo, face);
      // Assess: a turned face carries the back graph's turned detection (its keypoints turned back)
      expect(result !== face).toBe(turned);
      if (turned) expect(result.score).toBe(Math.max(face.score, backTurned));
    },
  );

  it('asks the back graph nothing when the front graph sees no turn, and no graph for a confident face', async () => {
    const front = scriptedGraph(128, [0.7, 0.6, 0.7, 0.6]);
    const back = scriptedGraph(256, []);
    expect(await uprightFace(back, front, photo, face)).toBe(face);
    expect([front.runs, back.runs]).toEqual([4, 0]);
    const confident = { ...face, score: 0.95 };
    expect(await uprightFace(back, front, photo, confident)).toBe(confident);
    expect(front.runs).toBe(4);
  });
});

describe.skipIf(!photoPresent)('upside-down faces in a photo (needs ../shared)', () => {
  let detector: FaceDetector;
  let upright: RgbImage;
  let upsideDown: RgbImage;
  beforeAll(async () => {
    detector = await FaceDetector.load();
    const bytes = await readFile(PHOTO);
    upright = (await decodeImageToRgb(new Uint8Array(bytes))).image;
    const turnedBytes = await sharp(bytes).rotate(180).jpeg({ quality: 92 }).toBuffer();
    upsideDown = (await decodeImageToRgb(new Uint8Array(turnedBytes))).image;
  });
  afterAll(async () => {
    await detector?.dispose();
  });

  it('reports the faces of a photo turned by 180 degrees where they are: eyes and mouth as upright, turned', async () => {
    // Act
    const reference = await detector.detect(upright);
    const found = await detector.detect(upsideDown);
    // Assess: the same two faces, mouths above their eyes, each keypoint within a quarter of the
    // eye distance of the upright photo's, turned.
    expect(reference.map(mouthSide)).toEqual([1, 1]);
    expect(found.map(mouthSide)).toEqual([-1, -1]);
    for (const face of found) {
      const centre = [face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2];
      const match = reference.reduce((a, b) => {
        const d = (f: DetectedFace) =>
          Math.hypot(
            upright.width - (f.box[0] + f.box[2] / 2) - centre[0]!,
            upright.height - (f.box[1] + f.box[3] / 2) - centre[1]!,
          );
        return d(a) <= d(b) ? a : b;
      });
      const expected = turned(match, upright.width, upright.height);
      const eyes = Math.hypot(expected[1]![0] - expected[0]![0], expected[1]![1] - expected[0]![1]);
      [0, 1, 3].forEach((k, i) => {
        const [x, y] = face.keypoints[k]!;
        expect(Math.hypot(x - expected[i]![0], y - expected[i]![1]), `keypoint ${k}`).toBeLessThan(
          0.25 * eyes,
        );
      });
    }
  });
});
