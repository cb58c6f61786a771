/**
 * A prepared photo finished: its restored faces resized to their paste sides, fused and refined
 * against their aligned inputs, pasted into the photo enlarged (its background denoised first
 * where asked) and encoded, alpha and greyscale kept as the input had them.
 */
import {
  InvalidParametersError,
  ModelContractError,
  type OutputFormat,
  type RgbImage,
} from '../engine/core.js';
import { type DenoisedBackground, type FaceLeftAlone, denoiseBackground } from './background-denoise.js';
import { encodePhoto, encodeRgbPipeline } from './encode.js';
import { enlargeCentred, withEnlargedWindows } from './enlarge.js';
import type { FaceUpsamplerBank } from './face-upsampler.js';
import {
  type BackgroundUpscaler,
  type FaceToPaste,
  cubicBackground,
  faceWindows,
  pasteOnto,
  takesLayer,
} from './paste.js';
import { type PreparedFace, type PreparedPhoto, resizeRgb } from './prepare.js';
import { refineFace } from './refine.js';
import type { Similarity } from './similarity.js';
import { checkShare } from './warp.js';

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
  /**
   * Enlarges the photo under the faces: the seam for a learned upsampler. Given (even
   * cubicBackground), the output is made in memory on its enlargement. Default: the streamed
   * enlargement (enlarge.ts withEnlargedWindows), cubicBackground's bytes over every face and
   * within a level of them elsewhere (photos with alpha: cubicBackground in memory).
   */
  upscaler?: BackgroundUpscaler;
  /**
   * How the photo under its faces is enlarged over the default background (face-upsampler.ts,
   * out to 1.5 times each face's frame): a face left as it was (null in `restored`) is that
   * layer, a restored face is pasted over it. A bank for the photo's upscale (the engine passes
   * its pipeline's), or null (default) for the plain enlargement the rest of the photo gets. Not
   * used with another `upscaler`, nor when the photo is not enlarged.
   */
  faceUpsampler?: FaceUpsamplerBank | null;
  /**
   * Denoise the photo around its faces before it is enlarged (background-denoise.ts): only a
   * photo whose noise reads DENOISE_FROM_NOISE or more changes; faces left as they were (null
   * in `restored`, and the photo's skipped faces) keep their own pixels (with `faceUpsampler`, a
   * kept face's layer reads a few pixels past its frame, so the frame's outermost output pixels
   * may move by a level or two). `true` denoises here;
   * a result of denoisePhotoBackground (for the same photo, kept faces and keep shares) is used as it is, so
   * two finishes of one photo (the engine's `keepDr2`) filter it once. Default false.
   */
  denoiseBackground?: boolean | DenoisedBackground;
  /**
   * Per-face hook before refinement: the restored face at its paste side and the aligned input
   * there, for the quality stage's fusion (engine/quality `finishFace`). Default: unchanged.
   */
  fuse?: (index: number, restored: RgbImage, alignedInput: RgbImage) => RgbImage;
  /**
   * Per face, in the order of `photo.faces`: 0..1, the share of a restored face that is its
   * aligned input (FaceToPaste.keep). That share is taken from the photo as it lies under the
   * face (the face upsampler's layer, or the enlargement) rather than from the input warped back;
   * with `denoiseBackground: true` the denoiser leaves the face's square by the same share, so
   * the photo there is `share` as it was and the rest denoised, inside the face as around it (the
   * kept share keeps `share²` of the face's own grain). The engine passes engine/quality
   * `keepShare`, so the output, not only the settings, goes smoothly from a restored face (0) to
   * a kept one (1). Default: 0 for every restored face (faces null in `restored` are kept
   * whatever this says).
   */
  keepShares?: readonly number[];
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
  const keep = checkedKeepShares(photo, options.keepShares);
  const { alpha, grey } = photo.decoded;
  const cleaned =
    options.denoiseBackground === true
      ? denoisePhotoBackground(photo, restored, keep)
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
  const bank = faceLayerBank(photo, options);
  if (!alpha && !options.upscaler) {
    // The usual case (no alpha, the default background): the faces are blended into windows
    // of the output, which go into the enlargement as libvips streams it into the encoder.
    const ready = readyFaces();
    const windows = ready.then((pasted) =>
      faceWindows(
        image,
        photo.upscale,
        withRestored(photo.faces, pasted, keep),
        bank,
        photo.skippedFaces.map(({ box }) => skippedFrame(box)),
      ),
    );
    const bytes = await withEnlargedWindows(image, photo.upscale, windows, (pipeline) =>
      encodeRgbPipeline(pipeline, encoding),
    );
    return { bytes, width, height, pasted: asPasted(photo.faces, await ready), ...background };
  }
  // The whole output in memory for: alpha (libvips' compositing would premultiply it);
  // another background. The background's enlargement (libvips) runs on its own thread while
  // the faces are readied.
  const enlarged = (options.upscaler ?? cubicBackground)(image, photo.upscale);
  const outAlpha = alpha ? resizeAlpha(alpha, image.width, image.height, photo.upscale) : null;
  // Keep a failure of the face work from leaving these promises unobserved.
  enlarged.catch(() => undefined);
  outAlpha?.catch(() => undefined);
  const pasted = await readyFaces();
  const out = pasteOnto(
    await enlarged,
    photo.upscale,
    withRestored(photo.faces, pasted, keep),
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

/** The face upsampler's bank for finishPhoto's faces, or null when none is used. */
function faceLayerBank(photo: PreparedPhoto, options: FinishPhotoOptions): FaceUpsamplerBank | null {
  const bank = options.faceUpsampler ?? null;
  if (!bank || options.upscaler || photo.upscale === 1 || !photo.faces.some(takesLayer)) return null;
  if (bank.factor !== photo.upscale) {
    throw new ModelContractError(`a x${bank.factor} face upsampler for a photo enlarged x${photo.upscale}`);
  }
  return bank;
}

/**
 * A photo's background denoised around its faces (see FinishPhotoOptions.denoiseBackground):
 * faces null in `restored` (left as they were) and skipped faces keep their pixels; restored
 * faces keep them by their share in `keepShares` (FinishPhotoOptions.keepShares, default 0).
 *
 * @example
 * ```ts
 * const background = denoisePhotoBackground(prepared, restored, shares);
 * await finishPhoto(prepared, restored, { format: 'png', denoiseBackground: background, keepShares: shares });
 * ```
 */
export function denoisePhotoBackground(
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
  keepShares?: readonly number[],
): DenoisedBackground {
  const keep = checkedKeepShares(photo, keepShares);
  return denoiseBackground(photo.decoded.image, framesLeftAsTheyWere(photo, restored, keep));
}

/** FinishPhotoOptions.keepShares checked (one per face, each 0..1), or 0 for every face. */
function checkedKeepShares(photo: PreparedPhoto, shares: readonly number[] | undefined): readonly number[] {
  if (shares === undefined) return photo.faces.map(() => 0);
  if (shares.length !== photo.faces.length) {
    throw new InvalidParametersError(`${shares.length} keep shares for ${photo.faces.length} faces`);
  }
  for (const share of shares) checkShare(share, "a face's keep share");
  return shares;
}

/** A skipped face's frame (photo pixels -> [0, 1]²), upright, from its detector box. */
function skippedFrame([x, y, w, h]: readonly [number, number, number, number]): Similarity {
  const scale = 1 / (SKIPPED_FRAME_PER_BOX * Math.max(w, h));
  return { a: scale, b: 0, tx: 0.5 - (x + w / 2) * scale, ty: 0.5 - (y + h / 2) * scale };
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
 * The squares (photo pixels -> [0, 1]²) the background denoiser must leave as they were, and
 * how far: around faces not restored (null) and skipped faces wholly, around restored faces by
 * their keep share; LEFT_ALONE_MARGIN times their frame.
 */
function framesLeftAsTheyWere(
  photo: PreparedPhoto,
  restored: readonly (RgbImage | null)[],
  keep: readonly number[],
): FaceLeftAlone[] {
  const faces = photo.faces.map((face, i) => ({ frame: face.toUnit, share: restored[i] ? keep[i]! : 1 }));
  const skipped = photo.skippedFaces.map(({ box }) => ({ frame: skippedFrame(box), share: 1 }));
  // Widened about the frame's centre: u' = (u - 0.5) / margin + 0.5.
  return [...faces, ...skipped]
    .filter(({ share }) => share > 0)
    .map(({ frame: { a, b, tx, ty }, share }) => ({
      toUnit: {
        a: a / LEFT_ALONE_MARGIN,
        b: b / LEFT_ALONE_MARGIN,
        tx: (tx - 0.5) / LEFT_ALONE_MARGIN + 0.5,
        ty: (ty - 0.5) / LEFT_ALONE_MARGIN + 0.5,
      },
      share,
    }));
}

/** Every face with its readied restoration (null: left as it was, not pasted) and its keep share. */
function withRestored(
  faces: readonly PreparedFace[],
  pasted: readonly (RgbImage | null)[],
  keep: readonly number[],
): FaceToPaste[] {
  return faces.map((face, i) => ({ face, restored: pasted[i] ?? null, keep: keep[i]! }));
}

/** FinishedPhoto.pasted: a face left as it was shows its aligned input. */
function asPasted(faces: readonly PreparedFace[], pasted: readonly (RgbImage | null)[]): RgbImage[] {
  return faces.map((face, i) => pasted[i] ?? face.alignedInput);
}
