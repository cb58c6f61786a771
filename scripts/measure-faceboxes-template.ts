/**
 * Where BlazeFace's box and keypoints fall in FaceBoxes' boxes: the layout detect.ts gives a face that
 * only FaceBoxes saw (photo/faceboxes.ts, FACEBOXES_KEYPOINTS). Scenes of the whole-photo
 * evaluation (UTKFace train faces at known places, rolls within ±`--max-angle`°, degraded
 * with the mild split), each run through both detectors (FaceBoxes enlarged 2x as detect.ts
 * runs it on such photos); each face both find, its box and six keypoints in its FaceBoxes box's unit
 * square. Prints the mean and spread of each, and of the box's centre and sides.
 *
 *   node --import tsx scripts/measure-faceboxes-template.ts ../shared/data/utkface/utkface-200.tar \
 *     train/ 64 ../shared/data/whole-photos/insightface_view_noface.jpg --first 100 --seed 7
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeImageToRgb } from '../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  degradationSplit,
  listCleanFaces,
  loadSceneCrops,
  sceneBackground,
  scenePhotoId,
} from '../gpu-task/src/eval/index.js';
import { FaceBoxesModel, FaceDetector, iou } from '../gpu-task/src/photo/index.js';

const [clean, prefix, photosArg, backgroundFile] = process.argv.slice(2);
if (!clean || !prefix || !photosArg || !backgroundFile)
  throw new Error('usage: CLEAN PREFIX PHOTOS BACKGROUND [--first F] [--seed S] [--max-angle DEG]');
const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const photos = Number(photosArg);
const first = option('--first', 0);
const seed = option('--seed', 0);
const scene = { ...DEFAULT_SCENE_OPTIONS, maxAngle: (option('--max-angle', 10) * Math.PI) / 180 };
const refs = await listCleanFaces(clean, { prefix, limit: (first + photos) * scene.faces });
const crops = await loadSceneCrops(refs);
const ids = refs.map((r) => r.id);
const backgroundPhoto = (await decodeImageToRgb(new Uint8Array(await readFile(backgroundFile)))).image;
const detector = await FaceDetector.load();
const faceBoxes = await FaceBoxesModel.load();
const points: number[][][] = [[], [], [], [], [], []];
// BlazeFace's box in the FaceBoxes box: centre x, centre y, width, height
const boxes: number[][] = [];
for (let index = first; index < first + photos; index++) {
  const background = await sceneBackground(backgroundPhoto, scene, seed, index);
  const s = await buildScene(
    seed,
    scenePhotoId(index),
    ids.slice(index * scene.faces, (index + 1) * scene.faces),
    crops,
    background,
    degradationSplit('mild'),
    scene,
  );
  const { image } = await decodeImageToRgb(s.jpeg);
  const faces = await detector.detect(image, { secondDetector: false });
  const enlarged = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(image.width * 2, image.height * 2, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const found = await faceBoxes.detect(
    { data: new Uint8Array(enlarged), width: image.width * 2, height: image.height * 2 },
    0.5,
  );
  for (const b of found) {
    const [x, y, w, h] = b.box.map((v) => v / 2) as [number, number, number, number];
    const face = faces.find((f) => iou(f.box, [x, y, w, h]) > 0.3);
    if (!face) continue;
    face.keypoints.forEach(([px, py], k) => points[k]!.push([(px - x) / w, (py - y) / h]));
    const [fx, fy, fw, fh] = face.box;
    boxes.push([(fx + fw / 2 - x) / w, (fy + fh / 2 - y) / h, fw / w, fh / h]);
  }
}
const stats = (values: number[]): string => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
};
const names = [
  'eye (image left)',
  'eye (image right)',
  'nose tip',
  'mouth',
  'ear (image left)',
  'ear (image right)',
];
points.forEach((p, k) =>
  console.log(
    `${names[k]}: x ${stats(p.map((q) => q[0]!))}, y ${stats(p.map((q) => q[1]!))} (${p.length} faces)`,
  ),
);
console.log(
  `BlazeFace box: centre x ${stats(boxes.map((b) => b[0]!))}, y ${stats(boxes.map((b) => b[1]!))}, ` +
    `width ${stats(boxes.map((b) => b[2]!))}, height ${stats(boxes.map((b) => b[3]!))}`,
);
await faceBoxes.dispose();
await detector.dispose();
