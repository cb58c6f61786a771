/**
 * The detector's cascade (photo/verify.ts): a degraded face of a group photo that the single
 * 0.7 threshold misses is found, and face-like false candidates are rejected. The scene is the
 * whole-photo evaluation's (a train/ face). Needs ../shared. The cascade is tested alone, without
 * the smoothed pass of noisy photos (denoised-pass.test.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RgbImage, decodeImageToRgb, deriveSeed } from '../../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  centreSquare,
  degradationSplit,
  listCleanFaces,
  photoBackground,
  type PhotoScene,
} from '../../gpu-task/src/eval/index.js';
import {
  BlazeFaceModel,
  FaceDetector,
  plausibleLandmarks,
  type RawDetection,
  verifyCandidate,
} from '../../gpu-task/src/photo/index.js';
import { sharedDir } from '../engine/helpers/fixture-paths.js';
import { utkPresent, utkTar } from './helpers.js';

const noFacePhoto = path.join(sharedDir, 'data', 'whole-photos', 'insightface_view_noface.jpg');

/** A face-like detection: box 60 px at (100, 100), eyes, nose and mouth where a face has them. */
function faceLike(mouthY = 150): RawDetection {
  return {
    box: [100, 100, 60, 60],
    score: 0.5,
    keypoints: [
      [118, 120],
      [142, 120],
      [130, 135],
      [130, mouthY],
      [104, 125],
      [156, 125],
    ],
  };
}

/** faceLike() moved to (x, y) and scaled to `side`; with its mouth above its eyes unless `upright`. */
function faceLikeAt(x: number, y: number, side: number, upright: boolean): RawDetection {
  const base = faceLike(upright ? 150 : 110);
  const k = side / 60;
  return {
    box: [x, y, side, side],
    score: 0.5,
    keypoints: base.keypoints.map(([px, py]) => [x + (px - 100) * k, y + (py - 100) * k]),
  };
}

describe('face landmarks sanity', () => {
  it('accepts an upright face and rejects one with its mouth above its eyes or eyes too far apart', () => {
    expect(plausibleLandmarks(faceLike())).toBe(true);
    expect(plausibleLandmarks(faceLike(110))).toBe(false);
    const wide = faceLike();
    wide.keypoints[0] = [95, 120];
    wide.keypoints[1] = [165, 120];
    expect(plausibleLandmarks(wide)).toBe(false);
  });
});

describe.skipIf(!utkPresent)(`detector cascade${utkPresent ? '' : ` (skipped: ${utkTar} is absent)`}`, () => {
  let detector: FaceDetector;
  let model: BlazeFaceModel;
  let scene: PhotoScene;
  let photo: RgbImage;
  let severe: PhotoScene;
  let severePhoto: RgbImage;
  let noFace: RgbImage;

  beforeAll(async () => {
    detector = await FaceDetector.load();
    model = await BlazeFaceModel.load();
    const options = DEFAULT_SCENE_OPTIONS;
    const refs = await listCleanFaces(utkTar, { prefix: 'train/', limit: 2 * options.faces });
    const crops = new Map<string, RgbImage>();
    for (const ref of refs) crops.set(ref.id, centreSquare((await decodeImageToRgb(await ref.read())).image));
    const backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(noFacePhoto)))).image;
    // photo-001 of the medium split: its 76-px face scores under 0.7 at every level.
    const background = await photoBackground(
      backgroundPhoto,
      options.width * options.upscale,
      options.height * options.upscale,
      deriveSeed(0, 1),
    );
    scene = await buildScene(
      0,
      'photo-001',
      refs.slice(options.faces, 2 * options.faces).map((r) => r.id),
      crops,
      background,
      degradationSplit('medium'),
      options,
    );
    photo = (await decodeImageToRgb(scene.jpeg)).image;
    // photo-006 of the severe split of `scripts/detect-recall.ts` (8 photos, seed 0): its 87-px
    // face's first look (0.56) has landmarks that the second looks do not share; they agree
    // with each other at 20-28 px (0.73-0.77).
    const eight = await listCleanFaces(utkTar, { prefix: 'train/', limit: 8 * options.faces });
    const severeIds = eight.slice(6 * options.faces, 7 * options.faces);
    for (const ref of severeIds)
      crops.set(ref.id, centreSquare((await decodeImageToRgb(await ref.read())).image));
    severe = await buildScene(
      0,
      'photo-006',
      severeIds.map((r) => r.id),
      crops,
      await photoBackground(
        backgroundPhoto,
        options.width * options.upscale,
        options.height * options.upscale,
        deriveSeed(0, 6),
      ),
      degradationSplit('severe'),
      options,
    );
    severePhoto = (await decodeImageToRgb(severe.jpeg)).image;
    noFace = (await decodeImageToRgb(new Uint8Array(await readFile(noFacePhoto)))).image;
  });

  afterAll(async () => {
    await detector?.dispose();
    await model?.dispose();
  });

  const foundEach = (faces: readonly { box: number[] }[], placed = scene): boolean[] =>
    placed.faces.map((face) =>
      faces.some(
        (f) =>
          Math.hypot(f.box[0]! + f.box[2]! / 2 - face.cx, f.box[1]! + f.box[3]! / 2 - face.cy) <=
          0.4 * face.side,
      ),
    );

  it('finds the degraded face that the single threshold misses, and nothing else', async () => {
    const plain = await detector.detect(photo, { cascade: false, denoisedPass: false });
    const cascaded = await detector.detect(photo, { denoisedPass: false });
    expect(foundEach(plain)).toContain(false);
    expect(foundEach(cascaded)).toEqual(scene.faces.map(() => true));
    expect(cascaded).toHaveLength(scene.faces.length);
  });

  it('finds a severely degraded face through second looks that agree with each other', async () => {
    const plain = await detector.detect(severePhoto, { cascade: false, denoisedPass: false });
    const cascaded = await detector.detect(severePhoto, { denoisedPass: false });
    expect(foundEach(plain, severe)).toContain(false);
    expect(foundEach(cascaded, severe)).toEqual(severe.faces.map(() => true));
    expect(cascaded).toHaveLength(severe.faces.length);
  });

  it('confirms no face-like candidate anywhere on a photo without faces, at any size', async () => {
    // Every candidate gets all seven second looks (none scores 0.7 there) and must not gather
    // two confident or three agreeing ones; half of them have the eyes-below-mouth landmarks
    // that need looks agreeing with each other rather than with the candidate.
    for (const side of [30, 60, 120]) {
      for (const fy of [0.2, 0.5, 0.8]) {
        for (const fx of [0.15, 0.38, 0.62, 0.85]) {
          const x = Math.round(fx * noFace.width - side / 2);
          const y = Math.round(fy * noFace.height - side / 2);
          for (const upright of [true, false]) {
            const candidate = faceLikeAt(x, y, side, upright);
            expect(await verifyCandidate(model, noFace, candidate, 0.7), `${side}px at ${x},${y}`).toBeNull();
          }
        }
      }
    }
  });

  it('rejects a face-like candidate on a photo without faces, and finds no face there', async () => {
    const candidate = faceLike();
    expect(await verifyCandidate(model, noFace, candidate, 0.7)).toBeNull();
    expect(await detector.detect(noFace)).toEqual([]);
  });
});
