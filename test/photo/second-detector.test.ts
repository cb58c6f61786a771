/**
 * The detector's second opinion (photo/second-detector.ts): FaceBoxes proposes faces the
 * BlazeFace pyramid and cascade missed; a proposal becomes a face when BlazeFace's second looks
 * agree or FaceBoxes is sure, never near the photo's edge; the full-range graph and RetinaFace,
 * the third and fourth opinions, add the faces they are sure of where none was found. The
 * photo tests need ../shared.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import { buildRealScene, degradationSplit, loadRealPhotos } from '../../gpu-task/src/eval/index.js';
import {
  type DetectedFace,
  FACEBOXES_ENLARGEMENTS,
  FACEBOXES_LAYOUT,
  FACEBOXES_MAX_PHOTO_SIDE,
  FACEBOXES_ONLY_SCORE,
  FACEBOXES_SIDE,
  FACEBOXES_SURE,
  type FaceBox,
  FULL_RANGE_MAX_PHOTO_SIDE,
  FULL_RANGE_SCALE,
  FULL_RANGE_SURE,
  FaceBoxesModel,
  FaceDetector,
  type RawDetection,
  faceBoxesProposals,
  faceBoxesScales,
  fullRangeFaces,
  fullRangeProposals,
  inHairOf,
  nearPhotoEdge,
  plausibleLandmarks,
  proposalAsDetection,
  RETINAFACE_AGREED,
  RETINAFACE_SMALLEST_BOX,
  RETINAFACE_SURE,
  RetinaFaceModel,
  type RetinaFaceProposal,
  retinaFaceAsDetection,
  retinaFaceFaces,
  retinaFaceProposals,
  retinaFaceScales,
  retinaFaceSmallest,
  smoothedCopy,
  UNSEEN_FACE_MAX_SCORE,
  UNSEEN_FACE_MIN_SIDE,
  faceOverFaces,
  withLandmarksSeen,
  withSmoothedProposals,
} from '../../gpu-task/src/photo/index.js';
import {
  degradedWholePhoto,
  expectFoundOnlyWith,
  harshlyDegradedPhoto,
  recallScene,
  utkPresent,
  utkTar,
  wholePhotosDir,
} from './helpers.js';

describe('faceBoxesScales', () => {
  it('shows a small photo as it is and enlarged, a larger one reduced, a huge one not at all', () => {
    // a 240-px photo as it is, twice and four times as large
    expect(faceBoxesScales(240, 180)).toEqual([1, 2, 4]);
    // a 400-px photo as it is, twice as large and enlarged to FACEBOXES_SIDE
    expect(faceBoxesScales(400, 300)).toEqual([1, 2, FACEBOXES_SIDE / 400]);
    // a 600-px photo: enlarged to FACEBOXES_SIDE is only 7 % more than twice
    expect(faceBoxesScales(600, 450)).toEqual([1, 2]);
    // a 1000-px photo as it is and enlarged to FACEBOXES_SIDE
    expect(faceBoxesScales(1000, 750)).toEqual([1, FACEBOXES_SIDE / 1000]);
    // a 1200-px photo: enlarging by 7 % would find nothing new
    expect(faceBoxesScales(1200, 900)).toEqual([1]);
    // a 2000-px photo reduced to FACEBOXES_SIDE
    expect(faceBoxesScales(1500, 2000)).toEqual([FACEBOXES_SIDE / 2000]);
    // a 12 MP photo: its faces small enough for FaceBoxes to help are too small for it reduced
    expect(faceBoxesScales(4000, 3000)).toEqual([]);
    expect(faceBoxesScales(FACEBOXES_MAX_PHOTO_SIDE + 1, 10)).toEqual([]);
  });
});

describe('faceBoxesProposals', () => {
  it("shows FaceBoxes a small photo at every scale and keeps the best view's box in the photo's pixels", async () => {
    // Prepare: a 240 x 180 photo and a stub model that reports the size it was shown and finds
    // the photo's 40 px face at (100, 80) in each view, in the view's pixels: scoring 0.55 as
    // it is, 0.6 twice as large and 0.85 four times as large (as a degraded 20 px face can)
    const shown: string[] = [];
    const scores: Record<number, number> = { 1: 0.55, 2: 0.6, 4: 0.85 };
    const model = {
      detect: async (image: { width: number; height: number }): Promise<FaceBox[]> => {
        shown.push(`${image.width}x${image.height}`);
        const k = image.width / 240;
        return [{ box: [100 * k, 80 * k, 40 * k, 40 * k], score: scores[k]! }];
      },
    };
    const photo = { data: new Uint8Array(240 * 180 * 3).fill(100), width: 240, height: 180 };
    // Act
    const proposals = await faceBoxesProposals(model, photo);
    // Assess: the three views, one proposal (the views' boxes are one face), the x4 view's
    expect(FACEBOXES_ENLARGEMENTS).toEqual([2, 4]);
    expect(shown).toEqual(['240x180', '480x360', '960x720']);
    expect(proposals).toEqual([{ box: [100, 80, 40, 40], score: 0.85 }]);
  });
});

describe('nearPhotoEdge', () => {
  it('tells a box within a tenth of its side from an edge', () => {
    expect(nearPhotoEdge([50, 50, 100, 100], 400, 300)).toBe(false);
    expect(nearPhotoEdge([9, 50, 100, 100], 400, 300)).toBe(true);
    expect(nearPhotoEdge([50, 50, 100, 100], 400, 159)).toBe(true);
    expect(nearPhotoEdge([50, 50, 100, 100], 400, 160)).toBe(false);
    expect(nearPhotoEdge([290, 50, 100, 100], 400, 300)).toBe(false);
    expect(nearPhotoEdge([291, 50, 100, 100], 400, 300)).toBe(true);
  });
});

describe('proposalAsDetection', () => {
  it("lays out an upright face's box and keypoints in the proposal's box", () => {
    // Act: a 100 x 120 box at (200, 100)
    const d = proposalAsDetection({ box: [200, 100, 100, 120], score: 0.93 });
    // Assess: scored under every BlazeFace face, the keypoints at FACEBOXES_LAYOUT's fractions of the box
    expect(d.score).toBe(FACEBOXES_ONLY_SCORE);
    expect(d.keypoints).toHaveLength(6);
    FACEBOXES_LAYOUT.keypoints.forEach(([u, v], k) => {
      expect(d.keypoints[k]![0]).toBeCloseTo(200 + 100 * u, 9);
      expect(d.keypoints[k]![1]).toBeCloseTo(100 + 120 * v, 9);
    });
    // eyes level, left of right, above the nose, above the mouth
    const [left, right, nose, mouth] = d.keypoints;
    expect(left![1]).toBe(right![1]);
    expect(left![0]).toBeLessThan(right![0]);
    expect(nose![1]).toBeGreaterThan(left![1]);
    expect(mouth![1]).toBeGreaterThan(nose![1]);
    // the box centred as FACEBOXES_LAYOUT says
    const [cx, cy] = FACEBOXES_LAYOUT.box;
    expect(d.box[0] + d.box[2] / 2).toBeCloseTo(200 + 100 * cx, 9);
    expect(d.box[1] + d.box[3] / 2).toBeCloseTo(100 + 120 * cy, 9);
  });
});

describe('withSmoothedProposals', () => {
  const face = (x: number, score: number): FaceBox => ({ box: [x, 100, 40, 40], score });
  it("adds the smoothed copy's proposals where the photo has none, best first", () => {
    // Act
    const merged = withSmoothedProposals([face(0, 0.9)], [face(200, 0.6), face(2, 0.95)]);
    // Assess: the face at 200 is new; the one at 2 is the photo's face at 0 again
    expect(merged).toEqual([face(0, 0.9), face(200, 0.6)]);
  });
  it('adds an overlapping one only where FaceBoxes is sure of it in the smoothed copy alone', () => {
    // sure only when smoothed: both, the sure one first (the photo's own is the fallback)
    expect(withSmoothedProposals([face(0, 0.54)], [face(3, FACEBOXES_SURE)])).toEqual([
      face(3, FACEBOXES_SURE),
      face(0, 0.54),
    ]);
    // not sure, though higher than the photo's own: the photo's own only
    expect(withSmoothedProposals([face(0, 0.54)], [face(3, 0.79)])).toEqual([face(0, 0.54)]);
    // sure in both: the photo's own only
    expect(withSmoothedProposals([face(0, 0.85)], [face(3, 0.97)])).toEqual([face(0, 0.85)]);
    // a box overlapping by 0.3 of the smaller one or less is another face
    expect(withSmoothedProposals([face(0, 0.85)], [face(28, 0.6)])).toEqual([face(0, 0.85), face(28, 0.6)]);
    expect(withSmoothedProposals([face(0, 0.85)], [face(27, 0.6)])).toEqual([face(0, 0.85)]);
  });
});

/** A full-range detection centred at (cx, cy), `side` px, upright frontal keypoints. */
function frontal(cx: number, cy: number, side: number, score: number): RawDetection {
  const s = side;
  return {
    box: [cx - s / 2, cy - s / 2, s, s],
    score,
    keypoints: [
      [cx - 0.2 * s, cy - 0.15 * s],
      [cx + 0.2 * s, cy - 0.15 * s],
      [cx, cy + 0.05 * s],
      [cx, cy + 0.25 * s],
      [cx - 0.45 * s, cy - 0.05 * s],
      [cx + 0.45 * s, cy - 0.05 * s],
    ],
  };
}

