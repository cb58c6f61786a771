/**
 * The detector's second opinion: FaceBoxes (faceboxes.ts) run once over a photo (a noisy one's
 * smoothed copy too, withSmoothedProposals), proposing the faces BlazeFace's pyramid and cascade
 * did not find (detect.ts). On small photos degraded far
 * beyond the eval's severe split, FaceBoxes finds faces of 20-35 px that BlazeFace scores
 * under its candidate threshold at every level; and it seldom fires where there is no face:
 * nothing in 150 clean face-free crops, one proposal at 0.50 in 96 degraded ones
 * (docs/eval/README.md, "Second detector"). Seldom is not never: on `00.jpg` of
 * ../shared/data/whole-photos degraded, a child's hand under a yellow cuff scored 0.51-0.85.
 *
 * So a proposal where no face is becomes a face when BlazeFace's second looks agree on it
 * (verify.ts, by consensus; its landmarks are theirs), or, unconfirmed, when FaceBoxes is sure
 * of it (FACEBOXES_SURE) and it is not in the hair above a larger face (detect.ts inHairOf):
 * its box and landmarks are then RetinaFace's, or else the full-range graph's, where one of them
 * saw the face too (withLandmarksSeen), else laid out in its box as BlazeFace's fall in FaceBoxes' boxes
 * on average (FACEBOXES_LAYOUT), an upright face's. Proposals at the photo's
 * edge are left out (nearPhotoEdge): FaceBoxes also boxes the part of a face the frame cuts
 * (WIDER FACE is full of them), which no layout fits, and on a close-up of a real degraded face
 * (DR2's set03_20753) BlazeFace's looks agreed on such a sliver of cheek and hair. Faces at the
 * edge are the pyramid's (detect.ts). So are proposals under 0.8 x 24 px (detect.ts): at 16 px
 * the hand scored 0.85 and BlazeFace's looks agreed on it.
 *
 * The third and fourth opinions are whole-photo detectors of their own: MediaPipe's full-range
 * graph (full-range.ts) and RetinaFace (retinaface.ts, trained on WIDER FACE like FaceBoxes, and
 * much surer of degraded faces). Each adds the faces it is sure of where none was found
 * (fullRangeFaces, retinaFaceFaces); RetinaFace's landmarks, nearest the clean photo's of the
 * three, also place the faces FaceBoxes or the full-range graph alone vouch for where it saw them
 * (withLandmarksSeen).
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import { iou, overlapOfSmaller, type RawDetection, weightedNms } from './blazeface.js';
import type { FaceBoxesModel } from './faceboxes.js';
import { type FaceBox, faceBoxesNms } from './faceboxes.js';
import type { FullRangeModel } from './full-range.js';
import {
  RETINAFACE_NMS_IOU,
  type RetinaFaceDetection,
  type RetinaFaceModel,
  retinaFaceNms,
} from './retinaface.js';
import { plausibleLandmarks } from './verify.js';

/** Lowest FaceBoxes score of a proposal (the score its own post-processing keeps). */
export const FACEBOXES_THRESHOLD = 0.5;

/**
 * FaceBoxes score at which a proposal is a face without BlazeFace's consensus: above the hand
 * of the module comment at the sizes the size floor lets through (0.51-0.78; the 0.85 was a
 * 16 px hand, under the floor, see detect.ts), below most degraded faces that BlazeFace's looks
 * do not confirm (0.8-0.99 on the degraded whole photos).
 */
export const FACEBOXES_SURE = 0.8;

/** How close to the photo's edge (in box sides) a proposal may lie: see the module comment. */
export const FACEBOXES_EDGE_MARGIN = 0.1;

/**
 * Longest side (pixels) FaceBoxes sees the photo at: a smaller photo is also seen enlarged
 * towards it (FACEBOXES_ENLARGEMENTS; FaceBoxes' smallest anchor is 32 px, and degraded faces
 * of 20-30 px score higher enlarged, others as they are), a larger one only reduced to it.
 */
export const FACEBOXES_SIDE = 1280;

