/**
 * A whole photo made ready for the engine: decoded once, its faces found, chosen (largest
 * first, `minFace`, `maxFaces`) and aligned onto the model's template, each cut at the model's
 * side and at its paste side; the upscale capped to what the output may hold.
 *
 * Geometry: a face's `toUnit` similarity maps photo coordinates (continuous, pixel i covering
 * [i, i + 1)) onto its frame, the model's square crop, as fractions [0, 1]. The frame is cut at
 * two sizes: the model's input side S (the DR2 input) and the paste side P (the frame's size
 * in the output photo, for refinement and paste-back).
 */
import {
  ImageTooLargeError,
  InvalidParametersError,
  fourPointTemplate,
  type FivePointTemplate,
  decodeImageWithAlpha,
  type DecodedPhoto,
  type ImageLimits,
  type OutputFormat,
  type RgbImage,
  resolveImageLimits,
  restoresFirstFrameOnly,
  rgbFromSharp,
  sharpFromRgb,
} from '../engine/core.js';
import type { FaceDetector } from './detect.js';
import { DEFAULT_SMALLEST_FACE, type DetectedFace } from './detect.js';
import { type Similarity, estimateSimilarity, similarityScale } from './similarity.js';
import {
  DEFAULT_MAX_FACES,
  DEFAULT_UPSCALE,
  type FaceReport,
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  MAX_OUTPUT_SIDE,
  outputFormatsFitting,
  type PhotoWarning,
  UPSCALE_FACTORS,
  type UpscaleFactor,
} from './types.js';
import { resizeCubic, warpToFrame } from './warp.js';

/** Largest paste side: beyond it the restored face (128-512 px) would only be interpolated. */
export const MAX_PASTE_SIDE = 1024;

export interface PhotoOptions {
  upscale?: UpscaleFactor;
  /**
   * The format the output will be written in (default png): the upscale is capped to fit its
   * largest side (MAX_OUTPUT_SIDE), and a photo too large for it at upscale 1 is refused.
   */
  format?: OutputFormat;
  maxFaces?: number;
  /** Faces whose box side (input pixels) is below this are skipped. */
  minFace?: number;
  limits?: Partial<ImageLimits>;
}

/** One face ready for the engine. */
export interface PreparedFace {
  report: FaceReport;
  /** Photo coordinates -> frame fractions. */
  toUnit: Similarity;
  /** Side of the frame in the output photo (pixels). */
  pasteSide: number;
  /** The aligned input at the paste side (for estimation and fusion). */
  alignedInput: RgbImage;
  /** The aligned input at the model's side S. */
  modelInput: RgbImage;
}

export interface PreparedPhoto {
  decoded: DecodedPhoto;
  upscale: UpscaleFactor;
  faces: PreparedFace[];
  skippedFaces: FaceReport[];
  warnings: PhotoWarning[];
  decodeMs: number;
  detectMs: number;
  /**
   * CPU time of the process (all threads) during decoding and detection, for benchmarks: it
   * includes whatever else the process ran meanwhile.
   */
  decodeCpuMs: number;
  detectCpuMs: number;
}

/** CPU time of the whole process so far (all threads), in ms. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Check the photo options at the edge (the API and the CLI pass user input through). */
export function resolvePhotoOptions(options: PhotoOptions): Required<
  Omit<PhotoOptions, 'minFace' | 'limits' | 'format'>
> & {
  minFace: number;
} {
  const upscale = options.upscale ?? DEFAULT_UPSCALE;
  if (!UPSCALE_FACTORS.includes(upscale)) {
    throw new InvalidParametersError(`upscale must be 1, 2 or 4, got ${String(upscale)}`);
  }
  const maxFaces = options.maxFaces ?? DEFAULT_MAX_FACES;
  // The job API's bounds (shared/src/restore-options.ts), so a CLI run and a job take the same values.
  if (!Number.isInteger(maxFaces) || maxFaces < 1 || maxFaces > MAX_FACES_LIMIT) {
    throw new InvalidParametersError(
      `max faces must be an integer 1-${MAX_FACES_LIMIT}, got ${String(maxFaces)}`,
    );
  }
  const minFace = options.minFace ?? 0;
  if (!Number.isFinite(minFace) || minFace < 0 || minFace > MAX_MIN_FACE) {
    throw new InvalidParametersError(
      `min face must be a size in pixels 0-${MAX_MIN_FACE}, got ${String(minFace)}`,
    );
  }
  return { upscale, maxFaces, minFace };
}