describe('fullRangeProposals', () => {
  it("shows the graph the photo and the smoothed copy at half size and maps its faces back to the photo's pixels", async () => {
    // Prepare: a 401 x 301 photo (halved to 201 x 151: not exactly 2) and a stub graph that
    // reports what it was shown and finds one face in each view, given in the view's pixels: the
    // photo's 40 px face at (100, 80) scoring 0.6, the smoothed copy's 4 px further right at 0.9
    const shown: string[] = [];
    const model = {
      detect: async (image: { data: Uint8Array; width: number; height: number }) => {
        shown.push(`${image.data[0]} ${image.width}x${image.height}`);
        const smoothedView = image.data[0] === 200;
        const kx = image.width / 401;
        const ky = image.height / 301;
        const face = frontal(smoothedView ? 104 : 100, 80, 40, smoothedView ? 0.9 : 0.6);
        return [
          {
            box: [face.box[0] * kx, face.box[1] * ky, face.box[2] * kx, face.box[3] * ky],
            score: face.score,
            keypoints: face.keypoints.map(([x, y]): [number, number] => [x * kx, y * ky]),
          } satisfies RawDetection,
        ];
      },
    };
    const photo = { data: new Uint8Array(401 * 301 * 3).fill(100), width: 401, height: 301 };
    const smoothed = { data: new Uint8Array(401 * 301 * 3).fill(200), width: 401, height: 301 };
    // Act
    const faces = await fullRangeProposals(model, photo, smoothed);
    // Assess: both views at half size, merged into one face in photo pixels, its box and
    // keypoints the score-weighted mean (0.6 at x 100, 0.9 at x 104: 102.4), the best score
    expect(FULL_RANGE_SCALE).toBe(0.5);
    expect(shown).toEqual(['100 201x151', '200 201x151']);
    expect(faces).toHaveLength(1);
    const rounded = (values: readonly number[]): number[] => values.map((v) => Math.round(v * 1000) / 1000);
    expect(rounded(faces[0]!.box)).toEqual([82.4, 60, 40, 40]);
    expect(faces[0]!.score).toBe(0.9);
    expect(rounded(faces[0]!.keypoints[0]!)).toEqual([94.4, 74]);
    // without a smoothed copy, the photo alone; a photo over FULL_RANGE_MAX_PHOTO_SIDE, not shown at all
    shown.length = 0;
    await fullRangeProposals(model, photo, null);
    expect(shown).toEqual(['100 201x151']);
    shown.length = 0;
    const edge = FULL_RANGE_MAX_PHOTO_SIDE;
    await fullRangeProposals(
      model,
      { data: new Uint8Array(edge * 3).fill(100), width: edge, height: 1 },
      null,
    );
    expect(shown).toHaveLength(1);
    shown.length = 0;
    const large = { data: new Uint8Array(3), width: 1, height: edge + 1 };
    expect(await fullRangeProposals(model, large, null)).toEqual([]);
    expect(shown).toEqual([]);
  });
});

