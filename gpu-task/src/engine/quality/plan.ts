/**
 * The quality stage as the engine's restore paths use it, one call per face before sampling and
 * one after: `planFace` estimates the face and, for `auto` requests, chooses its DR2 setting and
 * fusion; `finishFace` fuses the restored face (at the paste resolution) with the aligned input.
 */
import { AUTO_PRESET, type FaceSettings, RESTORE_DEFAULTS } from '../../../../shared/src/index.js';
import type { RgbImage } from '../image/index.js';
import {
  DEFAULT_DR2_STEPS,
  type Dr2Params,
  type Dr2ParamsRequest,
  assertFidelity,
  scaleReferenceIndex,
} from '../sampler/dr2-params.js';
import { type QualityChoice, chooseSettings } from './choose.js';
import { effectiveScale } from './effective-scale.js';
import { type DegradationEstimate, SMALL_FACE_BELOW, estimateDegradation } from './estimate.js';
import { fuseDetail, keepsInput, keptShare } from './fusion.js';
import { resizeRgb8 } from './planes.js';

/** What was decided for one face (also what the face's report shows). */
export interface FacePlan {
  estimate: DegradationEstimate;
  /** The automatic choice; null when the request fixed the setting (a preset other than auto, or n/tau/omega). */
  choice: QualityChoice | null;
  params: Dr2Params;
}

/** Whether a request (merged with the model's defaults) leaves the setting to `auto`. */
export function isAutoRequest(request: Dr2ParamsRequest): boolean {
  const explicit = request.n !== undefined || request.tau !== undefined || request.omega !== undefined;
  return !explicit && (request.preset === undefined || request.preset === AUTO_PRESET);
}

/**
 * Why `fidelity` would do nothing with this request, or null where it takes effect (or is not
 * given): it moves `auto`'s per-face choice, which a fixed preset or explicit N/tau/omega
 * replace. Pass the request merged with the model's defaults to include a pipeline that
 * defaults to a fixed preset.
 *
 * @example
 * ```ts
 * fidelityIgnoredBy({ preset: 'medium', fidelity: 0.2 }); // 'preset'
 * fidelityIgnoredBy({ n: 4, tau: 22, fidelity: 0.2 }); // 'explicit'
 * fidelityIgnoredBy({ fidelity: 0.2 }); // null
 * ```
 */
export function fidelityIgnoredBy(request: Dr2ParamsRequest): 'preset' | 'explicit' | null {
  if (request.fidelity === undefined) return null;
  if (request.preset !== undefined && request.preset !== AUTO_PRESET) return 'preset';
  return request.n !== undefined || request.tau !== undefined || request.omega !== undefined
    ? 'explicit'
    : null;
}

/**
 * How far `auto` leans a small face found in a whole photo toward its input: a face whose size
 * (its frame's side at its effective resolution, as the table bins it) is under SMALL_FACE_BELOW
 * px (the calibration's 16 and 32 px rows) is chosen with fidelity
 * 1 − (1 − f)(1 − DETECTED_SMALL_FACE_LEAN), so the default 0.5 becomes 0.7; it still rises
 * with f, and 1 stays 1.
 *
 * **Why.** The calibration table was fitted on aligned crops, each framed exactly, and there it
 * wins at 16 and 32 px. A face of 16-38 px in a photo is framed from detector landmarks that err
 * most, relative to the face, at that size (on train/ scenes of 24-64 px faces the frame's side
 * scatters by 8-10 % in log sd, its centre by 4-5 % of the side, its roll by about 5°); a
 * plausible reason, not a measured one, is that the prior's face laid on a frame that far off is
 * another face. On whole-photo scenes of 18-30 px train/ faces (`dr2e eval-photos --prefix
 * train/ --face-sides 18,30`, seeds 1 and 2) `auto` lost to bicubic in recognizer identity and
 * SSIM on mild faces; of fidelity 0.6 / 0.7 / 0.8 / 0.9 for these faces, 0.7 gave the best
 * identity on average (by 0.0006 over 0.8, which had the better SSIM), over bicubic's on mild and
 * medium faces of both seeds; held out (seeds 3 and 4) mild faces came within 0.0011 of bicubic's
 * identity (0.012-0.022 under before). Tables:
 * docs/quality/README.md, "Small faces in photos lean toward their input".
 */
export const DETECTED_SMALL_FACE_LEAN = 0.4;

/**
 * The fidelity a face is chosen with: the request's (checked, default 0.5), leaned toward the
 * input for a small face found in a photo (DETECTED_SMALL_FACE_LEAN).
 *
 * @example
 * ```ts
 * choiceFidelity(0.5, 24, true); // 0.7
 * choiceFidelity(0.5, 24, false); // 0.5 (an aligned crop)
 * choiceFidelity(0.5, 64, true); // 0.5
 * ```
 */
