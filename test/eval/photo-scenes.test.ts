/**
 * Synthetic group photos of the whole-photo evaluation: layouts inside the photo without
 * overlaps, deterministic by seed; faces drawn where their transform says (the evaluation cuts
 * them back out by the same transform); degradation at the photo's size, as a JPEG file.
 */
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  DEGRADATION_SPLITS,
  buildScene,
  centreSquare,
  checkSceneOptions,
  composeTruth,
  faceRegion,
  WHOLE_CROP,
  layoutScene,
  loadSceneCrops,
  matchFaces,
  photoBackground,
  psnr,
  resizeRgb,
  sceneBackground,
  scenePhotoId,
  syntheticBackground,
} from '../../gpu-task/src/eval/index.js';
import { deriveSeed, encodeRgbImage } from '../../gpu-task/src/engine/index.js';
import { patternImage } from './helpers.js';

const ids = ['a', 'b', 'c'];

describe('scene layout', () => {
  it('places every face inside the photo, apart from the others, the same way for the same seed', () => {
    for (let i = 0; i < 20; i++) {
      const layout = layoutScene(7, `photo-${i}`, ids, DEFAULT_SCENE_OPTIONS);
      expect(layout).toEqual(layoutScene(7, `photo-${i}`, ids, DEFAULT_SCENE_OPTIONS));
      expect(layout.faces.map((f) => f.id).sort()).toEqual(ids);
      for (const f of layout.faces) {
        const reach = f.side / Math.SQRT2;
        expect(f.cx - reach).toBeGreaterThanOrEqual(-1e-9);
        expect(f.cy - reach).toBeGreaterThanOrEqual(-1e-9);
        expect(f.cx + reach).toBeLessThanOrEqual(DEFAULT_SCENE_OPTIONS.width + 1e-9);
        expect(f.cy + reach).toBeLessThanOrEqual(DEFAULT_SCENE_OPTIONS.height + 1e-9);
        expect(f.side).toBeGreaterThanOrEqual(DEFAULT_SCENE_OPTIONS.minSide * 0.85 ** 3);
        expect(f.side).toBeLessThanOrEqual(DEFAULT_SCENE_OPTIONS.maxSide);
        for (const g of layout.faces) {
          if (g !== f)
            expect(Math.hypot(f.cx - g.cx, f.cy - g.cy)).toBeGreaterThanOrEqual(
              0.55 * (f.side + g.side) - 1e-9,
            );
        }
      }
    }
    expect(layoutScene(8, 'photo-0', ids, DEFAULT_SCENE_OPTIONS)).not.toEqual(
      layoutScene(7, 'photo-0', ids, DEFAULT_SCENE_OPTIONS),
    );
  });

  it('refuses options that cannot make a photo', () => {
    expect(() => checkSceneOptions({ ...DEFAULT_SCENE_OPTIONS, maxSide: 1000 })).toThrow(/face sides/);
    expect(() => checkSceneOptions({ ...DEFAULT_SCENE_OPTIONS, faces: 0 })).toThrow(/faces per photo/);
  });
});