describe('withLandmarksSeen', () => {
  it("gives a face only FaceBoxes vouches for another detector's box and landmarks where it saw the same face", () => {
    // Prepare: FaceBoxes' 40 px face at (100, 100), landmarks laid out in its box
    const face = proposalAsDetection({ box: [80, 80, 40, 40], score: 0.85 });
    const upsideDown = frontal(102, 100, 38, 0.95);
    upsideDown.keypoints = upsideDown.keypoints.map(([x, y]): [number, number] => [x, 200 - y]);
    const beside = frontal(135, 100, 40, 0.9); // covers under half of the smaller box
    const larger = frontal(100, 100, 70, 0.9); // holds the face, but of another size
    const same = frontal(103, 98, 36, 0.7);
    // Act and assess: the best proposal on the same face with a face's landmarks; the face's score
    expect(withLandmarksSeen(face, [upsideDown, beside, larger, same])).toEqual({
      box: same.box,
      score: FACEBOXES_ONLY_SCORE,
      keypoints: same.keypoints,
    });
    // over half of the smaller box, not less: of two 34 px proposals beside each other, the one
    // covering 0.6 of its box, not the better one covering 0.4
    const covering = (share: number, score: number): RawDetection =>
      frontal(120.96 + 17 - 34 * share, 102.32, 34, score);
    expect(withLandmarksSeen(face, [covering(0.4, 0.95), covering(0.6, 0.8)]).box).toEqual(
      covering(0.6, 0.8).box,
    );
    // none such: the face as it was
    expect(withLandmarksSeen(face, [upsideDown, beside, larger])).toBe(face);
    expect(withLandmarksSeen(face, [])).toBe(face);
  });
});

/** The default model's face template (what dr2e eval-photos frames real photos' faces with), loaded once. */
let template: Promise<Dr2eEngine['faceTemplate']> | undefined;
function modelTemplate(): Promise<Dr2eEngine['faceTemplate']> {
  template ??= Dr2eEngine.load({}).then(async (engine) => {
    const faceTemplate = engine.faceTemplate;
    await engine.dispose();
    return faceTemplate;
  });
  return template;
}

/** A RetinaFace proposal that no other view saw. */
const seenOnce = (face: RawDetection): RetinaFaceProposal => ({ ...face, otherViewScore: 0 });

describe.each([
  { name: 'fullRangeFaces', addFaces: fullRangeFaces, sure: FULL_RANGE_SURE },
  {
    name: 'retinaFaceFaces',
    addFaces: (
      proposals: readonly RawDetection[],
      found: readonly RawDetection[],
      width: number,
      height: number,
      smallest: number,
    ) => retinaFaceFaces(proposals.map(seenOnce), found, width, height, smallest),
    sure: RETINAFACE_SURE,
  },
])('$name', ({ addFaces, sure }) => {
  it('adds the faces it is sure of, where none was found, with their own landmarks', () => {
    const found = [frontal(100, 100, 40, 0.9)];
    const proposals = [
      frontal(300, 100, 40, (sure + 1) / 2), // a face where none is: added
      frontal(104, 102, 36, 0.999), // the face found already
      frontal(200, 200, 30, sure), // at the threshold: added
      frontal(300, 240, 40, sure - 0.01), // not sure enough
    ];
    // Act
    const added = addFaces(proposals, found, 400, 300, 19.2);
    // Assess: scored as FaceBoxes' own faces, after BlazeFace's
    expect(added).toEqual([
      { ...proposals[0]!, score: FACEBOXES_ONLY_SCORE },
      { ...proposals[2]!, score: FACEBOXES_ONLY_SCORE },
    ]);
  });

  it('leaves out a face with landmarks no face has, one at the edge, one too small, and a second on the same face', () => {
    const upsideDown = frontal(200, 150, 40, 0.99);
    upsideDown.keypoints = upsideDown.keypoints.map(([x, y]): [number, number] => [x, 300 - y]);
    const proposals = [
      upsideDown,
      frontal(20, 150, 40, 0.99), // its box on the left edge
      frontal(300, 150, 19, 0.99), // under the smallest face
      frontal(100, 80, 40, 0.99),
      frontal(104, 82, 40, 0.98), // the same face again
    ];
    // Act
    const added = addFaces(proposals, [], 400, 300, 19.2);
    // Assess
    expect(added.map((f) => f.box[0])).toEqual([80]);
  });
});

