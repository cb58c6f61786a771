/**
 * Detection of photos fed in turned (no EXIF orientation to undo): the photos of
 * `../shared/data/whole-photos` with faces, made small and JPEG-compressed, turned by 90, 180
 * and 270 degrees with sharp. A face counts as found when a detection, mapped back to the
 * upright photo, has its box centre within 0.4 face sides of one the detector finds in the
 * upright small photo (each at most once).
 *
 * Usage: node --import tsx scripts/detect-turned-photos.ts [--widths 240,320,400,560] [--quality 40]
 *   [--no-turned-search]
 *
 * Prints the faces found per turn (0 is the upright photo itself) and how many turned photos
 * gave no face at all.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImageToRgb } from '../gpu-task/src/engine/index.js';
import {
  type DetectedFace,
  FaceDetector,
  type QuarterTurns,
  fromTurned,
} from '../gpu-task/src/photo/index.js';

/** The value after `--name`, or `fallback`. */
function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : (process.argv[at + 1] ?? fallback);
}

const widths = option('--widths', '240,320,400,560').split(',').map(Number);
const quality = Number(option('--quality', '40'));
if (
  widths.some((w) => !Number.isInteger(w) || w < 16) ||
  !Number.isInteger(quality) ||
  quality < 1 ||
  quality > 100
)
  throw new Error('--widths wants whole numbers >= 16 and --quality a whole number 1-100');
const turnedSearch = !process.argv.includes('--no-turned-search');
const photos = [
  'insightface_t1_group.jpg',
  '10045.png',
  '00.jpg',
  'Blake_Lively.jpg',
  'insightface_blur.jpg',
  'insightface_r90_rotated.jpg',
];
const wholePhotos = path.join(import.meta.dirname, '..', '..', 'shared', 'data', 'whole-photos');

/** How many of `truth` the detections find (box centres within 0.4 sides, each once). */
function found(truth: readonly DetectedFace[], faces: readonly DetectedFace[]): number {
  const used = new Set<number>();
  let count = 0;
  for (const t of truth) {
    const cx = t.box[0] + t.box[2] / 2;
    const cy = t.box[1] + t.box[3] / 2;
    const at = faces.findIndex(
      (f, i) =>
        !used.has(i) &&
        Math.hypot(f.box[0] + f.box[2] / 2 - cx, f.box[1] + f.box[3] / 2 - cy) < 0.4 * t.box[2],
    );
    if (at < 0) continue;
    used.add(at);
    count++;
  }
  return count;
}

const detector = await FaceDetector.load();
const turnsFound = [0, 0, 0, 0];
let faceless = 0;
for (const name of photos) {
  const original = await readFile(path.join(wholePhotos, name));
  for (const width of widths) {
    const jpeg = await sharp(original).rotate().resize(width).jpeg({ quality }).toBuffer();
    const upright = (await decodeImageToRgb(new Uint8Array(jpeg))).image;
    // The faces to find: the upright small photo's (its own turned search off).
    const truth = await detector.detect(upright, { turnedPhotos: false });
    for (const turns of [0, 1, 2, 3] as const satisfies readonly QuarterTurns[]) {
      const png = await sharp(jpeg)
        .rotate(90 * turns)
        .png()
        .toBuffer();
      const photo = (await decodeImageToRgb(new Uint8Array(png))).image;
      const faces = (await detector.detect(photo, { turnedPhotos: turnedSearch })).map((face) =>
        fromTurned(face, turns, upright.width, upright.height),
      );
      if (turns > 0 && faces.length === 0) faceless++;
      turnsFound[turns]! += found(truth, faces);
    }
  }
}
console.log(
  `faces found over ${photos.length * widths.length} photos (JPEG ${quality}), by turn 0 / 90 / 180 / 270 degrees: ${turnsFound.join(' / ')}`,
);
console.log(`turned photos with no face found: ${faceless}`);
await detector.dispose();