/**
 * The largest allowed upscale for a photo: halved until the output stays within the pixel
 * limit (the same limit as inputs, so an output can always be fed back in) and its longest side
 * within `maxSide` (the output format's, MAX_OUTPUT_SIDE).
 *
 * @example
 * ```ts
 * capUpscale(8200, 1400, 2, 50e6, MAX_OUTPUT_SIDE.webp); // 1: 16400 px would not fit a WebP
 * ```
 */
export function capUpscale(
  width: number,
  height: number,
  upscale: UpscaleFactor,
  maxPixels: number,
  maxSide = Infinity,
): UpscaleFactor {
  let factor: number = upscale;
  while (
    factor > 1 &&
    (width * height * factor * factor > maxPixels || Math.max(width, height) * factor > maxSide)
  )
    factor /= 2;
  return factor as UpscaleFactor;
}

function toReport(face: DetectedFace): FaceReport {
  const r = (v: number): number => Math.round(v * 100) / 100;
  return {
    box: face.box.map(r) as FaceReport['box'],
    score: Math.round(face.score * 1000) / 1000,
    landmarks: face.keypoints.map(([x, y]) => [r(x), r(y)]),
  };
}

/** Photo -> frame fractions, from BlazeFace keypoints and the model's five-point template. */
export function alignmentFor(
  keypoints: readonly [number, number][],
  template: FivePointTemplate,
): Similarity {
  return estimateSimilarity(keypoints.slice(0, 4), fourPointTemplate(template));
}

/** Scale a unit-frame transform to a frame of `side` pixels. */
export function toPixels(toUnit: Similarity, side: number): Similarity {
  return { a: toUnit.a * side, b: toUnit.b * side, tx: toUnit.tx * side, ty: toUnit.ty * side };
}

/**
 * Resize an RGB image on pixel centres: Lanczos-3 through sharp to reduce (antialiased), our
 * own cubic to enlarge (see resizeCubic: libvips' enlargement is offset by half a pixel).
 */
export async function resizeRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  if (width >= image.width && height >= image.height) return resizeCubic(image, width, height);
  return rgbFromSharp(
    sharpFromRgb(image).resize(width, height, {
      fit: 'fill',
      kernel: width < image.width ? 'lanczos3' : 'cubic',
    }),
  );
}

/** Cut one face at the paste and model sides. */
export async function prepareFace(
  photo: RgbImage,
  report: FaceReport,
  toUnit: Similarity,
  upscale: number,
  modelSide: number,
): Promise<PreparedFace> {
  const frameSide = 1 / similarityScale(toUnit); // in input pixels
  const pasteSide = Math.max(8, Math.min(MAX_PASTE_SIDE, Math.round(frameSide * upscale)));
  const alignedInput = warpToFrame(photo, toPixels(toUnit, pasteSide), pasteSide);
  // Large faces go through the paste-side cut and a Lanczos reduction (no aliasing); small ones
  // are sampled directly at the model side.
  const modelInput =
    pasteSide > modelSide
      ? await resizeRgb(alignedInput, modelSide, modelSide)
      : warpToFrame(photo, toPixels(toUnit, modelSide), modelSide);
  return { report, toUnit, pasteSide, alignedInput, modelInput };
}

/**
 * Decode a photo once, find its faces, choose which to restore (largest first, `minFace`,
 * `maxFaces`) and align them.
 */
