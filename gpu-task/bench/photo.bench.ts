/**
 * `npm run bench:photo`: the photo stage's own cost on a 12 MP JPEG with 4 faces (decode,
 * detection, alignment, paste-back, encoding; the sampler is left out: each face's "restored"
 * image is its model input enlarged, so the figures do not depend on the model), and the
 * process's peak memory.
 *
 * The photo is made here: a 4000 x 3000 scene (sky gradient, textured ground, a few shapes)
 * with four faces pasted at 300, 160, 80 and 40 px: the HQ faces of ../shared/data/hq when
 * present, else the drawn faces of samples/.
 *
 *   npm run bench:photo -- [--repeats 3] [--upscale 1|2|4] [--format png|jpeg]
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { framingTemplate } from '../src/engine/framing/index.js';
import type { OutputFormat, RgbImage } from '../src/engine/image/index.js';
import { packageRoot } from '../src/engine/model/default-model.js';
import {
  FaceDetector,
  finishPhoto,
  preparePhoto,
  resizeRgb,
  type UpscaleFactor,
} from '../src/photo/index.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    upscale: { type: 'string', default: '2' },
    format: { type: 'string', default: 'jpeg' },
  },
});
const repeats = Number(values.repeats);
const upscale = Number(values.upscale) as UpscaleFactor;
const format = values.format as OutputFormat;
const WIDTH = 4000;
const HEIGHT = 3000;
/** Model sides of the default pipeline (64 px DR2 input, 128 px enhancer output). */
const MODEL_SIDE = 64;
const OUTPUT_SIDE = 128;

async function faceSources(): Promise<Buffer[]> {
  const hq = path.join(packageRoot(), '..', 'shared', 'data', 'hq');
  const dir = existsSync(hq) ? hq : path.join(packageRoot(), 'samples');
  const files = readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort();
  return Promise.all(files.slice(0, 4).map((f) => readFile(path.join(dir, f))));
}

/** The synthetic 12 MP scene with faces whose detector box is about `size` px. */
async function syntheticPhoto(): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#5a8ac8"/><stop offset="1" stop-color="#d8e4f0"/></linearGradient>
      <filter id="grain"><feTurbulence type="fractalNoise" baseFrequency="0.08" numOctaves="3"/>
      <feColorMatrix values="0 0 0 0 0.3  0 0 0 0 0.45  0 0 0 0 0.2  0 0 0 1.2 0"/></filter></defs>
    <rect width="100%" height="100%" fill="url(#sky)"/>
    <rect y="1900" width="100%" height="1100" fill="#4a6a30"/>
    <rect y="1900" width="100%" height="1100" filter="url(#grain)"/>
    <rect x="2900" y="900" width="700" height="1000" fill="#8a6a50"/>
    <circle cx="600" cy="500" r="220" fill="#f0e0a0"/></svg>`;
  const faces = await faceSources();
  // Each source is a square aligned crop: its face box is about half its side.
  const placements = [
    { size: 300, left: 700, top: 1200 },
    { size: 160, left: 1800, top: 1500 },
    { size: 80, left: 2500, top: 1700 },
    { size: 40, left: 3200, top: 2300 },
  ];
  const composites = await Promise.all(
    placements.map(async (p, i) => ({
      input: await sharp(faces[i % faces.length]!)
        .resize(p.size * 2, p.size * 2)
        .toBuffer(),
      left: p.left,
      top: p.top,
    })),
  );
  const jpeg = await sharp(Buffer.from(svg)).composite(composites).jpeg({ quality: 90 }).toBuffer();
  return new Uint8Array(jpeg);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const photo = await syntheticPhoto();
const detector = await FaceDetector.load();
const template = framingTemplate({ name: 'utkface-200', eyeDistance: 0.4025, eyeY: 0.2855, mouthY: 0.6876 });
const phases: Record<'decode' | 'detect' | 'align' | 'paste+encode' | 'total', number[]> = {
  decode: [],
  detect: [],
  align: [],
  'paste+encode': [],
  total: [],
};
let faces = 0;
let output = '';
for (let r = 0; r < repeats + 1; r++) {
  const start = performance.now();
  const prepared = await preparePhoto(photo, detector, { upscale, modelSide: MODEL_SIDE, template });
  const prepareMs = performance.now() - start;
  // Stand-in for the engine: the model input enlarged to the enhancer's output side.
  const restored: RgbImage[] = await Promise.all(
    prepared.faces.map((f) => resizeRgb(f.modelInput, OUTPUT_SIDE, OUTPUT_SIDE)),
  );
  const pasteStart = performance.now();
  const finished = await finishPhoto(prepared, restored, { format });
  const end = performance.now();
  if (r === 0) continue; // warm-up (first sharp and onnxruntime calls)
  faces = prepared.faces.length;
  output = `${finished.width}x${finished.height} ${format} (${(finished.bytes.length / 1e6).toFixed(1)} MB)`;
  phases.decode.push(prepared.decodeMs);
  phases.detect.push(prepared.detectMs);
  phases.align.push(prepareMs - prepared.decodeMs - prepared.detectMs);
  phases['paste+encode'].push(end - pasteStart);
  phases.total.push(prepareMs + (end - pasteStart));
}
await detector.dispose();

console.log(
  `photo stage, ${WIDTH}x${HEIGHT} JPEG (${(photo.length / 1e6).toFixed(1)} MB), ${faces} faces found of 4, ` +
    `upscale ${upscale} -> ${output}; ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}; median of ${repeats}`,
);
for (const [name, ms] of Object.entries(phases))
  console.log(`  ${name.padEnd(14)} ${median(ms).toFixed(0).padStart(6)} ms`);
console.log(
  `  peak RSS       ${(process.resourceUsage().maxRSS / 1024).toFixed(0).padStart(6)} MB (whole process)`,
);
