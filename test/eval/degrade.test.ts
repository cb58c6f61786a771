/**
 * The synthetic degradations (Eq. 13): reproducible by seed, independent of the other images,
 * and each step has the intended effect (blur, downsampling size, noise level and type, JPEG).
 */
import { describe, expect, it } from 'vitest';
import {
  DEGRADATION_SPLITS,
  type DegradationParams,
  addNoise,
  degradationSplit,
  degradeFace,
  gaussianBlur,
  gaussianTaps,
  jpegRoundTrip,
  sampleDegradation,
} from '../../gpu-task/src/eval/degrade.js';
import { meanSquaredError } from '../../gpu-task/src/eval/metrics.js';
import { type PlanarImage, resizeRgb, rgbToPlanar } from '../../gpu-task/src/eval/planes.js';
import { SeededRandom, deriveSeed } from '../../gpu-task/src/engine/index.js';
import { patternImage } from './helpers.js';

function constantPlanar(size: number, value: number): PlanarImage {
  return { data: new Float32Array(3 * size * size).fill(value), width: size, height: size };
}

function stats(values: Float32Array, centre: number): { mean: number; std: number; kurtosis: number } {
  let sum = 0;
  for (const v of values) sum += v - centre;
  const mean = sum / values.length;
  let m2 = 0;
  let m4 = 0;
  for (const v of values) {
    const d = v - centre - mean;
    m2 += d * d;
    m4 += d ** 4;
  }
  m2 /= values.length;
  m4 /= values.length;
  return { mean, std: Math.sqrt(m2), kurtosis: m4 / (m2 * m2) };
}

describe('drawing degradation parameters', () => {
  it('gives the same parameters for the same seed and image, other ones for another seed', () => {
    // Prepare
    const split = DEGRADATION_SPLITS.severe!;
    // Act
    const first = sampleDegradation(7, 'val/a.jpg', 8, split);
    const again = sampleDegradation(7, 'val/a.jpg', 8, split);
    const otherSeed = sampleDegradation(8, 'val/a.jpg', 8, split);
    const otherImage = sampleDegradation(7, 'val/b.jpg', 8, split);
    // Assess
    expect(again).toEqual(first);
    expect(otherSeed).not.toEqual(first);
    expect(otherImage).not.toEqual(first);
  });

  it('keeps every parameter inside its split range and uses all three noise types', () => {
    // Prepare
    const types = new Set<string>();
    for (const split of Object.values(DEGRADATION_SPLITS)) {
      for (let i = 0; i < 60; i++) {
        // Act
        const p = sampleDegradation(0, `img-${i}`, 4, split);
        types.add(p.noiseType);
        // Assess
        expect(p.sigma512).toBeGreaterThanOrEqual(split.sigma512[0]);
        expect(p.sigma512).toBeLessThanOrEqual(split.sigma512[1]);
        expect(p.noise).toBeGreaterThanOrEqual(split.noise[0]);
        expect(p.noise).toBeLessThanOrEqual(split.noise[1]);
        expect(Number.isInteger(p.jpegQuality)).toBe(true);
        expect(p.jpegQuality).toBeGreaterThanOrEqual(split.jpegQuality[0]);
        expect(p.jpegQuality).toBeLessThanOrEqual(split.jpegQuality[1]);
      }
    }
    expect([...types].sort()).toEqual(['gaussian', 'laplace', 'poisson']);
  });

  it('orders the splits by severity and refuses unknown split names', () => {
    // Prepare
    const { mild, medium, severe } = DEGRADATION_SPLITS as Record<
      string,
      (typeof DEGRADATION_SPLITS)[string]
    >;
    // Assess
    expect(mild!.sigma512[1]).toBeLessThanOrEqual(medium!.sigma512[0]);
    expect(medium!.sigma512[1]).toBeLessThanOrEqual(severe!.sigma512[0]);
    expect(mild!.noise[1]).toBeLessThanOrEqual(medium!.noise[0]);
    expect(medium!.noise[1]).toBeLessThanOrEqual(severe!.noise[0]);
    expect(mild!.jpegQuality[0]).toBeGreaterThanOrEqual(medium!.jpegQuality[1]);
    expect(medium!.jpegQuality[0]).toBeGreaterThanOrEqual(severe!.jpegQuality[1]);
    expect(() => degradationSplit('extreme')).toThrow(/unknown degradation split 'extreme'/);
  });
});