describe('retinaFaceFaces of two views', () => {
  it('adds a face that two views saw at RETINAFACE_AGREED, though none was sure of it', () => {
    // Prepare: four faces where none was found, each scored under RETINAFACE_SURE by its view
    const proposals = [
      { ...frontal(50, 100, 40, 0.8), otherViewScore: RETINAFACE_AGREED }, // a second view agreed
      { ...frontal(130, 100, 40, 0.85), otherViewScore: RETINAFACE_AGREED - 0.01 }, // not enough
      { ...frontal(210, 100, 40, 0.89), otherViewScore: 0 }, // seen in one view only
      // its own view under RETINAFACE_AGREED, though another (another face's box's) scored more
      { ...frontal(290, 100, 40, RETINAFACE_AGREED - 0.01), otherViewScore: 0.85 },
    ];
    // Act
    const added = retinaFaceFaces(proposals, [], 400, 300, 19.2);
    // Assess: its own box and landmarks, scored as FaceBoxes' own faces, no proposal's fields
    expect(added).toEqual([
      { box: proposals[0]!.box, score: FACEBOXES_ONLY_SCORE, keypoints: proposals[0]!.keypoints },
    ]);
  });
});

describe('retinaFaceSmallest', () => {
  it("lets RetinaFace's faces under the other opinions' floor, never under the search's own", () => {
    // the default search (24 px faces): RETINAFACE_SMALLEST_BOX, under 0.8 of 24 = 19.2
    expect(retinaFaceSmallest(24)).toBe(RETINAFACE_SMALLEST_BOX);
    expect(RETINAFACE_SMALLEST_BOX).toBeLessThan(0.8 * 24);
    // a search reaching smaller faces (--min-face 16) lowers it with the rest
    expect(retinaFaceSmallest(16)).toBeCloseTo(12.8, 10);
    // an 18 px face of RetinaFace's is added at the default, kept out at the old floor
    const face = frontal(200, 150, 18, RETINAFACE_SURE);
    expect(retinaFaceFaces([seenOnce(face)], [], 400, 300, retinaFaceSmallest(24))).toHaveLength(1);
    expect(retinaFaceFaces([seenOnce(face)], [], 400, 300, 0.8 * 24)).toEqual([]);
  });
});

describe('faceOverFaces', () => {
  it("takes a large, unsure face of BlazeFace's for none only where no other detector saw it and it holds two faces they saw", () => {
    // Prepare: a 120 px face with two 30 px faces proposed inside it (one by two detectors)
    const side = 120;
    const unsure = frontal(200, 200, side, UNSEEN_FACE_MAX_SCORE - 0.01);
    const left = frontal(170, 190, 30, 0.9);
    const right = frontal(230, 185, 30, 0.6);
    const inside = [[left], [right, frontal(231, 186, 28, 0.7)], []];
    // Act and assess
    expect(faceOverFaces(unsure, inside)).toBe(true);
    // one face inside (twice proposed) is not two
    expect(faceOverFaces(unsure, [[left], [frontal(171, 190, 29, 0.8)], []])).toBe(false);
    expect(faceOverFaces(unsure, [[left], [frontal(170, 191, 16, 0.8)], []])).toBe(false); // smaller, within it
    // a proposal on the face itself: another detector saw it
    expect(faceOverFaces(unsure, [...inside, [frontal(205, 204, side * 0.9, 0.6)]])).toBe(false);
    // not large, or sure
    expect(faceOverFaces(frontal(200, 200, UNSEEN_FACE_MIN_SIDE - 1, 0.7), inside)).toBe(false);
    expect(faceOverFaces(frontal(200, 200, side, UNSEEN_FACE_MAX_SCORE), inside)).toBe(false);
    // faces beside it, or half its side and more, are not in it
    expect(faceOverFaces(unsure, [[frontal(320, 200, 30, 0.9)], [frontal(60, 200, 30, 0.9)], []])).toBe(
      false,
    );
    expect(faceOverFaces(unsure, [[frontal(180, 190, 60, 0.9)], [frontal(225, 190, 60, 0.9)], []])).toBe(
      false,
    );
  });
});

describe('retinaFaceScales', () => {
  it('shows a small photo as it is, 1.5 and twice as large, a larger one reduced, a huge one not at all', () => {
    expect(retinaFaceScales(400, 300)).toEqual([1, 1.5, 2]);
    // a 600-px photo: 1.5x and 2x fit in FACEBOXES_SIDE; a 700-px one is not enlarged 1.83x
    // after 1.5x (less than a quarter larger)
    expect(retinaFaceScales(600, 450)).toEqual([1, 1.5, 2]);
    expect(retinaFaceScales(700, 500)).toEqual([1, 1.5]);
    // a 1000-px photo as it is and enlarged to FACEBOXES_SIDE (28 % more)
    expect(retinaFaceScales(1000, 750)).toEqual([1, FACEBOXES_SIDE / 1000]);
    // a 1200-px photo: enlarging by 7 % would find nothing new
    expect(retinaFaceScales(1200, 900)).toEqual([1]);
    expect(retinaFaceScales(1500, 2000)).toEqual([FACEBOXES_SIDE / 2000]);
    expect(retinaFaceScales(FACEBOXES_MAX_PHOTO_SIDE + 1, 10)).toEqual([]);
  });
});

