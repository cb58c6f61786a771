/**
 * An identity proxy from eigenfaces (Turk & Pentland 1991), since no pretrained face
 * recognition network is available here.
 *
 * **Face vector**: grey `0.299 R + 0.587 G + 0.114 B`, bicubic resize (antialiased) of the
 * whole square face to `size x size` (32 by default), then standardised per image (zero mean,
 * unit standard deviation) so a global brightness or contrast change does not read as another
 * identity.
 *
 * **Basis**: PCA of such vectors from the UTKFace *train* split (never `val`): the mean face and
 * the leading `components` eigenvectors of the covariance, found by subspace iteration with a
 * Rayleigh-Ritz step (block power method), deterministic for a seed.
 *
 * **Proxy** (see `identify`): each restored face and each ground truth are projected onto the
 * basis (mean removed, unwhitened coefficients). *Identification accuracy* is the fraction of
 * restored faces whose most similar ground truth (cosine similarity of coefficient vectors)
 * among all evaluated ground truths is their own; *identity distance* is the mean cosine
 * distance `1 - cos` between each restored face and its own ground truth.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidParametersError, type RgbImage, resizeBicubic, SeededRandom } from '../engine/index.js';
import { greyRec601 } from './planes.js';

/** A fitted eigenface basis. */
export interface EigenfaceBasis {
  /** Side of the face vectors' square (vector length size²). */
  size: number;
  /** Mean face vector, length size². */
  mean: Float32Array;
  /** Row-major `[components, size²]`, orthonormal rows, by decreasing eigenvalue. */
  components: Float32Array;
  /** Eigenvalues (variance along each component), decreasing. */
  eigenvalues: number[];
}

/** Provenance written beside a saved basis. */
export interface EigenfaceBasisInfo {
  name: string;
  trainImages: number;
  source: string;
  command?: string;
  license: { name: string; commercialUse: boolean; notes?: string };
}

export const DEFAULT_EIGENFACE_SIZE = 32;
export const DEFAULT_EIGENFACE_COMPONENTS = 64;

/**
 * The standardised grey face vector of an RGB face (see the module comment).
 *
 * @example
 * ```ts
 * const v = faceVector(face128, 32); // Float32Array(1024), mean 0, std 1
 * ```
 */
export function faceVector(image: RgbImage, size = DEFAULT_EIGENFACE_SIZE): Float32Array {
  if (image.width !== image.height) {
    throw new InvalidParametersError(
      `faces must be square for the identity proxy, got ${image.width}x${image.height}`,
    );
  }
  const grey = Float32Array.from(greyRec601(image));
  const small = resizeBicubic(grey, 1, image.height, image.width, size, size);
  let mean = 0;
  for (let i = 0; i < small.length; i++) mean += small[i]!;
  mean /= small.length;
  let variance = 0;
  for (let i = 0; i < small.length; i++) variance += (small[i]! - mean) ** 2;
  const std = Math.sqrt(variance / small.length) || 1;
  for (let i = 0; i < small.length; i++) small[i] = (small[i]! - mean) / std;
  return small;
}

/** Orthonormalise vectors in place (modified Gram-Schmidt, each vector twice for stability). */
function orthonormalise(vectors: Float64Array[]): void {
  for (let j = 0; j < vectors.length; j++) {
    const v = vectors[j]!;
    for (let attempt = 0; ; attempt++) {
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          const u = vectors[i]!;
          let dot = 0;
          for (let k = 0; k < v.length; k++) dot += u[k]! * v[k]!;
          for (let k = 0; k < v.length; k++) v[k] = v[k]! - dot * u[k]!;
        }
      }
      let norm = 0;
      for (let k = 0; k < v.length; k++) norm += v[k]! * v[k]!;
      norm = Math.sqrt(norm);
      if (norm > 1e-10 || attempt >= v.length) {
        for (let k = 0; k < v.length; k++) v[k] = v[k]! / (norm || 1);
        break;
      }
      // A direction the others already span (rank-deficient data): try another unit vector.
      v.fill(0);
      v[(j + attempt) % v.length] = 1;
    }
  }
}

/** Symmetric matrix (row-major n x n) times vector. */
function symmetricTimes(matrix: Float64Array, n: number, v: Float64Array, out: Float64Array): void {
  for (let r = 0; r < n; r++) {
    let sum = 0;
    const row = r * n;
    for (let c = 0; c < n; c++) sum += matrix[row + c]! * v[c]!;
    out[r] = sum;
  }
}

/**
 * Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations.
 * Returns eigenvalues and the eigenvectors as columns of a row-major n x n matrix.
 */
