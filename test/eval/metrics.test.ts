/**
 * PSNR, SSIM and GMSD: closed-form values, and agreement with small independent
 * implementations written straight from the papers' definitions (2-D windows, no separable
 * filtering, no shared helpers).
 */
import { describe, expect, it } from 'vitest';
import { type RgbImage, SeededRandom } from '../../gpu-task/src/engine/index.js';
import { gmsd, psnr, ssim } from '../../gpu-task/src/eval/metrics.js';
import { addNoise, gaussianBlur } from '../../gpu-task/src/eval/degrade.js';
import { planarToRgb, rgbToPlanar } from '../../gpu-task/src/eval/planes.js';
import { noiseImage, patternImage, solidImage } from './helpers.js';

/** BT.601 studio luma, written out independently. */
function luma(image: RgbImage): number[][] {
  const rows: number[][] = [];
  for (let y = 0; y < image.height; y++) {
    const row: number[] = [];
    for (let x = 0; x < image.width; x++) {
      const i = (y * image.width + x) * 3;
      row.push(
        16 + (65.481 * image.data[i]! + 128.553 * image.data[i + 1]! + 24.966 * image.data[i + 2]!) / 255,
      );
    }
    rows.push(row);
  }
  return rows;
}

/** Reference SSIM: 2-D Gaussian window (11x11, σ 1.5), statistics per valid position. */
function referenceSsim(a: RgbImage, b: RgbImage): number {
  const x = luma(a);
  const y = luma(b);
  const window: number[][] = [];
  let total = 0;
  for (let i = -5; i <= 5; i++) {
    const row: number[] = [];
    for (let j = -5; j <= 5; j++) {
      const w = Math.exp(-(i * i + j * j) / (2 * 1.5 * 1.5));
      row.push(w);
      total += w;
    }
    window.push(row);
  }
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let sum = 0;
  let count = 0;
  for (let r = 0; r + 11 <= a.height; r++) {
    for (let c = 0; c + 11 <= a.width; c++) {
      let mx = 0;
      let my = 0;
      for (let i = 0; i < 11; i++) {
        for (let j = 0; j < 11; j++) {
          const w = window[i]![j]! / total;
          mx += w * x[r + i]![c + j]!;
          my += w * y[r + i]![c + j]!;
        }
      }
      let vx = 0;
      let vy = 0;
      let cxy = 0;
      for (let i = 0; i < 11; i++) {
        for (let j = 0; j < 11; j++) {
          const w = window[i]![j]! / total;
          const dx = x[r + i]![c + j]! - mx;
          const dy = y[r + i]![c + j]! - my;
          vx += w * dx * dx;
          vy += w * dy * dy;
          cxy += w * dx * dy;
        }
      }
      sum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      count++;
    }
  }
  return sum / count;
}

/** Reference GMSD from Xue et al.: grey, 2x2 average + decimation, Prewitt/3, c = 170, std of GMS. */
function referenceGmsd(distorted: RgbImage, reference: RgbImage): number {
  const grey = (image: RgbImage): number[][] => {
    const half: number[][] = [];
    const at = (x: number, y: number): number => {
      const i = (y * image.width + x) * 3;
      return 0.299 * image.data[i]! + 0.587 * image.data[i + 1]! + 0.114 * image.data[i + 2]!;
    };
    for (let y = 0; y + 1 < image.height; y += 2) {
      const row: number[] = [];
      for (let x = 0; x + 1 < image.width; x += 2)
        row.push((at(x, y) + at(x + 1, y) + at(x, y + 1) + at(x + 1, y + 1)) / 4);
      half.push(row);
    }
    return half;
  };
  const magnitude = (g: number[][]): number[] => {
    const out: number[] = [];
    for (let y = 1; y < g.length - 1; y++) {
      for (let x = 1; x < g[0]!.length - 1; x++) {
        let gx = 0;
        let gy = 0;
        for (let k = -1; k <= 1; k++) {
          gx += (g[y + k]![x - 1]! - g[y + k]![x + 1]!) / 3;
          gy += (g[y - 1]![x + k]! - g[y + 1]![x + k]!) / 3;
        }
        out.push(Math.hypot(gx, gy));
      }
    }
    return out;
  };
  const md = magnitude(grey(distorted));
  const mr = magnitude(grey(reference));
  const gms = md.map((d, i) => (2 * d * mr[i]! + 170) / (d * d + mr[i]! * mr[i]! + 170));
  const mean = gms.reduce((a, b) => a + b, 0) / gms.length;
  return Math.sqrt(gms.reduce((a, b) => a + (b - mean) ** 2, 0) / gms.length);
}