export async function preparePhoto(
  bytes: Uint8Array,
  detector: FaceDetector,
  options: PhotoOptions & { modelSide: number; template: FivePointTemplate },
): Promise<PreparedPhoto> {
  const { upscale: wanted, maxFaces, minFace } = resolvePhotoOptions(options);
  const limits = resolveImageLimits(options.limits);
  const decodeStart = performance.now();
  const decodeCpuStart = processCpuMs();
  const decoded = await decodeImageWithAlpha(bytes, options.limits ? { limits: options.limits } : {});
  const decodeMs = performance.now() - decodeStart;
  const decodeCpuMs = processCpuMs() - decodeCpuStart;
  const { image } = decoded;
  const warnings: PhotoWarning[] = [];
  if (restoresFirstFrameOnly(decoded.info)) warnings.push('first_frame_only');
  const format = options.format ?? 'png';
  const maxSide = MAX_OUTPUT_SIDE[format];
  if (Math.max(image.width, image.height) > maxSide) {
    // Refused before detection and restoration, as the encoder would refuse it after them.
    throw new ImageTooLargeError(
      `a ${image.width}x${image.height} photo does not fit a ${format.toUpperCase()} file (at most ${maxSide} px a side) even at upscale 1; ask for ${outputFormatsFitting(Math.max(image.width, image.height))}`,
    );
  }
  const upscale = capUpscale(image.width, image.height, wanted, limits.maxInputPixels, maxSide);
  if (upscale !== wanted) warnings.push('upscale_capped');

  const detectStart = performance.now();
  const detectCpuStart = processCpuMs();
  // The pyramid reaches DEFAULT_SMALLEST_FACE whatever `minFace` says, so faces below it are
  // still found and reported as skipped; a smaller `minFace` (down to 16 px) searches further.
  const smallestFace =
    minFace > 0 && minFace < DEFAULT_SMALLEST_FACE ? Math.max(16, minFace) : DEFAULT_SMALLEST_FACE;
  const detected = await detector.detect(image, { smallestFace });
  // Faces under transparency are not in the picture the user sees (the colours under alpha 0
  // are whatever an editor left there): they are neither restored nor reported.
  const found = decoded.alpha
    ? detected.filter((face) => isVisible(face.box, decoded.alpha as Uint8Array, image))
    : detected;
  const detectMs = performance.now() - detectStart;
  const detectCpuMs = processCpuMs() - detectCpuStart;
  const bySize = [...found].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  const faces: PreparedFace[] = [];
  const skippedFaces: FaceReport[] = [];
  for (const face of bySize) {
    const report = toReport(face);
    if (Math.max(face.box[2], face.box[3]) < minFace) skippedFaces.push({ ...report, reason: 'min_face' });
    else if (faces.length >= maxFaces) skippedFaces.push({ ...report, reason: 'max_faces' });
    else {
      const toUnit = alignmentFor(face.keypoints, options.template);
      faces.push(await prepareFace(image, report, toUnit, upscale, options.modelSide));
    }
  }
  if (found.length === 0) warnings.push('no_face_detected');
  return {
    decoded,
    upscale,
    faces,
    skippedFaces,
    warnings,
    decodeMs,
    detectMs,
    decodeCpuMs,
    detectCpuMs,
  };
}

/** Mean alpha over a face's box (clipped to the photo) at which the face counts as visible. */
const VISIBLE_MEAN_ALPHA = 16;

/** Whether a face's box shows (its mean alpha at least VISIBLE_MEAN_ALPHA of 255). */
function isVisible(
  box: readonly [number, number, number, number],
  alpha: Uint8Array,
  size: { width: number; height: number },
): boolean {
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(size.width, Math.ceil(box[0] + box[2]));
  const y1 = Math.min(size.height, Math.ceil(box[1] + box[3]));
  if (x1 <= x0 || y1 <= y0) return false;
  let sum = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) sum += alpha[y * size.width + x] as number;
  }
  return sum / ((x1 - x0) * (y1 - y0)) >= VISIBLE_MEAN_ALPHA;
}
