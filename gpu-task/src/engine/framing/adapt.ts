/**
 * Framing adaptation on pixels: cut the face out of an input in one framing (reflecting the
 * image where the crop passes its border) for the model, and paste the restored face back
 * into the input's framing.
 *
 * **Paste-back** (`pasteFace`): the output shows the whole input at the restored face's
 * resolution: its scale is `restored side / crop side` output pixels per input pixel, so the
 * restored face is used at its native size and never resampled. The background is the input
 * itself, enlarged (or reduced) to that scale with the same kernels as decoding (Catmull-Rom
 * cubic when enlarging, Lanczos-3 when reducing); the restored square is blended over it with
 * a feathered alpha (raised cosine over `feather` = 10% of its side from each edge by
 * default), so no seam shows. Running DR2 on the whole frame for the background would double
 * the cost for pixels outside the face, which the model (trained on tight crops) does not
 * restore well anyway.
 */
import { InvalidParametersError } from '../errors.js';
import type { FitMode, ImageInfo, ImageLimits, RgbImage } from '../image/index.js';
import {
  decodeImageToRgb,
  DEFAULT_FIT,
  probeImage,
  resizeKernelFor,
  rgbFromSharp,
  sharpFromRgb,
} from '../image/index.js';
import { rgb8ToTensor } from '../image/tensor.js';
import {
  type FaceCropPlan,
  type FaceFraming,
  type InputFramingMode,
  type SquareRect,
  featherMask,
  inputFramingToAdapt,
  planFaceCrop,
  roundSquare,
} from './face-framing.js';

/** Default feather width, as a fraction of the pasted square's side. */
export const DEFAULT_FEATHER = 0.1;

/** Symmetric (half-sample) reflection of an index into 0..size-1, for any distance. */
function reflectIndex(index: number, size: number): number {
  const period = 2 * size;
  const wrapped = ((index % period) + period) % period;
  return wrapped < size ? wrapped : period - 1 - wrapped;
}

/**
 * Cut a whole-pixel square out of an image; parts outside the image are filled by symmetric
 * reflection (the border row appears twice, as libvips' "mirror").
 */
export function cutSquare(image: RgbImage, rect: SquareRect): RgbImage {
  const { left, top, side } = rect;
  if (![left, top, side].every(Number.isSafeInteger) || side < 1) {
    throw new InvalidParametersError(
      `crop must be whole pixels with a positive side, got ${JSON.stringify(rect)}`,
    );
  }
  const out = new Uint8Array(side * side * 3);
  const columns = new Int32Array(side);
  for (let x = 0; x < side; x++) columns[x] = reflectIndex(left + x, image.width) * 3;
  for (let y = 0; y < side; y++) {
    const sourceRow = reflectIndex(top + y, image.height) * image.width * 3;
    const destRow = y * side * 3;
    for (let x = 0; x < side; x++) {
      const s = sourceRow + columns[x]!;
      const d = destRow + x * 3;
      out[d] = image.data[s]!;
      out[d + 1] = image.data[s + 1]!;
      out[d + 2] = image.data[s + 2]!;
    }
  }
  return { data: out, width: side, height: side };
}

/** Resize an RGB8 image with the decoding kernels (Lanczos-3 down, Catmull-Rom cubic up). */
export async function resizeRgbImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return { ...image, data: image.data.slice() };
  return rgbFromSharp(
    sharpFromRgb(image).resize(width, height, {
      fit: 'fill',
      kernel: resizeKernelFor(Math.min(width / image.width, height / image.height)),
    }),
  );
}

/**
 * Paste a restored square face back into its source's framing (see the module comment).
 * `crop` is the whole-pixel square (in source pixels) the face was cut from.
 *
 * @returns the source at `restored.width / crop.side` times its size, with the face blended in.
 *
 * @example
 * ```ts
 * const out = await pasteFace(source, { left: 95, top: 150, side: 322 }, restored128);
 * // 512 x 512 source -> 204 x 204 output (128 / 322 output pixels per input pixel)
 * ```
 */
