/**
 * The eigenface identity proxy: PCA recovers known principal directions, identification
 * scores behave on synthetic identities, face vectors ignore brightness and contrast, and a
 * saved basis loads back only when intact.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EigenfaceBasis,
  cosineSimilarity,
  faceVector,
  fitEigenfaces,
  identify,
  jacobiEigen,
  loadEigenfaceBasis,
  projectFace,
  saveEigenfaceBasis,
} from '../../gpu-task/src/eval/eigenfaces.js';
import { SeededRandom } from '../../gpu-task/src/engine/index.js';
import { patternImage } from './helpers.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-eigen-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Orthonormal random directions in `dims` dimensions (Gram-Schmidt on Gaussian vectors). */
function randomDirections(count: number, dims: number, random: SeededRandom): Float64Array[] {
  const out: Float64Array[] = [];
  while (out.length < count) {
    const v = Float64Array.from({ length: dims }, () => random.normal());
    for (const u of out) {
      const dot = u.reduce((s, x, k) => s + x * v[k]!, 0);
      for (let k = 0; k < dims; k++) v[k] = v[k]! - dot * u[k]!;
    }
    const norm = Math.hypot(...v);
    out.push(v.map((x) => x / norm));
  }
  return out;
}

describe('fitting eigenfaces', () => {
  it('recovers the principal directions and variances of synthetic data', () => {
    // Prepare: 8x8 vectors = mean + sum of 4 directions with std 8, 4, 2, 1 + small isotropic noise.
    const random = new SeededRandom(1);
    const dims = 64;
    const directions = randomDirections(4, dims, random);
    const stds = [8, 4, 2, 1];
    const vectors = Array.from({ length: 3000 }, () => {
      const v = new Float32Array(dims).fill(3);
      stds.forEach((std, k) => {
        const a = std * random.normal();
        for (let d = 0; d < dims; d++) v[d] = v[d]! + a * directions[k]![d]!;
      });
      for (let d = 0; d < dims; d++) v[d] = v[d]! + 0.05 * random.normal();
      return v;
    });
    // Act
    const basis = fitEigenfaces(vectors, 8, { components: 4, seed: 3 });
    // Assess
    for (let k = 0; k < 4; k++) {
      const component = Float64Array.from(basis.components.subarray(k * dims, (k + 1) * dims));
      expect(Math.abs(cosineSimilarity(component, directions[k]!))).toBeGreaterThan(0.995);
      expect(basis.eigenvalues[k]! / stds[k]! ** 2).toBeGreaterThan(0.9);
      expect(basis.eigenvalues[k]! / stds[k]! ** 2).toBeLessThan(1.1);
    }
    expect(Math.max(...basis.mean.map((m) => Math.abs(m - 3)))).toBeLessThan(0.5);
  });

  it('is deterministic for a seed', () => {
    // Prepare
    const random = new SeededRandom(2);
    const vectors = Array.from({ length: 50 }, () =>
      Float32Array.from({ length: 16 }, () => random.normal()),
    );
    // Act
    const a = fitEigenfaces(vectors, 4, { components: 3, seed: 9 });
    const b = fitEigenfaces(vectors, 4, { components: 3, seed: 9 });
    // Assess
    expect(Array.from(b.components)).toEqual(Array.from(a.components));
  });

  it('diagonalises a small symmetric matrix (Jacobi)', () => {
    // Prepare: eigenvalues of [[2,1,0],[1,2,0],[0,0,5]] are 1, 3, 5.
    const m = Float64Array.from([2, 1, 0, 1, 2, 0, 0, 0, 5]);
    // Act
    const { values } = jacobiEigen(m, 3);
    // Assess
    expect(
      Array.from(values)
        .sort((a, b) => a - b)
        .map((v) => Number(v.toFixed(10))),
    ).toEqual([1, 3, 5]);
  });
});

describe('face vectors', () => {
  it('have size² values with zero mean and unit deviation, unchanged by brightness and contrast', () => {
    // Prepare
    const face = patternImage(64, 2);
    const brighter = { ...face, data: face.data.map((v) => Math.min(255, Math.round(v * 0.8 + 30))) };
    // Act
    const a = faceVector(face, 16);
    const b = faceVector(brighter, 16);
    // Assess
    expect(a.length).toBe(256);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean).toBeCloseTo(0, 5);
    expect(Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length)).toBeCloseTo(1, 5);
    expect(cosineSimilarity(Float64Array.from(a), Float64Array.from(b))).toBeGreaterThan(0.999);
  });
});

describe('identification', () => {
  const random = new SeededRandom(4);
  const truths = Array.from({ length: 20 }, () => Float64Array.from({ length: 30 }, () => random.normal()));

  it('identifies everyone when restorations are close to their own ground truth', () => {
    // Prepare
    const restored = truths.map((t) => t.map((v) => v + 0.1 * random.normal()));
    // Act
    const scores = identify(restored, truths);
    // Assess
    expect(scores.accuracy).toBe(1);
    expect(scores.meanDistance).toBeLessThan(0.02);
  });

  it('identifies no one when every restoration shows another person', () => {
    // Prepare
    const restored = truths.map((_, i) => truths[(i + 1) % truths.length]!);
    // Act
    const scores = identify(restored, truths);
    // Assess
    expect(scores.accuracy).toBe(0);
    expect(scores.meanDistance).toBeGreaterThan(0.5);
  });

  it('scores partly degraded restorations between the two', () => {
    // Prepare: half exact, half replaced by noise.
    const restored = truths.map((t, i) =>
      i % 2 === 0 ? t : Float64Array.from({ length: 30 }, () => random.normal()),
    );
    // Act
    const scores = identify(restored, truths);
    // Assess
    expect(scores.accuracy).toBeGreaterThanOrEqual(0.5);
    expect(scores.accuracy).toBeLessThan(0.75);
    expect(scores.perImage.filter((p, i) => i % 2 === 0 && p.identified)).toHaveLength(10);
  });

  it('refuses mismatched lists', () => {
    expect(() => identify(truths.slice(1), truths)).toThrow(/one ground truth per restored face/);
  });
});

describe('saving a basis', () => {
  const basis: EigenfaceBasis = {
    size: 2,
    mean: Float32Array.from([1, 2, 3, 4]),
    components: Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0]),
    eigenvalues: [5, 2],
  };
  const info = {
    name: 'test',
    trainImages: 2,
    source: 'synthetic',
    license: { name: 'MIT', commercialUse: true },
  };

  it('loads back what it saved and projects with it', async () => {
    // Prepare
    const file = path.join(work, 'basis.json');
    await saveEigenfaceBasis(basis, file, info);
    // Act
    const loaded = await loadEigenfaceBasis(file);
    // Assess
    expect(Array.from(loaded.components)).toEqual(Array.from(basis.components));
    expect(Array.from(projectFace(loaded, Float32Array.from([2, 2, 3, 4])))).toEqual([1, 0]);
    expect(loaded.info.name).toBe('test');
  });

  it('refuses a basis whose data does not match its checksum', async () => {
    // Prepare
    const file = path.join(work, 'tampered.json');
    await saveEigenfaceBasis(basis, file, info);
    const bin = await readFile(path.join(work, 'tampered.bin'));
    bin[0] = bin[0]! ^ 0xff;
    await writeFile(path.join(work, 'tampered.bin'), bin);
    // Act + Assess
    await expect(loadEigenfaceBasis(file)).rejects.toThrow(/checksum/);
  });
});
