/**
 * Synthetic degradations for the evaluation, the model of the DR2 paper's Eq. 13:
 *
 *     y = [ (x ⊛ k_σ) ↓_r + n_δ ]_JPEG_q
 *
 * applied to a clean face x at the evaluation size E (the enhancer's output size):
 * 1. blur with an isotropic Gaussian kernel k_σ (σ in pixels of a 512-px face, scaled to E:
 *    σ_E = σ · E / 512, so the same split blurs a face equally at any evaluation size);
 *    radius ceil(3 σ_E), symmetric (half-sample) reflection at the borders;
 * 2. bicubic downsampling by r (MATLAB `imresize` semantics, antialiased) to E / r;
 * 3. additive noise n_δ, its type drawn per image: Gaussian (std δ), Laplace (std δ) or Poisson
 *    (signal dependent, `Poisson(λ x) / λ` with λ = 128 / δ², i.e. std δ at mid-grey 128), then
 *    clipping to 0-255 and rounding to 8 bits;
 * 4. JPEG compression at quality q (libjpeg via sharp, 4:2:0 chroma subsampling as in common
 *    degradation pipelines), decoded back.
 * The methods then see y upsampled back (bicubic) to the size they need.
 *
 * σ, δ and q are drawn uniformly from the ranges of a split (mild / medium / severe, see
 * DEGRADATION_SPLITS); r is fixed per evaluation column (4, 8, 16).
 */
import sharp from 'sharp';
import { InvalidParametersError, type RgbImage, SeededRandom, deriveSeed } from '../engine/index.js';
import { type PlanarImage, planarToRgb, resizePlanar, rgbToPlanar } from './planes.js';

export type NoiseType = 'gaussian' | 'laplace' | 'poisson';
export const NOISE_TYPES: readonly NoiseType[] = ['gaussian', 'laplace', 'poisson'];

/** A closed interval [min, max] that a parameter is drawn from, uniformly. */
export type Range = readonly [number, number];

/** The parameter ranges of one severity split. */
export interface DegradationSplit {
  readonly name: string;
  /** Gaussian blur σ in pixels of a 512-px face (scaled to the evaluation size). */
  readonly sigma512: Range;
  /** Noise standard deviation δ on the 0-255 scale, applied to the downsampled image. */
  readonly noise: Range;
  /** JPEG quality q (integers, both ends included). */
  readonly jpegQuality: Range;
}

/**
 * The three splits of this evaluation. The DR2 paper (section 4.1) evaluates mild, medium and
 * severe splits of synthetic degradations, but its exact numeric ranges could not be retrieved
 * offline when this was written; these ranges are this project's own, chosen to increase in
 * severity and to reach beyond the usual training degradations (GFPGAN-style blur σ ≤ 10,
 * noise ≤ 20, JPEG ≥ 60) in the severe split. See docs/eval/README.md.
 */
export const DEGRADATION_SPLITS: Readonly<Record<string, DegradationSplit>> = Object.freeze({
  mild: { name: 'mild', sigma512: [0.1, 3], noise: [0, 5], jpegQuality: [70, 90] },
  medium: { name: 'medium', sigma512: [3, 6], noise: [5, 15], jpegQuality: [40, 70] },
  severe: { name: 'severe', sigma512: [6, 10], noise: [15, 25], jpegQuality: [20, 40] },
} satisfies Record<string, DegradationSplit>);

/** The concrete degradation of one image. */
export interface DegradationParams {
  split: string;
  /** Downsampling factor r. */
  scale: number;
  /** Blur σ in pixels of a 512-px face, as drawn. */
  sigma512: number;
  noiseType: NoiseType;
  /** Noise standard deviation δ (0-255 scale). */
  noise: number;
  jpegQuality: number;
}

/** Look a split up by name. @throws InvalidParametersError for an unknown name. */
export function degradationSplit(name: string): DegradationSplit {
  const split = DEGRADATION_SPLITS[name];
  if (!split) {
    throw new InvalidParametersError(
      `unknown degradation split '${name}' (known: ${Object.keys(DEGRADATION_SPLITS).join(', ')})`,
    );
  }
  return split;
}

/**
 * Draw the degradation of one image. The draw depends only on (seed, image id, scale, split),
 * never on which other images are evaluated.
 *
 * @example
 * ```ts
 * sampleDegradation(0, 'val/1_0_0_x.jpg', 8, DEGRADATION_SPLITS.severe);
 * // { split: 'severe', scale: 8, sigma512: 7.3, noiseType: 'laplace', noise: 21.4, jpegQuality: 27 }
 * ```
 */
export function sampleDegradation(
  seed: number,
  imageId: string,
  scale: number,
  split: DegradationSplit,
): DegradationParams {
  const random = new SeededRandom(deriveSeed(seed, imageId, `x${scale}`, split.name, 'params'));
  return {
    split: split.name,
    scale,
    sigma512: random.between(split.sigma512[0], split.sigma512[1]),
    noiseType: random.pick(NOISE_TYPES),
    noise: random.between(split.noise[0], split.noise[1]),
    jpegQuality: random.integer(split.jpegQuality[0], split.jpegQuality[1]),
  };
}