export async function pasteFace(
  source: RgbImage,
  crop: SquareRect,
  restored: RgbImage,
  feather = DEFAULT_FEATHER,
): Promise<RgbImage> {
  if (restored.width !== restored.height) {
    throw new InvalidParametersError(
      `restored face must be square, got ${restored.width}x${restored.height}`,
    );
  }
  const size = restored.width;
  const scale = size / crop.side;
  const width = Math.max(1, Math.round(source.width * scale));
  const height = Math.max(1, Math.round(source.height * scale));
  const background = await resizeRgbImage(source, width, height);
  const out = background.data;
  const alpha = featherMask(size, feather);
  const left = Math.round(crop.left * scale);
  const top = Math.round(crop.top * scale);
  for (let y = Math.max(0, -top); y < size && top + y < height; y++) {
    for (let x = Math.max(0, -left); x < size && left + x < width; x++) {
      const a = alpha[y * size + x]!;
      if (a === 0) continue;
      const s = (y * size + x) * 3;
      const d = ((top + y) * width + left + x) * 3;
      for (let c = 0; c < 3; c++) out[d + c] = Math.round(a * restored.data[s + c]! + (1 - a) * out[d + c]!);
    }
  }
  return { data: out, width, height };
}

/** An input decoded and cut for a model of another framing. */
export interface AdaptedFaceInput {
  /** Model input `[1, 3, S, S]` in [-1, 1]. */
  tensor: Float32Array;
  /** The decoded source, kept for the paste-back. */
  source: RgbImage;
  /** The EXIF orientation decoding undid (1 = none): where the source's JPEG blocks lie. */
  sourceOrientation: number;
  /** What the source's header said (its format and frames, for the result's warnings). */
  sourceInfo: ImageInfo;
  /** The whole-pixel square cut from the source. */
  crop: SquareRect;
  plan: FaceCropPlan;
  /** The framing the input was taken to have. */
  inputFraming: FaceFraming;
}

export interface AdaptOptions {
  /** Model side S. */
  size: number;
  mode: InputFramingMode;
  /** The framing the model was trained on (its manifest's `framing`), if declared. */
  modelFraming: FaceFraming | undefined;
  /** Face frame of non-square inputs (see face-framing.ts). Default 'pad'. */
  fit?: FitMode;
  limits?: Partial<ImageLimits>;
}

/**
 * Decode an input for a model of another framing, or return null when no adaptation applies
 * (the caller then decodes as usual). Cheap to ask: only the header is read before deciding.
 *
 * @throws the decoding errors of probeImage and decodeImageToRgb.
 *
 * @example
 * ```ts
 * const adapted = await decodeAdaptedFace(bytes, { size: 64, mode: 'auto', modelFraming: manifest.framing });
 * if (adapted) run(adapted.tensor); // later: pasteFace(adapted.source, adapted.crop, restored)
 * ```
 */
export async function decodeAdaptedFace(
  bytes: Uint8Array,
  options: AdaptOptions,
): Promise<AdaptedFaceInput | null> {
  // Settle the cases that never adapt (mode 'model', no or FFHQ model framing) before reading anything.
  if (inputFramingToAdapt(options.mode, options.modelFraming, 1, 1) === null) return null;
  const limits = options.limits ? { limits: options.limits } : {};
  const info = await probeImage(bytes, limits);
  const inputFraming = inputFramingToAdapt(options.mode, options.modelFraming, info.width, info.height);
  if (inputFraming === null || options.modelFraming === undefined) return null;
  const { image: source } = await decodeImageToRgb(bytes, limits);
  const plan = planFaceCrop(
    source.width,
    source.height,
    inputFraming,
    options.modelFraming,
    options.fit ?? DEFAULT_FIT,
  );
  const crop = roundSquare(plan.crop);
  const face = await resizeRgbImage(cutSquare(source, crop), options.size, options.size);
  return {
    tensor: rgb8ToTensor(face.data, options.size, options.size),
    source,
    sourceOrientation: info.orientation,
    sourceInfo: info,
    crop,
    plan,
    inputFraming,
  };
}