describe('scene composition and degradation', () => {
  const options = { ...DEFAULT_SCENE_OPTIONS, width: 160, height: 120, minSide: 40, maxSide: 60, faces: 2 };
  const crops = new Map<string, RgbImage>([
    ['a', patternImage(200, 1)],
    ['b', patternImage(200, 2)],
  ]);

  it('draws each face where its transform says: cut back out, its centre is the crop', () => {
    const layout = layoutScene(3, 'p', ['a', 'b'], options);
    const background = syntheticBackground(640, 480, 1);
    const { truth, faces } = composeTruth(background, layout, crops, 4);
    for (const face of faces) {
      const region = faceRegion(truth, face);
      const expected = resizeRgb(crops.get(face.id)!, region.width, region.height);
      // The mask is 1 over the central 60 %: compare there.
      const centre = (image: RgbImage): RgbImage => {
        const from = Math.round(image.width * 0.25);
        const side = Math.round(image.width * 0.5);
        const data = new Uint8Array(side * side * 3);
        for (let y = 0; y < side; y++) {
          const start = ((from + y) * image.width + from) * 3;
          data.set(image.data.subarray(start, start + side * 3), y * side * 3);
        }
        return { data, width: side, height: side };
      };
      expect(psnr(centre(region), centre(expected))).toBeGreaterThan(28);
    }
    // The background is untouched far from the faces.
    expect(truth.data.slice(0, 30)).toEqual(background.data.slice(0, 30));
  });

  it('cuts a square of the crop as the region: a square twice as wide holds the crop at its centre', () => {
    // Faces of 50 px (200 at x4), turned: the wide square is exactly 400 px, so its samples
    // fall on the own region's and its central square is that region, pixel for pixel.
    const layout = layoutScene(3, 'p', ['a', 'b'], { ...options, minSide: 50, maxSide: 50 });
    const { truth, faces } = composeTruth(syntheticBackground(640, 480, 1), layout, crops, 4);
    for (const face of faces) {
      const own = faceRegion(truth, face);
      expect(faceRegion(truth, face, 1, WHOLE_CROP)).toEqual(own);
      const wide = faceRegion(truth, face, 1, { left: -0.5, top: -0.5, side: 2 });
      expect([own.width, wide.width]).toEqual([200, 400]);
      for (let y = 0; y < 200; y += 7) {
        const a = ((100 + y) * 400 + 100) * 3;
        expect(Array.from(wide.data.subarray(a, a + 600))).toEqual(
          Array.from(own.data.subarray(y * 600, (y + 1) * 600)),
        );
      }
    }
  });

  it('degrades the whole photo to its size as a JPEG file, deterministically', async () => {
    const background = syntheticBackground(640, 480, 1);
    const scene = await buildScene(
      5,
      'p',
      ['a', 'b'],
      crops,
      background,
      DEGRADATION_SPLITS.medium!,
      options,
    );
    const again = await buildScene(
      5,
      'p',
      ['a', 'b'],
      crops,
      background,
      DEGRADATION_SPLITS.medium!,
      options,
    );
    expect([scene.low.width, scene.low.height, scene.truth.width, scene.truth.height]).toEqual([
      160, 120, 640, 480,
    ]);
    expect([scene.jpeg[0], scene.jpeg[1]]).toEqual([0xff, 0xd8]);
    expect(Buffer.compare(Buffer.from(scene.jpeg), Buffer.from(again.jpeg))).toBe(0);
    expect(scene.degradation.split).toBe('medium');
    await expect(
      buildScene(
        5,
        'p',
        ['a', 'b'],
        crops,
        syntheticBackground(100, 100, 1),
        DEGRADATION_SPLITS.mild!,
        options,
      ),
    ).rejects.toThrow(/background must be 640x480/);
  });

  it('matches reported faces to placed ones by box centre, each report once', () => {
    const layout = layoutScene(3, 'p', ['a', 'b'], options);
    const { faces } = composeTruth(syntheticBackground(640, 480, 1), layout, crops, 4);
    const box = (cx: number, cy: number, s: number) => ({
      box: [cx - s / 2, cy - s / 2, s, s] as [number, number, number, number],
      score: 0.9,
      landmarks: [] as [number, number][],
    });
    const [f0, f1] = faces;
    const { matches, extra } = matchFaces(faces, [box(f1!.cx + 2, f1!.cy, 30), box(5, 5, 10)]);
    expect(matches[0]).toBeUndefined();
    expect(matches[1]?.box[0]).toBeCloseTo(f1!.cx + 2 - 15);
    expect(extra).toBe(1);
    expect(matchFaces([f0!], [box(f0!.cx + 0.5 * f0!.side, f0!.cy, 30)]).matches[0]).toBeUndefined();
  });
});

describe('the evaluation scenes that eval-photos, scripts and tests rebuild alike', () => {
  it('draws photo backgrounds at the ground-truth size from the seed and the photo index', async () => {
    // Prepare: a face-free "photo" to cut windows from.
    const photo = patternImage(320, 5);
    const options = { width: 40, height: 30, upscale: 4 };
    // Act
    const first = await sceneBackground(photo, options, 3, 0);
    const again = await sceneBackground(photo, options, 3, 0);
    const next = await sceneBackground(photo, options, 3, 1);
    const synthetic = await sceneBackground(null, options, 3, 0);
    // Assess: same draw, same pixels; another index, another window; none given, the synthetic one.
    expect([first.width, first.height]).toEqual([160, 120]);
    expect(again.data).toEqual(first.data);
    expect(next.data).not.toEqual(first.data);
    expect(first.data).toEqual((await photoBackground(photo, 160, 120, deriveSeed(3, 0))).data);
    expect(synthetic.data).toEqual(syntheticBackground(160, 120, deriveSeed(3, 0)).data);
  });

  it('names photos photo-000, photo-001, ... and loads each clean face once as its centred square', async () => {
    expect([0, 7, 123].map(scenePhotoId)).toEqual(['photo-000', 'photo-007', 'photo-123']);
    // Prepare: a 40 x 60 PNG read through a clean-face reference.
    const tall = { data: new Uint8Array(40 * 60 * 3).map((_, k) => (k * 7) % 256), width: 40, height: 60 };
    const bytes = await encodeRgbImage(tall, 'png');
    let reads = 0;
    const refs = [{ id: 'tall.png', read: async () => (reads++, bytes) }];
    // Act
    const crops = await loadSceneCrops(refs);
    // Assess
    expect(reads).toBe(1);
    expect(crops.get('tall.png')).toEqual(centreSquare(tall));
  });
});
