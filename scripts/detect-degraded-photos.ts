/**
 * Detection recall on real whole photos made small and degraded far beyond the eval's severe
 * split: each photo of `../shared/data/whole-photos` downscaled to a width, blurred, noised and
 * JPEG-compressed at three strengths, several draws each. The faces to find are those the
 * detector finds in the clean photo at full size; a detection whose box centre lies within 0.4
 * face sides of one (each at most once) finds it, any other counts as extra.
 *
 * Usage: node --import tsx scripts/detect-degraded-photos.ts [--photos a.jpg,b.png]
 *   [--widths 240,320,400,560] [--draws 4] [--free-crops 32] [--no-enlarged] [--no-second-detector] [--no-full-range] [--no-retinaface]
 *   [--threads N]
 *
 * Besides recall it reports how far the found faces' eyes and mouth lie from the clean photo's
 * (what alignment is cut from), and the faces found in `--free-crops` crops of the no-face
 * landscape (30-90 % of its height, 160-430 px wide, degraded alike): every one is false.
 *
 * Strengths, in the small photo's pixels (downscaled first, antialiased bicubic): blur σ 1.2 /
 * 1.6 / 2.0 px, Gaussian noise 10 / 15 / 20, JPEG quality 40 / 32 / 25. A 30 px face blurred by
 * 2 px is σ ≈ 34 px of a 512-px face (the severe split's is 6-10).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeImageToRgb, SeededRandom } from '../gpu-task/src/engine/index.js';
import {
  addNoise,
  gaussianBlur,
  jpegRoundTrip,
  planarToRgb,
  resizePlanar,
  rgbToPlanar,
} from '../gpu-task/src/eval/index.js';
import { type DetectedFace, FaceDetector } from '../gpu-task/src/photo/index.js';

const STRENGTHS = [
  { blur: 1.2, noise: 10, jpegQuality: 40 },
  { blur: 1.6, noise: 15, jpegQuality: 32 },
  { blur: 2.0, noise: 20, jpegQuality: 25 },
] as const;

/** The value after `--name`, or `fallback`. */
function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : (process.argv[at + 1] ?? fallback);
}

const photos = option(
  '--photos',
  'insightface_t1_group.jpg,10045.png,00.jpg,Blake_Lively.jpg,insightface_blur.jpg,insightface_view_noface.jpg',
).split(',');
const widths = option('--widths', '240,320,400,560').split(',').map(Number);
const draws = Number(option('--draws', '4'));
const freeCrops = Number(option('--free-crops', '32'));
if (widths.some((w) => !Number.isInteger(w) || w < 16) || !Number.isInteger(draws) || draws < 1)
  throw new Error('--widths wants whole numbers >= 16 and --draws a whole number >= 1');
if (!Number.isInteger(freeCrops) || freeCrops < 0) throw new Error('--free-crops wants a whole number >= 0');
const detectOptions = {
  ...(process.argv.includes('--no-enlarged') ? { enlargedCandidates: false } : {}),
  ...(process.argv.includes('--no-second-detector') ? { secondDetector: false } : {}),
  ...(process.argv.includes('--no-full-range') ? { fullRange: false } : {}),
  ...(process.argv.includes('--no-retinaface') ? { retinaFace: false } : {}),
};
const wholePhotos = path.join(import.meta.dirname, '..', '..', 'shared', 'data', 'whole-photos');
const threads = option('--threads', '');
// Without --threads, the detector's own default (defaultThreads).
const detector = await FaceDetector.load(undefined, threads ? Number(threads) : undefined);

/**
 * How many of `truth` (scaled by `k`) the detections find, how many detections are extra, and
 * each found face's keypoint error (keypointError).
 */
function score(truth: readonly DetectedFace[], k: number, faces: readonly DetectedFace[]) {
  const used = new Set<number>();
  let found = 0;
  const keypointErrors: number[] = [];
  for (const t of truth) {
    const cx = (t.box[0] + t.box[2] / 2) * k;
    const cy = (t.box[1] + t.box[3] / 2) * k;
    const at = faces.findIndex(
      (f, i) =>
        !used.has(i) &&
        Math.hypot(f.box[0] + f.box[2] / 2 - cx, f.box[1] + f.box[3] / 2 - cy) < 0.4 * t.box[2] * k,
    );
    if (at < 0) continue;
    used.add(at);
    found++;
    keypointErrors.push(keypointError(t, k, faces[at]!));
  }
  return { found, extra: faces.length - used.size, keypointErrors };
}

/**
 * How far a detection's eyes and mouth centre lie from the clean photo's (scaled by `k`): the
 * largest of the three distances, in eye distances. What alignment is cut from.
 */