describe('retinaFaceProposals', () => {
  /** The stub graph's face's landmarks, in the photo's pixels. */
  const LANDMARKS: [number, number][] = [
    [92, 74],
    [108, 74],
    [100, 82],
    [94, 90],
    [106, 90],
  ];

  it("shows the graph a small photo at three sizes, maps its faces back to the photo's pixels and keeps the best other view's score", async () => {
    // Prepare: a 401 x 301 photo, and a stub graph that reports the size it was shown and finds
    // the same 40 px face at (100, 80) in each view, given in the view's pixels, scoring 0.7 as it
    // is, 0.95 at 1.5x and 0.75 at 2x; at 1.5x also a box 2 px lower on it at 0.9; and at 2x
    // only, a face at (300, 200)
    const shown: string[] = [];
    const scores: Record<number, number> = { 401: 0.7, 602: 0.95, 802: 0.75 };
    const model = {
      detect: async (image: { width: number; height: number }) => {
        shown.push(`${image.width}x${image.height}`);
        const kx = image.width / 401;
        const ky = image.height / 301;
        const elsewhere = {
          box: [280 * kx, 180 * ky, 40 * kx, 40 * ky] as [number, number, number, number],
          score: 0.8,
          landmarks: LANDMARKS.map(([x, y]): [number, number] => [(x + 200) * kx, (y + 120) * ky]),
        };
        const face = (down: number, score: number) => ({
          box: [80 * kx, (60 + down) * ky, 40 * kx, 40 * ky] as [number, number, number, number],
          score,
          landmarks: LANDMARKS.map(([x, y]): [number, number] => [x * kx, (y + down) * ky]),
        });
        return [
          ...(image.width === 802 ? [elsewhere] : []),
          ...(image.width === 602 ? [face(2, 0.9)] : []),
          face(0, scores[image.width]!),
        ];
      },
    };
    const photo = { data: new Uint8Array(401 * 301 * 3), width: 401, height: 301 };
    // Act
    const faces = await retinaFaceProposals(model, photo);
    // Assess: the three views; two faces, the first the best view's, in photo pixels, as
    // retinaFaceAsDetection makes it, with the best score the other views gave it (not its own
    // view's second box)
    expect(shown).toEqual(['401x301', '602x452', '802x602']);
    expect(faces.map((f) => [f.score, f.otherViewScore])).toEqual([
      [0.95, 0.75],
      [0.8, 0],
    ]);
    const expected = retinaFaceAsDetection({ box: [80, 60, 40, 40], score: 0.95, landmarks: LANDMARKS });
    expect(faces[0]!.score).toBe(0.95);
    faces[0]!.box.forEach((v, i) => expect(v).toBeCloseTo(expected.box[i]!, 6));
    faces[0]!.keypoints.forEach(([x, y], k) => {
      expect(x).toBeCloseTo(expected.keypoints[k]![0], 6);
      expect(y).toBeCloseTo(expected.keypoints[k]![1], 6);
    });
    // a photo over FACEBOXES_MAX_PHOTO_SIDE is not shown at all
    shown.length = 0;
    const huge = { data: new Uint8Array(3), width: FACEBOXES_MAX_PHOTO_SIDE + 1, height: 1 };
    expect(await retinaFaceProposals(model, huge)).toEqual([]);
    expect(shown).toEqual([]);
  });

  it("also shows the graph a noisy photo's smoothed copy at the same sizes, and counts the copy at a size as the same view", async () => {
    // Prepare: a 401 x 301 photo (pixels 0) and its smoothed copy (pixels 1); a stub graph that
    // sees three faces, given in the view's pixels:
    // - at (100, 80) only in the copy, at 1.5x, 0.92: sure;
    // - at (200, 150) in the photo as it is (0.65) and in the copy as it is (0.7): one size;
    // - at (300, 220) in the photo as it is (0.62) and in the copy at 2x (0.64): two sizes.
    const shown: string[] = [];
    const at = (cx: number, cy: number, score: number, kx: number, ky: number) => ({
      box: [(cx - 20) * kx, (cy - 20) * ky, 40 * kx, 40 * ky] as [number, number, number, number],
      score,
      landmarks: LANDMARKS.map(([x, y]): [number, number] => [(x - 100 + cx) * kx, (y - 80 + cy) * ky]),
    });
    const model = {
      detect: async (image: { width: number; height: number; data: Uint8Array }) => {
        const copy = image.data[0] === 1;
        shown.push(`${copy ? 'copy' : 'photo'} ${image.width}x${image.height}`);
        const kx = image.width / 401;
        const ky = image.height / 301;
        const scale = Math.round(kx * 2) / 2;
        if (!copy) return scale === 1 ? [at(200, 150, 0.65, kx, ky), at(300, 220, 0.62, kx, ky)] : [];
        if (scale === 1.5) return [at(100, 80, 0.92, kx, ky)];
        if (scale === 2) return [at(300, 220, 0.64, kx, ky)];
        return [at(200, 150, 0.7, kx, ky)];
      },
    };
    const photo = { data: new Uint8Array(401 * 301 * 3), width: 401, height: 301 };
    const smoothed = { data: new Uint8Array(401 * 301 * 3).fill(1), width: 401, height: 301 };
    // Act
    const proposals = await retinaFaceProposals(model, photo, smoothed);
    // Assess: the photo's three views, then the copy's; each face once, with the best score of
    // another size (none for the face seen at one size only)
    expect(shown).toEqual([
      'photo 401x301',
      'photo 602x452',
      'photo 802x602',
      'copy 401x301',
      'copy 602x452',
      'copy 802x602',
    ]);
    const byCentre = proposals.map((p) => [Math.round(p.box[0] + p.box[2] / 2), p.score, p.otherViewScore]);
    expect(byCentre).toEqual([
      [100, 0.92, 0],
      [200, 0.7, 0],
      [300, 0.64, 0.62],
    ]);
    // so RetinaFace adds the face the copy is sure of and the one seen at two sizes, not the
    // one seen twice at one size
    const added = retinaFaceFaces(proposals, [], 401, 301, retinaFaceSmallest(24));
    expect(added.map((f) => Math.round(f.box[0] + f.box[2] / 2))).toEqual([100, 300]);
  });
});

