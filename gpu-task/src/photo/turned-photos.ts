/**
 * Photos lying on their side or upside down. A photo whose EXIF orientation was lost (stripped
 * by an app or an editor, or a scan fed in sideways) shows every face turned by a quarter or a
 * half turn. BlazeFace is trained on upright faces: it still finds the clearest of them, turned,
 * and misses the rest (the group of six in `../shared/data/whole-photos`, turned by 180 degrees:
 * 2 found; by 270: 3).
 *
 * The faces it does find say that the photo lies turned: half or more of them roll by a quarter
 * turn or more (facesLean). Their keypoints do not say reliably which way (on a face lying on
 * its side BlazeFace often places them as on an upright face, at 60 degrees off), so each of
 * those faces is shown to the detector in its four turns and the turn it scores best wins
 * (turnToStandUp). The photo is then searched again turned that way (turnedPhoto), and the faces
 * found there are brought back to the photo's pixels (fromTurned). An upright photo, whose faces
 * roll within about 45 degrees, costs nothing more.
 */
import type { RgbImage } from '../engine/core.js';
import { type RawDetection, type TileRunner, iou } from './blazeface.js';
import { plausibleLandmarks, viewOf } from './verify.js';

/** Clockwise quarter turns: 0 (as it is), 1 (90 degrees), 2 (180), 3 (270). */
export type QuarterTurns = 0 | 1 | 2 | 3;

/** A face's roll: the direction from its first listed eye to its second, in image coordinates (radians). */
function roll(face: Pick<RawDetection, 'keypoints'>): number {
  const [first, second] = face.keypoints;
  if (!first || !second) return 0;
  return Math.atan2(second[1] - first[1], second[0] - first[0]);
}

/**
 * How far a face leans from upright in the view it was found in (radians, 0 to pi): its roll's
 * size. Of two detections of one face, one on the photo as it lies and one on the photo turned,
 * the one that saw it nearer upright has the keypoints to trust (BlazeFace is trained upright).
 */
export function tiltOf(face: Pick<RawDetection, 'keypoints'>): number {
  return Math.abs(roll(face));
}

/**
 * Whether at least half of the faces found lean by a quarter turn or more (roll over 45 degrees
 * either way): the sign that the photo may lie on its side or upside down, which the looks of
 * turnToStandUp then settle. Keypoints list the face's own first eye first (orientation.ts lists
 * an upside-down face's so), so an upside-down face rolls by about 180 degrees.
 *
 * Half, not most: in a small degraded photo turned, the detector often finds two faces, one
 * read right (leaning) and one placed as an upright face, or a false face. Asking for most left
 * such photos unturned (the group of six at 400 px, JPEG 60, upside down: 1 of 6 found). On
 * `train/` scenes of faces rolled at random (`scripts/detect-recall.ts --max-angle 180`, seeds 7,
 * 1, 2), with orientation.ts' front look at 32 px of the same day: 56 / 56 / 50 found with that
 * look alone, 60 / 59 / 51 with half, no extra face; at ±25 and ±45 degrees nothing changed
 * (docs/eval/README.md).
 *
 * @example
 * ```ts
 * facesLean([faceWithEyesRunningDown]); // true
 * facesLean([faceWithEyesRunningDown, faceStandingUp]); // true: the looks decide
 * ```
 */
export function facesLean(faces: readonly Pick<RawDetection, 'keypoints'>[]): boolean {
  const leaning = faces.filter((face) => tiltOf(face) > Math.PI / 4).length;
  return leaning > 0 && leaning * 2 >= faces.length;
}

/** Faces shown in their four turns to choose the photo's (the best-scoring first). */
export const TURN_LOOK_FACES = 4;

/**
 * Face sides (px) in the back-camera graph's view for those looks: each face is looked at at
 * both, and its scores summed. At 80 alone (orientation.ts' size) a small degraded face lying on
 * its side drew upright-looking detections as it lay: the group of six of
 * `../shared/data/whole-photos` at 240-400 px wide, turned 270 degrees, showed one face, which
 * scored best unturned, so the photo was not searched standing (5 of 6 faces missed). At 48 px
 * the small faces read right, but a few larger ones did not; the two together chose the turn
 * right for 446 of 447 copies (the five photos with upright faces at 240-640 px, JPEG 30-60, in
 * four turns; docs/eval/README.md).
 */
