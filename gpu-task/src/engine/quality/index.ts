/**
 * Automatic quality (issue 11): per-face degradation estimates, the calibrated choice of DR2's
 * (N, τ) and of the fusion with the input, and the band fusion itself.
 *
 * @example One face, aligned input at its paste resolution
 * ```ts
 * import { estimateDegradation, chooseSettings, fuseDetail, resizeRgb8 } from './quality/index.js';
 * const estimate = estimateDegradation(alignedInput, { faceSize });
 * const choice = chooseSettings(estimate, { resolution: engine.resolution, fidelity: 0.5 });
 * // ... restore with engine.resolveParams(choice.params), then:
 * const side = alignedInput.width;
 * const { image } = fuseDetail(resizeRgb8(restored, side, side), alignedInput, choice.fusion);
 * ```
 */
export {
  type DegradationEstimate,
  type EstimateOptions,
  AC_ZERO_NOISE_MULTIPLE,
  acZeroBelow,
  estimateColourNoise,
  estimateDegradation,
  SMALL_FACE_BELOW,
} from './estimate.js';
export { effectiveScale, interpolationPeriod } from './effective-scale.js';
export {
  type CalibrationCell,
  type CalibrationTable,
  type HedgedCell,
  type ChooseOptions,
  type LadderStep,
  type QualityChoice,
  QUALITY_LADDER,
  calibrationBin,
  calibrationCell,
  sizeHedgedCell,
  severityHedgedCell,
  SEVERITY_RAMP,
  SIZE_RAMP,
  chooseSettings,
  creditedCoarseNoise,
  severityOf,
  AC_ZEROS_WEIGHT,
  COLOUR_NOISE_BELOW,
  FINE_NOISE_SHARE_BELOW,
  LIGHT_BLOCKING_BELOW,
  TEXTURE_CAP_BELOW,
  TEXTURE_NOISE_CAP,
} from './choose.js';
export { DEFAULT_CALIBRATION } from './calibration-table.js';
export {
  type FaceBands,
  type FusionResult,
  type FusionSettings,
  fuseBands,
  fuseDetail,
  fusionCutoff,
  keepsInput,
  keptShare,
  splitBands,
} from './fusion.js';
export { fromPlanar, resizeRgb8, toPlanar } from './planes.js';
export {
  type DecodedOrigin,
  type FacePlan,
  type FaceSource,
  DETECTED_SMALL_FACE_LEAN,
  choiceFidelity,
  estimateAtEffectiveSize,
  faceQualityReport,
  finishFace,
  isAutoRequest,
  fidelityIgnoredBy,
  keepShare,
  keepsFace,
  planFace,
} from './plan.js';
