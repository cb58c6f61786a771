/**
 * Synthetic faces for the quality estimates' tests: a test card with a photograph's spectrum,
 * noise, JPEG.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../../gpu-task/src/engine/image/index.js';
import { SeededNormalSource } from '../../../gpu-task/src/engine/random/noise-source.js';
import { resizeBicubic } from '../../../gpu-task/src/engine/resize/bicubic.js';

/**
 * A natural-image-like test card: a smooth face-like base plus texture with equal energy per
 * octave (white noise at side / 2^k, enlarged), i.e. a 1/f² power spectrum like photographs.
 */
export function testCard(side: number, detail = 1, seed = 7): RgbImage {
  const texture = new Float32Array(side * side);
  for (let size = Math.floor(side / 3); size >= 4; size = Math.floor(size / 2)) {
    const octave = new Float32Array(size * size);
    new SeededNormalSource(seed + size).fill(octave);
    const up = resizeBicubic(octave, 1, size, size, side, side);
    for (let k = 0; k < texture.length; k++) texture[k] = texture[k]! + 9 * detail * up[k]!;
  }
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const u = x / side;
      const v = y / side;
      const blob =
        Math.exp(-((u - 0.35) ** 2 + (v - 0.4) ** 2) * 40) -
        Math.exp(-((u - 0.65) ** 2 + (v - 0.4) ** 2) * 40);
      const base = 120 + 60 * v + 50 * blob + texture[y * side + x]!;
      data.set(
        [base + 10, base, base - 15].map((c) => Math.max(0, Math.min(255, Math.round(c)))),
        (y * side + x) * 3,
      );
    }
  }
  return { data, width: side, height: side };
}

/** Independent noise of std sigma on R, G and B. */
export function withNoise(image: RgbImage, sigma: number, seed = 1): RgbImage {
  const noise = new Float32Array(image.data.length);
  new SeededNormalSource(seed).fill(noise);
  const data = new Uint8Array(image.data.length);
  for (let k = 0; k < data.length; k++)
    data[k] = Math.max(0, Math.min(255, Math.round(image.data[k]! + sigma * noise[k]!)));
  return { ...image, data };
}

/** The image compressed as JPEG at this quality and decoded. */
export async function jpeg(image: RgbImage, quality: number): Promise<RgbImage> {
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  const bytes = await sharp(image.data, { raw }).jpeg({ quality }).toBuffer();
  const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { ...image, data: new Uint8Array(data) };
}