describe('retinaFaceAsDetection', () => {
  it("makes its box BlazeFace's shape, keeps its eyes and nose, and puts the mouth between its corners", () => {
    // Prepare: a 100 x 120 box at (50, 40) with five landmarks
    const landmarks: [number, number][] = [
      [80, 90],
      [120, 90],
      [100, 110],
      [85, 130],
      [115, 132],
    ];
    // Act
    const face = retinaFaceAsDetection({ box: [50, 40, 100, 120], score: 0.97, landmarks });
    // Assess
    const [cx, cy, bw, bh] = FACEBOXES_LAYOUT.box;
    [50 + (cx - bw / 2) * 100, 40 + (cy - bh / 2) * 120, bw * 100, bh * 120].forEach((v, i) =>
      expect(face.box[i]).toBeCloseTo(v, 9),
    );
    expect(face.score).toBe(0.97);
    expect(face.keypoints.slice(0, 4)).toEqual([
      [80, 90],
      [120, 90],
      [100, 110],
      [100, 131],
    ]);
    expect(face.keypoints[4]![0]).toBeLessThan(80);
    expect(face.keypoints[5]![0]).toBeGreaterThan(120);
    expect(plausibleLandmarks(face)).toBe(true);
  });
});

describe.skipIf(!utkPresent)(
  `the second, third and fourth opinions on severe train/ scenes${utkPresent ? '' : ` (skipped: ${utkTar} is absent)`}`,
  () => {
    let detector: FaceDetector;
    beforeAll(async () => {
      detector = await FaceDetector.load();
    });
    afterAll(async () => {
      await detector?.dispose();
    });

    it.each([
      // a dark 76 px face: no proposal in the photo, 0.88 in its smoothed copy
      { name: 'photo-000 of seed 11', seed: 11, index: 0 },
      // an old man's blurred 40 px face: 0.54 in the photo, 0.82 in its smoothed copy
      { name: 'photo-006 of seed 10', seed: 10, index: 6 },
    ])(
      "finds every face of the severe train/ scene $name through FaceBoxes' proposals in the smoothed copy",
      async ({ seed, index }) => {
        // Prepare
        const { scene, photo } = await recallScene(seed, index, 'severe', 8);
        // Act and assess (RetinaFace off: it finds the dark face in the photo as it is): every
        // face found, and nothing else; without the smoothed copy one is missed
        await expectFoundOnlyWith(
          detector,
          scene,
          photo,
          { denoisedPass: false, retinaFace: false },
          { retinaFace: false },
        );
      },
    );

    it("finds a small face that only FaceBoxes is sure of, above and beside a larger face's box", async () => {
      // Prepare: photo-006 of seed 12, whose 43 px face lies about 0.17 of a 139 px face's width past
      // its side and above it: in that head's reach (withinHeadOf), not in its hair (inHairOf)
      const { scene, photo } = await recallScene(12, 6, 'severe', 8);
      // Act and assess: every face found by FaceBoxes (the full-range graph and RetinaFace off), and nothing
      // else; without the second detector one is missed
      await expectFoundOnlyWith(
        detector,
        scene,
        photo,
        { secondDetector: false },
        { fullRange: false, retinaFace: false },
      );
      const faces = await detector.detect(photo);
      expect(faces.at(-1)!.score).toBe(FACEBOXES_ONLY_SCORE);
    });

    it('finds the severe train/ face that BlazeFace and FaceBoxes miss, and nothing else', async () => {
      // Prepare: photo-005 of seed 13, whose degraded 70 px face neither the pyramid, its looks
      // nor FaceBoxes find
      const { scene, photo } = await recallScene(13, 5, 'severe', 8);
      // Act and assess (RetinaFace off, so that the face is the full-range graph's): every face
      // found, and nothing else; without the full-range graph one is missed
      await expectFoundOnlyWith(
        detector,
        scene,
        photo,
        { fullRange: false, retinaFace: false },
        { retinaFace: false },
      );
      // the face it adds comes after BlazeFace's, with keypoints of an upright face
      const faces = await detector.detect(photo);
      expect(faces.at(-1)!.score).toBe(FACEBOXES_ONLY_SCORE);
      const [left, right, , mouth] = faces.at(-1)!.keypoints;
      expect(right![0]).toBeGreaterThan(left![0]);
      expect(mouth![1]).toBeGreaterThan((left![1] + right![1]) / 2);
    });
  },
);

const GROUP = path.join(wholePhotosDir, 'insightface_t1_group.jpg');

/** A degraded group photo whose sixth face RetinaFace is sure of in no view, and sees in two. */
const SEEN_AT_TWO_SIZES = { width: 320, blur: 6, noise: 18, jpegQuality: 28, seed: 1 };
const groupPresent = existsSync(GROUP);

