import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import {
  decodeImage,
  decodeImageToRgb,
  encodeImage,
  encodeRgbImage,
  probeImage,
  rgb8ToTensor,
} from '../../../gpu-task/src/engine/image/index.js';

const SIZE = 64;

/** A smooth colourful tensor like a model output: gradients plus a soft circle, in [-1, 1]. */
function smoothTensor(): Float32Array {
  const tensor = new Float32Array(3 * SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = y * SIZE + x;
      const radius = Math.hypot(x - SIZE / 2, y - SIZE / 2) / SIZE;
      tensor[i] = (x / (SIZE - 1)) * 1.8 - 0.9;
      tensor[SIZE * SIZE + i] = (y / (SIZE - 1)) * 1.8 - 0.9;
      tensor[2 * SIZE * SIZE + i] = Math.cos(radius * Math.PI * 2) * 0.8;
    }
  }
  return tensor;
}

function maxAndMeanError(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const error = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, error);
    sum += error;
  }
  return { max, mean: sum / a.length };
}

describe('encodeImage', () => {
  it('round-trips through PNG within one 8-bit step', async () => {
    // Prepare
    const tensor = smoothTensor();

    // Act
    const png = await encodeImage(tensor, SIZE, SIZE, 'png');
    const decoded = await decodeImage(png, { size: SIZE });

    // Assess
    expect((await probeImage(png)).format).toBe('png');
    const { max } = maxAndMeanError(tensor, decoded.tensor);
    expect(max).toBeLessThanOrEqual(1 / 127.5 + 1e-6);
  });

  it('round-trips through JPEG and WebP with a small error at the default quality', async () => {
    // Prepare
    const tensor = smoothTensor();

    for (const format of ['jpeg', 'webp'] as const) {
      // Act
      const bytes = await encodeImage(tensor, SIZE, SIZE, format);
      const decoded = await decodeImage(bytes, { size: SIZE });

      // Assess: mean error under 2 of 255 levels.
      expect((await probeImage(bytes)).format).toBe(format);
      expect(maxAndMeanError(tensor, decoded.tensor).mean, format).toBeLessThan(2 / 127.5);
    }
  });

  it('writes non-square images with width and height in the right order', async () => {
    // Prepare
    const tensor = new Float32Array(3 * 40 * 50).fill(0);

    // Act
    const png = await encodeImage(tensor, 50, 40, 'png');

    // Assess
    const metadata = await sharp(png).metadata();
    expect([metadata.width, metadata.height, metadata.channels]).toEqual([50, 40, 3]);
  });

  it('clamps values outside [-1, 1] instead of wrapping them', async () => {
    // Prepare: R plane far above 1, G plane far below -1, B plane 0.
    const tensor = new Float32Array(3 * 32 * 32);
    tensor.fill(4, 0, 32 * 32);
    tensor.fill(-4, 32 * 32, 2 * 32 * 32);

    // Act
    const { image } = await decodeImageToRgb(await encodeImage(tensor, 32, 32, 'png'));

    // Assess
    expect(Array.from(image.data.subarray(0, 3))).toEqual([255, 0, 128]);
  });

  it('refuses a tensor of the wrong length, a bad quality or format', async () => {
    // Act + Assess
    await expect(encodeImage(new Float32Array(10), 4, 4, 'png')).rejects.toThrow(InvalidParametersError);
    await expect(encodeImage(new Float32Array(48), 4, 4, 'jpeg', { quality: 0 })).rejects.toThrow(/quality/);
    await expect(encodeImage(new Float32Array(48), 4, 4, 'gif' as 'png')).rejects.toThrow(
      /png, jpeg or webp/,
    );
  });
});

describe('encodeRgbImage', () => {
  it('encodes RGB8 losslessly as PNG', async () => {
    // Prepare
    const data = new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) & 255);

    // Act
    const png = await encodeRgbImage({ data, width: 32, height: 32 }, 'png');
    const decoded = await decodeImage(png, { size: 32 });

    // Assess
    expect(decoded.rgb.data).toEqual(data);
    expect(decoded.tensor).toEqual(rgb8ToTensor(data, 32, 32));
  });
});
