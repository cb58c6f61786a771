/**
 * How a non-square image becomes the model's square input, and how to undo it.
 *
 * Policy:
 * - `fit: 'pad'` (the default) keeps the whole image: it is scaled so that its longer side is
 *   the model size S, centred, and the short axis is filled to S by reflecting the image at its
 *   edges (`padMode: 'reflect'`, default; symmetric, so the border row appears twice, as in
 *   libvips' "mirror") or repeating the edge pixels (`padMode: 'edge'`).
 *   Reflection is the default because the padding then carries the same noise, blur and texture
 *   statistics as the picture, so the degradation remover sees one consistent degradation instead
 *   of a flat band or smeared stripes; the padding is cut off again when the result is put back.
 * - `fit: 'crop'` takes the centred largest square and scales it to S; what lies outside the
 *   square is not restored (the caller can paste the restored square back into the original).
 *
 * Both policies report two rectangles: `sourceRect` (in pixels of the upright source image) and
 * `modelRect` (in the S x S model frame). The restored content of `modelRect`, resized to
 * `sourceRect`'s size and placed at its position, is the restored version of that part of the source.
 */
import { InvalidParametersError } from '../errors.js';

/** How a non-square image becomes the model's square: the first is the default (see above). */
export const FIT_MODES = ['pad', 'crop'] as const;
export type FitMode = (typeof FIT_MODES)[number];
/** The default fit: keep the whole image. */
export const DEFAULT_FIT: FitMode = 'pad';
export type PadMode = 'reflect' | 'edge';

/** An axis-aligned rectangle in whole pixels. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where the source went in the model frame; everything needed to put a result back. */
export interface Framing {
  fit: FitMode;
  /** Padding fill for `fit: 'pad'` (absent for crop). */
  padMode?: PadMode;
  /** Model frame side S. */
  size: number;
  /** The part of the upright source image that the model sees (the whole image for `pad`). */
  sourceRect: Rect;
  /** Where `sourceRect` lies in the S x S model frame (the whole frame for `crop`). */
  modelRect: Rect;
}

/**
 * Plan the framing of a `width` x `height` upright image into an S x S frame.
 * Pure geometry; decodeImage applies it with sharp.
 *
 * @example
 * ```ts
 * planFraming(1000, 500, 512, 'pad');
 * // { fit: 'pad', padMode: 'reflect', size: 512, sourceRect: { left: 0, top: 0, width: 1000, height: 500 },
 * //   modelRect: { left: 0, top: 128, width: 512, height: 256 } }
 * planFraming(1000, 500, 512, 'crop');
 * // { fit: 'crop', size: 512, sourceRect: { left: 250, top: 0, width: 500, height: 500 },
 * //   modelRect: { left: 0, top: 0, width: 512, height: 512 } }
 * ```
 */
export function planFraming(
  width: number,
  height: number,
  size: number,
  fit: FitMode = DEFAULT_FIT,
  padMode: PadMode = 'reflect',
): Framing {
  for (const [name, value] of [
    ['width', width],
    ['height', height],
    ['size', size],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidParametersError(`framing ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (fit === 'crop') {
    const side = Math.min(width, height);
    return {
      fit,
      size,
      sourceRect: {
        left: Math.floor((width - side) / 2),
        top: Math.floor((height - side) / 2),
        width: side,
        height: side,
      },
      modelRect: { left: 0, top: 0, width: size, height: size },
    };
  }
  if (fit !== 'pad') throw new InvalidParametersError(`fit must be 'crop' or 'pad', got '${String(fit)}'`);
  if (padMode !== 'reflect' && padMode !== 'edge') {
    throw new InvalidParametersError(`padMode must be 'reflect' or 'edge', got '${String(padMode)}'`);
  }
  const scale = size / Math.max(width, height);
  // The longer side maps to exactly S; the shorter one rounds, but never to nothing.
  const contentWidth = width >= height ? size : Math.max(1, Math.min(size, Math.round(width * scale)));
  const contentHeight = height >= width ? size : Math.max(1, Math.min(size, Math.round(height * scale)));
  return {
    fit,
    padMode,
    size,
    sourceRect: { left: 0, top: 0, width, height },
    modelRect: {
      left: Math.floor((size - contentWidth) / 2),
      top: Math.floor((size - contentHeight) / 2),
      width: contentWidth,
      height: contentHeight,
    },
  };
}
