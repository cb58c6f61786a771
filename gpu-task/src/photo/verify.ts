/**
 * The second stage of the detector's cascade: a low-score candidate (a degraded face, or a
 * face-like patch of hair or texture) becomes a face only if the detector, shown the candidate
 * again centred and at the sizes it finds faces best, sees a face in the same place with
 * plausible landmarks that agree: with the candidate's own, or between several looks.
 *
 * **Why.** Degraded 45-100 px faces of small photos score 0.3-0.7 at the level holding the whole
 * photo, where a lower threshold alone also lets in faces in hair (see detect.ts). Several looks
 * at different scales and offsets rarely all see a face in a false patch, while a real face,
 * however degraded, scores higher when it is centred at a size the back-camera model prefers
 * (small: 16-28 px for severely degraded faces). Two more kinds of look add votes whose errors
 * are partly their own: the same view mirrored, and MediaPipe's front-camera (short-range)
 * graph, which expects a face filling a good part of its 128 px view (FRONT_FACE_SIDES).
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import { BLAZEFACE_INPUT, type RawDetection, type TileRunner, iou } from './blazeface.js';

/**
 * Lowest score of the first look at which a detection is kept as a candidate. Severe train/
 * faces that the second looks confirm at 0.75-0.8 scored 0.39 in the first look.
 */
export const CANDIDATE_THRESHOLD = 0.3;

/**
 * Lowest first-look score of a candidate whose landmarks are not a face's: below it such
 * candidates are mostly patches of clothing, hair or texture (on the group photo of
 * `../shared/data/whole-photos`, 0.2-0.3), and each would cost all the second looks.
 */
export const UNTRUSTED_CANDIDATE_THRESHOLD = 0.4;

/**
 * Face box sides (detector pixels) at which a candidate is looked at again, smallest first.
 * Degraded 40-90 px faces score best seen small: on the eval's severe train/ scenes many score
 * 0.7-0.85 at 16-28 px and under 0.7 at 32, 48 and 80 (the back-camera model is trained on faces
 * small in its view, and shrinking averages noise and JPEG blocks away). 64 and 112 confirmed a
 * face in the hair of a large face (the min-face photo test) and are not used.
 */
export const VERIFY_FACE_SIDES = [16, 20, 24, 28, 32, 48, 80] as const;

/**
 * Face box sides (pixels of the 128 x 128 input) at which the front-camera graph looks at a
 * candidate: the short-range model expects a face that fills a good part of its view. Each of
 * its sizes votes like a back-camera size (see consensus). On severe `train/` scenes it confirms faces whose
 * back-camera looks agree at one size only (0.64-0.85 at several sizes; docs/eval/README.md has
 * the recall). It also sees faces in a portrait's hair, so detect.ts does not ask it on the head
 * of a larger face (withinHeadOf).
 */
export const FRONT_FACE_SIDES = [24, 32, 40, 48, 64] as const;

/**
 * Largest face side (back-camera detector pixels) of the second looks that count towards a
 * consensus (the front-camera graph's looks vote at all of FRONT_FACE_SIDES).
 */
export const CONSENSUS_MAX_SIDE = 32;

/** Score at which a second look counts towards a consensus (see verifyCandidate). */
export const CONSENSUS_SCORE = 0.6;

/**
 * Views of agreeing unmirrored second looks at CONSENSUS_SCORE or more that confirm a candidate
 * (one more look when mirrored looks count; see consensus). On face-free windows of
 * the no-face and group photos of `../shared/data/whole-photos` and of degraded copies of them
 * (2590 windows with face-like landmarks), the second-best plain look scored 0.29 at most
 * (measured before the other looks existed; the no-face test in test/photo/cascade.test.ts
 * checks them all); degraded train/ faces that one look misses score 0.6-0.7 at two or more.
 */
export const CONSENSUS_LOOKS = 2;

/** Most candidates verified per photo (best first): bounds the cost on busy photos. */
export const MAX_CANDIDATES = 12;

/** Smallest IoU between the candidate and the second look's detection. */
const VERIFY_IOU = 0.5;

/** Largest distance between the two looks' eye and mouth keypoints, in eye distances. */
const LANDMARK_TOLERANCE = 0.35;

