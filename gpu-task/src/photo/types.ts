/**
 * What the photo stage reports about faces (engine results, CLI `--json`, job views).
 */
import {
  type FaceEstimate,
  type FaceSettings,
  RESTORE_DEFAULTS,
  type SkipReason,
  type UpscaleFactor,
} from '../../../shared/src/index.js';

/** Why a found face was skipped, its DR2 settings and its estimated degradation: the domain's types. */
export type { FaceEstimate, FaceSettings, SkipReason } from '../../../shared/src/index.js';

/** A face of a photo, in input pixel coordinates (before upscaling). */
export interface FaceReport {
  /** Left, top, width, height of the detector's box. */
  box: [x: number, y: number, w: number, h: number];
  /** Detector confidence 0..1. */
  score: number;
  /**
   * Detector keypoints: eye on the image's left, eye on the image's right, nose tip, mouth
   * centre, ear tragion on the image's left and right.
   */
  landmarks: [number, number][];
  /** Skipped faces only. */
  reason?: SkipReason;
  settings?: FaceSettings;
  estimate?: FaceEstimate;
}

/** Warnings a restored photo may carry. */
export type PhotoWarning = 'no_face_detected' | 'upscale_capped' | 'first_frame_only';

/** Upscale factors offered: the domain's (shared/src/restore-options.ts). */
export {
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  MAX_OUTPUT_SIDE,
  OUTPUT_FORMATS,
  outputFormatsFitting,
  UPSCALE_FACTORS,
  type UpscaleFactor,
} from '../../../shared/src/index.js';

/** Default output upscale. */
export const DEFAULT_UPSCALE: UpscaleFactor = RESTORE_DEFAULTS.upscale;

/** Default cap on faces restored per photo (largest first). */
export const DEFAULT_MAX_FACES = RESTORE_DEFAULTS.maxFaces;
