/**
 * Detection and alignment on synthetic photos: HQ (FFHQ-aligned) and UTKFace faces pasted at
 * known sizes, positions and rotations, so every true landmark is known. Needs ../shared.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framingTemplate, fourPointTemplate } from '../../gpu-task/src/engine/index.js';
import {
  alignmentFor,
  applySimilarity,
  FaceDetector,
  similarityAngle,
  type DetectedFace,
} from '../../gpu-task/src/photo/index.js';
import {
  type AlignedFace,
  background,
  hqFaces,
  hqPresent,
  hqDir,
  eyeMidpointOffset,
  match,
  placeFaces,
  UTK_FRAMING,
  utkFaces,
  utkPresent,
  utkTar,
} from './helpers.js';

const present = hqPresent && utkPresent;
const skipNote = present ? '' : ` (skipped: ${hqPresent ? utkTar : hqDir} is absent)`;

/** Detector keypoints as the four points alignment uses. */
function landmarksOf(face: DetectedFace): { landmarks: [number, number][] } & DetectedFace {
  return { ...face, landmarks: face.keypoints.slice(0, 4) };
}

describe.skipIf(!present)(`detection and alignment on synthetic photos${skipNote}`, () => {
  let detector: FaceDetector;
  let hq: AlignedFace[];
  let utk: AlignedFace[];

  beforeAll(async () => {
    detector = await FaceDetector.load();
    hq = await hqFaces();
    utk = await utkFaces(8);
  });
  afterAll(async () => {
    await detector?.dispose();
  });

  it('finds faces from 24 to 400 px across, upright and rotated up to 45 degrees, with landmarks within 20% of the eye distance and the roll within 9 degrees', async () => {
    // Prepare: eight faces on a 2400 x 1600 photo; `side` is the crop's side (the face box is
    // about half of an FFHQ crop and 80% of a UTKFace crop).
    const photo = background(2400, 1600);
    const faces = [hq[0]!, hq[1]!, hq[2]!, hq[3]!, utk[0]!, utk[1]!, utk[2]!, utk[3]!];
    const placed = placeFaces(photo, [
      { face: faces[0]!, cx: 400, cy: 450, side: 700 },
      { face: faces[1]!, cx: 1100, cy: 400, side: 300, angle: 0.35 },
      { face: faces[2]!, cx: 1600, cy: 380, side: 160, angle: -0.7 },
      { face: faces[3]!, cx: 2050, cy: 420, side: 100, angle: 0.785 },
      { face: faces[4]!, cx: 900, cy: 1200, side: 180 },
      { face: faces[5]!, cx: 1400, cy: 1250, side: 90, angle: -0.5 },
      { face: faces[6]!, cx: 1800, cy: 1250, side: 48 },
      { face: faces[7]!, cx: 2150, cy: 1250, side: 32 },
    ]);
    // Act
    const found = (await detector.detect(photo)).map(landmarksOf);
    // Assess
    const template = fourPointTemplate(framingTemplate(UTK_FRAMING));
    const templateEyes = Math.hypot(template[1]![0] - template[0]![0], template[1]![1] - template[0]![1]);
    let recalled = 0;
    for (const [i, truth] of placed.entries()) {
      const hit = match(truth, found);
      if (!hit) continue;
      recalled++;
      // Landmark error, in eye distances (BlazeFace's keypoints are coarse: about 0.05 on large
      // faces, up to 0.18 on the 26 px one).
      const errors = hit.landmarks.map(
        (p, k) =>
          Math.hypot(p[0] - truth.landmarks[k]![0], p[1] - truth.landmarks[k]![1]) / truth.eyeDistance,
      );
      const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
      expect(mean, `face ${i}`).toBeLessThan(0.2);
      // Alignment from the detected landmarks puts the true landmarks near the template.
      const toUnit = alignmentFor(hit.keypoints, framingTemplate(UTK_FRAMING));
      const aligned = truth.landmarks.map((p) => applySimilarity(toUnit, p));
      const alignError =
        aligned.reduce((sum, p, k) => sum + Math.hypot(p[0] - template[k]![0], p[1] - template[k]![1]), 0) /
        aligned.length /
        templateEyes;
      expect(alignError, `face ${i}`).toBeLessThan(0.2);
      // The roll is recovered (the similarity undoes the face's rotation).
      const angle = Math.atan2(truth.cropToPhoto.b, truth.cropToPhoto.a);
      expect(Math.abs(similarityAngle(toUnit) + angle), `face ${i}`).toBeLessThan(0.15);
    }
    expect(recalled).toBe(placed.length);
    // No extra faces on the background.
    expect(found.length).toBe(placed.length);
  });

  it('finds a face that fills the photo, and faces cut by the photo border', async () => {
    // Prepare
    const closeUp = background(512, 512);
    const [fill] = placeFaces(closeUp, [{ face: hq[0]!, cx: 256, cy: 256, side: 512 }]);
    const edges = background(1000, 700);
    const cut = placeFaces(edges, [
      { face: hq[1]!, cx: 30, cy: 300, side: 280 }, // left third of the face outside
      { face: utk[4]!, cx: 900, cy: 650, side: 160 }, // bottom right corner
    ]);
    // Act
    const foundFill = (await detector.detect(closeUp)).map(landmarksOf);
    const foundEdges = (await detector.detect(edges)).map(landmarksOf);
    // Assess
    expect(eyeMidpointOffset(fill!, foundFill)).toBeLessThanOrEqual(1);
    expect(foundFill).toHaveLength(1);
    expect(eyeMidpointOffset(cut[1]!, foundEdges)).toBeLessThanOrEqual(1);
    expect(foundEdges.length).toBeLessThanOrEqual(2);
  });

  it('finds nothing in a photo without faces', async () => {
    expect(await detector.detect(background(1200, 800))).toEqual([]);
  });
});