describe.skipIf(!groupPresent)(
  `FaceBoxes' proposals in the detector${groupPresent ? '' : ` (skipped: ${GROUP} is absent)`}`,
  () => {
    let detector: FaceDetector;
    let truth: DetectedFace[];
    const fullWidth = 1280;
    beforeAll(async () => {
      detector = await FaceDetector.load();
      // The faces to find: the six the detector finds in the clean photo at full size
      const full = (await decodeImageToRgb(await readFile(GROUP))).image;
      expect(full.width).toBe(fullWidth);
      truth = await detector.detect(full);
      expect(truth).toHaveLength(6);
    });
    afterAll(async () => {
      await detector?.dispose();
    });

    /** Whether `a`'s box centre lies within 0.4 of `b`'s box side of `b`'s. */
    const near = (a: { box: readonly number[] }, b: DetectedFace): boolean =>
      Math.hypot(
        a.box[0]! + a.box[2]! / 2 - b.box[0] - b.box[2] / 2,
        a.box[1]! + a.box[3]! / 2 - b.box[1] - b.box[3] / 2,
      ) <
      0.4 * b.box[2];

    /** The faces of `faces` near none of `before`. */
    const addedTo = (before: readonly DetectedFace[], faces: readonly DetectedFace[]): DetectedFace[] =>
      faces.filter((f) => !before.some((b) => near(f, b)));

    /** How many of the six faces `faces` find (box centre within 0.4 face sides), and whether every face found is one. */
    function scored(faces: readonly DetectedFace[], width: number): { found: number; allFaces: boolean } {
      const k = width / fullWidth;
      const at = (f: DetectedFace, t: DetectedFace): boolean =>
        Math.hypot(
          f.box[0] + f.box[2] / 2 - (t.box[0] + t.box[2] / 2) * k,
          f.box[1] + f.box[3] / 2 - (t.box[1] + t.box[3] / 2) * k,
        ) <
        0.4 * t.box[2] * k;
      return {
        found: truth.filter((t) => faces.some((f) => at(f, t))).length,
        allFaces: faces.every((f) => truth.some((t) => at(f, t))),
      };
    }

    it('finds the faces of a small, heavily degraded group photo that BlazeFace alone misses, and nothing else', async () => {
      for (const { degradation, alone, withProposals } of [
        // 27 px faces: the pyramid and cascade find 2 of 6
        {
          degradation: { width: 320, blur: 6, noise: 18, jpegQuality: 28, seed: 1 },
          alone: 2,
          withProposals: 5,
        },
        {
          degradation: { width: 320, blur: 5, noise: 16, jpegQuality: 30, seed: 3 },
          alone: 5,
          withProposals: 6,
        },
        // blurred further: BlazeFace finds 1 of 6; FaceBoxes seen as it is and at x2 adds 3, at x4 a fourth
        {
          degradation: { width: 320, blur: 7, noise: 16, jpegQuality: 32, seed: 1 },
          alone: 1,
          withProposals: 5,
        },
      ]) {
        // Prepare
        const photo = await degradedWholePhoto('insightface_t1_group.jpg', degradation);
        // Act (RetinaFace off: it finds the sixth face, see below)
        const without = scored(await detector.detect(photo, { secondDetector: false }), degradation.width);
        const faces = await detector.detect(photo, { retinaFace: false });
        const found = scored(faces, degradation.width);
        // Assess
        expect(without.found, JSON.stringify(degradation)).toBe(alone);
        expect(found.found, JSON.stringify(degradation)).toBe(withProposals);
        expect(found.allFaces).toBe(true);
        expect(faces).toHaveLength(withProposals);
        // best first, BlazeFace's faces before those only FaceBoxes saw; six keypoints, eyes above the mouth
        expect(faces.map((f) => f.score)).toEqual([...faces.map((f) => f.score)].sort((a, b) => b - a));
        for (const f of faces) {
          expect(f.keypoints).toHaveLength(6);
          expect(f.keypoints[3]![1]).toBeGreaterThan((f.keypoints[0]![1] + f.keypoints[1]![1]) / 2);
        }
      }
    });

    it.each([
      { width: 400, blur: 6, noise: 18, jpegQuality: 28, seed: 1 },
      { width: 320, blur: 5, noise: 16, jpegQuality: 30, seed: 2 },
      SEEN_AT_TWO_SIZES,
      { width: 320, blur: 7, noise: 16, jpegQuality: 32, seed: 1 },
    ])(
      'finds the sixth face of the degraded group photo $width px wide (blur $blur, seed $seed) through RetinaFace, and nothing else',
      async (degradation) => {
        // Prepare: 27-33 px faces; BlazeFace, FaceBoxes and the full-range graph find five of six
        const photo = await degradedWholePhoto('insightface_t1_group.jpg', degradation);
        // Act
        const without = await detector.detect(photo, { retinaFace: false });
        const faces = await detector.detect(photo);
        // Assess: all six with RetinaFace, five without, no other face either way; the face it
        // adds after the others, with a face's keypoints
        expect(scored(without, degradation.width)).toEqual({ found: 5, allFaces: true });
        expect(scored(faces, degradation.width)).toEqual({ found: 6, allFaces: true });
        expect(faces).toHaveLength(6);
        const added = addedTo(without, faces);
        expect(added).toHaveLength(1);
        expect(added[0]!.score).toBe(FACEBOXES_ONLY_SCORE);
      },
    );

    it('takes the face RetinaFace sees at two sizes though it is sure of it at none', async () => {
      // Prepare: the photo above where RetinaFace adds the sixth face
      const photo = await degradedWholePhoto('insightface_t1_group.jpg', SEEN_AT_TWO_SIZES);
      const retinaFace = await RetinaFaceModel.load();
      const proposals = await retinaFaceProposals(retinaFace, photo).finally(() => retinaFace.dispose());
      const without = await detector.detect(photo, { retinaFace: false });
      // Act
      const faces = await detector.detect(photo);
      // Assess: the face added is one no view of RetinaFace was sure of, and two saw
      const added = addedTo(without, faces);
      expect(added).toHaveLength(1);
      const seen = proposals.filter((p) => near(p, added[0]!));
      expect(seen).toHaveLength(1);
      expect(seen[0]!.score).toBeLessThan(RETINAFACE_SURE);
      expect(seen[0]!.otherViewScore).toBeGreaterThanOrEqual(RETINAFACE_AGREED);
    });

    it('without its RetinaFace graph (a commercial deployment), finds what it finds with RetinaFace off, and lists only commercial weights', async () => {
      // Prepare: the photo above where RetinaFace adds the sixth face
      const photo = await degradedWholePhoto('insightface_t1_group.jpg', SEEN_AT_TWO_SIZES);
      const commercial = await FaceDetector.load(undefined, undefined, undefined, { retinaFace: false });
      // Act
      const faces = await commercial.detect(photo).finally(() => commercial.dispose());
      // Assess: the five faces of `retinaFace: false`, not the sixth; RetinaFace's licence only
      // in the full detector's list
      expect(faces).toEqual(await detector.detect(photo, { retinaFace: false }));
      expect(scored(faces, SEEN_AT_TWO_SIZES.width)).toEqual({ found: 5, allFaces: true });
      expect(commercial.weights.every((w) => w.commercialUse)).toBe(true);
      expect(commercial.weights.map((w) => w.graph)).toEqual(['blazeface', 'faceboxes', 'full-range']);
      expect(detector.weights.filter((w) => !w.commercialUse).map((w) => w.graph)).toEqual(['retinaface']);
    });

    it('drops the large face BlazeFace alone reads across three people of a small degraded group photo, and finds the faces under it', async () => {
      // Prepare: the group photo 240 px wide, moderately degraded as detect-degraded-photos does
      // (draw 0): on its smoothed pass BlazeFace reads a 131 px face at 0.70 whose eyes are two
      // people's faces; RetinaFace, FaceBoxes and the full-range graph see no face that large
      // there, but faces inside it
      const photo = await harshlyDegradedPhoto('insightface_t1_group.jpg', {
        width: 240,
        level: 1,
        draw: 0,
        blur: 1.6,
        noise: 15,
        jpegQuality: 32,
      });
      // Act (RetinaFace off: the rule needs its look)
      const unjudged = await detector.detect(photo, { retinaFace: false });
      const faces = await detector.detect(photo);
      // Assess: the large face only without RetinaFace; with it, no face that is none, and the
      // two faces the large box covered found
      const large = (list: readonly DetectedFace[]) => list.filter((f) => f.box[2] >= UNSEEN_FACE_MIN_SIDE);
      expect(large(unjudged)).toHaveLength(1);
      expect(large(faces)).toEqual([]);
      expect(scored(faces, 240)).toEqual({ found: 4, allFaces: true });
      expect(scored(unjudged, 240).allFaces).toBe(false);
    });

    it.each([
      // 10045.png (195 x 286 px, three faces of 20-22 px), seed 6, draw 1: the woman's face,
      // RetinaFace sure of it (0.92) in the photo, its box 18.1 px (RETINAFACE_SMALLEST_BOX)
      { file: '10045.png', seed: 6, draw: 1, scene: '10045.png, seed 6, draw 1' },
      // seed 3, draw 0: the girl's face, seen at two sizes (0.88, 0.87), its box 18.3 px
      { file: '10045.png', seed: 3, draw: 0, scene: '10045.png, seed 3, draw 0' },
      // seed 11, draw 1: the girl's face again, 0.53 at best in the photo, 0.95 in its smoothed copy
      { file: '10045.png', seed: 11, draw: 1, scene: '10045.png, seed 11, draw 1' },
      // the group photo (320 x 221 px, six faces of 28-33 px), seed 11, draw 0: its 28 px `#2`,
      // 0.59 at best in the photo, 0.92 and more in the smoothed copy
      {
        file: 'insightface_t1_group.jpg',
        seed: 11,
        draw: 0,
        scene: 'the group, seed 11, draw 0',
      },
    ])(
      "finds every face of a real photo in dr2e eval-photos' severe split, RetinaFace alone seeing one ($scene)",
      async ({ file, seed, draw }) => {
        // Prepare: the photo reduced 4x, blurred, noised and saved as JPEG as the eval does
        const [real] = await loadRealPhotos([path.join(wholePhotosDir, file)], await modelTemplate(), 4);
        const scene = await buildRealScene(seed, real!, draw, degradationSplit('severe'));
        const photo = (await decodeImageToRgb(scene.jpeg)).image;
        // Act
        const faces = await detector.detect(photo);
        // Assess: every face, each once, and nothing else
        expect(faces).toHaveLength(scene.faces.length);
        const centres = faces.map(({ box: [x, y, w, h] }) => [x + w / 2, y + h / 2]);
        for (const [i, { cx, cy, side }] of scene.faces.entries())
          expect(
            centres.filter(([x, y]) => Math.hypot(x! - cx, y! - cy) < 0.4 * side),
            `face ${i}`,
          ).toHaveLength(1);
      },
    );

    it("takes no face in a child's hair bow on FaceBoxes' word alone", async () => {
      // Prepare: draw 0 of Blake_Lively.jpg in dr2e eval-photos' severe split, seed 1 (175 x 116
      // px: the woman's 48 px face and her daughter's 37 px one), where FaceBoxes, seeing the
      // detector's smoothed copy four times as large, is sure of a face in the child's hair bow,
      // and BlazeFace's looks are not
      const [real] = await loadRealPhotos(
        [path.join(wholePhotosDir, 'Blake_Lively.jpg')],
        await modelTemplate(),
        4,
      );
      const scene = await buildRealScene(1, real!, 0, degradationSplit('severe'));
      const photo = (await decodeImageToRgb(scene.jpeg)).image;
      const faceBoxes = await FaceBoxesModel.load();
      const proposals = await faceBoxesProposals(faceBoxes, await smoothedCopy(photo)).finally(() =>
        faceBoxes.dispose(),
      );
      // Act
      const faces = await detector.detect(photo);
      // Assess: the two faces, and nothing in the hair above the child's
      expect(faces).toHaveLength(2);
      const centres = faces.map(({ box: [x, y, w, h] }) => [x + w / 2, y + h / 2]);
      for (const [i, { cx, cy, side }] of scene.faces.entries())
        expect(
          centres.some(([x, y]) => Math.hypot(x! - cx, y! - cy) < 0.4 * side),
          `face ${i}`,
        ).toBe(true);
      const child = faces.find((f) => f.box[0] < photo.width / 2)!;
      const inHair = proposals.filter(
        (p) => p.score >= FACEBOXES_SURE && inHairOf(child, proposalAsDetection(p)),
      );
      expect(inHair.length).toBeGreaterThan(0);
    });
  },
);
