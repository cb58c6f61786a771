/**
 * Band fusion of a restored face with its input (both aligned, same size): the restored face
 * supplies the frequency bands the model represents, the input keeps the finer ones it holds.
 *
 * With `low(x)` = x resized (bicubic, antialiased) to `cutoff` px and back, a two-band
 * Laplacian split `x = low(x) + (x - low(x))`:
 *
 *     out = w · low(input) + (1 - w) · low(restored)
 *         + g · (input - low(input)) + (1 - g) · (restored - low(restored))
 *
 * - `w` = `inputWeight`: how much of the model's bands comes from the input (the chooser's
 *   calibrated value; 1 at fidelity 1).
 * - `g`: the input's share of the finer bands: `detailWeight` times `1 - a + a · G`, where `a` is
 *   `detailAttenuation` (1 unless set) and G a Wiener gain
 *   `max(0, 1 - E_noise / E_fine)`: E_fine is the input's measured energy in the fine bands,
 *   E_noise the share of white noise of the estimated std there, `σ² (1 - (cutoff/faceSize)²)`
 *   (none when the face had no more pixels than the cut-off: its fine bands are the enlargement's,
 *   and the calibrated detail weight alone says whether they beat the restored face's).
 *   A clean large face keeps all of its own detail; a noisy one keeps what stands above noise.
 * With w = 1 and g = 1 (both weights 1, `detailAttenuation` 0) the output is the input, exactly.
 */
import { InvalidParametersError } from '../errors.js';
import type { RgbImage } from '../image/index.js';
import { fromPlanar, lowPassPlanes, toPlanar } from './planes.js';

/**
 * The fusion's cut-off for a face of `faceSize` px (at its effective resolution) and a model
 * of side `resolution`: the smaller of the two. A face larger than the model keeps its bands
 * above the model's resolution (the model cannot represent them); a smaller face holds nothing
 * above its own size but the enlargement's interpolation, so the split sits at its size: the
 * input weight then mixes the band the input really has, and the model supplies every finer one
 * (with input weight 1 the output, reduced to the face's size, is the input's own band: what a
 * recognizer and the eye see of the person is kept, the model only adds detail above it).
 *
 * @example
 * ```ts
 * fusionCutoff(64, 32); // 32
 * fusionCutoff(64, 200); // 64
 * ```
 */
export function fusionCutoff(resolution: number, faceSize: number): number {
  // Rounded up: a cut-off below a fractional face size would count the face's own top band
  // as finer than the cut-off (a spurious noise share, and keepsInput false).
  if (!Number.isFinite(faceSize)) return resolution;
  return Math.max(1, Math.min(resolution, Math.ceil(faceSize)));
}

/** How to fuse one face (see the module comment). */
export interface FusionSettings {
  /**
   * Side (px of the face) of the split between the low and the fine bands: `fusionCutoff`, the
   * model's resolution or the face's own size when smaller.
   */
  cutoff: number;
  /** 0..1, the input's share of the bands below the cut-off. */
  inputWeight: number;
  /** 0..1, the most of the input's finer bands to keep (times the noise-driven Wiener gain). */
  detailWeight: number;
  /** Estimated noise std of the input (0-255), at its own pixels. */
  noise: number;
  /** The face's side in input pixels. */
  faceSize: number;
  /**
   * 0..1, how far the detail weight follows the noise-driven Wiener gain G: the weight is scaled
   * by `1 - a + a · G` (default 1: by G). 0 keeps `detailWeight` of the input's fine bands
   * whatever the noise estimate says (with both weights 1: the input, exactly); values between
   * come from a face hedged between a cell that keeps its grain and one that removes it
   * (severityHedgedCell and sizeHedgedCell in choose.ts).
   */
  detailAttenuation?: number;
}

/**
 * Whether a fusion returns the input exactly: both weights 1 and the fine bands unattenuated
 * (by the setting, or because the face had no more pixels than the cut-off: no noise gain then).
 * Such a face needs no restoration: whatever the model returns, the fused face is the input.
 *
 * @example
 * ```ts
 * if (choice && keepsInput(choice.fusion)) skipTheModel();
 * ```
 */
export function keepsInput(fusion: FusionSettings): boolean {
  return (
    fusion.inputWeight === 1 &&
    fusion.detailWeight === 1 &&
    (fusion.detailAttenuation === 0 || fusion.faceSize <= fusion.cutoff)
  );
}

/**
 * The share of a fused face that is its input whatever the noise gain does: the fused face is
 * `k · input + (1 - k) · rest`, with `rest` a mix of the two faces' bands, for k the least of the
 * input weight and the detail gain's floor (`detailWeight · (1 - detailAttenuation)`, or
 * `detailWeight` where the face has no finer bands of its own). 1 exactly when `keepsInput`; 0
 * for a cell that restores outright (the detail weight all attenuated, or no input weight). The
 * photo stage takes that share from the face as it lies in the photo rather than from its
 * aligned input warped back (photo/paste.ts FaceToPaste.keep).
 *
 * @example
 * ```ts
 * keptShare({ cutoff: 64, inputWeight: 1, detailWeight: 1, detailAttenuation: 0, noise: 3, faceSize: 90 }); // 1
 * keptShare({ cutoff: 64, inputWeight: 0.9, detailWeight: 0.8, detailAttenuation: 0.5, noise: 3, faceSize: 90 }); // 0.4
 * ```
 */
