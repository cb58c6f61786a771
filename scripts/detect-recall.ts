/**
 * Detection recall of the whole-photo evaluation's scenes, without restoring them: the same
 * scenes as `dr2e eval-photos` (seed 0, default scene options), run through the detector only.
 * Usage: node --import tsx scripts/detect-recall.ts CLEAN.tar PREFIX PHOTOS BACKGROUND.jpg [--plain]
 *   [--seed S] [--first F] [--max-angle DEG] [--width W --height H] [--min-side A --max-side B]
 *   [--no-mirror] [--no-front]
 *   [--no-tiled-candidates] [--no-enlarged] [--no-second-detector] [--no-full-range] [--no-retinaface]
 * (--plain: without the cascade and the smoothed pass, the single-threshold detector; --no-smoothing:
 * the cascade without the smoothed pass of noisy photos; --seed: the scenes' seed, default
 * 0 as in `dr2e eval-photos`; --first: skip the first F photos' faces, to draw other faces;
 * --max-angle: the largest roll of a face in degrees, default 25 as in `dr2e eval-photos` (180:
 * any roll, upside down included);
 * --width/--height: the photo's size, default 400 x 300 as in `dr2e eval-photos` (800 x 600 has
 * finer pyramid levels); --min-side/--max-side: the face crops' sides in photo pixels, default
 * 40-160 as in `dr2e eval-photos` (its `--face-sides`); --no-mirror: second looks without their mirrored views; --no-front:
 * without the front-camera graph's looks; --no-tiled-candidates: candidates from the whole-photo
 * views only (no enlarged level either); --no-enlarged: without the enlarged candidate level;
 * --no-second-detector: without FaceBoxes' proposals, photo/second-detector.ts; --no-full-range:
 * without the full-range graph's faces, the third opinion; --no-retinaface: without RetinaFace's, the
 * fourth).
 */
import { readFile } from 'node:fs/promises';
import { decodeImageToRgb } from '../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  checkSceneOptions,
  degradationSplit,
  listCleanFaces,
  matchFaces,
  loadSceneCrops,
  sceneBackground,
  scenePhotoId,
} from '../gpu-task/src/eval/index.js';
import { DEFAULT_SMALLEST_FACE, FaceDetector } from '../gpu-task/src/photo/index.js';

const [clean, prefix, photosArg, backgroundFile] = process.argv.slice(2);
if (!clean || !prefix || !photosArg || !backgroundFile)
  throw new Error('usage: CLEAN PREFIX PHOTOS BACKGROUND');
const photos = Number(photosArg);
/** The value after `--name`, as a whole number, or `fallback`. */
function intOption(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} wants a whole number >= 0`);
  return value;
}
const seed = intOption('--seed', 0);
const first = intOption('--first', 0);
const scene = {
  ...DEFAULT_SCENE_OPTIONS,
  maxAngle: (intOption('--max-angle', 25) * Math.PI) / 180,
  width: intOption('--width', DEFAULT_SCENE_OPTIONS.width),
  height: intOption('--height', DEFAULT_SCENE_OPTIONS.height),
  minSide: intOption('--min-side', DEFAULT_SCENE_OPTIONS.minSide),
  maxSide: intOption('--max-side', DEFAULT_SCENE_OPTIONS.maxSide),
};
checkSceneOptions(scene);
const refs = await listCleanFaces(clean, { prefix, limit: (first + photos) * scene.faces });
const crops = await loadSceneCrops(refs);
const backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(backgroundFile)))).image;
const detector = await FaceDetector.load();
const ids = refs.map((r) => r.id);
let detectMs = 0;
for (const name of ['mild', 'medium', 'severe']) {
  const split = degradationSplit(name);
  let found = 0;
  let total = 0;
  let extra = 0;
  // Found faces whose keypoints put the mouth on the wrong side of the eyes (more than 90 degrees
  // off the placed roll): aligned from them, the face would be restored upside down.
  let turned = 0;
  const misses: string[] = [];
  for (let index = first; index < first + photos; index++) {
    const id = scenePhotoId(index);
    const background = await sceneBackground(backgroundPhoto, scene, seed, index);
    const s = await buildScene(
      seed,
      id,
      ids.slice(index * scene.faces, (index + 1) * scene.faces),
      crops,
      background,
      split,
      scene,
    );
    const { image } = await decodeImageToRgb(s.jpeg);
    const t = performance.now();
    const faces = await detector.detect(image, {
      smallestFace: DEFAULT_SMALLEST_FACE,
      cascade: !process.argv.includes('--plain'),
      ...(process.argv.includes('--plain') || process.argv.includes('--no-smoothing')
        ? { denoisedPass: false }
        : {}),
      ...(process.argv.includes('--no-mirror') ? { mirroredLooks: false } : {}),
      ...(process.argv.includes('--no-front') ? { frontLooks: false } : {}),
      ...(process.argv.includes('--no-tiled-candidates') ? { tiledCandidates: false } : {}),
      ...(process.argv.includes('--no-enlarged') ? { enlargedCandidates: false } : {}),
      ...(process.argv.includes('--no-second-detector') ? { secondDetector: false } : {}),
      ...(process.argv.includes('--no-full-range') ? { fullRange: false } : {}),
      ...(process.argv.includes('--no-retinaface') ? { retinaFace: false } : {}),
    });
    detectMs += performance.now() - t;
    const { matches, extra: e } = matchFaces(s.faces, faces);
    found += matches.filter((m) => m !== undefined).length;
    total += s.faces.length;
    extra += e;
    s.faces.forEach((f, i) => {
      const match = matches[i];
      if (!match) {
        misses.push(`${id}:${Math.round(f.side)}px`);
        return;
      }
      const [left, right, , mouth] = match.keypoints;
      const down = [mouth![0] - (left![0] + right![0]) / 2, mouth![1] - (left![1] + right![1]) / 2];
      // The placed face's "down" (clockwise roll in image coordinates): (-sin a, cos a).
      if (down[0]! * -Math.sin(f.angle) + down[1]! * Math.cos(f.angle) < 0) turned++;
    });
    if (e > 0)
      console.log(
        `${name} ${id}: extra`,
        faces.map((f) => `${f.box.map(Math.round).join(',')}@${f.score.toFixed(2)}`).join(' '),
      );
  }
  console.log(
    `${name}: found ${found}/${total}, extra ${extra}, upside down ${turned}; missed ${misses.join(' ')}`,
  );
}
console.log(`detect ${(detectMs / (3 * photos)).toFixed(0)} ms/photo`);
await detector.dispose();
