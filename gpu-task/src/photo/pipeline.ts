/**
 * Whole-photo restoration around the engine: decode once, find the faces, align each onto the
 * model's template, and (after the engine restored them) paste them back into the photo
 * enlarged by `upscale`.
 *
 * Geometry: a face's `toUnit` similarity maps photo coordinates (continuous, pixel i covering
 * [i, i + 1)) onto its frame, the model's square crop, as fractions [0, 1]. The frame is cut at
 * two sizes: the model's input side S (the DR2 input) and the paste side P (the frame's size
 * in the output photo, for refinement and paste-back).
 */
import sharp from 'sharp';
import {
  ImageTooLargeError,
  InvalidParametersError,
  ModelContractError,
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
import { type Similarity, composeSimilarity, estimateSimilarity, similarityScale } from './similarity.js';
import {
  DEFAULT_MAX_FACES,
  DEFAULT_UPSCALE,
  type FaceReport,
  MAX_OUTPUT_SIDE,
  OUTPUT_FORMATS,
  type PhotoWarning,
  UPSCALE_FACTORS,
  type UpscaleFactor,
} from './types.js';
import { encodePhoto, encodeRgbPipeline } from './encode.js';
import { type OutputWindow, cropRaw, enlargeCentred, enlargeWindow, withEnlargedWindows } from './enlarge.js';
import { type DenoisedBackground, denoiseBackground } from './background-denoise.js';
import { refineFace } from './refine.js';
import { type FaceUpsamplerBank, keptFaceLayerBounds, layKeptFace } from './face-upsampler.js';
import { type PixelBounds, frameBounds, pasteFrame, resizeCubic, warpToFrame } from './warp.js';

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
  if (!Number.isInteger(maxFaces) || maxFaces < 0 || maxFaces > 1000) {
    throw new InvalidParametersError(`max faces must be an integer 0-1000, got ${String(maxFaces)}`);
  }
  const minFace = options.minFace ?? 0;
  if (!Number.isFinite(minFace) || minFace < 0 || minFace > 100_000) {
    throw new InvalidParametersError(`min face must be a size in pixels 0-100000, got ${String(minFace)}`);
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
/** The output formats that hold a picture `side` px long, as a refusal names them ("png or jpeg"). */
function formatsFitting(side: number): string {
  const fitting = OUTPUT_FORMATS.filter((format) => MAX_OUTPUT_SIDE[format] >= side);
  return fitting.join(' or ');
}

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
      `a ${image.width}x${image.height} photo does not fit a ${format.toUpperCase()} file (at most ${maxSide} px a side) even at upscale 1; ask for ${formatsFitting(Math.max(image.width, image.height))}`,
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

/** A background enlarged by a BackgroundUpscaler. */
export interface UpscaledBackground {
  image: RgbImage;
  /**
   * Where input content lands: output coordinate = factor x input coordinate + offset (both
   * continuous, pixel i covering [i, i + 1)), so faces are pasted exactly over their background.
   */
  offset: number;
}

/**
 * Where a learned background upsampler would plug in: the whole photo enlarged by `factor`.
 * The default is `cubicBackground`.
 */
export type BackgroundUpscaler = (image: RgbImage, factor: number) => Promise<UpscaledBackground>;

/** The default background: the photo enlarged by `enlargeCentred` (content where the input had it). */
export const cubicBackground: BackgroundUpscaler = async (image, factor) => {
  if (factor === 1) return { image: { ...image, data: image.data.slice() }, offset: 0 };
  return {
    image: {
      data: await enlargeCentred(image.data, image.width, image.height, 3, factor),
      width: image.width * factor,
      height: image.height * factor,
    },
    offset: 0,
  };
};

/**
 * Paste restored faces (each at its paste side, aligned like its PreparedFace) into the photo
 * enlarged by `upscale`. Larger faces first, so a smaller face in front of a larger one (a
 * child on a lap) is blended over it rather than under it.
 */
export async function pasteFaces(
  photo: RgbImage,
  upscale: number,
  faces: readonly { face: PreparedFace; restored: RgbImage }[],
  background: BackgroundUpscaler = cubicBackground,
): Promise<RgbImage> {
  return pasteOnto(await background(photo, upscale), upscale, faces);
}

/** Output pixels -> input pixels for a background enlarged by `upscale` with `offset`. */
function outputToInput(upscale: number, offset: number): Similarity {
  return { a: 1 / upscale, b: 0, tx: -offset / upscale, ty: -offset / upscale };
}

/** Where a face's square lands in the output: output pixels -> face pixels, and its bounds. */
function placeFace(face: PreparedFace, side: number, toInput: Similarity) {
  const toFrame = composeSimilarity(toPixels(face.toUnit, side), toInput);
  return { toFrame, bounds: frameBounds(toFrame, side) };
}

/**
 * pasteFaces onto a background already enlarged (in place). With `keptFaces` (the photo as
 * enlarged and the bank), faces left as they were (null) are first laid over it enlarged by the
 * face upsampler.
 */
function pasteOnto(
  { image: out, offset }: UpscaledBackground,
  upscale: number,
  faces: readonly { face: PreparedFace; restored: RgbImage | null }[],
  keptFaces: { image: RgbImage; bank: FaceUpsamplerBank } | null = null,
): RgbImage {
  const toInput = outputToInput(upscale, offset);
  if (keptFaces) {
    for (const { face, restored } of faces) {
      if (!restored && takesLayer(face))
        layKeptFace(
          out,
          { x: 0, y: 0 },
          keptFaces.image,
          keptFaces.bank,
          composeSimilarity(face.toUnit, toInput),
        );
    }
  }
  for (const { face, restored } of faces) {
    if (restored) pasteFrame(out, restored, placeFace(face, restored.width, toInput).toFrame);
  }
  return out;
}

/**
 * The restored faces blended into windows of the photo enlarged by `upscale` (cubicBackground):
 * each window holds the output pixels under one face, or under several that overlap (blended
 * in order, as pasteOnto does), so laying them over the enlargement gives pasteFaces' bytes
 * without the whole output in memory.
 */
async function faceWindows(
  photo: RgbImage,
  upscale: number,
  faces: readonly { face: PreparedFace; restored: RgbImage | null }[],
  bank: FaceUpsamplerBank | null,
): Promise<OutputWindow[]> {
  const width = photo.width * upscale;
  const height = photo.height * upscale;
  const toInput = outputToInput(upscale, 0);
  const clip = (b: PixelBounds): PixelBounds => ({
    x0: Math.max(0, b.x0),
    y0: Math.max(0, b.y0),
    x1: Math.min(width - 1, b.x1),
    y1: Math.min(height - 1, b.y1),
  });
  // Faces left as they were (null) have nothing to lay over the enlargement but, with a bank,
  // their own enlargement by the face upsampler.
  type Placed = { restored: RgbImage | null; toFrame: Similarity; bounds: PixelBounds };
  const placed = faces.flatMap(({ face, restored }): Placed[] => {
    if (!restored) {
      if (!bank || !takesLayer(face)) return [];
      const toUnit = composeSimilarity(face.toUnit, toInput);
      return [{ restored: null, toFrame: toUnit, bounds: clip(keptFaceLayerBounds(toUnit)) }];
    }
    const { toFrame, bounds } = placeFace(face, restored.width, toInput);
    return [{ restored, toFrame, bounds: clip(bounds) }];
  });
  // Group faces whose rectangles overlap (transitively): one window each, faces in their order.
  const groups: { bounds: PixelBounds; members: number[] }[] = [];
  placed.forEach(({ bounds }, index) => {
    if (bounds.x0 > bounds.x1 || bounds.y0 > bounds.y1) return; // wholly outside the photo
    let group = { bounds: { ...bounds }, members: [index] };
    for (let i = groups.length - 1; i >= 0; i--) {
      if (overlaps(groups[i]!.bounds, group.bounds)) {
        const other = groups.splice(i, 1)[0]!;
        group = { bounds: union(other.bounds, group.bounds), members: [...other.members, ...group.members] };
        i = groups.length; // the grown rectangle may now meet groups already passed
      }
    }
    groups.push(group);
  });
  return Promise.all(
    groups.map(async ({ bounds: { x0, y0, x1, y1 }, members }) => {
      const enlarged = await enlargeWindow(photo, upscale, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
      const image = { ...enlarged, data: enlarged.data.slice() };
      const inOrder = [...members].sort((i, j) => i - j).map((index) => placed[index]!);
      // Kept faces under restored ones, as pasteOnto lays them.
      for (const { restored, toFrame } of inOrder) {
        if (!restored && bank) layKeptFace(image, { x: x0, y: y0 }, photo, bank, toFrame);
      }
      for (const { restored, toFrame } of inOrder) {
        if (restored) pasteFrame(image, restored, toFrame, undefined, { x: x0, y: y0 });
      }
      return { left: x0, top: y0, enlarged, image };
    }),
  );
}

function overlaps(p: PixelBounds, q: PixelBounds): boolean {
  return p.x0 <= q.x1 && q.x0 <= p.x1 && p.y0 <= q.y1 && q.y0 <= p.y1;
}

function union(p: PixelBounds, q: PixelBounds): PixelBounds {
  return {
    x0: Math.min(p.x0, q.x0),
    y0: Math.min(p.y0, q.y0),
    x1: Math.max(p.x1, q.x1),
    y1: Math.max(p.y1, q.y1),
  };
}

/** Enlarge the alpha plane to the output size (as the background), for encoding with the restored RGB. */
export async function resizeAlpha(
  alpha: Uint8Array,
  width: number,
  height: number,
  factor: number,
): Promise<Uint8Array> {
  if (factor === 1) return alpha;
  return enlargeCentred(alpha, width, height, 1, factor);
}

export interface FinishPhotoOptions {
  format: OutputFormat;
  quality?: number;
  /** See RefineOptions.colorMatch. Default true. */
  colorMatch?: boolean;
  /** Enlarges the photo under the faces (default cubicBackground; the seam for a learned upsampler). */
  upscaler?: BackgroundUpscaler;
  /**
   * How faces left as they were (null in `restored`) are enlarged over the default background
   * (face-upsampler.ts): a bank for the photo's upscale (the engine passes its pipeline's), or
   * null (default) for the plain enlargement the rest of the photo gets. Not used with another
   * `upscaler`, nor when the photo is not enlarged.
   */
  faceUpsampler?: FaceUpsamplerBank | null;
  /**
   * Denoise the photo around its faces before it is enlarged (background-denoise.ts): only a
   * photo whose noise reads DENOISE_FROM_NOISE or more changes; faces left as they were (null
   * in `restored`, and the photo's skipped faces) keep their own pixels (with `faceUpsampler`, a
   * kept face's layer reads a few pixels past its frame, so the frame's outermost output pixels
   * may move by a level or two). `true` denoises here;
   * a result of denoisePhotoBackground (for the same photo and kept faces) is used as it is, so
   * two finishes of one photo (the engine's `keepDr2`) filter it once. Default false.
   */
  denoiseBackground?: boolean | DenoisedBackground;
  /**
   * Per-face hook before refinement: the restored face at its paste side and the aligned input
   * there, for the quality stage's fusion (engine/quality `finishFace`). Default: unchanged.
   */
  fuse?: (index: number, restored: RgbImage, alignedInput: RgbImage) => RgbImage;
}

export interface FinishedPhoto {
  bytes: Uint8Array;
  width: number;
  height: number;
  /**
   * Each face as pasted (refined, at its paste side), in the order of `photo.faces`; a face
   * left as it was (null in `restored`): its aligned input.
   */
  pasted: RgbImage[];
  /** What the background denoiser read and did (absent unless `denoiseBackground` was asked). */
  background?: Omit<DenoisedBackground, 'image'>;
}

/**
 * Put a photo's restored faces back and encode it: each restored face (any square size, in the
 * order of `photo.faces`) is resized to its paste side, refined against its aligned input
 * (`refineFace`: colour matching, later fusion), and pasted into the photo enlarged by
 * `photo.upscale`; alpha and greyscale are kept as the input had them. A face given as null
 * is left as it was (not pasted: the enlarged photo there is the face as found).
 *
 * @example
 * ```ts
 * const { bytes, width, height } = await finishPhoto(prepared, restoredFaces, { format: 'png' });
 * ```
 */
export async function finishPhoto(
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
  options: FinishPhotoOptions,
): Promise<FinishedPhoto> {
  if (restored.length !== photo.faces.length) {
    throw new InvalidParametersError(`${restored.length} restored faces for ${photo.faces.length} found`);
  }
  const { alpha, grey } = photo.decoded;
  const cleaned =
    options.denoiseBackground === true
      ? denoisePhotoBackground(photo, restored)
      : options.denoiseBackground || null;
  const image = cleaned ? cleaned.image : photo.decoded.image;
  const background = cleaned
    ? { background: { noise: cleaned.noise, denoised: cleaned.denoised, enlargement: cleaned.enlargement } }
    : {};
  const readyFaces = (): Promise<(RgbImage | null)[]> =>
    Promise.all(
      photo.faces.map(async (face, i) => {
        const mine = restored[i];
        if (!mine) return null;
        const atPaste = await resizeRgb(mine, face.pasteSide, face.pasteSide);
        const fused = options.fuse ? options.fuse(i, atPaste, face.alignedInput) : atPaste;
        return refineFace(fused, face.alignedInput, { colorMatch: options.colorMatch ?? true });
      }),
    );
  const encoding = {
    format: options.format,
    ...(options.quality !== undefined ? { quality: options.quality } : {}),
    grey,
  };
  const width = image.width * photo.upscale;
  const height = image.height * photo.upscale;
  const bank = keptFaceBank(photo, restored, options);
  if (!alpha && !grey && !options.upscaler) {
    // The usual case (colour, no alpha, the default background): the faces are blended into
    // windows of the output, which go into the enlargement as libvips streams it into the
    // encoder.
    const ready = readyFaces();
    const windows = ready.then((pasted) =>
      faceWindows(image, photo.upscale, withRestored(photo.faces, pasted), bank),
    );
    const bytes = await withEnlargedWindows(image, photo.upscale, windows, (pipeline) =>
      encodeRgbPipeline(pipeline, encoding),
    );
    return { bytes, width, height, pasted: asPasted(photo.faces, await ready), ...background };
  }
  // The whole output in memory for: alpha (libvips' compositing would premultiply it);
  // greyscale (the streamed enlargement carries 16-bit samples, which libvips converts to grey
  // with its own rounding); another background. The background's enlargement (libvips) runs
  // on its own thread while the faces are readied.
  const enlarged = (options.upscaler ?? cubicBackground)(image, photo.upscale);
  const outAlpha = alpha ? resizeAlpha(alpha, image.width, image.height, photo.upscale) : null;
  // Keep a failure of the face work from leaving these promises unobserved.
  enlarged.catch(() => undefined);
  outAlpha?.catch(() => undefined);
  const pasted = await readyFaces();
  const out = pasteOnto(
    await enlarged,
    photo.upscale,
    withRestored(photo.faces, pasted),
    bank ? { image, bank } : null,
  );
  const bytes = await encodePhoto(out, { ...encoding, alpha: outAlpha ? await outAlpha : null });
  return {
    bytes,
    width: out.width,
    height: out.height,
    pasted: asPasted(photo.faces, pasted),
    ...background,
  };
}

/**
 * Kept faces with a frame larger than this (input pixels) keep the plain enlargement: the banks
 * were fitted on faces of 20-160 px, and the layer's cost grows with the face's area (a 256 px
 * frame at x4 is a 2.4 MP layer, about half a second of JavaScript on this project's machines).
 */
export const MAX_UPSAMPLED_FACE = 256;

/** Whether a face left as it was gets the face upsampler's layer (see MAX_UPSAMPLED_FACE). */
function takesLayer(face: PreparedFace): boolean {
  return 1 / similarityScale(face.toUnit) <= MAX_UPSAMPLED_FACE;
}

/** The face upsampler's bank for finishPhoto's kept faces, or null when none is used. */
function keptFaceBank(
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
  options: FinishPhotoOptions,
): FaceUpsamplerBank | null {
  const bank = options.faceUpsampler ?? null;
  if (!bank || options.upscaler || photo.upscale === 1 || restored.every((face) => face !== null))
    return null;
  if (bank.factor !== photo.upscale) {
    throw new ModelContractError(`a x${bank.factor} face upsampler for a photo enlarged x${photo.upscale}`);
  }
  return bank;
}

/**
 * A photo's background denoised around its faces (see FinishPhotoOptions.denoiseBackground):
 * faces null in `restored` (left as they were) and skipped faces keep their pixels.
 *
 * @example
 * ```ts
 * const background = denoisePhotoBackground(prepared, restored);
 * await finishPhoto(prepared, restored, { format: 'png', denoiseBackground: background });
 * ```
 */
export function denoisePhotoBackground(
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
): DenoisedBackground {
  return denoiseBackground(photo.decoded.image, framesLeftAsTheyWere(photo, restored));
}

/**
 * How much wider than a face's frame the square the background denoiser leaves alone is: the
 * paste mask is whole only over the middle 68 % of its square (erode 2 % and feather 14 % each
 * side), so a square 1.5 times the frame keeps the whole frame's pixels as they were, and its
 * feathered edge lies in the background around it.
 */
const LEFT_ALONE_MARGIN = 1.5;

/**
 * A skipped face's frame from its detector box (no landmarks were aligned): a square this many
 * times the box's side, about what the model's framing gives (hair, chin and ears around the box).
 */
const SKIPPED_FRAME_PER_BOX = 1.6;

/**
 * The squares (photo pixels -> [0, 1]²) the background denoiser must leave as they were: around
 * faces not restored (null) and skipped faces, LEFT_ALONE_MARGIN times their frame.
 */
function framesLeftAsTheyWere(photo: PreparedPhoto, restored: readonly (RgbImage | null)[]): Similarity[] {
  const kept = photo.faces.filter((_, i) => !restored[i]).map((face) => face.toUnit);
  const skipped = photo.skippedFaces.map(({ box: [x, y, w, h] }) => {
    const scale = 1 / (SKIPPED_FRAME_PER_BOX * Math.max(w, h));
    return { a: scale, b: 0, tx: 0.5 - (x + w / 2) * scale, ty: 0.5 - (y + h / 2) * scale };
  });
  // Widened about the frame's centre: u' = (u - 0.5) / margin + 0.5.
  return [...kept, ...skipped].map(({ a, b, tx, ty }) => ({
    a: a / LEFT_ALONE_MARGIN,
    b: b / LEFT_ALONE_MARGIN,
    tx: (tx - 0.5) / LEFT_ALONE_MARGIN + 0.5,
    ty: (ty - 0.5) / LEFT_ALONE_MARGIN + 0.5,
  }));
}

/** Output pixels beyond a face's square read when it is cut out again (the cubic's reach). */
const CUT_MARGIN = 3;

/**
 * Most output pixels decoded at once to cut faces from (48 MB of RGB): faces whose windows fit
 * in one such rectangle are cut from one decode; a larger spread is cut in several.
 */
const MAX_CUT_PIXELS = 16_000_000;

/**
 * The aligned crops of the faces `indexes` of `photo` cut out of its finished output (`bytes`, as
 * finishPhoto encoded them: input size x `photo.upscale`), each at its paste side: what the
 * output holds there. For faces left as they were (`--save-faces`, the API's `output.faces`),
 * whose output is the enlargement and the face upsampler's layer, not a restored face that
 * finishPhoto could hand back. The faces' squares (and a margin) are decoded together, top to
 * bottom, in as few rectangles as MAX_CUT_PIXELS allows: a PNG or JPEG is read from its first
 * row whatever is extracted, so a decode per face would read a 48 MP output once per face.
 * `maxPixels` (default MAX_CUT_PIXELS) bounds a rectangle; the crops do not depend on it.
 *
 * @example
 * ```ts
 * const crops = await facesInOutput(finished.bytes, prepared, [2]); // crops.get(2): face 3 as output
 * ```
 */
export async function facesInOutput(
  bytes: Uint8Array,
  photo: PreparedPhoto,
  indexes: readonly number[],
  maxPixels = MAX_CUT_PIXELS,
): Promise<Map<number, RgbImage>> {
  const width = photo.decoded.image.width * photo.upscale;
  const height = photo.decoded.image.height * photo.upscale;
  const toInput = outputToInput(photo.upscale, 0);
  const wanted = indexes.flatMap((index) => {
    const face = photo.faces[index];
    if (!face) throw new InvalidParametersError(`no face ${index} in a photo of ${photo.faces.length}`);
    const { toFrame, bounds } = placeFace(face, face.pasteSide, toInput);
    const window: PixelBounds = {
      x0: Math.max(0, bounds.x0 - CUT_MARGIN),
      y0: Math.max(0, bounds.y0 - CUT_MARGIN),
      x1: Math.min(width, bounds.x1 + CUT_MARGIN + 1),
      y1: Math.min(height, bounds.y1 + CUT_MARGIN + 1),
    };
    // Wholly outside the photo: no pixel of it was output.
    return window.x1 > window.x0 && window.y1 > window.y0 ? [{ index, face, toFrame, window }] : [];
  });
  wanted.sort((p, q) => p.window.y0 - q.window.y0);
  // Top to bottom, each group the faces whose union of windows stays within MAX_CUT_PIXELS.
  const groups: { members: typeof wanted; union: PixelBounds }[] = [];
  for (const item of wanted) {
    const last = groups[groups.length - 1];
    const grown = last ? union(last.union, item.window) : item.window;
    if (last && (grown.x1 - grown.x0) * (grown.y1 - grown.y0) <= maxPixels) {
      last.members.push(item);
      last.union = grown;
    } else {
      groups.push({ members: [item], union: { ...item.window } });
    }
  }
  const crops = new Map<number, RgbImage>();
  for (const { members, union: area } of groups) {
    // sRGB, three bands: a grey output comes back grey, an alpha channel is not the face's.
    const decoded = await rgbFromSharp(
      sharp(bytes, { limitInputPixels: false })
        .extract({ left: area.x0, top: area.y0, width: area.x1 - area.x0, height: area.y1 - area.y0 })
        .removeAlpha()
        .toColourspace('srgb'),
    );
    for (const { index, face, toFrame, window } of members) {
      // The face's own window, so the cut reflects at the same edges whatever it was decoded with:
      // the photo's own wherever the square reaches past the margin.
      const w = window.x1 - window.x0;
      const h = window.y1 - window.y0;
      const data = cropRaw(decoded.data, decoded.width, 3, window.x0 - area.x0, window.y0 - area.y0, w, h);
      const own = { data, width: w, height: h };
      // Window pixels -> output pixels -> the face's square.
      const windowToFrame = composeSimilarity(toFrame, { a: 1, b: 0, tx: window.x0, ty: window.y0 });
      crops.set(index, warpToFrame(own, windowToFrame, face.pasteSide));
    }
  }
  return crops;
}

/** Every face with its readied restoration (null: left as it was, not pasted). */
function withRestored(
  faces: readonly PreparedFace[],
  pasted: readonly (RgbImage | null)[],
): { face: PreparedFace; restored: RgbImage | null }[] {
  return faces.map((face, i) => ({ face, restored: pasted[i] ?? null }));
}

/** FinishedPhoto.pasted: a face left as it was shows its aligned input. */
function asPasted(faces: readonly PreparedFace[], pasted: readonly (RgbImage | null)[]): RgbImage[] {
  return faces.map((face, i) => pasted[i] ?? face.alignedInput);
}