describe('seeded random numbers', () => {
  it('repeats a stream for a seed and gives another stream for another seed', () => {
    // Prepare
    const a = new SeededRandom(123);
    const b = new SeededRandom(123);
    const c = new SeededRandom(124);
    // Act
    const draws = [a.uniform(), a.uniform(), a.normal()];
    // Assess
    expect([b.uniform(), b.uniform(), b.normal()]).toEqual(draws);
    expect(c.uniform()).not.toBe(draws[0]);
    expect(deriveSeed(1, 'x')).toBe(deriveSeed(1, 'x'));
    expect(deriveSeed(1, 'x')).not.toBe(deriveSeed(1, 'y'));
  });

  it('draws Poisson counts with the requested mean on both sides of the method switch', () => {
    // Prepare
    const random = new SeededRandom(5);
    for (const mean of [3, 80]) {
      // Act
      let sum = 0;
      let sumSq = 0;
      const n = 20000;
      for (let i = 0; i < n; i++) {
        const k = random.poisson(mean);
        sum += k;
        sumSq += k * k;
      }
      const m = sum / n;
      // Assess: mean and variance of a Poisson are both its mean.
      expect(m).toBeCloseTo(mean, 0);
      expect(sumSq / n - m * m).toBeGreaterThan(mean * 0.9);
      expect(sumSq / n - m * m).toBeLessThan(mean * 1.1);
    }
  });
});