export const TURN_LOOK_FACE_SIDES = [48, 80] as const;

/**
 * The pixels (3 channels) of a `width` x `height` image turned clockwise by `turns` quarter
 * turns, written into `out` (the turned image is `height` x `width` for an odd number of turns).
 */
function turnPixels<T extends Uint8Array | Float32Array>(
  data: T,
  width: number,
  height: number,
  turns: 1 | 2 | 3,
  out: T,
): T {
  const outWidth = turns === 2 ? width : height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Where pixel (x, y) lands (pixel indices; no array per pixel: a 12 MP photo has 12 M).
      const u = turns === 1 ? height - 1 - y : turns === 2 ? width - 1 - x : y;
      const v = turns === 1 ? x : turns === 2 ? height - 1 - y : width - 1 - x;
      const s = (y * width + x) * 3;
      const t = (v * outWidth + u) * 3;
      out[t] = data[s]!;
      out[t + 1] = data[s + 1]!;
      out[t + 2] = data[s + 2]!;
    }
  }
  return out;
}

/** The NHWC `size` square tile turned clockwise by `turns` quarter turns. */
export function turnedTile(tile: Float32Array, size: number, turns: QuarterTurns): Float32Array {
  return turns === 0 ? tile : turnPixels(tile, size, size, turns, new Float32Array(tile.length));
}

/**
 * How well the best TURN_LOOK_FACES faces read in each of the photo's four quarter turns, each
 * face shown to `model` centred at `side` px of the view: per turn (0-3), the sum over the faces
 * of the best score near the view's centre among detections with an upright face's keypoints.
 *
 * @example
 * ```ts
 * const [asItLies, quarter, half, threeQuarters] = await turnLookTotals(backGraph, photo, faces, 48);
 * ```
 */
export async function turnLookTotals(
  model: TileRunner,
  photo: RgbImage,
  faces: readonly RawDetection[],
  side: number,
): Promise<[number, number, number, number]> {
  const best = [...faces].sort((a, b) => b.score - a.score).slice(0, TURN_LOOK_FACES);
  const quarterTurns = [0, 1, 2, 3] as const;
  // Every look at once: the detector's threads run them side by side.
  const scores = await Promise.all(
    best.map(async (face) => {
      const view = await viewOf(model, photo, face, side);
      const centre = view.size / 2;
      return Promise.all(
        quarterTurns.map(async (turns) => {
          const found = await model.run(turnedTile(view.tensor, view.size, turns), 0.3);
          // A face on its side still draws detections, with keypoints as no upright face has
          // them (rolled 60 degrees or more): only an upright-looking face counts.
          const near = found.filter(
            (d) =>
              plausibleLandmarks(d) &&
              Math.hypot(d.box[0] + d.box[2] / 2 - centre, d.box[1] + d.box[3] / 2 - centre) < side / 2,
          );
          return near.reduce((top, d) => Math.max(top, d.score), 0);
        }),
      );
    }),
  );
  const total = (turns: QuarterTurns) => scores.reduce((sum, perFace) => sum + perFace[turns]!, 0);
  return [total(0), total(1), total(2), total(3)];
}

/**
 * The clockwise quarter turns of the photo under which its faces stand upright: the turn whose
 * looks (turnLookTotals) score highest, summed over the sizes TURN_LOOK_FACE_SIDES. 0 when the
 * photo stands as it is.
 *
 * @example
 * ```ts
 * const turns = await turnToStandUp(backGraph, photo, faces); // 1 for a photo lying a quarter turn counter-clockwise
 * ```
 */
