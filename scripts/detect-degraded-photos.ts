/**
 * Detection recall on real whole photos made small and degraded far beyond the eval's severe
 * split: each photo of `../shared/data/whole-photos` downscaled to a width, blurred, noised and
 * JPEG-compressed at three strengths, several draws each. The faces to find are those the
 * detector finds in the clean photo at full size; a detection whose box centre lies within 0.4
 * face sides of one (each at most once) finds it, any other counts as extra.
 *
 * Usage: node --import tsx scripts/detect-degraded-photos.ts [--photos a.jpg,b.png]
 *   [--widths 240,320,400,560] [--draws 4] [--no-enlarged] [--threads N]
 *
 * Strengths, in the small photo's pixels (downscaled first, antialiased bicubic): blur σ 1.2 /
 * 1.6 / 2.0 px, Gaussian noise 10 / 15 / 20, JPEG quality 40 / 32 / 25. A 30 px face blurred by 2 px is σ ≈ 34 px of a 512-px face (the severe
 * split's is 6-10).
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
if (widths.some((w) => !Number.isInteger(w) || w < 16) || !Number.isInteger(draws) || draws < 1)
  throw new Error('--widths wants whole numbers >= 16 and --draws a whole number >= 1');
const detectOptions = {
  ...(process.argv.includes('--no-enlarged') ? { enlargedCandidates: false } : {}),
};
const wholePhotos = path.join(import.meta.dirname, '..', '..', 'shared', 'data', 'whole-photos');
const detector = await FaceDetector.load(undefined, Number(option('--threads', '2')));

/** How many of `truth` (scaled by `k`) the detections find, and how many detections are extra. */
function score(truth: readonly DetectedFace[], k: number, faces: readonly DetectedFace[]) {
  const used = new Set<number>();
  let found = 0;
  for (const t of truth) {
    const cx = (t.box[0] + t.box[2] / 2) * k;
    const cy = (t.box[1] + t.box[3] / 2) * k;
    const at = faces.findIndex(
      (f, i) =>
        !used.has(i) &&
        Math.hypot(f.box[0] + f.box[2] / 2 - cx, f.box[1] + f.box[3] / 2 - cy) < 0.4 * t.box[2] * k,
    );
    if (at >= 0) {
      used.add(at);
      found++;
    }
  }
  return { found, extra: faces.length - used.size };
}

const totals = STRENGTHS.map(() => ({ found: 0, faces: 0, extra: 0 }));
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
console.log(
  `| all | | | ${totals.map((t) => `${t.found}/${t.faces}${t.extra ? ` (+${t.extra} extra)` : ''}`).join(' | ')} |`,
);
console.log(`detect ${(detectMs / detections).toFixed(0)} ms per degraded photo (mean of ${detections})`);
await detector.dispose();