export function choiceFidelity(fidelity: number | undefined, faceSize: number, detected: boolean): number {
  assertFidelity(fidelity);
  const requested = fidelity ?? RESTORE_DEFAULTS.fidelity;
  if (!detected || !(faceSize < SMALL_FACE_BELOW)) return requested;
  return 1 - (1 - requested) * (1 - DETECTED_SMALL_FACE_LEAN);
}

/** Where a planned face comes from. */
export interface FaceSource {
  /**
   * Found by the detector in a whole photo and framed from its landmarks (see
   * DETECTED_SMALL_FACE_LEAN); default false: an aligned crop.
   */
  detected?: boolean;
  /**
   * The decoded image the face's input was cut from without resampling, and where (see
   * estimateAtEffectiveSize). Without it, the input is taken to start on the decoded grid.
   */
  decoded?: DecodedOrigin;
}

/**
 * Where an unresampled crop lies in the image it was decoded from. A JPEG's 8x8 blocks start at
 * the decoded image's (0, 0), so a crop cut elsewhere has its blocks at another phase, and a face
 * enlarged after compression has them every 8·f pixels.
 */
export interface DecodedOrigin {
  /** The decoded image (the crop's pixels are a window of it). */
  image: RgbImage;
  /** The crop's top-left corner in it; may be negative where the crop reaches outside. */
  left: number;
  top: number;
  /**
   * The EXIF orientation decoding undid (1-8; default 1). The blocks start at the stored image's
   * corner: an axis that decoding reversed (mirrored, or rotated by 180 or 90 degrees) has them
   * from its far end, so at the image's extent modulo the block side from its near end.
   */
  orientation?: number;
}

/** EXIF orientations whose decoded x axis runs against the stored image's, and likewise y. */
const REVERSED_X = new Set([2, 3, 6, 7]);
const REVERSED_Y = new Set([3, 4, 7, 8]);

/**
 * Plan one face.
 *
 * @param input - the aligned face at its paste resolution (or its own pixels), for the estimate.
 * @param faceSize - the face's side in input pixels.
 * @param request - the caller's request merged with the model's defaults.
 * @param resolve - the engine's resolver (validates against the model).
 * @param source - whether the detector framed the face in a whole photo.
 * @example
 * ```ts
 * const plan = planFace(face.alignedInput, face.box[2], request, (r) => engine.resolveParams(r), engine.resolution);
 * const inPhoto = planFace(region.image, region.faceSize, request, resolve, 64, { detected: true });
 * ```
 */
export function planFace(
  input: RgbImage,
  faceSize: number,
  request: Dr2ParamsRequest,
  resolve: (request: Dr2ParamsRequest) => Dr2Params,
  resolution: number,
  source: FaceSource = {},
): FacePlan {
  const estimate = estimateAtEffectiveSize(input, faceSize, source.decoded);
  if (!isAutoRequest(request)) return { estimate, choice: null, params: resolve(request) };
  const choice = chooseSettings(estimate, {
    resolution,
    fidelity: choiceFidelity(request.fidelity, estimate.faceSize, source.detected ?? false),
  });
  // The ladder's τ is on the K = 100 grid, like the presets': moved to the request's K.
  const steps = request.steps ?? DEFAULT_DR2_STEPS;
  const params = resolve({ n: choice.params.n, tau: scaleReferenceIndex(choice.params.tau, steps), steps });
  return { estimate, choice, params };
}

/**
 * The estimate of a face at its effective resolution: an enlarged crop (effectiveScale f > 1) is
 * measured at side / f, where its noise is white again, and reported with the face size / f, so
 * it is treated like the small face it is. Blocking too is read there: a face degraded small and
 * enlarged carries its compression's 8x8 grid at side / f, while the enlarged pixels' own grid
 * reads any light final compression as strong blocking (steps inside its blocks are tiny).
 *
 * Given the crop's place in its decoded image (`decoded`), the estimate is read on a window of
 * that image whose corner lies on the compression's grid: the crop's top-left corner moved up and
 * left to a multiple of 8·f (at most 8·f − 1 px, so the window still holds the whole crop inside
 * the image), its sides cut to multiples of f, then shrunk by exactly f, so the blocks fall where
 * the estimate's 8x8 grid looks. Without it, a crop cut at another phase (an aligned crop adapted
 * to the model's framing, or a face whose box does not start on the grid) read blocking 0 under
 * the heaviest compression, and such faces were kept as if clean.
 *
 * @example
 * ```ts
 * // A 512 px crop enlarged x8 after JPEG, cut from its photo at (90, 120):
 * estimateAtEffectiveSize(crop, 330, { image: photo, left: 90, top: 120 }); // read on the 64 px grid from (64, 64)
 * ```
 */
export function estimateAtEffectiveSize(
  input: RgbImage,
  faceSize: number,
  decoded?: DecodedOrigin,
): DegradationEstimate {
  const f = effectiveScale(input);
  const onGrid = decoded ? windowOnGrid(input, decoded, f) : input;
  if (f === 1) return estimateDegradation(onGrid, { faceSize });
  const small = resizeRgb8(
    onGrid,
    Math.max(1, Math.round(onGrid.width / f)),
    Math.max(1, Math.round(onGrid.height / f)),
  );
  return estimateDegradation(small, { faceSize: Math.max(1, Math.round(faceSize / f)) });
}