/** Normalised 1-D Gaussian taps for σ (radius ceil(3σ), at least 1). */
export function gaussianTaps(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const weight = Math.exp(-(i * i) / (2 * sigma * sigma));
    taps[i + radius] = weight;
    sum += weight;
  }
  for (let i = 0; i < taps.length; i++) taps[i]! /= sum;
  return taps;
}

/** Symmetric (half-sample) reflection of an index into 0..size-1. */
function reflect(index: number, size: number): number {
  const period = 2 * size;
  const wrapped = ((index % period) + period) % period;
  return wrapped < size ? wrapped : period - 1 - wrapped;
}

/**
 * Separable Gaussian blur of a planar image with symmetric border reflection. σ below 0.05 px
 * leaves the image unchanged (the kernel would be a delta anyway).
 */
export function gaussianBlur(image: PlanarImage, sigma: number): PlanarImage {
  if (!(sigma >= 0)) throw new InvalidParametersError(`blur sigma must be >= 0, got ${String(sigma)}`);
  const { width, height } = image;
  if (sigma < 0.05) return { data: image.data.slice(), width, height };
  const taps = gaussianTaps(sigma);
  const radius = (taps.length - 1) / 2;
  const plane = width * height;
  const temp = new Float64Array(plane);
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = -radius; k <= radius; k++) {
          sum += taps[k + radius]! * image.data[base + y * width + reflect(x + k, width)]!;
        }
        temp[y * width + x] = sum;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = -radius; k <= radius; k++) {
          sum += taps[k + radius]! * temp[reflect(y + k, height) * width + x]!;
        }
        out[base + y * width + x] = sum;
      }
    }
  }
  return { data: out, width, height };
}

/**
 * Add noise of the given type and standard deviation in place (0-255 scale); values are not
 * clipped here. Poisson noise is signal dependent: `Poisson(λ x) / λ` with λ = 128 / δ², whose
 * standard deviation is δ at x = 128 (and smaller in the shadows, larger in the highlights).
 */
export function addNoise(image: PlanarImage, type: NoiseType, std: number, random: SeededRandom): void {
  if (!(std >= 0)) throw new InvalidParametersError(`noise level must be >= 0, got ${String(std)}`);
  if (std === 0) return;
  const data = image.data;
  switch (type) {
    case 'gaussian':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + std * random.normal();
      return;
    case 'laplace':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + random.laplace(std);
      return;
    case 'poisson': {
      const lambda = 128 / (std * std);
      for (let i = 0; i < data.length; i++) {
        const value = Math.max(0, data[i]!);
        data[i] = random.poisson(value * lambda) / lambda;
      }
      return;
    }
    default:
      throw new InvalidParametersError(`unknown noise type '${String(type)}'`);
  }
}

/** JPEG-compress an RGB8 image at `quality` and decode it again. */
export async function jpegRoundTrip(image: RgbImage, quality: number): Promise<RgbImage> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidParametersError(`JPEG quality must be an integer 1-100, got ${String(quality)}`);
  }
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  const jpeg = await sharp(image.data, { raw }).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== image.width || info.height !== image.height || info.channels !== 3) {
    throw new InvalidParametersError(
      `JPEG round trip changed the image to ${info.width}x${info.height}x${info.channels}`,
    );
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}

/** The result of degrading one clean face. */
export interface DegradedFace {
  params: DegradationParams;
  /** The degraded low-resolution image y, E/r x E/r, 8-bit (after JPEG). */
  lowRes: RgbImage;
}

/**
 * Degrade a clean square face (the ground truth at the evaluation size E) with the given
 * parameters: blur, bicubic downsampling by r, noise (clipped and rounded), JPEG.
 *
 * @throws InvalidParametersError when E is not divisible by r or E / r < 2.
 *
 * @example
 * ```ts
 * const params = sampleDegradation(0, 'face.jpg', 8, DEGRADATION_SPLITS.medium);
 * const { lowRes } = await degradeFace(groundTruth128, params, 0, 'face.jpg'); // 16x16
 * ```
 */
export async function degradeFace(
  clean: RgbImage,
  params: DegradationParams,
  seed: number,
  imageId: string,
): Promise<DegradedFace> {
  const size = clean.width;
  if (clean.height !== size) {
    throw new InvalidParametersError(`clean faces must be square, got ${clean.width}x${clean.height}`);
  }
  const { scale } = params;
  if (!Number.isInteger(scale) || scale < 1 || size % scale !== 0 || size / scale < 2) {
    throw new InvalidParametersError(
      `downsampling factor ${String(scale)} must divide the evaluation size ${size} and leave at least 2 px`,
    );
  }
  const blurred = gaussianBlur(rgbToPlanar(clean), (params.sigma512 * size) / 512);
  const small = resizePlanar(blurred, size / scale, size / scale);
  const random = new SeededRandom(deriveSeed(seed, imageId, `x${scale}`, params.split, 'noise'));
  addNoise(small, params.noiseType, params.noise, random);
  const quantised = planarToRgb(small); // clips to 0-255 and rounds, as saving the image would
  const lowRes = await jpegRoundTrip(quantised, params.jpegQuality);
  return { params, lowRes };
}
