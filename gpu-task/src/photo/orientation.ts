/**
 * Upside-down faces. BlazeFace is trained on upright faces, yet it still fires, weakly, on a face
 * turned by about 180 degrees (a photo taken upside down whose EXIF orientation was lost, a
 * child hanging from a bar, a face in a mirror lying down) and then places its keypoints as if
 * the face were upright: eyes where the mouth is, the box shifted toward the chin. Aligned from
 * those keypoints, the face went through the model upside down and came back with another skin
 * tone, its mouth cut off.
 *
 * A face the detector scored under ORIENTATION_CHECK_BELOW is looked at again by both graphs,
 * as it is and turned by 180 degrees (the front-camera graph first, at two sizes: each of its
 * views costs a quarter of the other's). When both score the turned view higher by
 * UPSIDE_DOWN_MARGIN (the front-camera graph at either of its sizes, with a mean over both
 * above 0 unless the back-camera graph is sure of the turned view, SURE_TURNED_SCORE), or the
 * front-camera graph by STRONG_FRONT_MARGIN and the back-camera graph at least as high, the face
 * is upside down and its detection is the back-camera graph's on the turned view, turned back:
 * its keypoints are then listed as the face's own (the eye on the image's left when the face is
 * seen upright comes first), so the alignment turns the face upright and the paste-back turns
 * it again.
 *
 * Measured (scripts/detect-recall.ts, train/ scenes, seed 1, 24 faces per split at any roll,
 * `--max-angle 180`): faces reported upside down 4 / 3 / 5 (mild / medium / severe) before, 0 / 0
 * / 3 after, recall unchanged (one more severe face kept). Within the usual ±25 degrees (seeds 1
 * and 2) no face was turned. On `../shared/data/whole-photos` and its copies turned by 180
 * degrees, by 180 and mirrored, and by 150 degrees, every upside-down face found came out upright
 * but three of 10045.png at 150 degrees, and no upright face was turned.
 *
 * The front graph's second size (32 px, 2026-12-04): on the same scenes, seeds 7, 1 and 2 at any
 * roll, faces restored upside down 13 → 9 in all, recall and extra faces unchanged (11 when the
 * gate took the mean of the two sizes). With facesLean's half rule of the same day, at ±45
 * degrees (seeds 0-2) and ±25 (seeds 1, 2) nothing changed (one severe face at ±45 reported
 * upside down, before and after). A review checked again
 * Blake_Lively.jpg turned by 150 and 180 degrees, the group photo by 150, by 180 and by 180 and
 * mirrored, and 00.jpg by 180: every face came out upright, as before.
 */
import type { RgbImage } from '../engine/core.js';
import { type RawDetection, type TileRunner, iou } from './blazeface.js';
import { fromTurned, turnedTile } from './turned-photos.js';
import { bestOf, viewOf, viewToPhoto } from './verify.js';

/**
 * Faces the detector scored at this or above are taken as they are. On the whole photos of
 * `../shared/data/whole-photos` turned by 180 degrees, the upside-down faces the detector placed
 * as upright faces scored 0.71-0.86, while those it scored 0.90 and 0.95 had their keypoints
 * right already (mouth above the eyes). Clear, large upright faces score above it and cost no
 * look; small and degraded ones mostly score below (51 of 55 faces of a 60-face collage: the
 * looks, one face at a time, added about 15 % to its detection time, 0.5 of 3.1-3.5 s, when the
 * front graph looked at one size; it now looks at two, and the back graph's look, four times
 * the cost of one front view, still comes only after them).
 */
export const ORIENTATION_CHECK_BELOW = 0.9;

/** How much higher both graphs must score the turned view to call a face upside down. */
export const UPSIDE_DOWN_MARGIN = 0.1;

/**
 * A front-camera margin this large calls a face upside down when the back-camera graph merely
 * agrees (scores the turned view at least as high). A review found upside-down faces the
 * back-camera graph favoured by less than UPSIDE_DOWN_MARGIN (Blake_Lively.jpg turned by 150
 * degrees: +0.36 and +0.09; the group photo turned and mirrored: +0.22 and +0.04), while no
 * upright face of the photos measured had a front-camera margin above +0.04. Those margins were
 * measured at 48 px, before the front graph's mean over two sizes (FRONT_VIEW_FACES).
 */
export const STRONG_FRONT_MARGIN = 0.2;

/**
 * Back-camera score of the turned view that calls a face upside down when the front graph's two
 * sizes disagree: one favours the turned view by UPSIDE_DOWN_MARGIN, the other the face as it is,
 * as much or more (a mean margin of 0 or less; see uprightFace). On the eval's `train/` scenes at
 * the usual ±25 degrees (240 faces, seed 0, `--first` 100-172), two severely degraded upright
 * faces were turned on such evidence (mean front margins -0.06 and -0.02, the back graph seeing
 * nothing as they are and the turned view faintly, 0.42 and 0.36). At any roll (seeds 1, 2 and
 * 7), no upside-down face that the check turned had a mean front margin under +0.06.
 */
