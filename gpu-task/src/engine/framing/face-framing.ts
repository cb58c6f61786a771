/**
 * Face framing: where a face sits in a square aligned crop, and how to map one framing onto
 * another. Pure geometry, no pixels.
 *
 * A framing gives, as fractions of the square's side, the distance between the eye centres,
 * the height of the eye line and the height of the mouth centre; faces are centred
 * horizontally. FFHQ alignment (the DR2 paper's inputs, most face-alignment tools, and the
 * faces in ../shared/data/real-degraded and hq) puts the eyes 0.2459 of the side apart on the
 * line 0.4688 from the top and the mouth at 0.7252 (the FFHQ five-point template at 512 px:
 * eyes (192.98, 239.95) and (318.90, 240.19), mouth corners (201.26, 371.41) and
 * (313.09, 371.15)). Tighter crops such as UTKFace's show the face larger.
 *
 * **Mapping** (`planFaceCrop`): the input's face frame (the square the input framing refers
 * to, see below) is cropped to a square whose content, resized to the model's side, puts the
 * face where the model's framing says:
 * - uniform scale `s = sqrt(s_eyes · s_eye-mouth)`, the geometric mean of the eye-distance
 *   ratio `d_in / d_model` and the eye-to-mouth ratio `(m_in - e_in) / (m_model - e_model)`,
 *   so neither the face's width nor its height is favoured when the two framings' proportions
 *   differ; crop side = s · frame side;
 * - vertically, the midpoint between eye line and mouth is anchored at the model's midpoint, so
 *   any proportion mismatch is split evenly between eyes and mouth;
 * - horizontally, the crop is centred on the frame.
 * The crop may extend beyond the image; the pixel code fills it by reflection.
 *
 * **Face frame of the input**: for square inputs the whole image. For non-square inputs the
 * square the `fit` policy would give the model: `pad` the centred square of the longer side,
 * `crop` the centred square of the shorter side.
 */
import { InvalidParametersError } from '../errors.js';
import type { FitMode } from '../image/framing.js';
import type { Framing as FaceFraming } from '../model/manifest.js';

export type { FaceFraming };

/** The FFHQ alignment, from its five-point template (see the module comment). */
export const FFHQ_FRAMING: Readonly<FaceFraming> = Object.freeze({
  name: 'ffhq',
  eyeDistance: 0.2459,
  eyeY: 0.4688,
  mouthY: 0.7252,
});

/**
 * How the engine treats an input's framing:
 * - `model`: the input already has the model's framing; no adaptation.
 * - `ffhq`: the input is FFHQ-aligned; it is adapted when the model declares another framing.
 * - `auto` (default): square inputs are taken as FFHQ-aligned (aligned face crops are square,
 *   and FFHQ alignment is what face-alignment tools and the paper produce); non-square inputs
 *   are not aligned crops and are passed as they are.
 */
export type InputFramingMode = 'ffhq' | 'model' | 'auto';
export const INPUT_FRAMING_MODES: readonly InputFramingMode[] = ['auto', 'ffhq', 'model'];

/** Two framings differ when any of their fractions differs by more than `tolerance`. */
export function framingsDiffer(a: FaceFraming, b: FaceFraming, tolerance = 0.01): boolean {
  return (
    Math.abs(a.eyeDistance - b.eyeDistance) > tolerance ||
    Math.abs(a.eyeY - b.eyeY) > tolerance ||
    Math.abs(a.mouthY - b.mouthY) > tolerance
  );
}

/**
 * The framing an input is assumed to have when it must be adapted to the model, or null when
 * no adaptation applies (mode `model`, a model that declares no framing or FFHQ's, or `auto`
 * with a non-square input).
 *
 * @example
 * ```ts
 * inputFramingToAdapt('auto', utkFraming, 512, 512); // FFHQ_FRAMING
 * inputFramingToAdapt('auto', utkFraming, 640, 480); // null
 * ```
 */
export function inputFramingToAdapt(
  mode: InputFramingMode,
  modelFraming: FaceFraming | undefined,
  width: number,
  height: number,
): FaceFraming | null {
  if (!INPUT_FRAMING_MODES.includes(mode)) {
    throw new InvalidParametersError(
      `input framing must be one of ${INPUT_FRAMING_MODES.join(', ')}, got '${String(mode)}'`,
    );
  }
  if (mode === 'model' || modelFraming === undefined) return null;
  if (!framingsDiffer(FFHQ_FRAMING, modelFraming)) return null;
  if (mode === 'auto' && width !== height) return null;
  return FFHQ_FRAMING;
}