/** The JPEG block side, in decoded pixels. */
const JPEG_BLOCK = 8;

/**
 * The window of the decoded image from the crop's corner snapped down to the 8·f grid (at its
 * phase for the orientation) to the crop's far corner (clamped to the image), sides cut down to
 * multiples of f; the crop itself when that leaves less than one block.
 */
function windowOnGrid(input: RgbImage, decoded: DecodedOrigin, f: number): RgbImage {
  const grid = JPEG_BLOCK * f;
  const { image } = decoded;
  const orientation = decoded.orientation ?? 1;
  const right = Math.min(image.width, decoded.left + input.width);
  const bottom = Math.min(image.height, decoded.top + input.height);
  // The first block boundary at or before `at` (a crop starting before the first boundary
  // starts at it, losing less than a block at the image's edge).
  const snap = (at: number, phase: number): number =>
    at < phase ? phase : phase + Math.floor((at - phase) / grid) * grid;
  const left = snap(decoded.left, REVERSED_X.has(orientation) ? image.width % grid : 0);
  const top = snap(decoded.top, REVERSED_Y.has(orientation) ? image.height % grid : 0);
  const width = Math.floor((right - left) / f) * f;
  const height = Math.floor((bottom - top) / f) * f;
  if (width < grid || height < grid) return input;
  // Already the window (a photo face's region cut on the 8 px grid, at f = 1): no second copy.
  if (left === decoded.left && top === decoded.top && width === input.width && height === input.height) {
    return input;
  }
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((top + row) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + width * 3), row * width * 3);
  }
  return { data, width, height };
}

/**
 * Whether `auto` keeps this face as it is (its fusion returns the input whatever the model
 * gives): the engine then does not run it through the model, and the photo stage does not
 * paste it (the enlarged photo already is the face; a warp there and back would only soften it).
 */
export function keepsFace(plan: FacePlan): boolean {
  return plan.choice !== null && keepsInput(plan.choice.fusion);
}

/**
 * The share of the finished face that is its input (fusion.ts `keptShare`): 1 for a face kept
 * as it is, 0 for fixed settings and for cells that restore outright, between for a face hedged
 * toward keeping. The photo stage lays that share as it lays a kept face (photo/paste.ts).
 */
export function keepShare(plan: FacePlan): number {
  return plan.choice ? keptShare(plan.choice.fusion) : 0;
}

/**
 * The finished face: the restored face fused with the input (same side, aligned) by the plan's
 * fusion; unchanged for fixed settings.
 */
export function finishFace(restored: RgbImage, input: RgbImage, plan: FacePlan): RgbImage {
  if (!plan.choice) return restored;
  const side = input.width;
  const same = restored.width === side && restored.height === input.height;
  const restoredAtInput = same ? restored : resizeRgb8(restored, side, input.height);
  return fuseDetail(restoredAtInput, input, plan.choice.fusion).image;
}

/**
 * The face report's quality fields (FaceReport.settings / .estimate of the photo contract).
 * `kept`: the face was kept as it is (see keepsFace): its output is its input, and it was not
 * run through the model unless DR2's own output was asked for.
 */
export function faceQualityReport(
  plan: FacePlan,
  kept = false,
): { settings: FaceSettings; estimate: DegradationEstimate } {
  const round = (v: number, digits: number) => Number(v.toFixed(digits));
  const fusion = plan.choice?.fusion;
  return {
    settings: {
      n: plan.params.n,
      tau: plan.params.tau,
      omega: plan.params.omega,
      ...(plan.choice ? { fidelity: round(plan.choice.fidelity, 3) } : {}),
      ...(fusion
        ? { inputWeight: round(fusion.inputWeight, 3), detailWeight: round(fusion.detailWeight, 3) }
        : {}),
      // Where it shapes the output: a partial attenuation (a face hedged toward a kept cell).
      ...(fusion?.detailAttenuation !== undefined && fusion.detailAttenuation !== 1 && !kept
        ? { detailAttenuation: round(fusion.detailAttenuation, 3) }
        : {}),
      ...(kept ? { kept: true as const } : {}),
    },
    estimate: {
      noise: round(plan.estimate.noise, 2),
      blur: round(plan.estimate.blur, 3),
      jpeg: round(plan.estimate.jpeg, 3),
      ...(plan.estimate.coarseNoise !== undefined
        ? { coarseNoise: round(plan.estimate.coarseNoise, 2) }
        : {}),
      ...(plan.estimate.acZeros !== undefined ? { acZeros: round(plan.estimate.acZeros, 3) } : {}),
      ...(plan.estimate.colourNoise !== undefined
        ? { colourNoise: round(plan.estimate.colourNoise, 2) }
        : {}),
      faceSize: plan.estimate.faceSize,
    },
  };
}