/**
 * How much a smaller photo is enlarged for FaceBoxes: one view at each, at most FACEBOXES_SIDE
 * a side. Which enlargement scores a degraded face highest depends on its size: a 20 px face of
 * the severe group photo (`insightface_t1_group.jpg` at 320 px) scored 0.36-0.46 at x2 and 0.85
 * at x4 in the detector's smoothed copy (docs/eval/README.md, "FaceBoxes at x4").
 */
export const FACEBOXES_ENLARGEMENTS = [2, 4] as const;

/**
 * Photos whose longer side exceeds this are not shown to FaceBoxes: reduced to FACEBOXES_SIDE
 * it would see only faces of 60 px and more there, which BlazeFace's pyramid finds.
 */
export const FACEBOXES_MAX_PHOTO_SIDE = 2 * FACEBOXES_SIDE;

/**
 * Where BlazeFace's face box and six keypoints fall in a FaceBoxes box, as fractions of its
 * width and height: the means over 186 faces of 64 mildly degraded train/ scenes
 * (scripts/measure-faceboxes-template.ts).
 */
export const FACEBOXES_LAYOUT = {
  /** Centre x, centre y, width, height (BlazeFace's box is wider and shorter, lower down). */
  box: [0.496, 0.558, 1.056, 0.871],
  /** Eye (image left), eye (image right), nose tip, mouth centre, ear tragions (spread ±0.04-0.07). */
  keypoints: [
    [0.271, 0.354],
    [0.721, 0.354],
    [0.492, 0.552],
    [0.492, 0.738],
    [0.024, 0.448],
    [0.978, 0.448],
  ],
} as const;

/**
 * The scales FaceBoxes sees a `width` x `height` photo at: as it is (or reduced to
 * FACEBOXES_SIDE) and enlarged by each of FACEBOXES_ENLARGEMENTS (at most to FACEBOXES_SIDE),
 * leaving out a view less than a quarter larger than the one before it (it sees the same
 * faces); none for a photo over FACEBOXES_MAX_PHOTO_SIDE. So only a photo under 512 px a side
 * gets the third view, and no view is over FACEBOXES_SIDE.
 *
 * @example
 * ```ts
 * faceBoxesScales(400, 300); // [1, 2, 3.2]
 * faceBoxesScales(1000, 750); // [1, 1.28]
 * ```
 */
export function faceBoxesScales(width: number, height: number): number[] {
  return viewScales(width, height, FACEBOXES_ENLARGEMENTS);
}

/**
 * The scales of a `width` x `height` photo's views: as it is, or reduced to FACEBOXES_SIDE where
 * larger, and enlarged by each of `enlargements` (at most to FACEBOXES_SIDE), leaving out a view
 * less than a quarter larger than the one before; none for a photo over FACEBOXES_MAX_PHOTO_SIDE.
 */
function viewScales(width: number, height: number, enlargements: readonly number[]): number[] {
  const longer = Math.max(width, height);
  if (longer > FACEBOXES_MAX_PHOTO_SIDE || longer < 1) return [];
  const fitted = FACEBOXES_SIDE / longer;
  const scales = [Math.min(1, fitted)];
  for (const enlargement of enlargements) {
    const scale = Math.min(enlargement, fitted);
    if (scale > scales.at(-1)! * 1.25) scales.push(scale);
  }
  return scales;
}

