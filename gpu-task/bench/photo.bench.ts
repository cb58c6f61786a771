/**
 * `npm run bench:photo`: the photo stage's own cost on a 12 MP JPEG with 4 faces (decode,
 * detection, alignment, paste-back, encoding; the sampler is left out: each face's "restored"
 * image is its model input enlarged, so the figures do not depend on the model), and the
 * process's peak memory.
 *
 * Each phase is reported as wall time and CPU time (all threads of the process: libvips,
 * onnxruntime, JavaScript); on a shared machine the CPU time is the steadier figure.
 *
 * "plain enlargement" is what any upscaler pays for the same output: sharp decoding the same
 * JPEG, enlarging it by `upscale` (Lanczos-3) and encoding it in the same format with the same
 * settings, in one streaming libvips pipeline. "added by the photo stage" is the photo stage's
 * total minus that: finding, aligning and pasting the faces, plus holding the photo in memory.
 * At upscale 2 the output is 48 MP, and its enlargement and encoding are most of the total.
 *
 * The photo is made here: a 4000 x 3000 scene (sky gradient, textured ground, a few shapes)
 * with four faces pasted at 300, 160, 80 and 40 px: the HQ faces of ../shared/data/hq when
 * present, else the drawn faces of samples/. Each source is cut to its central 60 % first: one
 * HQ crop shows half of a second child's face at its edge, a real face the detector rightly
 * finds (the scene then held 5 faces, not the 4 the figures are for).
 *
 *   npm run bench:photo -- [--repeats 3] [--upscale 1|2|4] [--format png|jpeg|webp] [--noise 12] [--kept]
 *
 * The background is handled as `dr2e restore` does by default (`--background denoise`): the
 * clean scene reads under the threshold and only pays the noise reading; `--noise <std>` adds
 * Gaussian noise of that std to the scene before its JPEG encoding, so the background is
 * denoised (what a noisy phone or scanned photo costs).
 *
 * Faces up to MAX_UPSAMPLED_FACE (here the 160, 80 and 40 px faces) are enlarged by the default
 * pipeline's face upsampler under their paste, as `dr2e restore` lays them. `--kept` leaves every
 * face as `auto` keeps one (the layer, not pasted over).
 *
 * The peak RSS covers the whole run (warm-up and repeats): for one photo's peak, run with
 * `--repeats 1` under `/usr/bin/time -v`.
 *
 * Like `dr2e` and `npm start`, the bench relaunches itself with glibc's huge-page tunable where
 * the kernel gives huge pages on request (gpu-task/src/launch); `DR2E_HUGE_PAGES=off` measures
 * without them. The first line says which.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { framingTemplate } from '../src/engine/framing/index.js';
import { encodeSharp, type OutputFormat, type RgbImage } from '../src/engine/image/index.js';
import { packageRoot } from '../src/engine/model/default-model.js';
import { SeededRandom } from '../src/engine/index.js';
import {
  currentHost,
  hugePagesDecision,
  hugePagesRequested,
  relaunchWithHugePages,
} from '../src/launch/index.js';
import {
  DEFAULT_UPSCALE,
  FaceDetector,
  type FaceUpsamplerBank,
  finishPhoto,
  loadFaceUpsampler,
  preparePhoto,
  resizeRgb,
  UPSCALE_FACTORS,
  type UpscaleFactor,
} from '../src/photo/index.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    upscale: { type: 'string', default: String(DEFAULT_UPSCALE) },
    format: { type: 'string', default: 'png' },
    noise: { type: 'string', default: '0' },
    kept: { type: 'boolean', default: false },
  },
});
const relaunched = await relaunchWithHugePages();
if (relaunched !== null) process.exit(relaunched);
const decision = hugePagesDecision(process.env, currentHost, process.execArgv);
const hugePages = hugePagesRequested()
  ? 'huge pages: on (glibc.malloc.hugetlb=1)'
  : `huge pages: off (${decision.relaunch ? 'not requested' : decision.reason})`;
const noise = Number(values.noise);
if (!(noise >= 0 && noise <= 64)) throw new Error(`--noise must be a std of 0-64, got ${values.noise}`);
const repeats = Number(values.repeats);
const upscale = Number(values.upscale) as UpscaleFactor;
if (!UPSCALE_FACTORS.includes(upscale)) {
  throw new Error(`--upscale must be one of ${UPSCALE_FACTORS.join(', ')}, got ${values.upscale}`);
}
const format = values.format as OutputFormat;
/**
 * The default pipeline's face upsampler for the upscale the photo gets (preparePhoto caps a
 * 12 MP photo's x4 to x2: the output would pass the megapixel limit), as the engine picks it.
 */