export const SURE_TURNED_SCORE = 0.6;

/** Face side in the back-camera graph's view (px), where it scored faces best in the measurements above. */
const BACK_VIEW_FACE = 80;

/**
 * Face sides in the front-camera graph's views (px). A face goes on to the back-camera graph
 * when the front graph favours its turned view by UPSIDE_DOWN_MARGIN at either size; the strong
 * rule (STRONG_FRONT_MARGIN) takes the mean of the two. A view without a detection scores 0.
 *
 * At 48 alone a small degraded face upside down slipped through: the group of six at 320 px, JPEG
 * 30, turned 180 degrees, showed one face, 27 px, that the front graph favoured turned by +0.08
 * at 48 px (+0.17 at 32; the back graph by +0.75), so it was read upright, the photo was not
 * turned, and 5 of its 6 faces were missed. The same copy saved again as JPEG 95 read +0.14 at
 * 32 and -0.02 at 48 (the back graph +0.78): the mean of the two missed it, either size does
 * not. At 32 px the six faces of the same copy upright read -0.14 to -0.80 (the last: nothing
 * found turned).
 */
const FRONT_VIEW_FACES = [32, 48] as const;

/** Lowest detector score a look counts. */
const LOOK_THRESHOLD = 0.3;

/** Lowest overlap (IoU) between a look's detection and the face's box. */
const SAME_FACE_IOU = 0.3;

/** The NHWC tile turned by 180 degrees (pixel order reversed). */
export function turnTile(tile: Float32Array, size: number): Float32Array {
  return turnedTile(tile, size, 2);
}

/** A detection on a turned `size` tile, in the unturned tile's pixels (keypoints in their order). */
export function unturn(d: RawDetection, size: number): RawDetection {
  return fromTurned(d, 2, size, size);
}

/** One graph's best detection of `face` in its view, as it is and turned; photo pixels. */
async function lookBothWays(
  model: TileRunner,
  photo: RgbImage,
  face: RawDetection,
  target: number,
): Promise<{ upright: RawDetection | null; turned: RawDetection | null }> {
  const view = await viewOf(model, photo, face, target);
  const { tensor, size } = view;
  const toPhoto = (d: RawDetection): RawDetection => viewToPhoto(d, view);
  const best = (found: RawDetection[]): RawDetection | null =>
    bestOf(found.filter((d) => iou(d.box, face.box) >= SAME_FACE_IOU));
  const upright = best((await model.run(tensor, LOOK_THRESHOLD)).map(toPhoto));
  const turned = best(
    (await model.run(turnTile(tensor, size), LOOK_THRESHOLD)).map((d) => toPhoto(unturn(d, size))),
  );
  return { upright, turned };
}

/**
 * The face as detected, or, when it is upside down (see the module comment), its detection from
 * the view turned by 180 degrees, turned back (keypoints in the face's own order).
 *
 * @param back - the back-camera graph (the detector's).
 * @param front - the front-camera graph.
 * @example
 * ```ts
 * const faces = await Promise.all(detected.map((face) => uprightFace(back, front, photo, face)));
 * ```
 */
export async function uprightFace(
  back: TileRunner,
  front: TileRunner,
  photo: RgbImage,
  face: RawDetection,
): Promise<RawDetection> {
  if (face.score >= ORIENTATION_CHECK_BELOW) return face;
  const margin = ({ upright, turned }: { upright: RawDetection | null; turned: RawDetection | null }) =>
    turned === null ? -Infinity : turned.score - (upright?.score ?? 0);
  // The front-camera graph first: its 128 px view costs a quarter of the back-camera graph's
  // 256 px one, and it settles almost every upright face on its own.
  // The looks one after the other: the faces of a photo are checked side by side already.
  let frontMargin = 0;
  let frontBest = -Infinity;
  for (const side of FRONT_VIEW_FACES) {
    const { upright, turned } = await lookBothWays(front, photo, face, side);
    const sizeMargin = (turned?.score ?? 0) - (upright?.score ?? 0);
    frontMargin += sizeMargin / FRONT_VIEW_FACES.length;
    frontBest = Math.max(frontBest, sizeMargin);
  }
  if (frontBest < UPSIDE_DOWN_MARGIN) return face;
  const backLook = await lookBothWays(back, photo, face, BACK_VIEW_FACE);
  const backMargin = margin(backLook);
  // Front sizes that disagree are weak evidence: the back graph must then be sure.
  const frontSizesAgree = frontMargin > 0;
  const backSure = (backLook.turned?.score ?? 0) >= SURE_TURNED_SCORE;
  const upsideDown =
    (frontSizesAgree || backSure) &&
    (backMargin >= UPSIDE_DOWN_MARGIN || (frontMargin >= STRONG_FRONT_MARGIN && backMargin >= 0));
  if (!upsideDown) return face;
  const turned = backLook.turned!;
  return { ...turned, score: Math.max(face.score, turned.score) };
}
