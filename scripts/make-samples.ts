/**
 * Writes the degraded sample faces in `samples/` that the README's first command restores.
 *
 * The faces are drawn procedurally (no third-party photos can be committed), then degraded the
 * way the paper synthesises test inputs: Gaussian blur, bicubic downsampling, additive
 * Gaussian noise and JPEG compression.
 *
 *   npx tsx scripts/make-samples.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'samples');

interface Face {
  name: string;
  skin: [string, string];
  hair: string;
  background: string;
  eyes: string;
  blur: number;
  scale: number;
  noise: number;
  quality: number;
}

const faces: Face[] = [
  {
    name: 'sample-mild',
    skin: ['#f1c7a5', '#b98363'],
    hair: '#3b2a20',
    background: '#7d8fa3',
    eyes: '#2d3a4a',
    blur: 1.2,
    scale: 4,
    noise: 6,
    quality: 70,
  },
  {
    name: 'sample-medium',
    skin: ['#d8a27c', '#8c5a3c'],
    hair: '#151010',
    background: '#a39277',
    eyes: '#1c1410',
    blur: 2,
    scale: 8,
    noise: 12,
    quality: 45,
  },
  {
    name: 'sample-severe',
    skin: ['#ffd9bd', '#c99a7a'],
    hair: '#a0652f',
    background: '#5c6b55',
    eyes: '#3b5a2a',
    blur: 3,
    scale: 8,
    noise: 20,
    quality: 25,
  },
];

function faceSvg(face: Face, size: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 512 512">
  <defs><radialGradient id="skin" cx="50%" cy="45%" r="60%"><stop offset="0" stop-color="${face.skin[0]}"/><stop offset="1" stop-color="${face.skin[1]}"/></radialGradient></defs>
  <rect width="512" height="512" fill="${face.background}"/>
  <ellipse cx="256" cy="200" rx="170" ry="150" fill="${face.hair}"/>
  <rect x="150" y="380" width="212" height="140" rx="60" fill="${face.skin[1]}"/>
  <ellipse cx="256" cy="270" rx="128" ry="160" fill="url(#skin)"/>
  <path d="M128 200 Q256 60 384 200 L384 150 Q256 20 128 150 Z" fill="${face.hair}"/>
  <ellipse cx="206" cy="245" rx="22" ry="12" fill="#fff"/><circle cx="206" cy="245" r="10" fill="${face.eyes}"/>
  <ellipse cx="306" cy="245" rx="22" ry="12" fill="#fff"/><circle cx="306" cy="245" r="10" fill="${face.eyes}"/>
  <path d="M180 215 Q206 200 232 213" stroke="${face.hair}" stroke-width="7" fill="none"/>
  <path d="M280 213 Q306 200 332 215" stroke="${face.hair}" stroke-width="7" fill="none"/>
  <path d="M256 250 L244 318 Q256 326 268 318" stroke="${face.skin[1]}" stroke-width="5" fill="none"/>
  <path d="M212 360 Q256 385 300 360 Q256 372 212 360 Z" fill="#a4474a" stroke="#7a2e31" stroke-width="3"/>
</svg>`;
}

/** Deterministic standard normal draws (LCG + Box-Muller) so the samples are reproducible. */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

await mkdir(outDir, { recursive: true });
for (const [index, face] of faces.entries()) {
  const size = 512;
  const small = size / face.scale;
  const { data, info } = await sharp(Buffer.from(faceSvg(face, size)))
    .removeAlpha()
    .blur(face.blur * face.scale * 0.5)
    .resize(small, small, { kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const normal = gaussian(index + 1);
  for (let i = 0; i < data.length; i++)
    data[i] = Math.max(0, Math.min(255, Math.round((data[i] as number) + normal() * face.noise)));
  const jpeg = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .jpeg({ quality: face.quality })
    .toBuffer();
  // Upsampled back to 512 like the paper's inputs (degraded at low resolution, shown at full size).
  const output = await sharp(jpeg).resize(size, size, { kernel: 'cubic' }).jpeg({ quality: 90 }).toBuffer();
  await writeFile(path.join(outDir, `${face.name}.jpg`), output);
  console.log(`wrote samples/${face.name}.jpg`);
}