export async function turnToStandUp(
  model: TileRunner,
  photo: RgbImage,
  faces: readonly RawDetection[],
): Promise<QuarterTurns> {
  const perSide = await Promise.all(
    TURN_LOOK_FACE_SIDES.map((side) => turnLookTotals(model, photo, faces, side)),
  );
  const totals = [0, 1, 2, 3].map((turns) => perSide.reduce((sum, side) => sum + side[turns]!, 0));
  return totals.indexOf(Math.max(...totals)) as QuarterTurns;
}

/**
 * The photo turned clockwise by `turns` quarter turns (a new image; the photo itself unless
 * `turns` is 0).
 *
 * @example
 * ```ts
 * const standing = turnedPhoto(photo, 1); // height x width
 * ```
 */
export function turnedPhoto(photo: RgbImage, turns: QuarterTurns): RgbImage {
  if (turns === 0) return photo;
  const { width, height, data } = photo;
  return {
    data: turnPixels(data, width, height, turns, new Uint8Array(data.length)),
    width: turns === 2 ? width : height,
    height: turns === 2 ? height : width,
  };
}

/**
 * A point of the photo turned by `turns` (continuous coordinates, pixel corners at whole
 * numbers), in the pixels of the photo as it was (`width` x `height`).
 */
function pointFromTurned(
  [u, v]: [number, number],
  turns: QuarterTurns,
  width: number,
  height: number,
): [number, number] {
  if (turns === 1) return [v, height - u];
  if (turns === 2) return [width - u, height - v];
  if (turns === 3) return [width - v, u];
  return [u, v];
}

/**
 * A detection on the photo turned by `turns`, in the pixels of the photo as it was (`width` x
 * `height`): its keypoints moved point by point, in the face's own order, its box the turned
 * box's (still axis-aligned under a quarter turn).
 *
 * @example
 * ```ts
 * const face = fromTurned(detectionOnStanding, 1, photo.width, photo.height);
 * ```
 */
export function fromTurned(
  d: RawDetection,
  turns: QuarterTurns,
  width: number,
  height: number,
): RawDetection {
  const [x, y, w, h] = d.box;
  const a = pointFromTurned([x, y], turns, width, height);
  const b = pointFromTurned([x + w, y + h], turns, width, height);
  return {
    box: [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])],
    score: d.score,
    keypoints: d.keypoints.map((p) => pointFromTurned(p, turns, width, height)),
  };
}

/** A detection and how far it leans in the view it was found in (tiltOf). */
export interface TiltedFace<T extends RawDetection = RawDetection> {
  face: T;
  tilt: number;
}

/** IoU at or above which two passes' boxes are one face (the pyramid's NMS merges at 0.3 too). */
const SAME_FACE_IOU = 0.3;

/**
 * The faces of the photo as it lies and of its search turned upright (in the photo's pixels),
 * merged: a face found by both keeps the detection that saw it nearer upright, a face found by
 * one is kept as found. Faces of the same pass are never weighed against each other (each
 * pass has merged its own already), so a small face beside or over a larger one stays.
 *
 * @example
 * ```ts
 * mergeTurnedSearch([{ face: sideways, tilt: 1.2 }], [{ face: standing, tilt: 0.1 }]); // [standing]
 * ```
 */
export function mergeTurnedSearch<T extends RawDetection>(
  asItLies: readonly TiltedFace<T>[],
  standing: readonly TiltedFace<T>[],
): T[] {
  const matched = new Set<number>();
  const merged: T[] = [];
  for (const found of standing) {
    // The as-it-lies face this one overlaps most, if it is the same face.
    let same = -1;
    let best = SAME_FACE_IOU;
    for (const [i, other] of asItLies.entries()) {
      const overlap = iou(other.face.box, found.face.box);
      if (!matched.has(i) && overlap >= best) {
        same = i;
        best = overlap;
      }
    }
    if (same < 0) {
      merged.push(found.face);
      continue;
    }
    matched.add(same);
    const lying = asItLies[same]!;
    merged.push(lying.tilt < found.tilt ? lying.face : found.face);
  }
  for (const [i, lying] of asItLies.entries()) if (!matched.has(i)) merged.push(lying.face);
  return merged;
}
