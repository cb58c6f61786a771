import { describe, expect, it } from 'vitest';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import { rgb8ToTensor, tensorToRgb8 } from '../../../gpu-task/src/engine/image/index.js';

describe('rgb8ToTensor', () => {
  it('writes planar R, G, B planes scaled to [-1, 1]', () => {
    // Prepare: 2x1 image, pixels (0, 127.5-ish, 255) and (255, 0, 51).
    const rgb = new Uint8Array([0, 128, 255, 255, 0, 51]);

    // Act
    const tensor = rgb8ToTensor(rgb, 2, 1);

    // Assess: layout [R0, R1, G0, G1, B0, B1].
    expect(Array.from(tensor)).toEqual(
      [0, 255, 128, 0, 255, 51].map((value) => Math.fround(Math.fround(value / 127.5 - 1))),
    );
    expect(tensor[0]).toBe(-1);
    expect(tensor[1]).toBe(1);
  });

  it('fills one image of a batch tensor at its offset and leaves the others alone', () => {
    // Prepare
    const batch = new Float32Array(2 * 3 * 4).fill(7);
    const rgb = new Uint8Array(4 * 3).fill(255);

    // Act
    rgb8ToTensor(rgb, 2, 2, batch, 3 * 4);

    // Assess
    expect(Array.from(batch.subarray(0, 12))).toEqual(new Array(12).fill(7));
    expect(Array.from(batch.subarray(12))).toEqual(new Array(12).fill(1));
  });

  it('refuses buffers too short for the size', () => {
    // Act + Assess
    expect(() => rgb8ToTensor(new Uint8Array(5), 2, 1)).toThrow(InvalidParametersError);
    expect(() => rgb8ToTensor(new Uint8Array(6), 2, 1, new Float32Array(6), 1)).toThrow(
      InvalidParametersError,
    );
  });
});

describe('tensorToRgb8', () => {
  it('inverts rgb8ToTensor exactly for every 8-bit value', () => {
    // Prepare: 256 pixels, each channel running through all values.
    const rgb = new Uint8Array(256 * 3);
    for (let value = 0; value < 256; value++) rgb.set([value, 255 - value, (value * 7) & 255], value * 3);

    // Act
    const back = tensorToRgb8(rgb8ToTensor(rgb, 16, 16), 16, 16);

    // Assess
    expect(back).toEqual(rgb);
  });

  it('clamps out-of-range values, rounds to nearest and maps NaN to 0', () => {
    // Prepare: 4x1 image. R plane: below range, above range, NaN, 1.6 levels.
    // G plane: 1.4 levels, then exactly 127.5 levels (0.0). B plane: zeros.
    const level = (value: number): number => value / 127.5 - 1;
    const tensor = new Float32Array([-3, 5, Number.NaN, level(1.6), level(1.4), 0, 0, 0, 0, 0, 0, 0]);

    // Act
    const rgb = tensorToRgb8(tensor, 4, 1);

    // Assess
    expect([rgb[0], rgb[3], rgb[6], rgb[9]]).toEqual([0, 255, 0, 2]);
    expect([rgb[1], rgb[4]]).toEqual([1, 128]);
  });

  it('reads one image of a batch tensor at its offset', () => {
    // Prepare
    const batch = new Float32Array(2 * 3).fill(-1);
    batch.fill(1, 3);

    // Act
    const second = tensorToRgb8(batch, 1, 1, undefined, 3);

    // Assess
    expect(Array.from(second)).toEqual([255, 255, 255]);
  });
});
