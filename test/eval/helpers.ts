/** Synthetic images for the evaluation tests. */
import sharp from 'sharp';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';

/** A constant RGB image. */
export function solidImage(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { data, width, height };
}

/** A smooth, structured test picture (gradients and rings), different for each `variant`. */
export function patternImage(size: number, variant = 0): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const ring = Math.sin(((u - 0.5) ** 2 + (v - 0.4) ** 2) * (40 + variant * 7));
      const i = (y * size + x) * 3;
      data[i] = Math.round(128 + 90 * ring * Math.cos(variant));
      data[i + 1] = Math.round(60 + 150 * u * (1 - v) + variant * 3);
      data[i + 2] = Math.round(200 - 140 * v + 30 * Math.sin(6 * u + variant));
    }
  }
  return { data, width: size, height: size };
}

/** Uniform 8-bit noise (for metric comparisons on unstructured content). */
export function noiseImage(size: number, seed: number): RgbImage {
  const random = new SeededRandom(seed);
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = random.integer(0, 255);
  return { data, width: size, height: size };
}

/**
 * A cartoon face as PNG bytes (skin ellipse, dark eyes, red mouth), different per `variant`,
 * with the eyes at (0.5 ± eyeDistance/2, eyeY) and the mouth at (0.5, mouthY) of the side.
 */
export async function cartoonFacePng(
  size: number,
  variant: number,
  framing: { eyeDistance: number; eyeY: number; mouthY: number } = {
    eyeDistance: 0.41,
    eyeY: 0.29,
    mouthY: 0.68,
  },
): Promise<Buffer> {
  const skin = ['#e8b894', '#c68c6a', '#f1d0b5', '#8d5a3c'][variant % 4]!;
  const background = ['#4a5a6a', '#6a4a3a', '#3a6a4a', '#707070'][variant % 4]!;
  const s = size;
  const eyeR = 0.035 * s;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${s}" height="${s}">
    <rect width="100%" height="100%" fill="${background}"/>
    <ellipse cx="${0.5 * s}" cy="${((framing.eyeY + framing.mouthY) / 2) * s}" rx="${(framing.eyeDistance * 0.95 + 0.02 * variant) * s}" ry="${(framing.mouthY - framing.eyeY) * 1.15 * s}" fill="${skin}"/>
    <circle cx="${(0.5 - framing.eyeDistance / 2) * s}" cy="${framing.eyeY * s}" r="${eyeR}" fill="#1a1a1a"/>
    <circle cx="${(0.5 + framing.eyeDistance / 2) * s}" cy="${framing.eyeY * s}" r="${eyeR}" fill="#1a1a1a"/>
    <rect x="${(0.5 - 0.08 - 0.01 * variant) * s}" y="${(framing.mouthY - 0.015) * s}" width="${(0.16 + 0.02 * variant) * s}" height="${0.03 * s}" fill="#9a2a2a"/>
  </svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
