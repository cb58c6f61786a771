/**
 * Where the bundled face detector's keypoints fall in a model's training frames, measured on
 * faces placed at known transforms (the whole-photo evaluation's scenes): the five-point
 * template that a model's manifest declares as `framing.landmarks`, onto which whole-photo
 * alignment maps the detector's keypoints (photo/prepare.ts `alignmentFor`).
 *
 * **Why measure it.** A framing given by three numbers (eye distance, eye line, mouth line)
 * says where a method put the eyes and the mouth, not where a detector will. The default
 * model's numbers come from blobs of the mean training face (models/dr2e_models/measure_framing.py),
 * and BlazeFace's eye keypoints sit lower and closer together than those blobs (it marks the eye
 * centres, the blobs take in the sockets' shadow). Aligned onto the three numbers' template,
 * UTKFace faces in photos were framed about 5 % tighter than the model's training crops (0.952
 * of the crop side on 48 val faces) and 2 % off centre, and their size (which bins them in
 * `auto`'s calibration, fitted on training crops) read that much small.
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
import {
  type Similarity,
  applySimilarity,
  estimateSimilarity,
  invertSimilarity,
  similarityScale,
} from '../photo/index.js';
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

/** How a template frames faces on average (see framingAgreement). */
export interface MeanFraming {
  /** Mean frame side over crop side. */
  sideRatio: number;
  /** Mean frame centre less the crop's centre, crop sides in the crop's axes. */
  centreOffset: TemplatePoint;
}

/** The measured template with its spread. */
export interface MeasuredTemplate {
  /** The five-point template for `framing.landmarks` (corners about its mouth centre). */
  landmarks: FivePointTemplate;
  /** The four measured points' means (eyes, nose tip, mouth centre), unit-square fractions. */
  mean: TemplatePoint[];
  /** Their standard errors (standard deviation / √faces), per coordinate. */
  standardError: TemplatePoint[];
  /** How the plain means frame the faces: the bias the fit removes (about 3 % loose). */
  meanFraming: MeanFraming;
  faces: number;
}

/** The crop's centre in its unit square. */
const CENTRE: TemplatePoint = [0.5, 0.5];

/** Rounds of the unbiasing fit, and the bias at which it stops. */
const UNBIAS_ROUNDS = 50;
const UNBIAS_TOLERANCE = 1e-9;

/**
 * How aligning each face's keypoints (crop units) onto four template points frames it, on
 * average: the least-squares similarity of alignment, keypoints -> frame, per face.
 */
export function meanFraming(
  samples: readonly (readonly TemplatePoint[])[],
  points: readonly TemplatePoint[],
): MeanFraming {
  let sideRatio = 0;
  let [du, dv] = [0, 0];
  for (const sample of samples) {
    const toFrame = estimateSimilarity(sample.slice(0, TEMPLATE_KEYPOINTS), points);
    const [u, v] = applySimilarity(invertSimilarity(toFrame), CENTRE);
    sideRatio += 1 / similarityScale(toFrame);
    du += u - CENTRE[0];
    dv += v - CENTRE[1];
  }
  const n = samples.length;
  return { sideRatio: sideRatio / n, centreOffset: [du / n, dv / n] };
}

/**
 * The template from keypoints of many faces in their crops' unit squares: the four points whose
 * alignment frames the faces as their crops on average (mean frame side = crop side, mean frame
 * centre = crop centre), with the shape of the mean keypoints; the mouth corners about its mouth
 * centre ± half of MOUTH_WIDTH_PER_EYE_DISTANCE eye distances along its eye line (only their
 * mean matters to a four-point alignment).
 *
 * The plain means are not that template: a least-squares similarity fitted to keypoints that
 * scatter around their means (the detector's error, faces' own proportions) comes out smaller
 * in scale than the true one by about the scatter's share of the points' spread, so every
 * frame was about 3 % larger than its crop. The fit scales the mean shape about the frame's
 * centre by the mean side ratio (which leaves the centres) and shifts it by the mean centre
 * offset, until both are exact on the samples.
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
  const framedByMeans = meanFraming(samples, mean);
  let points: TemplatePoint[] = mean;
  for (let round = 0; round < UNBIAS_ROUNDS; round++) {
    const { sideRatio, centreOffset } = round === 0 ? framedByMeans : meanFraming(samples, points);
    const [du, dv] = centreOffset;
    if (Math.abs(sideRatio - 1) < UNBIAS_TOLERANCE && Math.hypot(du, dv) < UNBIAS_TOLERANCE) break;
    // Frames too large by r: spread the points by r about the centre (frames then match their
    // crops' side, the centres stay). Centres off by d: move the points by d (at that scale a
    // frame centre moves back by as much as the template moves).
    points = points.map(([x, y]) => [
      CENTRE[0] + (x - CENTRE[0]) * sideRatio + du,
      CENTRE[1] + (y - CENTRE[1]) * sideRatio + dv,
    ]);
  }
  const [le, re, nose, mouth] = points as [TemplatePoint, TemplatePoint, TemplatePoint, TemplatePoint];
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
  return { landmarks, mean, standardError, meanFraming: framedByMeans, faces: n };
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
  const centre = applySimilarity(invertSimilarity(toUnit), CENTRE);
  const [u, v] = applySimilarity(invertSimilarity(unitToTruthOf(face, 1)), centre);
  return { sideRatio, centreOffset: [u - CENTRE[0], v - CENTRE[1]] };
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function spread(values: readonly number[], mean: number): number {
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
}
