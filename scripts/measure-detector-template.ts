/**
 * Measure where the bundled face detector's keypoints fall in UTKFace crops (the default
 * model's training frames): train faces placed at known transforms in the whole-photo
 * evaluation's scenes (mild degradation, rolls within ±25°), detected, their keypoints mapped
 * back into the crop's unit square, averaged (eval/detector-template.ts). Writes the five-point
 * template that the default model's manifests declare as `framing.landmarks`
 * (models/dr2e_models/ship_default.py reads it from the output file).
 *
 * Usage: node --import tsx scripts/measure-detector-template.ts CLEAN.tar PREFIX PHOTOS BACKGROUND.jpg
 *   [--first F] [--seed S] [--split mild] [--out docs/model/detector-template.json]
 * (--first: skip the first F photos' faces of the evenly spaced picks, so the faces differ from
 * those `dr2e eval-photos --prefix train/` draws first.)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { type TemplatePoint, decodeImageToRgb, deriveSeed } from '../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  centreSquare,
  degradationSplit,
  keypointsInCrop,
  listCleanFaces,
  matchFaces,
  photoBackground,
  templateFromKeypoints,
} from '../gpu-task/src/eval/index.js';
import { DEFAULT_SMALLEST_FACE, FaceDetector } from '../gpu-task/src/photo/index.js';

const [clean, prefix, photosArg, backgroundFile] = process.argv.slice(2);
if (!clean || !prefix || !photosArg || !backgroundFile) {
  throw new Error(
    'usage: CLEAN.tar PREFIX PHOTOS BACKGROUND.jpg [--first F] [--seed S] [--split NAME] [--out FILE]',
  );
}
/** The value after `--name`, or `fallback`. */
function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : (process.argv[at + 1] ?? fallback);
}
function wholeNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} wants a whole number >= 0, got ${value}`);
  return n;
}
const photos = wholeNumber('PHOTOS', photosArg);
const first = wholeNumber('--first', option('--first', '0'));
const seed = wholeNumber('--seed', option('--seed', '0'));
const split = degradationSplit(option('--split', 'mild'));
const out = option('--out', '');
const scene = DEFAULT_SCENE_OPTIONS;

const started = performance.now();
const refs = await listCleanFaces(clean, { prefix, limit: (first + photos) * scene.faces });
const ids = refs.map((r) => r.id);
const crops = new Map();
for (const ref of refs.slice(first * scene.faces)) {
  crops.set(ref.id, centreSquare((await decodeImageToRgb(await ref.read())).image));
}
const backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(backgroundFile)))).image;
const detector = await FaceDetector.load();
const samples: TemplatePoint[][] = [];
let placed = 0;
try {
  for (let index = first; index < first + photos; index++) {
    const id = `photo-${String(index).padStart(3, '0')}`;
    const background = await photoBackground(
      backgroundPhoto,
      scene.width * scene.upscale,
      scene.height * scene.upscale,
      deriveSeed(seed, index),
    );
    const faceIds = ids.slice(index * scene.faces, (index + 1) * scene.faces);
    const s = await buildScene(seed, id, faceIds, crops, background, split, scene);
    const { image } = await decodeImageToRgb(s.jpeg);
    const found = await detector.detect(image, { smallestFace: DEFAULT_SMALLEST_FACE });
    const { matches } = matchFaces(
      s.faces,
      found.map((f) => ({ box: f.box, score: f.score, landmarks: [] })),
    );
    s.faces.forEach((face, i) => {
      placed++;
      const hit = found.find((f) => f.box === matches[i]?.box);
      if (hit) samples.push(keypointsInCrop(face, hit.keypoints));
    });
  }
} finally {
  await detector.dispose();
}
const measured = templateFromKeypoints(samples);
const round = (v: number) => Number(v.toFixed(4));
const point = ([x, y]: readonly [number, number]) => [round(x), round(y)];
const names = ['eyeLeft', 'eyeRight', 'noseTip', 'mouthCentre'];
const result = {
  method:
    'mean of the bundled detector keypoints (photo/detect.ts) of faces placed at known transforms in the whole-photo evaluation scenes, mapped into the crop unit square (scripts/measure-detector-template.ts); mouth corners at the mean centre +/- half of the FFHQ template mouth width per eye distance',
  command: `node --import tsx scripts/measure-detector-template.ts ${process.argv.slice(2).join(' ')}`,
  source: `${clean} ${prefix} (${placed} faces of ${photos} photos from photo ${first}; seed ${seed}; ${split.name} degradation; 400x300 scenes, 40-160 px faces, rolls within 25 degrees)`,
  faces: measured.faces,
  keypoints: Object.fromEntries(
    names.map((name, k) => [
      name,
      { mean: point(measured.mean[k]!), standardError: point(measured.standardError[k]!) },
    ]),
  ),
  landmarks: measured.landmarks.map(point),
};
const text = `${JSON.stringify(result, null, 2)}\n`;
if (out) await writeFile(out, text);
process.stdout.write(text);
console.error(
  `${measured.faces} of ${placed} faces found; ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