/** A square in source pixels (fractional during planning). */
export interface SquareRect {
  left: number;
  top: number;
  side: number;
}

/** Where the input's landmarks land in the model frame after the mapping (fractions). */
export interface MappedLandmarks {
  eyeDistance: number;
  eyeY: number;
  mouthY: number;
}

export interface FaceCropPlan {
  /** The square of the input that its framing refers to. */
  frame: SquareRect;
  /** The square to cut (may exceed the image), before rounding. */
  crop: SquareRect;
  /** crop side / frame side. */
  scale: number;
  /** Where the input framing's eyes and mouth land in the model frame. */
  landmarks: MappedLandmarks;
}

function checkFraming(framing: FaceFraming, label: string): void {
  const { eyeDistance, eyeY, mouthY } = framing;
  if (
    !(eyeDistance > 0 && eyeDistance <= 1) ||
    !(eyeY >= 0 && eyeY <= 1) ||
    !(mouthY > eyeY && mouthY <= 1)
  ) {
    throw new InvalidParametersError(
      `${label} framing needs 0 < eyeDistance <= 1 and 0 <= eyeY < mouthY <= 1, got ${JSON.stringify(framing)}`,
    );
  }
}

/** The square of a width x height image that its face framing refers to (see the module comment). */
export function faceFrame(width: number, height: number, fit: FitMode = 'pad'): SquareRect {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new InvalidParametersError(`image size must be positive integers, got ${width}x${height}`);
  }
  const side = fit === 'crop' ? Math.min(width, height) : Math.max(width, height);
  return { left: (width - side) / 2, top: (height - side) / 2, side };
}

/**
 * Plan the crop that maps an input of framing `from` onto framing `to` (see the module comment).
 *
 * @example
 * ```ts
 * const plan = planFaceCrop(512, 512, FFHQ_FRAMING, { name: 'utk', eyeDistance: 0.41, eyeY: 0.29, mouthY: 0.68 });
 * // plan.crop ≈ { left: 95.2, top: 149.7, side: 321.5 }, plan.landmarks ≈ { eyeDistance: 0.392, eyeY: 0.281, mouthY: 0.689 }
 * ```
 */
export function planFaceCrop(
  width: number,
  height: number,
  from: FaceFraming,
  to: FaceFraming,
  fit: FitMode = 'pad',
): FaceCropPlan {
  checkFraming(from, 'input');
  checkFraming(to, 'model');
  const frame = faceFrame(width, height, fit);
  const eyesRatio = from.eyeDistance / to.eyeDistance;
  const eyeMouthRatio = (from.mouthY - from.eyeY) / (to.mouthY - to.eyeY);
  const scale = Math.sqrt(eyesRatio * eyeMouthRatio);
  const side = scale * frame.side;
  const anchorFrom = frame.top + frame.side * ((from.eyeY + from.mouthY) / 2);
  const top = anchorFrom - side * ((to.eyeY + to.mouthY) / 2);
  const left = frame.left + frame.side / 2 - side / 2;
  const toModel = (y: number): number => (frame.top + frame.side * y - top) / side;
  return {
    frame,
    crop: { left, top, side },
    scale,
    landmarks: {
      eyeDistance: from.eyeDistance / scale,
      eyeY: toModel(from.eyeY),
      mouthY: toModel(from.mouthY),
    },
  };
}

/** Round a planned crop to whole pixels (at least 1 px). */
export function roundSquare(rect: SquareRect): SquareRect {
  return { left: Math.round(rect.left), top: Math.round(rect.top), side: Math.max(1, Math.round(rect.side)) };
}

/**
 * The feathered alpha of a pasted square: 1 inside, falling to 0 at the border with a raised
 * cosine over `feather · size` pixels from each edge; the two axes multiply, so corners fade
 * smoothly. Row-major `size x size`.
 *
 * @example
 * ```ts
 * const alpha = featherMask(128, 0.1); // ramps over 12.8 px at each edge
 * ```
 */
export function featherMask(size: number, feather: number): Float32Array {
  if (!Number.isSafeInteger(size) || size < 1)
    throw new InvalidParametersError(`mask size must be a positive integer, got ${size}`);
  if (!(feather >= 0 && feather <= 0.5))
    throw new InvalidParametersError(`feather must be in [0, 0.5], got ${feather}`);
  const width = feather * size;
  const ramp = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const distance = Math.min(i, size - 1 - i) + 0.5; // pixel centre to the nearest edge
    ramp[i] = width === 0 || distance >= width ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * distance) / width);
  }
  const mask = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) mask[y * size + x] = ramp[y]! * ramp[x]!;
  return mask;
}
