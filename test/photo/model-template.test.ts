/**
 * Whole-photo alignment frames a face as the default model's training crops: the model's
 * manifest declares the template fitted to where the bundled detector's keypoints fall in those
 * crops (`framing.landmarks`, scripts/measure-detector-template.ts), so aligning a UTKFace face
 * found in a photo gives back its crop: the same side and centre, on average. The face's side is
 * also the size `auto` bins it by, fitted on those crops. Checked on `val/` faces, which the
 * template was not fitted on. Needs ../shared.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DenoiserManifestSchema,
  type FaceFraming,
  framingTemplate,
} from '../../gpu-task/src/engine/index.js';
import { type PhotoScene, framingAgreement, matchFaces } from '../../gpu-task/src/eval/index.js';
import { type DetectedFace, FaceDetector, alignmentFor } from '../../gpu-task/src/photo/index.js';
import { repoRoot } from '../engine/helpers/fixture-paths.js';
import { evaluationScenes, utkPresent, utkTar } from './helpers.js';

const skipNote = utkPresent ? '' : ` (skipped: ${utkTar} is absent)`;

interface Framed {
  /** Mean frame side over crop side. */
  sideRatio: number;
  /** Length of the mean offset of the frame centres from the crop centres (crop sides, crop axes). */
  centreOffset: number;
  faces: number;
}

/** How aligning each found face onto `framing`'s template frames it, averaged over the faces. */
function framedBy(
  scenes: readonly { scene: PhotoScene; found: DetectedFace[] }[],
  framing: FaceFraming,
): Framed {
  const template = framingTemplate(framing);
  let sideRatio = 0;
  let [du, dv] = [0, 0];
  let faces = 0;
  for (const { scene, found } of scenes) {
    matchFaces(scene.faces, found).matches.forEach((hit, i) => {
      if (!hit) return;
      const framed = framingAgreement(alignmentFor(hit.keypoints, template), scene.faces[i]!);
      sideRatio += framed.sideRatio;
      du += framed.centreOffset[0];
      dv += framed.centreOffset[1];
      faces++;
    });
  }
  return { sideRatio: sideRatio / faces, centreOffset: Math.hypot(du, dv) / faces, faces };
}

describe.skipIf(!utkPresent)(`alignment onto the default model's template${skipNote}`, () => {
  let framing: FaceFraming;
  const scenes: { scene: PhotoScene; found: DetectedFace[] }[] = [];

  beforeAll(async () => {
    const manifest = DenoiserManifestSchema.parse(
      JSON.parse(
        await readFile(path.join(repoRoot, 'gpu-task', 'models', 'default', 'denoiser.json'), 'utf8'),
      ),
    );
    framing = manifest.framing!;
    const detector = await FaceDetector.load();
    try {
      // The whole-photo evaluation's mild scenes of 48 val faces (40-160 px, rolled within ±25°).
      for (const { scene, photo } of await evaluationScenes({
        prefix: 'val/',
        seed: 0,
        split: 'mild',
        photos: 16,
      })) {
        scenes.push({ scene, found: await detector.detect(photo) });
      }
    } finally {
      await detector.dispose();
    }
  });

  it('frames the faces of a photo as their crops: on average the same side within 2 % and the same centre within 1 % of the side', () => {
    // Act
    const framed = framedBy(scenes, framing);
    // Assess
    expect(framed.faces).toBeGreaterThanOrEqual(46);
    expect(Math.abs(framed.sideRatio - 1)).toBeLessThan(0.02);
    expect(framed.centreOffset).toBeLessThan(0.01);
  });

  it('framed them 3 % tight and 1.5 % off centre or more with the template derived from the three numbers alone (what the fitted landmarks correct)', () => {
    // Prepare: the same framing without its landmarks
    const { landmarks: fitted, ...threeNumbers } = framing;
    // Act
    const framed = framedBy(scenes, threeNumbers);
    // Assess
    expect(fitted).toBeDefined();
    expect(framed.sideRatio).toBeLessThan(0.97);
    expect(framed.centreOffset).toBeGreaterThan(0.015);
  });
});