describe('each degradation step', () => {
  it('blurs with a normalised Gaussian whose spread is sigma and leaves flat areas flat', () => {
    // Prepare
    const sigma = 2;
    const size = 41;
    const impulse = constantPlanar(size, 0);
    for (let c = 0; c < 3; c++) impulse.data[c * size * size + 20 * size + 20] = 1000;
    // Act
    const blurred = gaussianBlur(impulse, sigma);
    const flat = gaussianBlur(constantPlanar(16, 77), 3);
    // Assess
    const taps = gaussianTaps(sigma);
    expect(taps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    let total = 0;
    let secondMoment = 0;
    for (let x = 0; x < size; x++) {
      const value = blurred.data[20 * size + x]!;
      const column = Array.from({ length: size }, (_, y) => blurred.data[y * size + x]!).reduce(
        (a, b) => a + b,
        0,
      );
      total += column;
      secondMoment += column * (x - 20) ** 2;
      expect(value).toBeGreaterThanOrEqual(0);
    }
    expect(total).toBeCloseTo(1000, 2);
    expect(Math.sqrt(secondMoment / total)).toBeCloseTo(sigma, 1);
    expect(Math.max(...flat.data.map((v) => Math.abs(v - 77)))).toBeLessThan(1e-4);
  });

  it('adds Gaussian, Laplace and Poisson noise with the requested standard deviation', () => {
    // Prepare
    const std = 10;
    const results: Record<string, ReturnType<typeof stats>> = {};
    for (const type of ['gaussian', 'laplace', 'poisson'] as const) {
      const image = constantPlanar(96, 128);
      // Act
      addNoise(image, type, std, new SeededRandom(99));
      results[type] = stats(image.data, 128);
    }
    // Assess
    for (const result of Object.values(results)) {
      expect(Math.abs(result.mean)).toBeLessThan(0.3);
      expect(result.std).toBeGreaterThan(std * 0.96);
      expect(result.std).toBeLessThan(std * 1.04);
    }
    // Laplace has heavier tails (kurtosis 6) than a Gaussian (3).
    expect(results.gaussian!.kurtosis).toBeCloseTo(3, 0);
    expect(results.laplace!.kurtosis).toBeGreaterThan(5);
  });

  it('makes Poisson noise signal dependent: std delta at mid-grey, half of it at a quarter of the level', () => {
    // Prepare
    const dark = constantPlanar(96, 32);
    // Act
    addNoise(dark, 'poisson', 10, new SeededRandom(3));
    // Assess: sqrt(32 / λ) with λ = 128 / 10² is 5.
    expect(stats(dark.data, 32).std).toBeCloseTo(5, 0);
  });

  it('loses more detail at lower JPEG quality and keeps the size', async () => {
    // Prepare
    const image = patternImage(48, 3);
    // Act
    const high = await jpegRoundTrip(image, 95);
    const low = await jpegRoundTrip(image, 10);
    // Assess
    expect([low.width, low.height]).toEqual([48, 48]);
    expect(meanSquaredError(low, image)).toBeGreaterThan(3 * meanSquaredError(high, image));
  });
});

describe('degrading a face', () => {
  const clean = patternImage(128, 2);
  const params = (scale: number, overrides: Partial<DegradationParams> = {}): DegradationParams => ({
    split: 'test',
    scale,
    sigma512: 4,
    noiseType: 'gaussian',
    noise: 8,
    jpegQuality: 50,
    ...overrides,
  });

  it('downsamples by r and gives the same bytes twice for the same seed', async () => {
    for (const scale of [4, 8, 16]) {
      // Act
      const first = await degradeFace(clean, params(scale), 11, 'face');
      const second = await degradeFace(clean, params(scale), 11, 'face');
      const otherSeed = await degradeFace(clean, params(scale), 12, 'face');
      // Assess
      expect([first.lowRes.width, first.lowRes.height]).toEqual([128 / scale, 128 / scale]);
      expect(Buffer.from(second.lowRes.data).equals(Buffer.from(first.lowRes.data))).toBe(true);
      expect(Buffer.from(otherSeed.lowRes.data).equals(Buffer.from(first.lowRes.data))).toBe(false);
    }
  });

  it('is plain bicubic downsampling when blur, noise and compression are off', async () => {
    // Prepare
    const off = params(4, { sigma512: 0, noise: 0, jpegQuality: 100 });
    // Act
    const { lowRes } = await degradeFace(clean, off, 0, 'face');
    // Assess: exactly the bicubic-downsampled face through JPEG at q = 100.
    const reference = await jpegRoundTrip(resizeRgb(clean, 32, 32), 100);
    expect(Buffer.from(lowRes.data).equals(Buffer.from(reference.data))).toBe(true);
  });

  it('degrades more in a more severe split', async () => {
    // Prepare
    const reference = resizeRgb(clean, 32, 32);
    const errors: number[] = [];
    for (const split of ['mild', 'medium', 'severe']) {
      let total = 0;
      for (let i = 0; i < 6; i++) {
        const p = sampleDegradation(0, `face-${i}`, 4, degradationSplit(split));
        // Act
        const { lowRes } = await degradeFace(clean, p, 0, `face-${i}`);
        total += meanSquaredError(lowRes, reference);
      }
      errors.push(total);
    }
    // Assess
    expect(errors[0]!).toBeLessThan(errors[1]!);
    expect(errors[1]!).toBeLessThan(errors[2]!);
  });

  it('refuses a factor that does not divide the evaluation size', async () => {
    // Act + Assess
    await expect(degradeFace(clean, params(3), 0, 'face')).rejects.toThrow(
      /must divide the evaluation size 128/,
    );
    expect(() => rgbToPlanar({ data: new Uint8Array(5), width: 2, height: 2 })).toThrow(/needs 12/);
  });
});