/**
 * Whether a detection's keypoints are those of an upright-ish frontal or three-quarter face: in
 * the frame whose x axis runs from one eye to the other, the nose and mouth lie below the eyes,
 * the mouth below the nose, both between the eyes' columns (with slack for turned heads), and
 * the eye distance is a plausible share of the box width.
 *
 * @example
 * ```ts
 * plausibleLandmarks(detection); // false for a "face" with its mouth above its eyes
 * ```
 */
export function plausibleLandmarks(d: RawDetection): boolean {
  const [left, right, nose, mouth] = d.keypoints;
  if (!left || !right || !nose || !mouth) return false;
  const ex = right[0] - left[0];
  const ey = right[1] - left[1];
  const eyes = Math.hypot(ex, ey);
  const width = d.box[2];
  if (!(eyes > 0.2 * width && eyes < 0.7 * width)) return false;
  // Unit axes of the face frame: u along the eyes, v down the face.
  const ux = ex / eyes;
  const uy = ey / eyes;
  const mid = [(left[0] + right[0]) / 2, (left[1] + right[1]) / 2] as const;
  const frame = ([x, y]: [number, number]): [number, number] => {
    const dx = x - mid[0];
    const dy = y - mid[1];
    return [(dx * ux + dy * uy) / eyes, (-dx * uy + dy * ux) / eyes];
  };
  const [noseU, noseV] = frame(nose);
  const [mouthU, mouthV] = frame(mouth);
  return (
    Math.abs(Math.atan2(uy, ux)) < (50 * Math.PI) / 180 &&
    noseV > 0.15 &&
    noseV < 1.2 &&
    mouthV > noseV + 0.1 &&
    mouthV < 1.8 &&
    Math.abs(noseU) < 0.45 &&
    Math.abs(mouthU) < 0.45
  );
}

/** The tile mirrored left-right (NHWC, `size` square). */
export function mirrorTile(tile: Float32Array, size = BLAZEFACE_INPUT): Float32Array {
  const out = new Float32Array(tile.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = (y * size + x) * 3;
      const t = (y * size + size - 1 - x) * 3;
      out[t] = tile[s]!;
      out[t + 1] = tile[s + 1]!;
      out[t + 2] = tile[s + 2]!;
    }
  }
  return out;
}

/**
 * A detection on a mirrored `size`-square tile, in the unmirrored tile's pixels, eyes and ears
 * swapped back.
 */
export function unmirror(d: RawDetection, size = BLAZEFACE_INPUT): RawDetection {
  const k = d.keypoints.map(([x, y]): [number, number] => [size - x, y]);
  const order = [1, 0, 2, 3, 5, 4];
  return {
    box: [size - d.box[0] - d.box[2], d.box[1], d.box[2], d.box[3]],
    score: d.score,
    keypoints: order.map((i) => k[i]!),
  };
}

/** Whether two detections of one face agree on where its eyes and mouth are. */
function sameLandmarks(a: RawDetection, b: RawDetection): boolean {
  const eyes = Math.hypot(a.keypoints[1]![0] - a.keypoints[0]![0], a.keypoints[1]![1] - a.keypoints[0]![1]);
  return [0, 1, 3].every((k) => {
    const [ax, ay] = a.keypoints[k]!;
    const [bx, by] = b.keypoints[k]!;
    return Math.hypot(ax - bx, ay - by) <= LANDMARK_TOLERANCE * eyes;
  });
}

/**
 * The `size` x `size` tile (NHWC, [-1, 1]) of `photo` scaled by `scale` with the photo point
 * (cx, cy) at its centre, mid-grey outside the photo; and the photo point at its top-left.
 */