export function keptShare(fusion: FusionSettings): number {
  const attenuation = fusion.faceSize <= fusion.cutoff ? 0 : (fusion.detailAttenuation ?? 1);
  return Math.min(fusion.inputWeight, fusion.detailWeight * (1 - attenuation));
}

/** The fused face and the gain applied to the input's fine bands. */
export interface FusionResult {
  image: RgbImage;
  detailGain: number;
}

/**
 * Fuse a restored face with its input (same size, aligned).
 *
 * @example
 * ```ts
 * const input = resizeRgb8(cropAtPasteResolution, side, side);
 * const { image } = fuseDetail(resizeRgb8(restored, side, side), input, choice.fusion);
 * ```
 * @throws InvalidParametersError when the sizes differ or a weight is outside 0..1.
 */
export function fuseDetail(restored: RgbImage, input: RgbImage, settings: FusionSettings): FusionResult {
  const { width, height } = input;
  if (restored.width !== width || restored.height !== height) {
    throw new InvalidParametersError(
      `fusion needs two faces of one size: restored ${restored.width}x${restored.height}, input ${width}x${height}`,
    );
  }
  return fuseBands(splitBands(restored, settings.cutoff), splitBands(input, settings.cutoff), settings);
}

/** A face split at a cut-off: its planes and their low band (null when the cut-off is at or above its size). */
export interface FaceBands {
  planes: Float32Array;
  low: Float32Array | null;
  width: number;
  height: number;
}

/**
 * Split a face into the two bands of the fusion (the expensive part; `fuseBands` then mixes them
 * for any weights, e.g. a calibration trying many).
 */
export function splitBands(face: RgbImage, cutoff: number): FaceBands {
  const { width, height } = face;
  const planes = toPlanar(face);
  const cutW = Math.max(1, Math.min(width, Math.round((cutoff * width) / Math.max(width, height))));
  const cutH = Math.max(1, Math.min(height, Math.round((cutoff * height) / Math.max(width, height))));
  if (cutW >= width && cutH >= height) return { planes, low: null, width, height };
  const low = lowPassPlanes(planes, 3, width, height, cutW, cutH);
  return { planes, low, width, height };
}

/**
 * Mix the bands of a restored face and its input (split at the same cut-off, same size).
 *
 * @throws InvalidParametersError when a weight is outside 0..1 or the bands do not match.
 */
export function fuseBands(restored: FaceBands, input: FaceBands, settings: FusionSettings): FusionResult {
  for (const [name, value] of [
    ['inputWeight', settings.inputWeight],
    ['detailWeight', settings.detailWeight],
    ['detailAttenuation', settings.detailAttenuation ?? 1],
  ] as const) {
    if (!(value >= 0 && value <= 1)) {
      throw new InvalidParametersError(`${name} must be between 0 and 1, got ${String(value)}`);
    }
  }
  const { width, height } = input;
  if (
    restored.width !== width ||
    restored.height !== height ||
    (restored.low === null) !== (input.low === null)
  ) {
    throw new InvalidParametersError('fusion needs two faces of one size split at one cut-off');
  }
  const w = settings.inputWeight;
  const inPlanes = input.planes;
  const resPlanes = restored.planes;
  if (input.low === null || restored.low === null) {
    const out = new Float32Array(inPlanes.length);
    for (let k = 0; k < out.length; k++)
      out[k] = w * (inPlanes[k] as number) + (1 - w) * (resPlanes[k] as number);
    return { image: fromPlanar(out, width, height), detailGain: 0 };
  }
  const inLow = input.low;
  const resLow = restored.low;
  const g = detailGain(inPlanes, inLow, settings);
  const out = new Float32Array(inPlanes.length);
  for (let k = 0; k < out.length; k++) {
    const il = inLow[k] as number;
    const rl = resLow[k] as number;
    out[k] =
      w * il + (1 - w) * rl + g * ((inPlanes[k] as number) - il) + (1 - g) * ((resPlanes[k] as number) - rl);
  }
  return { image: fromPlanar(out, width, height), detailGain: g };
}

/** The input's share of the fine bands (see the module comment). */
function detailGain(input: Float32Array, inputLow: Float32Array, settings: FusionSettings): number {
  const { faceSize, cutoff, noise, detailWeight } = settings;
  const attenuation = settings.detailAttenuation ?? 1;
  if (detailWeight === 0 || attenuation === 0) return detailWeight;
  // White noise at the input's own pixels puts this share of its variance above the cut-off;
  // none when the face had no more pixels than the cut-off (its fine bands are interpolation).
  const noiseShare = Math.max(0, 1 - (cutoff / Math.max(1, faceSize)) ** 2);
  if (noiseShare === 0) return detailWeight;
  let energy = 0;
  for (let k = 0; k < input.length; k++) energy += ((input[k] as number) - (inputLow[k] as number)) ** 2;
  energy /= input.length;
  if (energy <= 0) return detailWeight * (1 - attenuation);
  const wiener = Math.min(1, Math.max(0, 1 - (noise * noise * noiseShare) / energy));
  return detailWeight * (1 - attenuation + attenuation * wiener);
}
