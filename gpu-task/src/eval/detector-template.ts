/**
 * Where the bundled face detector's keypoints fall in a model's training frames, measured on
 * faces placed at known transforms (the whole-photo evaluation's scenes): the five-point
 * template that a model's manifest declares as `framing.landmarks`, onto which whole-photo
 * alignment maps the detector's keypoints (photo/pipeline.ts `alignmentFor`).
 *
 * **Why measure it.** A framing given by three numbers (eye distance, eye line, mouth line)
 * says where a method put the eyes and the mouth, not where a detector will. The default
 * model's numbers come from blobs of the mean training face (models/dr2e_models/measure_framing.py),
 * and BlazeFace's eye keypoints sit lower and closer together than those blobs (it marks the eye
 * centres, the blobs take in the sockets' shadow). Aligned onto the three numbers' template, a
 * UTKFace face was framed 4 % tighter than the model's training crops, and its size (which bins
 * it in `auto`'s calibration, fitted on training crops) read 4 % small.
 *
 * @example
 * ```ts
 * const samples = matched.map(({ face, keypoints }) => keypointsInCrop(face, keypoints));
 * const { landmarks } = templateFromKeypoints(samples);
 * ```
 */
import {
  FFHQ_TEMPLATE,
  type FivePointTemplate,
  InvalidParametersError,
  type TemplatePoint,
} from '../engine/index.js';
import { type Similarity, applySimilarity, invertSimilarity, similarityScale } from '../photo/index.js';
import { type SceneFace, unitToTruthOf } from './photo-scenes.js';

/** The detector keypoints alignment uses: left eye, right eye, nose tip, mouth centre. */
export const TEMPLATE_KEYPOINTS = 4;

/**
 * The mouth's width over the eye distance in the FFHQ template (GFPGAN's and CodeFormer's):
 * a detector that marks the mouth centre places the template's corners this far apart.
 */
export const MOUTH_WIDTH_PER_EYE_DISTANCE = (() => {
  const [le, re, , ml, mr] = FFHQ_TEMPLATE;
  return Math.hypot(mr[0] - ml[0], mr[1] - ml[1]) / Math.hypot(re[0] - le[0], re[1] - le[1]);
})();

/**
 * A placed face's detected keypoints in its crop's unit square (the frame the model was trained
 * on when the crops are its training crops): photo coordinates through the inverse of the
 * placement.
 *
 * @param face - the face as placed in the scene (photo pixels).
 * @param keypoints - the detector's keypoints in photo pixels (the first four are used).
 */
export function keypointsInCrop(
  face: Omit<SceneFace, 'unitToTruth'>,
  keypoints: readonly (readonly [number, number])[],
): TemplatePoint[] {
  if (keypoints.length < TEMPLATE_KEYPOINTS) {
    throw new InvalidParametersError(`need ${TEMPLATE_KEYPOINTS} keypoints, got ${keypoints.length}`);
  }
  const photoToUnit = invertSimilarity(unitToTruthOf(face, 1));
  return keypoints.slice(0, TEMPLATE_KEYPOINTS).map((p) => applySimilarity(photoToUnit, p));
}

/** The measured template with its spread. */
export interface MeasuredTemplate {
  /** The five-point template for `framing.landmarks` (corners about the measured mouth centre). */
  landmarks: FivePointTemplate;
  /** The four measured points' means (eyes, nose tip, mouth centre), unit-square fractions. */
  mean: TemplatePoint[];
  /** Their standard errors (standard deviation / √faces), per coordinate. */
  standardError: TemplatePoint[];
  faces: number;
}

/**
 * The template from keypoints of many faces in their crops' unit squares: the mean of each
 * point; the mouth corners at the mean mouth centre ± half of MOUTH_WIDTH_PER_EYE_DISTANCE eye
 * distances along the mean eye line (only their mean matters to a four-point alignment).
 *
 * @throws InvalidParametersError for fewer than two faces.
 */
export function templateFromKeypoints(samples: readonly (readonly TemplatePoint[])[]): MeasuredTemplate {
  if (samples.length < 2) throw new InvalidParametersError(`need at least 2 faces, got ${samples.length}`);
  const n = samples.length;
  const mean: [number, number][] = [];
  const standardError: [number, number][] = [];
  for (let k = 0; k < TEMPLATE_KEYPOINTS; k++) {
    const xs = samples.map((s) => (s[k] as TemplatePoint)[0]);
    const ys = samples.map((s) => (s[k] as TemplatePoint)[1]);
    const [mx, my] = [average(xs), average(ys)];
    mean.push([mx, my]);
    standardError.push([spread(xs, mx) / Math.sqrt(n), spread(ys, my) / Math.sqrt(n)]);
  }
  const [le, re, nose, mouth] = mean as unknown as [
    TemplatePoint,
    TemplatePoint,
    TemplatePoint,
    TemplatePoint,
  ];
  const eyeDistance = Math.hypot(re[0] - le[0], re[1] - le[1]);
  const half = (MOUTH_WIDTH_PER_EYE_DISTANCE * eyeDistance) / 2;
  const [ux, uy] = [(re[0] - le[0]) / eyeDistance, (re[1] - le[1]) / eyeDistance];
  const landmarks = [
    le,
    re,
    nose,
    [mouth[0] - half * ux, mouth[1] - half * uy],
    [mouth[0] + half * ux, mouth[1] + half * uy],
  ] as unknown as FivePointTemplate;
  return { landmarks, mean, standardError, faces: n };
}

/**
 * How an alignment frames a placed face: its frame's side over the crop's side (1 = framed as
 * the crop), and where its frame's centre lies in the crop's unit square, less the crop's
 * centre (0, 0 = centred as the crop).
 *
 * @param toUnit - the alignment, photo coordinates -> frame fractions.
 */
export function framingAgreement(
  toUnit: Similarity,
  face: Omit<SceneFace, 'unitToTruth'>,
): { sideRatio: number; centreOffset: TemplatePoint } {
  const sideRatio = 1 / similarityScale(toUnit) / face.side;
  const centre = applySimilarity(invertSimilarity(toUnit), [0.5, 0.5]);
  const [u, v] = applySimilarity(invertSimilarity(unitToTruthOf(face, 1)), centre);
  return { sideRatio, centreOffset: [u - 0.5, v - 0.5] };
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function spread(values: readonly number[], mean: number): number {
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
}