async function centredTile(
  photo: RgbImage,
  cx: number,
  cy: number,
  scale: number,
  size = BLAZEFACE_INPUT,
): Promise<{ tensor: Float32Array; left: number; top: number }> {
  const half = size / 2 / scale;
  const left = cx - half;
  const top = cy - half;
  // The part of the photo the tile shows, in whole photo pixels.
  const x0 = Math.max(0, Math.floor(left));
  const y0 = Math.max(0, Math.floor(top));
  const x1 = Math.min(photo.width, Math.ceil(cx + half));
  const y1 = Math.min(photo.height, Math.ceil(cy + half));
  const tensor = new Float32Array(size * size * 3);
  if (x1 - x0 < 2 || y1 - y0 < 2) return { tensor, left, top };
  const width = Math.max(1, Math.round((x1 - x0) * scale));
  const height = Math.max(1, Math.round((y1 - y0) * scale));
  const { data } = await sharp(photo.data, {
    raw: { width: photo.width, height: photo.height, channels: 3 },
    limitInputPixels: false,
  })
    .extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const offsetX = Math.round((x0 - left) * scale);
  const offsetY = Math.round((y0 - top) * scale);
  for (let y = 0; y < height; y++) {
    const ty = offsetY + y;
    if (ty < 0 || ty >= size) continue;
    for (let x = 0; x < width; x++) {
      const tx = offsetX + x;
      if (tx < 0 || tx >= size) continue;
      const s = (y * width + x) * 3;
      const t = (ty * size + tx) * 3;
      for (let c = 0; c < 3; c++) tensor[t + c] = data[s + c]! / 127.5 - 1;
    }
  }
  // The tile's top-left in photo pixels, from the rounded placement actually used.
  return { tensor, left: x0 - offsetX / scale, top: y0 - offsetY / scale };
}

/** One second look's best detection on the candidate, in photo pixels. */
export interface Look {
  seen: RawDetection;
  /**
   * What it looked at: the face side in the back-camera graph's view ("16" ... "32"; a view and
   * its mirror share one), or the front-camera graph's ("front 24" ... "front 64").
   */
  view: string;
  /** plain: the back-camera graph on the view; mirrored: on the view mirrored; front: the other graph. */
  kind: 'plain' | 'mirrored' | 'front';
}

/**
 * Whether looks confirm a candidate, and with which detection (the best of the largest
 * confirming group, or null). A group is the looks that agree with one of them (box IoU and
 * landmarks; a look agrees with itself). It confirms with unmirrored looks (either graph's) of
 * CONSENSUS_LOOKS views, as the back-camera graph's plain looks did alone; or, counting mirrored
 * looks, with CONSENSUS_LOOKS + 1 looks of at least CONSENSUS_LOOKS views. A mirrored look needs
 * one vote more because a view and its mirror see the same pixels through the same graph (in the
 * min-face photo test a look at 24 px and a mirrored one at 28 px agreed on a portrait's hair).
 * The front-camera graph's sizes count as views of their own, as the back-camera graph's do:
 * asking it for one vote more too (3 looks) kept 1 fewer face on the tuning scenes and 3 fewer
 * held out (docs/eval/README.md), with no false face to show for it on any scene or photo.
 * With `backLookNeeded`, the group must also hold a back-camera look (plain or mirrored): the
 * front-camera graph's neighbouring sizes alone do not confirm (verifyCandidate's `strict`).
 *
 * @example
 * ```ts
 * consensus([plain16, plain24]); // plain16's or plain24's detection, when they agree
 * consensus([plain24, mirrored28]); // null: two looks, one of them mirrored
 * consensus([front24, front32], { backLookNeeded: true }); // null: no back-camera look
 * ```
 */
export function consensus(
  looks: readonly Look[],
  { backLookNeeded = false }: { backLookNeeded?: boolean } = {},
): RawDetection | null {
  const views = (members: readonly Look[]): number => new Set(members.map((look) => look.view)).size;
  let confirming: Look[] = [];
  for (const anchor of looks) {
    const group = looks.filter(
      (look) =>
        look === anchor ||
        (iou(anchor.seen.box, look.seen.box) >= VERIFY_IOU && sameLandmarks(anchor.seen, look.seen)),
    );
    const confirms =
      (!backLookNeeded || group.some((look) => look.kind !== 'front')) &&
      (views(group.filter((look) => look.kind !== 'mirrored')) >= CONSENSUS_LOOKS ||
        (group.length >= CONSENSUS_LOOKS + 1 && views(group) >= CONSENSUS_LOOKS));
    if (confirms && group.length > confirming.length) confirming = group;
  }
  if (confirming.length === 0) return null;
  return confirming.reduce((a, b) => (b.seen.score > a.seen.score ? b : a)).seen;
}