export function jacobiEigen(
  symmetric: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = symmetric.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

export interface FitEigenfacesOptions {
  components?: number;
  /** Extra block vectors beyond `components` (faster, more reliable convergence). Default 16. */
  oversample?: number;
  /** Maximum block power iterations. Default 150. */
  maxIterations?: number;
  /** Seed of the random starting block. Default 0. */
  seed?: number;
}

/**
 * PCA of face vectors: the mean and the leading eigenvectors of their covariance.
 *
 * @example
 * ```ts
 * const basis = fitEigenfaces(trainFaces.map((f) => faceVector(f)), 32, { components: 64 });
 * ```
 */
export function fitEigenfaces(
  vectors: readonly Float32Array[],
  size: number,
  options: FitEigenfacesOptions = {},
): EigenfaceBasis {
  const dims = size * size;
  const components = options.components ?? DEFAULT_EIGENFACE_COMPONENTS;
  if (vectors.length < 2) throw new InvalidParametersError('PCA needs at least two face vectors');
  if (!Number.isInteger(components) || components < 1 || components > dims) {
    throw new InvalidParametersError(`components must be an integer 1-${dims}, got ${String(components)}`);
  }
  for (const v of vectors) {
    if (v.length !== dims)
      throw new InvalidParametersError(`face vectors must have ${dims} values, got ${v.length}`);
  }
  const mean = new Float64Array(dims);
  for (const v of vectors) for (let k = 0; k < dims; k++) mean[k] = mean[k]! + v[k]!;
  for (let k = 0; k < dims; k++) mean[k] = mean[k]! / vectors.length;

  // Covariance (upper triangle accumulated, then mirrored).
  const covariance = new Float64Array(dims * dims);
  const centred = new Float64Array(dims);
  for (const v of vectors) {
    for (let k = 0; k < dims; k++) centred[k] = v[k]! - mean[k]!;
    for (let r = 0; r < dims; r++) {
      const value = centred[r]!;
      if (value === 0) continue;
      const row = r * dims;
      for (let c = r; c < dims; c++) covariance[row + c] = covariance[row + c]! + value * centred[c]!;
    }
  }
  const scale = 1 / (vectors.length - 1);
  for (let r = 0; r < dims; r++) {
    for (let c = r; c < dims; c++) {
      const value = covariance[r * dims + c]! * scale;
      covariance[r * dims + c] = value;
      covariance[c * dims + r] = value;
    }
  }

  const block = Math.min(dims, components + (options.oversample ?? 16));
  const random = new SeededRandom(options.seed ?? 0);
  let basis: Float64Array[] = Array.from({ length: block }, () => {
    const v = new Float64Array(dims);
    for (let k = 0; k < dims; k++) v[k] = random.normal();
    return v;
  });
  orthonormalise(basis);
  let ritzValues = new Float64Array(block);
  const maxIterations = options.maxIterations ?? 150;
  const product = (q: Float64Array): Float64Array => {
    const z = new Float64Array(dims);
    symmetricTimes(covariance, dims, q, z);
    return z;
  };
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    basis = basis.map(product);
    orthonormalise(basis);
    if (iteration % 10 !== 0 && iteration !== maxIterations) continue;
    // Rayleigh-Ritz every 10 steps: rotate the block onto the eigenvectors of its projected
    // matrix, and stop once the leading eigenvalues no longer move.
    const cq = basis.map(product);
    const small = new Float64Array(block * block);
    for (let i = 0; i < block; i++) {
      for (let j = i; j < block; j++) {
        let dot = 0;
        for (let k = 0; k < dims; k++) dot += basis[i]![k]! * cq[j]![k]!;
        small[i * block + j] = dot;
        small[j * block + i] = dot;
      }
    }
    const { values, vectors: w } = jacobiEigen(small, block);
    const order = Array.from(values.keys()).sort((x, y) => values[y]! - values[x]!);
    basis = order.map((col) => {
      const u = new Float64Array(dims);
      for (let i = 0; i < block; i++) {
        const weight = w[i * block + col]!;
        const q = basis[i]!;
        for (let k = 0; k < dims; k++) u[k] = u[k]! + weight * q[k]!;
      }
      return u;
    });
    const newValues = Float64Array.from(order.map((col) => values[col]!));
    let change = 0;
    for (let i = 0; i < components; i++) {
      change = Math.max(
        change,
        Math.abs(newValues[i]! - ritzValues[i]!) / Math.max(1e-12, Math.abs(newValues[i]!)),
      );
    }
    ritzValues = newValues;
    if (change < 1e-7) break;
  }

  const out = new Float32Array(components * dims);
  for (let i = 0; i < components; i++) {
    const u = basis[i]!;
    // Sign convention: the largest-magnitude entry is positive (a deterministic, documented choice).
    let largest = 0;
    for (let k = 1; k < dims; k++) if (Math.abs(u[k]!) > Math.abs(u[largest]!)) largest = k;
    const sign = u[largest]! < 0 ? -1 : 1;
    for (let k = 0; k < dims; k++) out[i * dims + k] = sign * u[k]!;
  }
  return {
    size,
    mean: Float32Array.from(mean),
    components: out,
    eigenvalues: Array.from(ritzValues.subarray(0, components)),
  };
}

/** Number of components of a basis. */
export function componentCount(basis: EigenfaceBasis): number {
  return basis.components.length / (basis.size * basis.size);
}

/** Coefficients of a face vector on the basis (mean removed, unwhitened). */
export function projectFace(basis: EigenfaceBasis, vector: Float32Array): Float64Array {
  const dims = basis.size * basis.size;
  if (vector.length !== dims) {
    throw new InvalidParametersError(`face vector has ${vector.length} values, the basis needs ${dims}`);
  }
  const count = componentCount(basis);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    const row = i * dims;
    for (let k = 0; k < dims; k++) sum += basis.components[row + k]! * (vector[k]! - basis.mean[k]!);
    out[i] = sum;
  }
  return out;
}

