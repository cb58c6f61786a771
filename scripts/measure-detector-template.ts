/**
 * Measure where the bundled face detector's keypoints fall in a model's training crops, and fit
 * the five-point template that aligns detected faces as those crops (eval/detector-template.ts).
 *
 * Scenes (the default model's template): UTKFace train faces placed at known transforms in the
 * whole-photo evaluation's scenes (400 x 300, 40-160 px faces, rolls within ±25°), degraded
 * with a split of the eval (`--split`, default mild), detected; each face's keypoints mapped
 * back into its crop's unit square. Writes the template the default model's manifests declare
 * as `framing.landmarks` (models/dr2e_models/ship_default.py reads `--out`):
 *
 *   node --import tsx scripts/measure-detector-template.ts --clean ../shared/data/utkface/utkface-200.tar \
 *     --prefix train/ --photos 64 --first 100 --seed 7 \
 *     --background ../shared/data/whole-photos/insightface_view_noface.jpg --out docs/model/detector-template.json
 *
 * `--exclude N` (default 24) leaves out the faces of the first N evenly spaced picks, the faces
 * that `dr2e eval-photos --limit N/3`, scripts/detect-recall.ts and the photo tests draw first,
 * so that those measure the template on other faces; `--first F` skips F photos' faces more.
 *
 * Crops (a check of another framing, nothing fitted for it): `--crops DIR[,DIR...]` places every
 * image of the folders (aligned face crops) upright at 256 px in a grey 640 x 480 photo and reports how the FFHQ
 * template (GFPGAN's and CodeFormer's) frames them when aligned from the detector's keypoints:
 *
 *   node --import tsx scripts/measure-detector-template.ts \
 *     --crops ../shared/data/real-degraded/dr2-test,../shared/data/real-degraded/gfpgan
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  FFHQ_TEMPLATE,
  type TemplatePoint,
  decodeImageToRgb,
  fourPointTemplate,
} from '../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  centreSquare,
  degradationSplit,
  keypointsInCrop,
  listCleanFaces,
  matchFaces,
  meanFraming,
  resizeRgb,
  templateFromKeypoints,
  loadSceneCrops,
  sceneBackground,
  scenePhotoId,
} from '../gpu-task/src/eval/index.js';
import { DEFAULT_SMALLEST_FACE, type DetectedFace, FaceDetector } from '../gpu-task/src/photo/index.js';

const USAGE =
  'usage: measure-detector-template.ts --clean FACES.tar --prefix train/ --photos N --background PHOTO.jpg ' +
  '[--first F] [--exclude N] [--seed S] [--split mild] [--out FILE]\n' +
  '   or: measure-detector-template.ts --crops DIR[,DIR...] [--out FILE]';

/** A bad command line: the message and the usage, exit 1 (no stack trace). */
function refuse(message: string): never {
  process.stderr.write(`measure-detector-template: ${message}\n${USAGE}\n`);
  process.exit(1);
}

/** The command line's options; a bad one is refused with the usage. */
function commandLine() {
  try {
    return parseArgs({
      strict: true,
      options: {
        clean: { type: 'string' },
        prefix: { type: 'string' },
        photos: { type: 'string' },
        background: { type: 'string' },
        first: { type: 'string', default: '0' },
        exclude: { type: 'string', default: '24' },
        seed: { type: 'string', default: '0' },
        split: { type: 'string', default: 'mild' },
        crops: { type: 'string' },
        out: { type: 'string' },
      },
    }).values;
  } catch (error) {
    return refuse((error as Error).message);
  }
}
const values = commandLine();

/** A whole number within [min, ∞) from an option's text. */
function wholeNumber(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    refuse(`--${name} wants a whole number >= ${min}, got ${text}`);
  return value;
}

const detector = await FaceDetector.load();
try {
  const result = values.crops ? await measureCrops(values.crops) : await measureScenes();
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out) await writeFile(values.out, text);
  process.stdout.write(text);
} finally {
  await detector.dispose();
}