/** The candidate centred in one of `model`'s input tiles, its box `target` px there. */
export interface CandidateView {
  tensor: Float32Array;
  /** Tile pixels per photo pixel, and the photo point at the tile's top-left. */
  scale: number;
  left: number;
  top: number;
  /** The tile's side (the model's input side). */
  size: number;
}

/** The view of `candidate` that `model` is shown with its box `target` px in the tile. */
export async function viewOf(
  model: TileRunner,
  photo: RgbImage,
  candidate: RawDetection,
  target: number,
): Promise<CandidateView> {
  const [bx, by, bw, bh] = candidate.box;
  const scale = target / Math.max(bw, bh);
  const size = model.inputSize;
  const { tensor, left, top } = await centredTile(photo, bx + bw / 2, by + bh / 2, scale, size);
  return { tensor, scale, left, top, size };
}

/**
 * `model` run on `view` (mirrored left-right when asked): every detection on the candidate's box
 * with plausible landmarks, in photo pixels.
 */
async function lookAt(
  model: TileRunner,
  view: CandidateView,
  candidate: RawDetection,
  threshold: number,
  mirrored = false,
): Promise<RawDetection[]> {
  const { tensor, size } = view;
  const found = await model.run(mirrored ? mirrorTile(tensor, size) : tensor, threshold);
  const seen: RawDetection[] = [];
  for (const raw of found) {
    const inPhoto = viewToPhoto(mirrored ? unmirror(raw, size) : raw, view);
    if (iou(inPhoto.box, candidate.box) >= VERIFY_IOU && plausibleLandmarks(inPhoto)) seen.push(inPhoto);
  }
  return seen;
}

/** A detection in a view's tile pixels, in photo pixels. */
export function viewToPhoto(
  d: RawDetection,
  view: Pick<CandidateView, 'scale' | 'left' | 'top'>,
): RawDetection {
  const { scale, left, top } = view;
  return {
    box: [d.box[0] / scale + left, d.box[1] / scale + top, d.box[2] / scale, d.box[3] / scale],
    score: d.score,
    keypoints: d.keypoints.map(([x, y]): [number, number] => [x / scale + left, y / scale + top]),
  };
}

/** The highest-scoring detection, or null. */
export function bestOf(detections: readonly RawDetection[]): RawDetection | null {
  return detections.reduce<RawDetection | null>((a, b) => (a && a.score >= b.score ? a : b), null);
}

/**
 * Look at a candidate again (see the module comment). Returns the second look's confirming
 * detection in photo pixels, or null when the candidate is not confirmed.
 *
 * The candidate is shown centred to the back-camera graph `model` at each of VERIFY_FACE_SIDES;
 * a look counts when it sees a face with plausible landmarks on the candidate's box. Confirmed
 * by:
 * - one look at `threshold` whose landmarks agree with the candidate's, when those are a
 *   face's and `strict` is not set; or
 * - a consensus of looks at CONSENSUS_SCORE (or `threshold`, if lower) or more whose boxes and
 *   landmarks agree with each other, whatever the candidate's landmarks (see consensus): a
 *   severely degraded face scores 0.6-0.7 at several sizes, and the first look often misplaces
 *   its mouth or an eye; a face-like patch of texture rarely scores that at two sizes in the
 *   same place. Voting looks are the back-camera graph's up to CONSENSUS_MAX_SIDE; with
 *   `mirrored` (default true) each of them also on its view mirrored left-right; with `front`
 *   (the front-camera graph) its looks at FRONT_FACE_SIDES.
 *
 * `strict` is for candidates of the detector's tiled levels (detect.ts), where many more
 * windows are searched: only a consensus confirms them, and one with a look of the back-camera
 * graph (see consensus). On a severely degraded 2.5 MP photo of a child (00.jpg of
 * `../shared/data/whole-photos`), patches of the jacket drew one confident look agreeing with
 * the candidate, or two agreeing front-camera looks (0.60-0.69) and no back-camera one; every
 * degraded face confirmed this way on the scenes and photos tried had both graphs' looks.
 *
 * @example
 * ```ts
 * const face = await verifyCandidate(model, photo, candidate, 0.7);
 * const more = await verifyCandidate(model, photo, candidate, 0.7, { front: frontModel });
 * const tiled = await verifyCandidate(model, photo, candidate, 0.7, { front: frontModel, strict: true });
 * ```
 */
