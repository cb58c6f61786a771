/**
 * The photo's background enlargement: centre-aligned (content stays where the input had it, so
 * pasted faces and every edge of the photo line up with a centre-aligned ground truth), borders
 * replicated rather than darkened, alpha enlarged the same way.
 */
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../gpu-task/src/engine/index.js';
import { psnr, resizeRgb } from '../../gpu-task/src/eval/index.js';
import { cubicBackground, enlargeCentred, resizeAlpha } from '../../gpu-task/src/photo/index.js';

/** A smooth picture with detail at several scales (sines), the same formula at any size. */
function scene(width: number, height: number, period: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x + 0.5) / width;
      const v = (y + 0.5) / height;
      const i = (y * width + x) * 3;
      data[i] = Math.round(128 + 90 * Math.sin((2 * Math.PI * u * width) / period) * Math.cos(3 * v));
      data[i + 1] = Math.round(128 + 80 * Math.cos((2 * Math.PI * v * height) / (period * 1.3)));
      data[i + 2] = Math.round(60 + 120 * u * v);
    }
  }
  return { data, width, height };
}

/** Cut `margin` pixels off every side. */
function inner(image: RgbImage, margin: number): RgbImage {
  const width = image.width - 2 * margin;
  const height = image.height - 2 * margin;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y + margin) * image.width + margin) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data, width, height };
}

/** The image moved by (dx, dy) whole pixels (edge pixels repeated), same size. */
function shifted(image: RgbImage, d: number): RgbImage {
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, x - d));
      const sy = Math.min(image.height - 1, Math.max(0, y - d));
      data.set(
        image.data.subarray((sy * image.width + sx) * 3, (sy * image.width + sx) * 3 + 3),
        (y * image.width + x) * 3,
      );
    }
  }
  return { data, width: image.width, height: image.height };
}

describe('background enlargement', () => {
  it.each([2, 4])('keeps content where a centre-aligned enlargement puts it (x%i)', async (factor) => {
    // Prepare: a picture at the output size, and its centre-aligned reduction as the input.
    const truth = scene(96 * factor, 64 * factor, 6 * factor);
    const low = resizeRgb(truth, 96, 64);
    // Act
    const { image, offset } = await cubicBackground(low, factor);
    // Assess: right size, no offset to compensate, and best aligned with the truth unshifted.
    expect([image.width, image.height, offset]).toEqual([96 * factor, 64 * factor, 0]);
    const at = (d: number): number => psnr(inner(shifted(image, d), 8), inner(truth, 8));
    expect(at(0)).toBeGreaterThan(at(1) + 1);
    expect(at(0)).toBeGreaterThan(at(-1) + 1);
    // As close to the truth as MATLAB-style bicubic of the same input, within 0.3 dB.
    const bicubic = psnr(inner(resizeRgb(low, image.width, image.height), 8), inner(truth, 8));
    expect(at(0)).toBeGreaterThan(bicubic - 0.3);
  });

  it('replicates the border: a flat photo stays flat up to its edges', async () => {
    const flat: RgbImage = { data: new Uint8Array(10 * 7 * 3).fill(200), width: 10, height: 7 };
    const { image } = await cubicBackground(flat, 4);
    expect(image.data.every((v) => v === 200)).toBe(true);
    const alpha = await resizeAlpha(new Uint8Array(10 * 7).fill(255), 10, 7, 4);
    expect(alpha.length).toBe(40 * 28);
    expect(alpha.every((v) => v === 255)).toBe(true);
  });

  it('enlarges one channel like three', async () => {
    const rgb = scene(20, 12, 5);
    const red = rgb.data.filter((_, i) => i % 3 === 0);
    const one = await enlargeCentred(red, 20, 12, 1, 2);
    const three = await enlargeCentred(rgb.data, 20, 12, 3, 2);
    expect(Array.from(one)).toEqual(Array.from(three.filter((_, i) => i % 3 === 0)));
  });
});