/** Cosine similarity of two vectors, e.g. eigenface coefficients (0 when either is zero). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Per-image and mean identity scores of restored faces against their ground truths. */
export interface IdentityScores {
  /** Fraction of restored faces whose nearest ground truth (cosine) is their own. */
  accuracy: number;
  /** Mean `1 - cos` between each restored face and its own ground truth. */
  meanDistance: number;
  /** Per image: whether it was identified, and its cosine distance to its own ground truth. */
  perImage: { identified: boolean; distance: number }[];
}

/**
 * Identification of restored faces among ground truths: `restored[i]` belongs to `truths[i]`.
 * Ties count as misses, so identical coefficients for two people never score. With `ids`, faces
 * of one id are one person (draws of one photo share their ground truths) and never rivals.
 *
 * @example
 * ```ts
 * const scores = identify(restored.map((f) => projectFace(basis, faceVector(f))), truthCoefficients);
 * scores.accuracy; // 0..1
 * ```
 */
export function identify(
  restored: readonly Float64Array[],
  truths: readonly Float64Array[],
  ids?: readonly string[],
): IdentityScores {
  if (ids !== undefined && ids.length !== truths.length) {
    throw new InvalidParametersError(
      `identification needs one id per face (got ${ids.length} and ${truths.length})`,
    );
  }
  if (restored.length !== truths.length || restored.length === 0) {
    throw new InvalidParametersError(
      `identification needs one ground truth per restored face (got ${restored.length} and ${truths.length})`,
    );
  }
  const perImage = restored.map((face, i) => {
    const own = cosineSimilarity(face, truths[i]!);
    let identified = true;
    for (let j = 0; j < truths.length && identified; j++) {
      // A face of the same person (another draw of one photo) is no rival.
      if (j === i || (ids !== undefined && ids[j] === ids[i])) continue;
      if (cosineSimilarity(face, truths[j]!) >= own) identified = false;
    }
    return { identified, distance: 1 - own };
  });
  return {
    accuracy: perImage.filter((p) => p.identified).length / perImage.length,
    meanDistance: perImage.reduce((sum, p) => sum + p.distance, 0) / perImage.length,
    perImage,
  };
}

/**
 * Save a basis as `<name>.json` (header and provenance) beside `<name>.bin` (float32
 * little-endian: the mean, then the component rows).
 */
export async function saveEigenfaceBasis(
  basis: EigenfaceBasis,
  jsonFile: string,
  info: EigenfaceBasisInfo,
): Promise<void> {
  const binFile = jsonFile.replace(/\.json$/, '') + '.bin';
  const values = new Float32Array(basis.mean.length + basis.components.length);
  values.set(basis.mean, 0);
  values.set(basis.components, basis.mean.length);
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new InvalidParametersError('saving the basis needs a little-endian machine');
  }
  await writeFile(binFile, bytes);
  const header = {
    kind: 'eigenfaces',
    ...info,
    size: basis.size,
    components: componentCount(basis),
    preprocess:
      'grey 0.299R+0.587G+0.114B; MATLAB-style bicubic resize of the square face to size x size; per-image zero mean, unit std',
    file: path.basename(binFile),
    layout: 'float32 little-endian: mean[size*size], then components[components][size*size]',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    eigenvalues: basis.eigenvalues.map((v) => Number(v.toPrecision(6))),
  };
  await writeFile(jsonFile, `${JSON.stringify(header, null, 2)}\n`);
}

/** Load a basis saved by saveEigenfaceBasis (checks size and checksum). */
export async function loadEigenfaceBasis(
  jsonFile: string,
): Promise<EigenfaceBasis & { info: EigenfaceBasisInfo }> {
  const header = JSON.parse(await readFile(jsonFile, 'utf8')) as {
    kind?: string;
    size: number;
    components: number;
    file: string;
    sha256: string;
    eigenvalues: number[];
  } & EigenfaceBasisInfo;
  if (header.kind !== 'eigenfaces') throw new InvalidParametersError(`${jsonFile} is not an eigenface basis`);
  const bytes = await readFile(path.resolve(path.dirname(jsonFile), header.file));
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== header.sha256) {
    throw new InvalidParametersError(
      `${header.file}: checksum ${digest} does not match the header's ${header.sha256}`,
    );
  }
  const dims = header.size * header.size;
  if (bytes.byteLength !== 4 * dims * (header.components + 1)) {
    throw new InvalidParametersError(
      `${header.file} has ${bytes.byteLength} bytes, expected ${4 * dims * (header.components + 1)}`,
    );
  }
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    size: header.size,
    mean: values.slice(0, dims),
    components: values.slice(dims),
    eigenvalues: header.eigenvalues,
    info: {
      name: header.name,
      trainImages: header.trainImages,
      source: header.source,
      ...(header.command ? { command: header.command } : {}),
      license: header.license,
    },
  };
}