export async function verifyCandidate(
  model: TileRunner,
  photo: RgbImage,
  candidate: RawDetection,
  threshold: number,
  {
    mirrored = true,
    front,
    strict = false,
  }: { mirrored?: boolean; front?: TileRunner; strict?: boolean } = {},
): Promise<RawDetection | null> {
  const trusted = plausibleLandmarks(candidate);
  if (!trusted && candidate.score < UNTRUSTED_CANDIDATE_THRESHOLD) return null;
  const floor = Math.min(threshold, CONSENSUS_SCORE);
  const looks: Look[] = [];
  const add = (seen: RawDetection | null, view: string, kind: Look['kind']): void => {
    if (seen) looks.push({ seen, view, kind });
  };
  // One look agreeing with the candidate's own landmarks confirms it (not asked of candidates
  // whose landmarks are no face's, or of those that need a consensus).
  const oneLookConfirms = trusted && !strict;
  // Only the small looks vote: degraded faces score best there, while at 48-80 px a face in the
  // hair of a large face (the min-face photo test) scored 0.61-0.63 at two sizes. A larger look
  // is taken only when it alone could confirm.
  const targets = VERIFY_FACE_SIDES.filter((target) => oneLookConfirms || target <= CONSENSUS_MAX_SIDE);
  // The looks are asked all at once (the detector's threads share them; one after the other they
  // kept one thread busy and the other idle: 130-200 ms per candidate on a 12 MP photo) and read
  // in the order below, so the answer is the one-at-a-time loop's. Only where one look may settle
  // the candidate early are the back-camera sizes asked one after the other, as each may end it.
  const backLooks = (target: number): Promise<[RawDetection[], RawDetection[] | null]> => {
    const looked = viewOf(model, photo, candidate, target).then((view) =>
      Promise.all([
        lookAt(model, view, candidate, floor),
        // The detector's anchors and filters are not symmetric: a degraded face scoring 0.5-0.6
        // one way often scores 0.6-0.75 the other. Only the voting sizes are looked at mirrored.
        mirrored && target <= CONSENSUS_MAX_SIDE ? lookAt(model, view, candidate, floor, true) : null,
      ]),
    );
    looked.catch(() => undefined);
    return looked;
  };
  // A second model, whose errors are partly its own (see FRONT_FACE_SIDES).
  const frontLooks = (): Promise<RawDetection[][]> =>
    Promise.all(
      (front ? FRONT_FACE_SIDES : []).map((target) =>
        viewOf(front!, photo, candidate, target).then((view) => lookAt(front!, view, candidate, floor)),
      ),
    );
  const asked = oneLookConfirms ? null : { back: targets.map(backLooks), front: frontLooks() };
  asked?.front.catch(() => undefined);
  for (const [index, target] of targets.entries()) {
    const [seen, seenMirrored] = await (asked ? asked.back[index]! : backLooks(target));
    const agreeing = oneLookConfirms
      ? bestOf(seen.filter((d) => d.score >= threshold && sameLandmarks(candidate, d)))
      : null;
    if (agreeing) return { ...agreeing, score: Math.max(candidate.score, agreeing.score) };
    if (target > CONSENSUS_MAX_SIDE) continue;
    add(bestOf(seen), String(target), 'plain');
    if (seenMirrored) add(bestOf(seenMirrored), String(target), 'mirrored');
  }
  for (const [index, seen] of (await (asked ? asked.front : frontLooks())).entries()) {
    add(bestOf(seen), `front ${FRONT_FACE_SIDES[index]!}`, 'front');
  }
  const best = consensus(looks, { backLookNeeded: strict });
  return best ? { ...best, score: Math.max(candidate.score, best.score) } : null;
}
