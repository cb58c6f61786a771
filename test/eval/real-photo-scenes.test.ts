/**
 * Whole-photo evaluation scenes made from real photos (eval/real-photo-scenes.ts): the clean
 * photo's faces are found and framed where they are, the ground truth is the photo cut to a
 * multiple of the upscale, and each draw degrades it reproducibly. Needs ../shared (UTKFace
 * faces placed in a made-up "real" photo, so where they are is known).
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine, type FivePointTemplate } from '../../gpu-task/src/engine/index.js';
import { buildRealScene, degradationSplit, loadRealPhotos } from '../../gpu-task/src/eval/index.js';
import { applySimilarity, similarityScale } from '../../gpu-task/src/photo/index.js';
import { background, encode, placeFaces, utkFaces, utkPresent, utkTar } from '../photo/helpers.js';

let work: string;
let template: FivePointTemplate;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-real-scenes-'));
  // The embedded default model's template: the frames the pipeline aligns faces to.
  const engine = await Dr2eEngine.load({});
  template = engine.faceTemplate;
  await engine.dispose();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(!utkPresent)(
  `real-photo scenes${utkPresent ? '' : ` (skipped: ${utkTar} is absent)`}`,
  () => {
    it("frames the clean photo's faces where they are and cuts the truth to a multiple of the upscale", async () => {
      // Prepare: two val/ faces (UTKFace crops: the default model's framing) in an odd-sized photo.
      const faces = await utkFaces(2, 'val/');
      const photo = background(321, 203);
      const placements = [
        { face: faces[0]!, cx: 90, cy: 100, side: 110 },
        { face: faces[1]!, cx: 236, cy: 96, side: 96, angle: 0.2 },
      ];
      placeFaces(photo, placements);
      const file = path.join(work, 'group.png');
      await writeFile(file, await encode(photo));

      // Act
      const [real] = await loadRealPhotos([file], template, 2);

      // Assess: the truth is the photo's top-left 320 x 202; each placed face has one frame, near
      // the crop it was placed as (in the degraded photo's pixels: halved).
      expect(real!.name).toBe('group.png');
      expect([real!.truth.width, real!.truth.height]).toEqual([320, 202]);
      // Rows keep their stride: the last row's last pixel is the photo's at (319, 201).
      const last = (201 * 320 + 319) * 3;
      expect(real!.truth.data.subarray(last, last + 3)).toEqual(
        photo.data.subarray((201 * 321 + 319) * 3, (201 * 321 + 320) * 3),
      );
      expect(real!.faces).toHaveLength(2);
      for (const placed of placements) {
        const face = real!.faces.find(
          (f) => Math.hypot(f.cx - placed.cx / 2, f.cy - placed.cy / 2) < placed.side / 8,
        );
        expect(face).toBeDefined();
        expect(face!.side / (placed.side / 2)).toBeGreaterThan(0.85);
        expect(face!.side / (placed.side / 2)).toBeLessThan(1.15);
        expect(Math.abs(face!.angle - (placed.angle ?? 0))).toBeLessThan(0.15);
        // unitToTruth maps the frame's centre to the face's centre at truth scale.
        const [x, y] = applySimilarity(face!.unitToTruth, [0.5, 0.5]);
        expect([x / 2, y / 2]).toEqual([expect.closeTo(face!.cx, 6), expect.closeTo(face!.cy, 6)]);
        expect(similarityScale(face!.unitToTruth)).toBeCloseTo(2 * face!.side, 6);
      }
    });

    it('degrades each draw reproducibly, one draw unlike another, at 1/upscale of the truth', async () => {
      // Prepare
      const [face] = await utkFaces(1, 'val/');
      const photo = background(240, 180);
      placeFaces(photo, [{ face: face!, cx: 120, cy: 90, side: 120 }]);
      const file = path.join(work, 'one.png');
      await writeFile(file, await encode(photo));
      const [real] = await loadRealPhotos([file], template, 4);
      const severe = degradationSplit('severe');

      // Act
      const first = await buildRealScene(3, real!, 1, severe);
      const again = await buildRealScene(3, real!, 1, severe);
      const other = await buildRealScene(3, real!, 2, severe);

      // Assess
      expect(first.id).toBe('one.png-01');
      expect([first.width, first.height, first.upscale]).toEqual([60, 45, 4]);
      expect([first.low.width, first.low.height]).toEqual([60, 45]);
      expect(first.truth).toBe(real!.truth);
      expect(first.faces).toBe(real!.faces);
      expect(Buffer.from(again.jpeg).equals(Buffer.from(first.jpeg))).toBe(true);
      expect(other.degradation).not.toEqual(first.degradation);
      expect(first.degradation.split).toBe('severe');
    });

    it('refuses a photo without a face, one too small for the upscale, a missing file, a file that is no image and two photos of one name, each by name', async () => {
      const empty = path.join(work, 'empty.png');
      await writeFile(empty, await encode(background(200, 150)));
      await expect(loadRealPhotos([empty], template, 2)).rejects.toThrow(/empty\.png: no face found/);
      const tiny = path.join(work, 'tiny.png');
      await writeFile(tiny, await encode(background(100, 90)));
      await expect(loadRealPhotos([tiny], template, 4)).rejects.toThrow(/tiny\.png: 100x90 is too small/);
      const text = path.join(work, 'notes.jpg');
      await writeFile(text, 'not a photo');
      await expect(loadRealPhotos([text], template, 2)).rejects.toThrow(
        /notes\.jpg: not a photo that can be decoded/,
      );
      // The second test's one.png (a face), and a copy of it in another folder.
      await mkdir(path.join(work, 'again'), { recursive: true });
      await copyFile(path.join(work, 'one.png'), path.join(work, 'again', 'one.png'));
      await expect(
        loadRealPhotos([path.join(work, 'one.png'), path.join(work, 'again', 'one.png')], template, 4),
      ).rejects.toThrow(/two photos are named one\.png/);
      await expect(loadRealPhotos([path.join(work, 'absent.jpg')], template, 2)).rejects.toThrow(
        /absent\.jpg: cannot read the photo/,
      );
    });
  },
);