function keypointError(truth: DetectedFace, k: number, face: DetectedFace): number {
  const [left, right] = truth.keypoints;
  const eyes = Math.hypot(right![0] - left![0], right![1] - left![1]) * k;
  return Math.max(
    ...[0, 1, 3].map((i) => {
      const [tx, ty] = truth.keypoints[i]!;
      const [x, y] = face.keypoints[i]!;
      return Math.hypot(x - tx * k, y - ty * k) / eyes;
    }),
  );
}

/** The mean, two decimals ('-' for none). */
const mean = (values: readonly number[]): string =>
  values.length ? (values.reduce((a, b) => a + b, 0) / values.length).toFixed(2) : '-';

const totals = STRENGTHS.map(() => ({ found: 0, faces: 0, extra: 0, keypointErrors: [] as number[] }));
let detectMs = 0;
let detections = 0;
for (const name of photos) {
  const full = (await decodeImageToRgb(new Uint8Array(await readFile(path.join(wholePhotos, name))))).image;
  const truth = await detector.detect(full);
  const planes = rgbToPlanar(full);
  for (const width of widths) {
    const k = width / full.width;
    const downscaled = resizePlanar(planes, width, Math.max(1, Math.round(full.height * k)));
    const cells: string[] = [];
    for (const [level, strength] of STRENGTHS.entries()) {
      let found = 0;
      let extra = 0;
      const blurred = gaussianBlur(downscaled, strength.blur);
      for (let draw = 0; draw < draws; draw++) {
        const small = { ...blurred, data: blurred.data.slice() };
        addNoise(
          small,
          'gaussian',
          strength.noise,
          new SeededRandom(draw * 100_003 + level * 10_007 + width),
        );
        const photo = await jpegRoundTrip(planarToRgb(small), strength.jpegQuality);
        const start = performance.now();
        const faces = await detector.detect(photo, detectOptions);
        detectMs += performance.now() - start;
        detections++;
        const result = score(truth, k, faces);
        found += result.found;
        extra += result.extra;
        totals[level]!.keypointErrors.push(...result.keypointErrors);
      }
      cells.push(`${found}/${truth.length * draws}${extra ? ` (+${extra} extra)` : ''}`);
      totals[level]!.found += found;
      totals[level]!.faces += truth.length * draws;
      totals[level]!.extra += extra;
    }
    const side = truth.length ? (truth.reduce((a, t) => a + t.box[2], 0) / truth.length) * k : 0;
    console.log(`| ${name} | ${width} | ${side.toFixed(0)} | ${cells.join(' | ')} |`);
  }
}
// Face-free crops: every face found in them is false.
const landscape = (
  await decodeImageToRgb(
    new Uint8Array(await readFile(path.join(wholePhotos, 'insightface_view_noface.jpg'))),
  )
).image;
const falseFaces = STRENGTHS.map(() => 0);
const cropRandom = new SeededRandom(20261203);
for (let i = 0; i < freeCrops; i++) {
  const height = Math.round(landscape.height * cropRandom.between(0.3, 0.9));
  const width = Math.min(landscape.width, Math.round(height * cropRandom.between(0.75, 1.5)));
  const x0 = Math.floor(cropRandom.uniform() * (landscape.width - width + 1));
  const y0 = Math.floor(cropRandom.uniform() * (landscape.height - height + 1));
  const crop = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * landscape.width + x0) * 3;
    crop.set(landscape.data.subarray(from, from + width * 3), y * width * 3);
  }
  const target = Math.round(cropRandom.between(160, 430));
  const small = resizePlanar(
    rgbToPlanar({ data: crop, width, height }),
    target,
    Math.max(1, Math.round((height * target) / width)),
  );
  for (const [level, strength] of STRENGTHS.entries()) {
    const degraded = gaussianBlur(small, strength.blur);
    addNoise(degraded, 'gaussian', strength.noise, new SeededRandom(i * 100_003 + level * 10_007 + 1));
    const photo = await jpegRoundTrip(planarToRgb(degraded), strength.jpegQuality);
    falseFaces[level]! += (await detector.detect(photo, detectOptions)).length;
  }
}

console.log(
  `| all | | | ${totals.map((t) => `${t.found}/${t.faces}${t.extra ? ` (+${t.extra} extra)` : ''}`).join(' | ')} |`,
);
console.log(
  `keypoint error of the faces found (eyes and mouth, the largest, in eye distances), mean: ${totals
    .map((t) => mean(t.keypointErrors))
    .join(' / ')}; share over 0.3: ${totals
    .map((t) => `${t.keypointErrors.filter((e) => e > 0.3).length}/${t.keypointErrors.length}`)
    .join(' / ')}`,
);
if (freeCrops > 0)
  console.log(`false faces in ${freeCrops} face-free crops of the landscape: ${falseFaces.join(' / ')}`);
console.log(`detect ${(detectMs / detections).toFixed(0)} ms per degraded photo (mean of ${detections})`);
await detector.dispose();