function noisy(image: RgbImage, std: number, seed: number): RgbImage {
  const planar = rgbToPlanar(image);
  addNoise(planar, 'gaussian', std, new SeededRandom(seed));
  return planarToRgb(planar);
}

function blurred(image: RgbImage, sigma: number): RgbImage {
  return planarToRgb(gaussianBlur(rgbToPlanar(image), sigma));
}

describe('PSNR', () => {
  it('is infinite for identical images and 10 log10(255² / d²) for a constant difference d', () => {
    // Prepare
    const a = solidImage(16, 16, [100, 120, 140]);
    const b = solidImage(16, 16, [105, 125, 145]);
    // Act + Assess
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / 25), 10);
  });

  it('is 0 dB between a black-and-white checkerboard and its inverse', () => {
    // Prepare
    const board = solidImage(8, 8, [0, 0, 0]);
    for (let i = 0; i < 64; i++)
      if (((i % 8) + Math.floor(i / 8)) % 2 === 0) board.data.set([255, 255, 255], i * 3);
    const inverse = { ...board, data: board.data.map((v) => 255 - v) };
    // Act + Assess
    expect(psnr(board, inverse)).toBeCloseTo(0, 12);
  });

  it('refuses images of different sizes', () => {
    expect(() => psnr(solidImage(8, 8, [0, 0, 0]), solidImage(8, 9, [0, 0, 0]))).toThrow(/same size/);
  });
});

describe('SSIM', () => {
  it('is 1 for identical images', () => {
    // Prepare
    const image = patternImage(32, 1);
    // Act + Assess
    expect(ssim(image, image)).toBeCloseTo(1, 12);
  });

  it('reduces to the luminance term for two flat images', () => {
    // Prepare
    const a = solidImage(16, 16, [90, 90, 90]);
    const b = solidImage(16, 16, [150, 150, 150]);
    const ya = 16 + (219 * 90) / 255;
    const yb = 16 + (219 * 150) / 255;
    const c1 = (0.01 * 255) ** 2;
    // Act + Assess: no variance, so the contrast-structure term is C2 / C2 = 1.
    expect(ssim(a, b)).toBeCloseTo((2 * ya * yb + c1) / (ya * ya + yb * yb + c1), 6);
  });

  it('is close to -1 for a checkerboard against its inverse', () => {
    // Prepare
    const board = solidImage(24, 24, [0, 0, 0]);
    for (let i = 0; i < 24 * 24; i++)
      if (((i % 24) + Math.floor(i / 24)) % 2 === 0) board.data.set([255, 255, 255], i * 3);
    const inverse = { ...board, data: board.data.map((v) => 255 - v) };
    // Act + Assess
    expect(ssim(board, inverse)).toBeLessThan(-0.95);
  });

  it('matches an independent 2-D implementation on noisy, blurred and random images', () => {
    // Prepare
    const clean = patternImage(40, 4);
    const pairs: [RgbImage, RgbImage][] = [
      [noisy(clean, 12, 1), clean],
      [blurred(clean, 1.5), clean],
      [noiseImage(40, 2), noiseImage(40, 3)],
    ];
    for (const [a, b] of pairs) {
      // Act + Assess
      expect(ssim(a, b)).toBeCloseTo(referenceSsim(a, b), 9);
    }
  });

  it('falls as noise grows', () => {
    // Prepare
    const clean = patternImage(48, 5);
    // Act
    const values = [2, 8, 32].map((std) => ssim(noisy(clean, std, 4), clean));
    // Assess
    expect(values[0]!).toBeGreaterThan(values[1]!);
    expect(values[1]!).toBeGreaterThan(values[2]!);
  });
});

describe('GMSD', () => {
  it('is 0 for identical images and matches an independent implementation', () => {
    // Prepare
    const clean = patternImage(40, 6);
    const pairs: [RgbImage, RgbImage][] = [
      [noisy(clean, 10, 5), clean],
      [blurred(clean, 2), clean],
      [noiseImage(41, 7), noiseImage(41, 8)],
    ];
    // Act + Assess
    expect(gmsd(clean, clean)).toBe(0);
    for (const [a, b] of pairs) expect(gmsd(a, b)).toBeCloseTo(referenceGmsd(a, b), 10);
  });

  it('grows with blur', () => {
    // Prepare
    const clean = patternImage(64, 7);
    // Act
    const values = [0.7, 1.5, 3].map((sigma) => gmsd(blurred(clean, sigma), clean));
    // Assess
    expect(values[0]!).toBeLessThan(values[1]!);
    expect(values[1]!).toBeLessThan(values[2]!);
  });
});