/** The default model's template, from UTKFace faces in evaluation scenes. */
async function measureScenes(): Promise<Record<string, unknown>> {
  const { clean, prefix, background: backgroundFile } = values;
  if (!clean || !prefix || !values.photos || !backgroundFile) {
    refuse('--clean, --prefix, --photos and --background are required (or --crops DIR)');
  }
  const photos = wholeNumber('photos', values.photos, 1);
  const first = wholeNumber('first', values.first, 0);
  const exclude = wholeNumber('exclude', values.exclude, 0);
  const seed = wholeNumber('seed', values.seed, 0);
  let split;
  try {
    split = degradationSplit(values.split);
  } catch (error) {
    return refuse(`--split: ${(error as Error).message}`);
  }
  const scene = DEFAULT_SCENE_OPTIONS;
  const started = performance.now();
  const needed = (first + photos) * scene.faces;
  const excluded = new Set(
    exclude > 0 ? (await listCleanFaces(clean, { prefix, limit: exclude })).map((r) => r.id) : [],
  );
  const refs = (await listCleanFaces(clean, { prefix, limit: needed + excluded.size }))
    .filter((r) => !excluded.has(r.id))
    .slice(first * scene.faces, needed);
  if (refs.length < photos * scene.faces)
    refuse(`${clean} ${prefix} holds too few faces for ${photos} photos`);
  const crops = await loadSceneCrops(refs);
  const backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(backgroundFile)))).image;
  const samples: TemplatePoint[][] = [];
  for (let index = 0; index < photos; index++) {
    const id = scenePhotoId(first + index);
    const background = await sceneBackground(backgroundPhoto, scene, seed, first + index);
    const faceIds = refs.slice(index * scene.faces, (index + 1) * scene.faces).map((r) => r.id);
    const s = await buildScene(seed, id, faceIds, crops, background, split, scene);
    const found = await detector.detect((await decodeImageToRgb(s.jpeg)).image, {
      smallestFace: DEFAULT_SMALLEST_FACE,
    });
    matchFaces(s.faces, found).matches.forEach((hit, i) => {
      if (hit) samples.push(keypointsInCrop(s.faces[i]!, hit.keypoints));
    });
  }
  const measured = templateFromKeypoints(samples);
  const sides = `${scene.minSide}-${scene.maxSide} px`;
  const roll = Math.round((scene.maxAngle * 180) / Math.PI);
  return {
    method:
      'least-squares alignment template fitted to the bundled detector keypoints (photo/detect.ts) of faces placed at known transforms in whole-photo evaluation scenes, mapped into the crop unit square: the mean keypoints scaled and shifted until the alignment frames the faces as their crops on average (eval/detector-template.ts); mouth corners about its mouth centre at the FFHQ template mouth width per eye distance',
    command: `node --import tsx scripts/measure-detector-template.ts ${process.argv.slice(2).join(' ')}`,
    source: `${clean} ${prefix}: ${samples.length} of ${photos * scene.faces} faces found in ${photos} photos (skipping the first ${first} photos' faces and the ${excluded.size} faces of the first ${exclude} picks); seed ${seed}; ${split.name} degradation; ${scene.width}x${scene.height} scenes, ${sides} faces, rolls within ${roll} degrees`,
    seconds: Math.round((performance.now() - started) / 1000),
    ...summary(measured),
  };
}

/** How the FFHQ template frames aligned crops (a check; nothing is fitted for it). */
async function measureCrops(dir: string): Promise<Record<string, unknown>> {
  const side = 256;
  const [width, height] = [640, 480];
  const [left, top] = [(width - side) / 2, (height - side) / 2];
  const names: string[] = [];
  for (const folder of dir.split(',')) {
    try {
      const images = (await readdir(folder)).filter((name) => /\.(png|jpe?g|webp)$/i.test(name)).sort();
      names.push(...images.map((name) => path.join(folder, name)));
    } catch (error) {
      return refuse(`--crops: ${(error as Error).message}`);
    }
  }
  if (names.length < 2) refuse(`${dir} holds fewer than 2 images`);
  const samples: TemplatePoint[][] = [];
  const missed: string[] = [];
  for (const name of names) {
    const crop = resizeRgb(centreSquare((await decodeImageToRgb(await readFile(name))).image), side, side);
    const photo = { data: new Uint8Array(width * height * 3).fill(128), width, height };
    for (let row = 0; row < side; row++) {
      photo.data.set(
        crop.data.subarray(row * side * 3, (row + 1) * side * 3),
        ((top + row) * width + left) * 3,
      );
    }
    const largest = (await detector.detect(photo)).reduce<DetectedFace | undefined>(
      (best, f) => (best && best.box[2] >= f.box[2] ? best : f),
      undefined,
    );
    if (!largest) missed.push(path.basename(name));
    else
      samples.push(
        keypointsInCrop({ id: name, side, angle: 0, cx: width / 2, cy: height / 2 }, largest.keypoints),
      );
  }
  const ffhq = meanFraming(samples, fourPointTemplate(FFHQ_TEMPLATE));
  return {
    source: `${dir}: ${samples.length} of ${names.length} crops found (missed: ${missed.join(', ') || 'none'}), each upright at ${side} px in a ${width}x${height} grey photo`,
    ffhqTemplateFraming: {
      sideRatio: round(ffhq.sideRatio),
      centreOffset: ffhq.centreOffset.map(round),
    },
    ...summary(templateFromKeypoints(samples)),
  };
}

function round(value: number): number {
  return Number(value.toFixed(4));
}

function summary(measured: ReturnType<typeof templateFromKeypoints>): Record<string, unknown> {
  const point = ([x, y]: readonly [number, number]) => [round(x), round(y)];
  const names = ['eyeLeft', 'eyeRight', 'noseTip', 'mouthCentre'];
  return {
    faces: measured.faces,
    keypoints: Object.fromEntries(
      names.map((name, k) => [
        name,
        { mean: point(measured.mean[k]!), standardError: point(measured.standardError[k]!) },
      ]),
    ),
    meanKeypointsFraming: {
      sideRatio: round(measured.meanFraming.sideRatio),
      centreOffset: measured.meanFraming.centreOffset.map(round),
    },
    landmarks: measured.landmarks.map(point),
  };
}