const faceUpsamplers = new Map<UpscaleFactor, Promise<FaceUpsamplerBank>>();
function faceUpsamplerFor(factor: UpscaleFactor): Promise<FaceUpsamplerBank | null> {
  if (factor === 1) return Promise.resolve(null);
  let bank = faceUpsamplers.get(factor);
  if (!bank) {
    bank = loadFaceUpsampler(
      path.join(packageRoot(), 'gpu-task', 'models', 'default', 'face-upsampler', `x${factor}.json`),
    );
    faceUpsamplers.set(factor, bank);
  }
  return bank;
}
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
  // Each source is a square aligned crop: its face box is about half its side. Its central 60 %
  // (the face and some context, nothing of a neighbour at the crop's edge) is placed with the
  // face box at `size` px, centred where the whole crop's centre would be.
  const placements = [
    { size: 300, left: 700, top: 1200 },
    { size: 160, left: 1800, top: 1500 },
    { size: 80, left: 2500, top: 1700 },
    { size: 40, left: 3200, top: 2300 },
  ];
  const KEEP = 0.6;
  const composites = await Promise.all(
    placements.map(async (p, i) => {
      const source = sharp(faces[i % faces.length]!);
      const { width = 0, height = 0 } = await source.metadata();
      const side = Math.round(KEEP * Math.min(width, height));
      const placed = Math.round(KEEP * p.size * 2);
      return {
        input: await source
          .extract({
            left: Math.round((width - side) / 2),
            top: Math.round((height - side) / 2),
            width: side,
            height: side,
          })
          .resize(placed, placed)
          .toBuffer(),
        left: p.left + Math.round((p.size * 2 - placed) / 2),
        top: p.top + Math.round((p.size * 2 - placed) / 2),
      };
    }),
  );
  const scene = await sharp(Buffer.from(svg)).composite(composites).removeAlpha().raw().toBuffer();
  if (noise > 0) {
    const random = new SeededRandom(1);
    for (let i = 0; i < scene.length; i++) {
      const u = Math.max(1e-12, random.uniform());
      const value =
        scene[i]! + noise * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.uniform());
      scene[i] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
  const jpeg = await sharp(scene, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return new Uint8Array(jpeg);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** CPU time of the whole process so far (all threads), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

type Phase = 'decode' | 'detect' | 'align' | 'paste+encode' | 'total' | 'plain enlargement';
const PHASES: Phase[] = ['decode', 'detect', 'align', 'paste+encode', 'total', 'plain enlargement'];

const photo = await syntheticPhoto();
const detector = await FaceDetector.load();
const template = framingTemplate({ name: 'utkface-200', eyeDistance: 0.4025, eyeY: 0.2855, mouthY: 0.6876 });
const wall = Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>;
const cpu = Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>;
let faces = 0;
let upscaleGiven: number = upscale;
let output = '';
let plainBytes = 0;
let coldAdded = 0;
let background: { noise: number; denoised: boolean } | undefined;
for (let r = 0; r < repeats + 1; r++) {
  const start = performance.now();
  const cpuStart = cpuMs();
  const prepared = await preparePhoto(photo, detector, { upscale, modelSide: MODEL_SIDE, template });
  const prepareMs = performance.now() - start;
  const prepareCpu = cpuMs() - cpuStart;
  // Stand-in for the engine: the model input enlarged to the enhancer's output side.
  const restored: (RgbImage | null)[] = values.kept
    ? prepared.faces.map(() => null)
    : await Promise.all(prepared.faces.map((f) => resizeRgb(f.modelInput, OUTPUT_SIDE, OUTPUT_SIDE)));
  const pasteStart = performance.now();
  const pasteCpuStart = cpuMs();
  const faceUpsampler = await faceUpsamplerFor(prepared.upscale);
  const finished = await finishPhoto(prepared, restored, { format, denoiseBackground: true, faceUpsampler });
  background = finished.background;
  const end = performance.now();
  const pasteCpu = cpuMs() - pasteCpuStart;
  // The yardstick: the same output size and format from a plain streaming enlargement.
  const plainStart = performance.now();
  const plainCpuStart = cpuMs();
  const plain = await encodeSharp(
    sharp(photo)
      .resize(finished.width, finished.height, { fit: 'fill', kernel: 'lanczos3' })
      .withIccProfile('srgb'),
    format,
    92,
  );
  const plainEnd = performance.now();
  const plainCpu = cpuMs() - plainCpuStart;
  if (r === 0) {
    // Warm-up (first sharp and onnxruntime calls, buffers faulted in): reported on its own.
    coldAdded = prepareMs + (end - pasteStart) - (plainEnd - plainStart);
    continue;
  }
  faces = prepared.faces.length;
  upscaleGiven = prepared.upscale;
  output = `${finished.width}x${finished.height} ${format} (${(finished.bytes.length / 1e6).toFixed(1)} MB)`;
  plainBytes = plain.length;
  wall.decode.push(prepared.decodeMs);
  wall.detect.push(prepared.detectMs);
  wall.align.push(prepareMs - prepared.decodeMs - prepared.detectMs);
  wall['paste+encode'].push(end - pasteStart);
  wall.total.push(prepareMs + (end - pasteStart));
  wall['plain enlargement'].push(plainEnd - plainStart);
  cpu.decode.push(prepared.decodeCpuMs);
  cpu.detect.push(prepared.detectCpuMs);
  cpu.align.push(prepareCpu - prepared.decodeCpuMs - prepared.detectCpuMs);
  cpu['paste+encode'].push(pasteCpu);
  cpu.total.push(prepareCpu + pasteCpu);
  cpu['plain enlargement'].push(plainCpu);
}
await detector.dispose();

const m = (values: number[]): number => median(values);
console.log(
  `photo stage, ${WIDTH}x${HEIGHT} JPEG (${(photo.length / 1e6).toFixed(1)} MB), ${faces} faces found, ` +
    `upscale ${upscale}${upscaleGiven !== upscale ? ` (capped to ${upscaleGiven})` : ''} -> ${output}; ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}; median of ${repeats}`,
);
console.log(`  ${hugePages}`);
console.log(
  `  background: noise ${background?.noise.toFixed(1) ?? '-'}, ${background?.denoised ? 'denoised' : 'only enlarged'}` +
    (values.kept ? '; faces kept' : '') +
    (faceUpsamplers.size > 0 ? '; faces enlarged by the face upsampler up to 256 px' : ''),
);
console.log(`  ${'phase'.padEnd(26)} ${'wall'.padStart(8)} ${'cpu'.padStart(8)}`);
const row = (name: string, w: number, c: number): void =>
  console.log(`  ${name.padEnd(26)} ${w.toFixed(0).padStart(5)} ms ${c.toFixed(0).padStart(5)} ms`);
for (const phase of PHASES) {
  const note = phase === 'plain enlargement' ? ` (${(plainBytes / 1e6).toFixed(1)} MB)` : '';
  row(phase + note, m(wall[phase]), m(cpu[phase]));
}
row(
  'added by the photo stage',
  m(wall.total.map((t, i) => t - wall['plain enlargement'][i]!)),
  m(cpu.total.map((t, i) => t - cpu['plain enlargement'][i]!)),
);
console.log(
  `  ${'added, first photo'.padEnd(26)} ${coldAdded.toFixed(0).padStart(5)} ms           (the warm-up run: a fresh process, nothing kept yet)`,
);
console.log(
  `  peak RSS       ${(process.resourceUsage().maxRSS / 1024).toFixed(0).padStart(6)} MB (whole process, all runs)`,
);