/** `photo` resized by `scale` (Lanczos), or itself at 1. */
async function resized(photo: RgbImage, scale: number): Promise<RgbImage> {
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  if (width === photo.width && height === photo.height) return photo;
  const data = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(width, height, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

/** `box` of a view in the photo's pixels, given the photo's pixels per seen pixel across (`kx`) and down (`ky`). */
function scaledBox([x, y, w, h]: FaceBox['box'], kx: number, ky: number): FaceBox['box'] {
  return [x * kx, y * ky, w * kx, h * ky];
}

/** `points` of a view in the photo's pixels (see scaledBox). */
function scaledPoints(points: readonly [number, number][], kx: number, ky: number): [number, number][] {
  return points.map(([u, v]) => [u * kx, v * ky]);
}

/**
 * What `detect` finds in `photo` seen at each of `scales` (resized), each detection mapped back
 * to the photo's pixels by `back` (given the photo's pixels per seen pixel across and down, and
 * the view: the index of its scale).
 */
async function seenAtScales<T, U>(
  photo: RgbImage,
  scales: readonly number[],
  detect: (seen: RgbImage) => Promise<T[]>,
  back: (found: T, kx: number, ky: number, view: number) => U,
): Promise<U[]> {
  const found: U[] = [];
  for (const [view, scale] of scales.entries()) {
    const seen = await resized(photo, scale);
    const kx = photo.width / seen.width;
    const ky = photo.height / seen.height;
    for (const d of await detect(seen)) found.push(back(d, kx, ky, view));
  }
  return found;
}

/** FaceBoxes' faces of `photo` at each of faceBoxesScales, merged, in its pixels, best first. */
export async function faceBoxesProposals(
  model: Pick<FaceBoxesModel, 'detect'>,
  photo: RgbImage,
): Promise<FaceBox[]> {
  const found = await seenAtScales(
    photo,
    faceBoxesScales(photo.width, photo.height),
    (seen) => model.detect(seen, FACEBOXES_THRESHOLD),
    ({ box, score }, kx, ky): FaceBox => ({ box: scaledBox(box, kx, ky), score }),
  );
  return faceBoxesNms(found);
}

/**
 * The proposals of a noisy photo: FaceBoxes' on the photo as it is (`asItIs`), and those it
 * makes on the detector's smoothed copy (denoised-pass.ts, `smoothed`) where the photo has none,
 * or where it is sure (FACEBOXES_SURE) only on the smoothed copy; best first. A proposal that
 * overlaps another by more than 0.3 of the smaller box is the same face.
 *
 * **Why.** As BlazeFace (denoised-pass.ts), FaceBoxes scores some faces under heavy noise and
 * JPEG blocks higher once they are smoothed: on severe `train/` scenes a dark 76 px face had no
 * proposal in the photo and 0.88 in its smoothed copy, and a 40 px one 0.54 against 0.82.
 * **Why not all of them.** Merged by plain NMS (the smoothed copy's proposal replacing the
 * photo's wherever it scores higher), a 46 px face of a medium degraded group photo was lost:
 * the photo's own proposal, confirmed by BlazeFace's looks, gave way to the smoothed copy's,
 * which they did not confirm. Measured in docs/eval/README.md ("Second detector").
 *
 * @example
 * ```ts
 * withSmoothedProposals([{ box: [10, 10, 40, 40], score: 0.54 }], [{ box: [12, 10, 40, 42], score: 0.82 }]);
 * // both, the sure one first: the photo's own is looked at only if the sure one is not a face
 * ```
 */
export function withSmoothedProposals(asItIs: readonly FaceBox[], smoothed: readonly FaceBox[]): FaceBox[] {
  const more = smoothed.filter((p) =>
    asItIs.every(
      (q) =>
        overlapOfSmaller(q.box, p.box) <= SAME_PROPOSAL_OVERLAP ||
        (p.score >= FACEBOXES_SURE && q.score < FACEBOXES_SURE),
    ),
  );
  return [...asItIs, ...more].sort((a, b) => b.score - a.score);
}

/** Overlap (of the smaller box) above which two proposals are the same face. */
const SAME_PROPOSAL_OVERLAP = 0.3;

/**
 * Whether `box` lies within FACEBOXES_EDGE_MARGIN of its side from a `width` x `height` photo's
 * edge (FaceBoxes clips its boxes to the photo, so a cut face's box reaches it or nearly).
 */
export function nearPhotoEdge([x, y, w, h]: FaceBox['box'], width: number, height: number): boolean {
  const margin = FACEBOXES_EDGE_MARGIN * Math.max(w, h);
  return x < margin || y < margin || x + w > width - margin || y + h > height - margin;
}

/**
 * The score of a face only FaceBoxes saw. FaceBoxes' probabilities are not BlazeFace's scores:
 * reported as they are, its 0.8-0.99 would rank such a face, with its laid-out landmarks, above
 * BlazeFace's own faces (the order `max_faces` keeps) and spare it the upside-down look
 * (orientation.ts, under 0.9). At 0.5 it comes after every BlazeFace face (0.6 and over).
 */
export const FACEBOXES_ONLY_SCORE = 0.5;

/**
 * A proposal as a detection: its box and keypoints laid out as BlazeFace's fall in such a box
 * (FACEBOXES_LAYOUT), scored FACEBOXES_ONLY_SCORE (also the candidate's score in BlazeFace's
 * second looks, whose confirmed faces then carry the looks' own score).
 */
export function proposalAsDetection({ box: [x, y, w, h] }: FaceBox): RawDetection {
  const [cx, cy, bw, bh] = FACEBOXES_LAYOUT.box;
  return {
    box: [x + (cx - bw / 2) * w, y + (cy - bh / 2) * h, bw * w, bh * h],
    score: FACEBOXES_ONLY_SCORE,
    keypoints: FACEBOXES_LAYOUT.keypoints.map(([u, v]) => [x + u * w, y + v * h]),
  };
}

/**
 * The scale (of the photo's pixels) MediaPipe's full-range detector (full-range.ts) sees a
 * photo at. Half size is where it finds what the others miss: on the degraded whole photos of
 * docs/eval/README.md ("Third opinion") the faces of 24-31 px that BlazeFace and FaceBoxes
 * missed scored up to 0.85 at half size and less as they are; the photo as it is also costs
 * four times the pixels (60 against 16 ms for 560 x 420 here).
 */
export const FULL_RANGE_SCALE = 0.5;

/**
 * Longest side (px) of a photo shown to the full-range detector: FACEBOXES_SIDE, seen at 640 px
 * (80 ms for 1280 x 960 here, twice for a noisy photo). A larger photo's faces of the size that
 * detector finds are the pyramid's, on finer levels.
 */
export const FULL_RANGE_MAX_PHOTO_SIDE = FACEBOXES_SIDE;

/** Lowest full-range score of a proposal. */
export const FULL_RANGE_THRESHOLD = 0.5;

/**
 * Full-range score at which a face where none was found is added (fullRangeFaces): over what
 * it gave the child's hand of `00.jpg` degraded (0.6-0.75; the hand of the module comment) and
 * a few spots of the degraded group photo (up to 0.76, that one with landmarks no face has),
 * at the foot of the missed faces it finds (0.77-0.91). The margin is thin, and the scores were
 * read from a scratch run on 192 px tiles that differs from this code by a few hundredths; the
 * measures of docs/eval/README.md ("Third opinion"), run with this code, found no false face.
 */
export const FULL_RANGE_SURE = 0.77;

/**
 * The full-range detector's faces in `photo`, and in the detector's `smoothed` copy of a noisy
 * photo (denoised-pass.ts) where given, each seen at FULL_RANGE_SCALE, merged by weighted NMS
 * (their boxes and keypoints averaged by score), in the photo's pixels, best first; none for a
 * photo over FULL_RANGE_MAX_PHOTO_SIDE.
 */
export async function fullRangeProposals(
  model: Pick<FullRangeModel, 'detect'>,
  photo: RgbImage,
  smoothed: RgbImage | null,
): Promise<RawDetection[]> {
  if (Math.max(photo.width, photo.height) > FULL_RANGE_MAX_PHOTO_SIDE) return [];
  const found: RawDetection[] = [];
  for (const image of smoothed ? [photo, smoothed] : [photo])
    found.push(
      ...(await seenAtScales(
        image,
        [FULL_RANGE_SCALE],
        (seen) => model.detect(seen, FULL_RANGE_THRESHOLD),
        ({ box, score, keypoints }, kx, ky): RawDetection => ({
          box: scaledBox(box, kx, ky),
          score,
          keypoints: scaledPoints(keypoints, kx, ky),
        }),
      )),
    );
  return weightedNms(found, 0.3);
}

/** Overlap (of the smaller box) over which another detector's proposal is the same face (withLandmarksSeen). */
const SAME_FACE_OVERLAP = 0.5;

/** Largest ratio of two boxes' sides for another detector's proposal to be the same face (withLandmarksSeen). */
const SAME_FACE_SIDE_RATIO = 1.5;

/**
 * A face with rough landmarks (`face`: one only FaceBoxes vouches for, its box and landmarks laid
 * out by proposalAsDetection, an average upright face's; or one the full-range graph added) with
 * another detector's own box and landmarks where it saw the face too: of its `proposals` (best
 * first: RetinaFace's, retinaFaceProposals, or the full-range graph's, fullRangeProposals), the
 * first covering more than half of the smaller box, of a side within SAME_FACE_SIDE_RATIO of
 * `face`'s, with landmarks a face has (plausibleLandmarks). The face is aligned by its
 * landmarks: on the degraded whole photos of docs/eval/README.md the keypoint error of the faces
 * found fell from 0.34 to 0.32 eye distances at severe with the full-range graph's ("FaceBoxes at
 * x4"), and from 0.32 to 0.28 with RetinaFace's first ("Fourth opinion"). Its score stays
 * `face`'s; `face` itself (the same object) where no proposal is the same face.
 *
 * @example
 * ```ts
 * const face = withLandmarksSeen(proposalAsDetection(proposal), await retinaFaceProposals(model, photo));
 * ```
 */
export function withLandmarksSeen(face: RawDetection, proposals: readonly RawDetection[]): RawDetection {
  const side = Math.max(face.box[2], face.box[3]);
  const seen = proposals.find((p) => {
    const ratio = Math.max(p.box[2], p.box[3]) / side;
    return (
      plausibleLandmarks(p) &&
      overlapOfSmaller(p.box, face.box) > SAME_FACE_OVERLAP &&
      ratio <= SAME_FACE_SIDE_RATIO &&
      ratio >= 1 / SAME_FACE_SIDE_RATIO
    );
  });
  return seen ? { box: seen.box, score: face.score, keypoints: seen.keypoints } : face;
}

/**
 * Of the full-range detector's `proposals` (fullRangeProposals), the faces to add to those
 * `found` in a `width` x `height` photo: scoring FULL_RANGE_SURE or more, their landmarks a
 * face's (plausibleLandmarks: they are what the face is aligned by), overlapping no face found
 * or added by more than 0.3 of the smaller box, not at the photo's edge (nearPhotoEdge), at least
 * `smallest` px a side. With their own box and landmarks, scored FACEBOXES_ONLY_SCORE (after
 * BlazeFace's faces, as FaceBoxes' own).
 *
 * @example
 * ```ts
 * fullRangeFaces(await fullRangeProposals(model, photo, null), found, photo.width, photo.height, 19.2);
 * ```
 */
export function fullRangeFaces(
  proposals: readonly RawDetection[],
  found: readonly RawDetection[],
  width: number,
  height: number,
  smallest: number,
): RawDetection[] {
  return sureFaces(
    proposals.filter((p) => p.score >= FULL_RANGE_SURE),
    found,
    width,
    height,
    smallest,
  );
}

/**
 * Of the `sure` proposals (one detector's, best first), those with a face's landmarks
 * (plausibleLandmarks: they are what the face is aligned by), overlapping no face `found` or
 * added before them by more than SAME_PROPOSAL_OVERLAP of the smaller box, not at the edge of
 * the `width` x `height` photo (nearPhotoEdge), at least `smallest` px a side; each its box and
 * landmarks, scored FACEBOXES_ONLY_SCORE.
 */
function sureFaces(
  sure: readonly RawDetection[],
  found: readonly RawDetection[],
  width: number,
  height: number,
  smallest: number,
): RawDetection[] {
  const added: RawDetection[] = [];
  for (const face of sure) {
    if (
      plausibleLandmarks(face) &&
      [...found, ...added].every((other) => overlapOfSmaller(other.box, face.box) <= SAME_PROPOSAL_OVERLAP) &&
      !nearPhotoEdge(face.box, width, height) &&
      Math.max(face.box[2], face.box[3]) >= smallest
    )
      added.push({ box: face.box, score: FACEBOXES_ONLY_SCORE, keypoints: face.keypoints });
  }
  return added;
}

/**
 * Enlargements at which RetinaFace sees a small photo besides as it is (retinaFaceScales). Its
 * smallest anchor is 16 px: on the degraded whole photos its faces of 20-30 px came enlarged,
 * those of 40 px and more as they are; at 1.5 it was sure (0.96-0.98) of a 25 px face that it
 * scored under 0.5 at 1 and 2 (docs/eval/README.md, "Fourth opinion" and "Two sizes").
 */
export const RETINAFACE_ENLARGEMENTS = [1.5, 2] as const;

/**
 * The scales (of the photo's pixels) RetinaFace (retinaface.ts) sees a photo at: reduced to
 * FACEBOXES_SIDE where larger, and a smaller photo also enlarged by each of
 * RETINAFACE_ENLARGEMENTS (at most to FACEBOXES_SIDE), leaving out a view less than a quarter
 * larger than the one before; none for a photo over FACEBOXES_MAX_PHOTO_SIDE (its faces of the
 * sizes RetinaFace adds are the pyramid's, on finer levels).
 *
 * @example
 * ```ts
 * retinaFaceScales(400, 300); // [1, 1.5, 2]
 * retinaFaceScales(1000, 750); // [1, 1.28]
 * ```
 */
export function retinaFaceScales(width: number, height: number): number[] {
  return viewScales(width, height, RETINAFACE_ENLARGEMENTS);
}

/** Lowest RetinaFace probability of a proposal. */
export const RETINAFACE_THRESHOLD = 0.5;

/**
 * RetinaFace probability at which a face where none was found is added (retinaFaceFaces). On
 * the degraded whole photos ("Fourth opinion"), added at 0.9 its faces cost no extra face and
 * none in the face-free crops; at 0.85 and 0.8 a patch of the severe group photo's shirt (0.87)
 * and a face-free crop came in, for a few more faces found.
 */
export const RETINAFACE_SURE = 0.9;

/**
 * RetinaFace probability at which a face that two views (of different scales) both saw is added
 * (retinaFaceFaces), though no view was RETINAFACE_SURE of it. A false face seldom holds at two
 * sizes: on the degraded whole photos and their face-free crops ("Two sizes") nothing false
 * came in at 0.6, while at 0.5 a hair bow did, seen at 0.67 and 0.5.
 */
export const RETINAFACE_AGREED = 0.6;

/**
 * Largest floor (box side, photo px) of the faces RetinaFace adds (retinaFaceSmallest), under
 * the 19.2 px (0.8 · DEFAULT_SMALLEST_FACE) the other opinions keep. A face's box reads smaller
 * than the face: on the eval's severe real photos (dr2e eval-photos, seeds 1-12) two 20-21 px faces
 * of `10045.png`, which RetinaFace was sure of (0.92) or saw at two sizes (0.88 and 0.87), had
 * boxes of 18.1 and 18.3 px and were left out. At 16 px the faces it adds cost no extra face on
 * those photos, in `scripts/detect-degraded-photos.ts` or in its face-free crops; the floor that
 * kept out a child's 16 px hand (in detect.ts) guards FaceBoxes' proposals, which BlazeFace's
 * looks confirm.
 */
export const RETINAFACE_SMALLEST_BOX = 16;

/**
 * The smallest box side (photo px) of a face RetinaFace adds (retinaFaceFaces) when the search
 * reaches faces of `smallestFace` px: RETINAFACE_SMALLEST_BOX, or a fifth under `smallestFace`
 * (a face's box may read a fifth smaller) where that is less.
 *
 * @example
 * ```ts
 * retinaFaceSmallest(24); // 16
 * retinaFaceSmallest(16); // 12.8
 * ```
 */
export function retinaFaceSmallest(smallestFace: number): number {
  return Math.min(RETINAFACE_SMALLEST_BOX, 0.8 * smallestFace);
}

/**
 * A RetinaFace proposal (retinaFaceProposals): its face as a detection of BlazeFace's kind, with
 * the best probability another view (of another scale) gave the same face.
 */
export interface RetinaFaceProposal extends RawDetection {
  /**
   * The best probability of a detection of another view over RETINAFACE_NMS_IOU of its box; 0
   * for none. Another view is one of another scale than the one this face's box and landmarks
   * come from: the photo and its smoothed copy seen at the same scale are one view.
   */
  otherViewScore: number;
}

/**
 * A RetinaFace face as a detection of BlazeFace's kind: its box made BlazeFace's shape as
 * FaceBoxes' boxes are (FACEBOXES_LAYOUT.box: both detectors were trained on WIDER FACE's
 * boxes, taller than BlazeFace's), its eyes and nose its own, the mouth centre the middle of its
 * corners, the ear tragions laid out in its box (FACEBOXES_LAYOUT; RetinaFace has none).
 */
export function retinaFaceAsDetection({
  box: [x, y, w, h],
  score,
  landmarks,
}: RetinaFaceDetection): RawDetection {
  const [cx, cy, bw, bh] = FACEBOXES_LAYOUT.box;
  const [left, right, nose, mouthLeft, mouthRight] = landmarks;
  const ear = (i: 4 | 5): [number, number] => [
    x + FACEBOXES_LAYOUT.keypoints[i][0] * w,
    y + FACEBOXES_LAYOUT.keypoints[i][1] * h,
  ];
  return {
    box: [x + (cx - bw / 2) * w, y + (cy - bh / 2) * h, bw * w, bh * h],
    score,
    keypoints: [
      left!,
      right!,
      nose!,
      [(mouthLeft![0] + mouthRight![0]) / 2, (mouthLeft![1] + mouthRight![1]) / 2],
      ear(4),
      ear(5),
    ],
  };
}

/**
 * RetinaFace's faces in `photo` at each of retinaFaceScales scoring RETINAFACE_THRESHOLD or
 * more, and for a noisy photo in the detector's `smoothed` copy (denoised-pass.ts) at the same
 * scales, merged by NMS, in the photo's pixels (retinaFaceAsDetection), best first; each with the
 * best score of the same face in another view (otherViewScore): at another scale, as the copy
 * at the same scale is the photo seen again, not a second look.
 *
 * **Why the smoothed copy.** As FaceBoxes (withSmoothedProposals), RetinaFace reads small faces
 * under heavy noise and JPEG blocks better once smoothed: in the eval's severe real photos
 * (seed 11) a 28 px face of the group photo scored 0.59 at best in the photo and 0.92-1.00 in the
 * copy, and a 20 px face of `10045.png` 0.53 against 0.95 (docs/eval/README.md, "RetinaFace
 * below the floor and on the smoothed copy"). Counting the copy at the same scale as a second
 * view added false faces (4 more in scripts/detect-degraded-photos.ts); counting the photo and
 * the copy at one scale as one view added none.
 *
 * @example
 * ```ts
 * const proposals = await retinaFaceProposals(retinaFace, photo, await smoothedCopy(photo));
 * ```
 */
export async function retinaFaceProposals(
  model: Pick<RetinaFaceModel, 'detect'>,
  photo: RgbImage,
  smoothed: RgbImage | null = null,
): Promise<RetinaFaceProposal[]> {
  const scales = retinaFaceScales(photo.width, photo.height);
  // `view` is the index of the scale, the same for the photo and its copy (otherViewScore).
  const seenIn = (image: RgbImage) =>
    seenAtScales(
      image,
      scales,
      (seen) => model.detect(seen, RETINAFACE_THRESHOLD),
      ({ box, score, landmarks }, kx, ky, view): RetinaFaceDetection & { view: number } => ({
        box: scaledBox(box, kx, ky),
        score,
        landmarks: scaledPoints(landmarks, kx, ky),
        view,
      }),
    );
  const found = [...(await seenIn(photo)), ...(smoothed ? await seenIn(smoothed) : [])];
  return retinaFaceNms(found).map((best) => ({
    ...retinaFaceAsDetection(best),
    otherViewScore: Math.max(
      0,
      ...found
        .filter((d) => d.view !== best.view && iou(d.box, best.box) > RETINAFACE_NMS_IOU)
        .map((d) => d.score),
    ),
  }));
}

/**
 * Of RetinaFace's `proposals` (retinaFaceProposals), the faces to add to those `found` in a
 * `width` x `height` photo, as fullRangeFaces adds the full-range graph's: scoring
 * RETINAFACE_SURE or more, or RETINAFACE_AGREED or more in two views, with a face's landmarks
 * (plausibleLandmarks), overlapping no face found or added by more than 0.3 of the smaller box,
 * not at the photo's edge (nearPhotoEdge), at least `smallest` px a side; with their own box and
 * landmarks, scored FACEBOXES_ONLY_SCORE.
 *
 * @example
 * ```ts
 * retinaFaceFaces(await retinaFaceProposals(model, photo), found, photo.width, photo.height, 19.2);
 * ```
 */
export function retinaFaceFaces(
  proposals: readonly RetinaFaceProposal[],
  found: readonly RawDetection[],
  width: number,
  height: number,
  smallest: number,
): RawDetection[] {
  return sureFaces(
    // Both views at RETINAFACE_AGREED: the other view's detection may score more than this one
    // (suppressed by another face's box), and this one's own score must hold too.
    proposals.filter(
      (p) => p.score >= RETINAFACE_SURE || Math.min(p.score, p.otherViewScore) >= RETINAFACE_AGREED,
    ),
    found,
    width,
    height,
    smallest,
  );
}

/**
 * Box side (photo px) from which a face found by BlazeFace alone is checked for lying over
 * other faces (faceOverFaces).
 */
export const UNSEEN_FACE_MIN_SIDE = 96;

/** BlazeFace's score under which such a face is checked (faceOverFaces). */
export const UNSEEN_FACE_MAX_SCORE = 0.8;

/**
 * Whether BlazeFace's `face` is a pattern over other faces rather than a face: at least
 * UNSEEN_FACE_MIN_SIDE px, scored under UNSEEN_FACE_MAX_SCORE, seen by none of the other
 * detectors (no proposal of RetinaFace's, FaceBoxes' or the full-range graph's, each at its own
 * threshold, overlapping it by IoU over 0.3), while two or more of their proposals under half its
 * side (one face proposed by several counts once) have their centres inside its box. Faces
 * do not hold faces: on a degraded 240 px group photo BlazeFace's smoothed pass read a 131 px
 * face at 0.70 whose "eyes" were two people's faces, which RetinaFace and FaceBoxes proposed,
 * and which that box then kept out (docs/eval/README.md, "A face over faces"). A large face none
 * of the others saw is otherwise kept: RetinaFace misses tight crops of faces and faces that fill
 * a degraded photo.
 *
 * @example
 * ```ts
 * const kept = found.filter((face) => !faceOverFaces(face, [retinaFace, faceBoxes, fullRange]));
 * ```
 */
export function faceOverFaces(
  face: RawDetection,
  proposals: readonly (readonly Pick<RawDetection, 'box'>[])[],
): boolean {
  const [x, y, w, h] = face.box;
  const side = Math.max(w, h);
  if (side < UNSEEN_FACE_MIN_SIDE || face.score >= UNSEEN_FACE_MAX_SCORE) return false;
  const all = proposals.flat();
  if (all.some((p) => iou(p.box, face.box) > 0.3)) return false;
  // Distinct faces: a proposal lying over half within one counted already is that face, seen
  // again (by another detector, or at another size).
  const faces: Pick<RawDetection, 'box'>[] = [];
  for (const p of all) {
    const [px, py, pw, ph] = p.box;
    const [cx, cy] = [px + pw / 2, py + ph / 2];
    const inside = Math.max(pw, ph) < side / 2 && cx > x && cx < x + w && cy > y && cy < y + h;
    if (inside && faces.every((f) => overlapOfSmaller(f.box, p.box) <= 0.5)) faces.push(p);
  }
  return faces.length >= 2;
}
