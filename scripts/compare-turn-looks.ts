/**
 * How well the detector's looks at the faces of a photo choose the turn that stands it up
 * (`turnToStandUp`, photo/turned-photos.ts), per size of those looks and for sums of sizes. The
 * photos of `../shared/data/whole-photos` with upright faces, made small and JPEG-compressed,
 * are turned by 0, 90, 180 and 270 degrees; each copy in which the detector finds a face is
 * scored by `turnLookTotals` at every size, and a set of sizes chooses the turn its summed
 * totals favour. A choice is right when it turns the copy back upright.
 *
 * Usage: node --import tsx scripts/compare-turn-looks.ts [--sizes 40,48,56,64,80]
 *   [--sets 80,64,48,64+80,48+80] [--widths 240,280,320,360,400,480,560,640] [--qualities 30,40,60]
 *
 * Every copy is counted, also those whose faces do not lean (the detector looks this way only at
 * photos half of whose faces or more do: `facesLean`); the count of the leaning ones is printed
 * beside.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImageToRgb } from '../gpu-task/src/engine/index.js';
import {
  BlazeFaceModel,
  blazeFaceModelPath,
  FaceDetector,
  facesLean,
  turnLookTotals,
} from '../gpu-task/src/photo/index.js';

/** The value after `--name`, or `fallback`. */
function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : (process.argv[at + 1] ?? fallback);
}

/** Whole numbers from a comma-separated option, each from `min` to `max`. */
function wholeNumbers(name: string, fallback: string, min: number, max = Number.MAX_SAFE_INTEGER): number[] {
  const values = option(name, fallback).split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < min || v > max))
    throw new Error(`${name} wants whole numbers from ${min} to ${max}, got ${option(name, fallback)}`);
  return values;
}

const sizes = wholeNumbers('--sizes', '40,48,56,64,80', 8);
const sets = option('--sets', '80,64,48,64+80,48+80')
  .split(',')
  .map((set) => set.split('+').map(Number));
if (sets.some((set) => set.some((size) => !sizes.includes(size)) || new Set(set).size !== set.length))
  throw new Error('--sets wants sums of distinct sizes, each one of --sizes (e.g. 80,48+80)');
const widths = wholeNumbers('--widths', '240,280,320,360,400,480,560,640', 16);
const qualities = wholeNumbers('--qualities', '30,40,60', 1, 100);
const photos = [
  'insightface_t1_group.jpg',
  '10045.png',
  '00.jpg',
  'Blake_Lively.jpg',
  'insightface_blur.jpg',
];
const wholePhotos = path.join(import.meta.dirname, '..', '..', 'shared', 'data', 'whole-photos');

interface Copy {
  label: string;
  /** The quarter turns that stand the copy up again. */
  standing: number;
  leaning: boolean;
  totals: Map<number, [number, number, number, number]>;
}

const detector = await FaceDetector.load();
const looks = await BlazeFaceModel.load(blazeFaceModelPath(), 1);
const copies: Copy[] = [];
for (const name of photos) {
  const original = await readFile(path.join(wholePhotos, name));
  for (const quality of qualities) {
    for (const width of widths) {
      const jpeg = await sharp(original).rotate().resize(width).jpeg({ quality }).toBuffer();
      for (const turns of [0, 1, 2, 3]) {
        const png = await sharp(jpeg)
          .rotate(90 * turns)
          .png()
          .toBuffer();
        const photo = (await decodeImageToRgb(new Uint8Array(png))).image;
        const faces = await detector.detect(photo, { turnedPhotos: false });
        if (faces.length === 0) continue;
        const totals = new Map<number, [number, number, number, number]>();
        for (const size of sizes) totals.set(size, await turnLookTotals(looks, photo, faces, size));
        copies.push({
          label: `${name} ${width} px q${quality} turned ${90 * turns}`,
          standing: (4 - turns) % 4,
          leaning: facesLean(faces),
          totals,
        });
      }
    }
  }
}
console.log(
  `${copies.length} copies with a face found (${copies.filter((c) => c.leaning).length} whose faces lean)`,
);
for (const set of sets) {
  const wrong = copies.filter((copy) => {
    const summed = [0, 1, 2, 3].map((turns) =>
      set.reduce((sum, size) => sum + copy.totals.get(size)![turns]!, 0),
    );
    return summed.indexOf(Math.max(...summed)) !== copy.standing;
  });
  console.log(
    `looks at ${set.join(' + ')} px: turn chosen wrong for ${wrong.length} (${wrong.filter((c) => c.leaning).length} whose faces lean)${wrong.length ? `: ${wrong.map((c) => c.label).join('; ')}` : ''}`,
  );
}
await looks.dispose();
await detector.dispose();
