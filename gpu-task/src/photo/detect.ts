/**
 * Finding every face of a photo with BlazeFace: an image pyramid of downscaled copies, each cut
 * into overlapping 256 x 256 tiles, the detections of all tiles merged by weighted NMS.
 *
 * **Why a pyramid.** BlazeFace sees a 256 px input. Run once on a whole 12 MP photo, a face of
 * 100 px becomes 6 px and is lost. The model reliably finds faces whose box is about
 * `MIN_DETECTOR_FACE` px or more in its input and up to most of the input, a range of about 12x.
 * The levels therefore run from the whole photo in one tile (large faces) down to the scale
 * at which the smallest wanted face is `MIN_DETECTOR_FACE` px, about `LEVEL_STEP` times finer
 * each (evenly spaced, see planPyramid). At each fine level only faces too small for the next
 * coarser level are kept, and tiles overlap by more than such a face, so every face lies whole
 * in some tile. Faces that fill the photo are found in small whole-photo views (see
 * WHOLE_PHOTO_VIEWS). Detections under the score threshold are candidates that second looks
 * may confirm (verify.ts): a photo too small for finer levels is also searched enlarged, for
 * candidates only (planPyramid). The photo is decoded once; the finest level is resized from its pixels and
 * each coarser one from the level below (Lanczos, which averages what it drops, so small faces
 * keep their contrast). The tiles of all levels go through the detector in batches of
 * DETECT_BATCH (see BlazeFaceModel.runBatch), several batches at once when the graphs run in
 * the detector's threads (detector-threads.ts), their detections taken in the order a
 * tile-by-tile loop would take them (the faces found do not depend on the threads). Last, a
 * second detector, FaceBoxes, proposes the faces all this missed (second-detector.ts).
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import {
  BLAZEFACE_INPUT,
  BLAZEFACE_TILE_LENGTH,
  BlazeFaceModel,
  DETECT_BATCH,
  defaultThreads,
  type RawDetection,
  type TileRunner,
  overlapOfSmaller,
  suppressContained,
  weightedNms,
} from './blazeface.js';
import { blazeFaceModelPath } from './blazeface-files.js';
import { DENOISED_PASS_NOISE, photoNoise, smoothedCopy } from './denoised-pass.js';
import { DetectorThreads } from './detector-threads.js';
import { FaceBoxesModel } from './faceboxes.js';
import { uprightFace } from './orientation.js';
import {
  facesLean,
  fromTurned,
  mergeTurnedSearch,
  type QuarterTurns,
  tiltOf,
  turnToStandUp,
  turnedPhoto,
} from './turned-photos.js';
import { FACEBOXES_SURE, faceBoxesProposals, nearPhotoEdge, proposalAsDetection } from './second-detector.js';
import { CANDIDATE_THRESHOLD, MAX_CANDIDATES, verifyCandidate } from './verify.js';

/** Smallest face box, in detector pixels, searched for at the finest level. */
export const MIN_DETECTOR_FACE = 14;

/** Scale ratio between pyramid levels. */
export const LEVEL_STEP = 3;

/** Default smallest face (box side in photo pixels) the pyramid reaches. */
export const DEFAULT_SMALLEST_FACE = 24;

/** Default score threshold. */
export const DEFAULT_SCORE_THRESHOLD = 0.7;

/**
 * Score one face of a turned search must reach when nothing was found as the photo lies
 * (FaceDetector.searchTurned). Three more searches of a face-free photo are three more chances
 * of a false face: on 32 degraded face-free crops of a landscape the turned searches added 2 and
 * 5 at the medium and severe strengths of scripts/detect-degraded-photos.ts, scoring
 * 0.53-0.78, while the faces of a small group photo fed in sideways scored 0.79-0.94, their best
 * 0.94 (2026-12-04).
 */
export const TURNED_SEARCH_SURE = 0.85;

/**
 * The search FaceDetector.searchTurned decides with: the pyramid's confident faces alone. What
 * it leaves out (the cascade's second looks, the smoothed copy's pass, FaceBoxes) is where most
 * of a face-free photo's detection time goes, and it finds no face scoring TURNED_SEARCH_SURE
 * that the pyramid missed (a face only FaceBoxes saw scores FACEBOXES_ONLY_SCORE).
 */
const DECISION_SEARCH: DetectOptions = { cascade: false, denoisedPass: false, secondDetector: false };

/** Longer side (px) of the copy on which FaceDetector.searchTurned decides how a photo lies. */
export const TURN_DECISION_SIDE = 1280;

/** A face found in a photo, in photo pixels. */
export interface DetectedFace {
  /** Left, top, width, height. */
  box: [number, number, number, number];
  score: number;
  /** Eye (image left), eye (image right), nose tip, mouth centre, ear tragions. */
  keypoints: [number, number][];
}

export interface DetectOptions {
  /** Search down to faces of this box side (photo pixels). Default DEFAULT_SMALLEST_FACE. */
  smallestFace?: number;
  /** Minimum score. Default DEFAULT_SCORE_THRESHOLD. */
  scoreThreshold?: number;
  /**
   * Also accept candidates scoring CANDIDATE_THRESHOLD up to the threshold that second looks
   * confirm (verify.ts): those of the whole-photo views, then those of the tiled levels (see
   * `tiledCandidates`). Default true; false gives the single-threshold detector.
   */
  cascade?: boolean;
  /**
   * Also run the pyramid on a smoothed copy of the photo and merge its faces
   * (denoised-pass.ts). Default: when the photo's noise reads at least DENOISED_PASS_NOISE.
   */
  denoisedPass?: boolean;
  /** Second looks also on mirrored views (verifyCandidate's `mirrored`). Default true. */
  mirroredLooks?: boolean;
  /**
   * Second looks also by the front-camera graph (verifyCandidate's `front`), except for
   * candidates on the head of a larger face (withinHeadOf). Default true.
   */
  frontLooks?: boolean;
  /**
   * Candidates also from the tiled levels (finer than the whole photo in one tile, and a small
   * photo's enlarged level), verified after the whole-photo views' candidates, within the same
   * MAX_CANDIDATES, where no face is yet, and only by a consensus of second looks. Default true
   * with the cascade. A degraded face of 45-65 px in a 560-800 px group photo scored under
   * CANDIDATE_THRESHOLD in the whole-photo tile and 0.7 nowhere, but over it at the finer level.
   */
  tiledCandidates?: boolean;
  /**
   * A photo lying on its side or upside down (most faces found roll by a quarter or half turn)
   * is searched again turned upright (turned-photos.ts). Default true.
   */
  turnedPhotos?: boolean;
  /**
   * A photo of up to about half a megapixel is also searched for candidates enlarged
   * (planPyramid, ENLARGED_CANDIDATE_FACE). Default true with tiled candidates.
   */
  enlargedCandidates?: boolean;
  /**
   * FaceBoxes, a second detector trained on WIDER FACE, proposes faces the pyramid and the
   * cascade did not find: faces where BlazeFace's second looks agree or FaceBoxes is sure
   * (second-detector.ts). Default true (photos of up to FACEBOXES_MAX_PHOTO_SIDE a side).
   */
  secondDetector?: boolean;
}

/** One pyramid level: the photo resized by `scale`, and which faces it is responsible for. */
interface Level {
  scale: number;
  /** Keep detections with box side (level pixels) at least this... */
  minBox: number;
  /** ...and at most this (Infinity at the coarsest level). */
  maxBox: number;
  /** One tile holds the whole photo, centred (see WHOLE_PHOTO_VIEWS). */
  wholePhoto?: boolean;
  /** Every detection of this level is a candidate for the second looks, however high it scores. */
  candidatesOnly?: boolean;
  /**
   * Score threshold of this level, if lower than the caller's: the whole-photo views, since a
   * false positive grows with the number of windows searched, and degraded close-ups score low.
   */
  threshold?: number;
}

/** One tile of one level, waiting in a batch. */
interface PendingTile {
  level: Level;
  image: RgbImage;
  x0: number;
  y0: number;
  overlap: number;
  /** The level's threshold: detections at or above it are faces, those below are candidates. */
  threshold: number;
}

/**
 * The tiles of every level, in order: the whole-photo views, then each level's tiles row by
 * row, less the flat ones.
 */
function* levelTiles(
  levels: readonly Level[],
  images: readonly RgbImage[],
  threshold: number,
): Generator<PendingTile> {
  for (const [index, level] of levels.entries()) {
    const image = images[index]!;
    const overlap = tileOverlap(level.maxBox);
    const levelThreshold = level.threshold === undefined ? threshold : Math.min(threshold, level.threshold);
    if (level.wholePhoto) {
      // A whole-photo view is one tile with the photo in its centre (negative origins: grey border).
      const x0 = -Math.floor((BLAZEFACE_INPUT - image.width) / 2);
      const y0 = -Math.floor((BLAZEFACE_INPUT - image.height) / 2);
      yield { level, image, x0, y0, overlap, threshold: levelThreshold };
      continue;
    }
    const columns = tileOrigins(image.width, BLAZEFACE_INPUT, overlap);
    for (const y0 of tileOrigins(image.height, BLAZEFACE_INPUT, overlap)) {
      for (const x0 of columns) {
        // Fine levels are most of the work; flat tiles (sky, walls, blurred backgrounds) hold no face.
        if (hasDetail(image, x0, y0)) yield { level, image, x0, y0, overlap, threshold: levelThreshold };
      }
    }
  }
}

/**
 * How much a level's tiles overlap: more than its largest face (so every face lies whole in some
 * tile), at most half a tile.
 */
function tileOverlap(maxBox: number): number {
  return Math.min(BLAZEFACE_INPUT / 2, Math.ceil(maxBox) + 8);
}

/**
 * Whether a level sees the whole photo at once (a whole-photo view, or the photo fitted to one
 * tile): the levels without a largest face, whose candidates are verified first.
 */
function wholePhotoLevel(level: Level): boolean {
  return level.maxBox === Infinity;
}

/** Tile origins along one axis: cover `length` with tiles of `tile` px overlapping by `overlap`. */
export function tileOrigins(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const stride = tile - overlap;
  const count = Math.ceil((length - tile) / stride) + 1;
  const origins: number[] = [];
  for (let i = 0; i < count; i++) origins.push(Math.round((i * (length - tile)) / (count - 1)));
  return origins;
}

/**
 * Sides (detector pixels) at which the whole photo is fitted, centred, into one tile with a grey
 * border, and the score threshold there: the back-camera model expects faces small in its view,
 * so a face that fills the photo (a close-up, an aligned crop, a degraded scan) scores best seen
 * this small (severely degraded close-ups score 0.6-0.8 at 48-64 px, under 0.5 at 256). Only
 * faces of at least a quarter to a third of the photo count in these views.
 */
export const WHOLE_PHOTO_VIEWS = [
  { side: 48, threshold: 0.5 },
  { side: 64, threshold: 0.5 },
  // Above MediaPipe's 0.5 here: the larger view also shows foreheads and hair at face-like sizes.
  { side: 128, threshold: 0.6 },
] as const;

/**
 * The candidate-only level of a photo of up to about half a megapixel (planPyramid; 800 x 600
 * takes 24 tiles, 1024 x 768 would take 35): enlarged so that the
 * smallest face asked for is ENLARGED_CANDIDATE_FACE px there, and at least twice the
 * whole-photo tile's scale. Degraded faces of 25-35 px score under CANDIDATE_THRESHOLD at the
 * whole-photo tile and at a finer level (15-20 px there), but 0.9 seen at 30-40 px.
 */
export const ENLARGED_CANDIDATE_FACE = 30;

/** Largest face box (detector pixels) taken from the enlarged level: the small faces it is for. */
export const ENLARGED_CANDIDATE_MAX_BOX = 64;

/** Most tiles the enlarged level may cost (about 4.5 ms each); larger photos go without it. */
export const ENLARGED_CANDIDATE_MAX_TILES = 32;

/**
 * The enlarged candidate level of a `width` x `height` photo, or null where it costs too much,
 * would not enlarge (a `smallestFace` over ENLARGED_CANDIDATE_FACE on a larger photo), or could
 * keep no face (a photo of under about 150 px, whose smallest face is over
 * ENLARGED_CANDIDATE_MAX_BOX there).
 */
function enlargedCandidateLevel(
  width: number,
  height: number,
  coarsest: number,
  smallestFace: number,
): Level | null {
  const scale = Math.max(2 * coarsest, ENLARGED_CANDIDATE_FACE / Math.max(1, smallestFace));
  // Not below the smallest face asked for (a box reads up to a fifth smaller than the face):
  // enlarged, texture of 12-16 px drew face-like looks from the front-camera graph.
  const minBox = 0.8 * smallestFace * scale;
  if (scale <= 1 || minBox >= ENLARGED_CANDIDATE_MAX_BOX) return null;
  const overlap = tileOverlap(ENLARGED_CANDIDATE_MAX_BOX);
  const tiles =
    tileOrigins(Math.round(width * scale), BLAZEFACE_INPUT, overlap).length *
    tileOrigins(Math.round(height * scale), BLAZEFACE_INPUT, overlap).length;
  if (tiles > ENLARGED_CANDIDATE_MAX_TILES) return null;
  return {
    scale,
    minBox,
    maxBox: ENLARGED_CANDIDATE_MAX_BOX,
    candidatesOnly: true,
  };
}

/** Largest scale ratio between two fine levels (see planPyramid). */
export const MAX_LEVEL_STEP = LEVEL_STEP * 1.1;

/**
 * Plan the pyramid for a photo (see the module comment): the whole-photo views, the photo fitted
 * to one tile, then fine levels spaced evenly (ratio at most MAX_LEVEL_STEP) up to the scale at
 * which a `smallestFace` face is MIN_DETECTOR_FACE px.
 */
export function planPyramid(
  width: number,
  height: number,
  smallestFace: number,
  { enlargedCandidates = false }: { enlargedCandidates?: boolean } = {},
): Level[] {
  const coarsest = BLAZEFACE_INPUT / Math.max(width, height);
  const finest = Math.min(1, MIN_DETECTOR_FACE / Math.max(1, smallestFace));
  const levels: Level[] = WHOLE_PHOTO_VIEWS.map(({ side, threshold }) => ({
    scale: (coarsest * side) / BLAZEFACE_INPUT,
    minBox: side / (side < BLAZEFACE_INPUT / 2 ? 3 : 4),
    maxBox: Infinity,
    wholePhoto: true,
    threshold,
  }));
  levels.push({ scale: coarsest, minBox: 0, maxBox: Infinity });
  // Small photos also get a level enlarged for candidates: their small faces are otherwise seen
  // only at 14-20 detector px, where degraded ones score too low to reach the second looks.
  const enlarged = enlargedCandidates ? enlargedCandidateLevel(width, height, coarsest, smallestFace) : null;
  if (finest <= coarsest * 1.2) return enlarged ? [...levels, enlarged] : levels;
  // Faces at least MIN_DETECTOR_FACE px at a coarser level are found there; a finer level covers
  // what lies below, with a margin so a face between two levels is seen by both (NMS merges
  // them). Even spacing: a last step of a few percent would cost a whole extra level of tiles.
  const top = Math.max(finest, coarsest * 1.5);
  const count = Math.max(1, Math.ceil(Math.log(top / coarsest) / Math.log(MAX_LEVEL_STEP) - 1e-9));
  const ratio = (top / coarsest) ** (1 / count);
  for (let i = 1; i <= count; i++) {
    levels.push({
      scale: i === count ? top : coarsest * ratio ** i,
      minBox: 0,
      maxBox: MIN_DETECTOR_FACE * 1.5 * ratio,
    });
  }
  return enlarged ? [...levels, enlarged] : levels;
}

/**
 * A BlazeFace detector over whole photos.
 *
 * @example
 * ```ts
 * const detector = await FaceDetector.load();
 * const faces = await detector.detect(photo, { smallestFace: 24 }); // photo: RgbImage
 * ```
 */
export class FaceDetector {
  private constructor(
    /** The back-camera graph: the pyramid's tiles and the second looks. */
    private readonly model: TileRunner,
    private readonly batchSize: number,
    /** The front-camera graph: a second opinion on candidates (verify.ts). */
    private readonly front: TileRunner,
    /** The detector's threads, or 1 with the graphs in this thread. */
    private readonly parallelism: number,
    /** FaceBoxes, the second opinion (second-detector.ts). */
    private readonly faceBoxes: FaceBoxesModel,
    private readonly release: () => Promise<void>,
  ) {
    // With threads, one batch more than there are threads, so none waits while the next is cut.
    this.batchesAtOnce = parallelism > 1 ? parallelism + 1 : 1;
  }

  /** Batches sent and not yet taken, at most. */
  private readonly batchesAtOnce: number;

  /**
   * Tile buffers of earlier passes, free for the next (see detectOnce): shared memory with
   * the detector's threads.
   */
  private readonly idleTiles: Float32Array[] = [];

  /**
   * @param file the graph (default the batched one, see blazeFaceModelPath).
   * @param threads the detector's threads (default defaultThreads()), each with its own
   *   single-threaded session of both graphs (detector-threads.ts); 1 runs the graphs in this
   *   thread instead, single-threaded.
   * @param batch tiles per detector run (default DETECT_BATCH; 1 with a graph of fixed batch 1).
   */
  static async load(file?: string, threads = defaultThreads(), batch = DETECT_BATCH): Promise<FaceDetector> {
    if (!Number.isInteger(batch) || batch < 1)
      throw new Error(`batch must be a whole number >= 1, got ${batch}`);
    const count = Math.max(1, Math.floor(threads));
    const graphs = await FaceDetector.loadGraphs(file ?? blazeFaceModelPath(), count);
    // The pyramid's tiles are BLAZEFACE_INPUT square: a graph of another side would misread them.
    if (graphs.back.inputSize !== BLAZEFACE_INPUT) {
      await graphs.release();
      throw new Error(
        `${file ?? 'the detector graph'} takes ${graphs.back.inputSize} px tiles; the photo detector needs the ${BLAZEFACE_INPUT} px back-camera graph`,
      );
    }
    let faceBoxes: FaceBoxesModel;
    try {
      faceBoxes = await FaceBoxesModel.load(undefined, count);
    } catch (error) {
      await graphs.release();
      throw error;
    }
    return new FaceDetector(
      graphs.back,
      Math.min(batch, graphs.back.maxBatch),
      graphs.front,
      count,
      faceBoxes,
      async () => {
        try {
          await graphs.release();
        } finally {
          await faceBoxes.dispose();
        }
      },
    );
  }

  private static async loadGraphs(
    file: string,
    threads: number,
  ): Promise<{ back: TileRunner; front: TileRunner; release: () => Promise<void> }> {
    const front = blazeFaceModelPath('front');
    if (threads > 1) {
      const pool = await DetectorThreads.start({ back: file, front }, threads);
      return { back: pool.back, front: pool.front, release: () => pool.dispose() };
    }
    const back = await BlazeFaceModel.load(file, 1);
    try {
      const frontModel = await BlazeFaceModel.load(front, 1);
      return {
        back,
        front: frontModel,
        release: async () => {
          await back.dispose();
          await frontModel.dispose();
        },
      };
    } catch (error) {
      await back.dispose();
      throw error;
    }
  }

  /**
   * Every face of the photo, best score first, upside-down ones turned upright (orientation.ts;
   * their keypoints then list the face's own left eye first). A noisy photo (see `denoisedPass`) is searched
   * twice, the second time on its smoothed copy: up to twice the detection time, and a
   * second decoded copy of the photo (36 MB at 12 MP) while that pass runs. A photo lying on
   * its side or upside down is searched again turned upright (`turnedPhotos`): as much again,
   * and a turned copy of the photo.
   */
  async detect(photo: RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const faces = await this.detectAsItLies(photo, options);
    if (options.turnedPhotos === false) return faces;
    if (faces.length === 0) return this.searchTurned(photo, options);
    if (!facesLean(faces)) return faces;
    const turns = await turnToStandUp(this.model, photo, faces);
    if (turns === 0) return faces;
    // The photo lies on its side or upside down (turned-photos.ts): searched again standing,
    // where most of its faces are upright.
    const standing = (await this.detectAsItLies(turnedPhoto(photo, turns), options)).map((d) => ({
      face: fromTurned(d, turns, photo.width, photo.height),
      tilt: tiltOf(d),
    }));
    return mergeTurnedSearch(
      faces.map((face) => ({ face, tilt: tiltOf(face) })),
      standing,
    ).sort((a, b) => b.score - a.score);
  }

  /**
   * The faces of a photo in which none was found as it lies, searched turned a quarter, a half
   * or three quarters (turned-photos.ts): a small scan fed in sideways can hide every face from
   * BlazeFace. The turn is decided by light searches (DECISION_SEARCH) of a copy of at most
   * TURN_DECISION_SIDE px a side in each turn: one counts only when a face scores
   * TURNED_SEARCH_SURE or more, and of those the one finding the most faces (ties: the higher
   * summed score) wins. Only then is the photo searched whole, turned that way, and its faces
   * mapped back to the photo's pixels. A face-free photo costs the three light searches: 0.2 s
   * more here at 1-9.5 MP (three whole searches cost 0.8-4.9 s, and tripled its metered time).
   */
  private async searchTurned(photo: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    const reduction = Math.min(1, TURN_DECISION_SIDE / Math.max(photo.width, photo.height));
    const small = await resizeTo(
      photo,
      Math.max(1, Math.round(photo.width * reduction)),
      Math.max(1, Math.round(photo.height * reduction)),
    );
    let best: { turns: QuarterTurns; faces: DetectedFace[]; score: number } | null = null;
    for (const turns of [1, 2, 3] as const) {
      const faces = await this.detectAsItLies(turnedPhoto(small, turns), { ...options, ...DECISION_SEARCH });
      if (!faces.some((d) => d.score >= TURNED_SEARCH_SURE)) continue;
      const score = faces.reduce((sum, d) => sum + d.score, 0);
      if (
        !best ||
        faces.length > best.faces.length ||
        (faces.length === best.faces.length && score > best.score)
      )
        best = { turns, faces, score };
    }
    if (!best) return [];
    // The whole search, at full size, of the photo turned that way.
    const turns = best.turns;
    const faces = await this.detectAsItLies(turnedPhoto(photo, turns), options);
    return faces.map((d) => fromTurned(d, turns, photo.width, photo.height));
  }

  /** Every face of the photo as it lies (detect, without the search of the photo turned). */
  private async detectAsItLies(photo: RgbImage, options: DetectOptions): Promise<DetectedFace[]> {
    const passes = [await this.detectOnce(photo, options)];
    if (options.denoisedPass ?? photoNoise(photo) >= DENOISED_PASS_NOISE) {
      passes.push(await this.detectOnce(await smoothedCopy(photo), options));
    }
    const merged = mergePasses(passes).filter((d) => d.box[2] > 0 && d.box[3] > 0);
    if (options.secondDetector ?? true) merged.push(...(await this.secondOpinion(photo, merged, options)));
    // Upside-down faces (orientation.ts): their keypoints read as an upright face's otherwise.
    // Each face is looked at on its own, so all at once (over the detector's threads).
    const faces = await Promise.all(merged.map((face) => uprightFace(this.model, this.front, photo, face)));
    // A turned face takes its turned view's score: sorted again, best first as documented.
    return faces
      .sort((a, b) => b.score - a.score)
      .map((d) => ({ box: d.box, score: d.score, keypoints: d.keypoints }));
  }

  /**
   * The faces FaceBoxes proposes where `found` has none (second-detector.ts), best first, at
   * most MAX_CANDIDATES: with BlazeFace's landmarks where a consensus of its second looks
   * confirms the proposal (strict, as for the tiled levels' candidates), else, at
   * FACEBOXES_SURE, with landmarks laid out in the proposal's box; none near the photo's edge
   * (nearPhotoEdge) or smaller than the pyramid searches. One after the other, as each face
   * rules out the proposals on it.
   */
  private async secondOpinion(
    photo: RgbImage,
    found: readonly RawDetection[],
    options: DetectOptions,
  ): Promise<RawDetection[]> {
    const threshold = options.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
    const unlike = (box: RawDetection['box'], faces: readonly RawDetection[]): boolean =>
      faces.every((f) => overlapOfSmaller(f.box, box) <= 0.3);
    // Not below the smallest face the pyramid searches by default, nor below the one asked for
    // (a face's box may read a fifth smaller): on a degraded 324-px photo a child's hand, 16 px,
    // was a proposal that BlazeFace's looks confirmed. A smaller `smallestFace` lowers only the
    // pyramid's reach.
    const smallest = 0.8 * Math.max(DEFAULT_SMALLEST_FACE, options.smallestFace ?? DEFAULT_SMALLEST_FACE);
    const proposals = (await faceBoxesProposals(this.faceBoxes, photo))
      .filter(
        (p) =>
          unlike(p.box, found) &&
          !nearPhotoEdge(p.box, photo.width, photo.height) &&
          faceSide(proposalAsDetection(p)) >= smallest,
      )
      .slice(0, MAX_CANDIDATES);
    const added: RawDetection[] = [];
    for (const proposal of proposals) {
      if (!unlike(proposal.box, added)) continue;
      const candidate = proposalAsDetection(proposal);
      const confirmed = await verifyCandidate(this.model, photo, candidate, threshold, {
        strict: true,
        mirrored: options.mirroredLooks ?? true,
        ...((options.frontLooks ?? true) &&
        ![...found, ...added].some((other) => withinHeadOf(other, candidate))
          ? { front: this.front }
          : {}),
      });
      // A look may settle on a face found already, beside the proposal: not added twice.
      if (confirmed && unlike(confirmed.box, [...found, ...added])) added.push(confirmed);
      else if (!confirmed && proposal.score >= FACEBOXES_SURE) added.push(candidate);
    }
    return added;
  }

  /**
   * One pass of the pyramid and the cascade over `photo`: its confident faces (merged within
   * the pass) and its confirmed candidates, not yet merged with each other (mergePasses does that).
   */
  private async detectOnce(photo: RgbImage, options: DetectOptions): Promise<RawDetection[]> {
    const threshold = options.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
    const cascade = options.cascade ?? true;
    const candidatesFromTiles = cascade && (options.tiledCandidates ?? true);
    const levels = planPyramid(photo.width, photo.height, options.smallestFace ?? DEFAULT_SMALLEST_FACE, {
      enlargedCandidates: candidatesFromTiles && (options.enlargedCandidates ?? true),
    });
    const images = await levelImages(photo, levels);
    const found: RawDetection[] = [];
    // Detections between CANDIDATE_THRESHOLD and the level's threshold: faces only if a second
    // look confirms them (verify.ts).
    const candidates: RawDetection[] = [];
    // Candidates of the tiled levels (the finer levels and a small photo's enlarged one), kept
    // apart: merged with the whole-photo views' by weighted NMS they would move those boxes, and
    // a second look centred on a moved box can miss the face that the first box held.
    const tiledCandidates: RawDetection[] = [];
    const take = (batch: readonly PendingTile[], results: RawDetection[][]): void => {
      for (const [slot, { level, image, x0, y0, overlap, threshold: levelThreshold }] of batch.entries()) {
        for (const d of results[slot]!) {
          const side = Math.max(d.box[2], d.box[3]);
          if (side < level.minBox || side > level.maxBox) continue;
          if (!level.wholePhoto && cutByInnerEdge(d, x0, y0, image.width, image.height, overlap)) continue;
          const inPhoto = toPhoto(d, x0, y0, level.scale);
          if (d.score >= levelThreshold && !level.candidatesOnly) found.push(inPhoto);
          else (wholePhotoLevel(level) ? candidates : tiledCandidates).push(inPhoto);
        }
      }
    };
    const thresholdOf = ({ level, threshold: levelThreshold }: PendingTile): number =>
      (wholePhotoLevel(level) ? cascade : candidatesFromTiles)
        ? Math.min(levelThreshold, CANDIDATE_THRESHOLD)
        : levelThreshold;
    await this.runTiles(levelTiles(levels, images, threshold), thresholdOf, take);
    const confident = suppressContained(weightedNms(found, 0.3));
    const unlike = (c: RawDetection, faces: readonly RawDetection[]): boolean =>
      faces.every((f) => overlapOfSmaller(f.box, c.box) <= 0.3);
    const open = suppressContained(weightedNms(candidates, 0.3))
      .filter((c) => unlike(c, confident))
      .slice(0, MAX_CANDIDATES);
    const verify = (candidate: RawDetection, strict = false): Promise<RawDetection | null> =>
      verifyCandidate(this.model, photo, candidate, threshold, {
        strict,
        mirrored: options.mirroredLooks ?? true,
        // The close-up graph sees faces in the hair of a close-up: not asked on a larger face's head.
        ...((options.frontLooks ?? true) && !confident.some((other) => withinHeadOf(other, candidate))
          ? { front: this.front }
          : {}),
      });
    // The whole-photo views' candidates are judged each on its own: all at once, kept in order.
    const confirmed = (await Promise.all(open.map((candidate) => verify(candidate)))).filter(
      (face): face is RawDetection => face !== null,
    );
    // Then the tiled levels' candidates where no face is yet, within the same MAX_CANDIDATES: one
    // after the other, as each confirmed face rules out the candidates on it.
    const more = suppressContained(weightedNms(tiledCandidates, 0.3))
      .filter((c) => unlike(c, confident) && unlike(c, confirmed))
      .slice(0, MAX_CANDIDATES - open.length);
    for (const candidate of more) {
      if (!unlike(candidate, confirmed)) continue;
      const face = await verify(candidate, true);
      if (face) confirmed.push(face);
    }
    return [...confident, ...confirmed];
  }

  /**
   * Run `tiles` through the back-camera graph in batches of `batchSize`, up to `batchesAtOnce`
   * batches at once, and hand each batch's detections to `take` in the order of the tiles.
   *
   * Tile buffers (`batchSize` tiles of 0.8 MB each: a 12 MP photo has up to ~130 tiles) are kept
   * for the next pass or photo (a fresh one's pages fault once each: 15 ms here); a buffer still
   * being read when a run fails is dropped, not kept.
   */
  private async runTiles(
    tiles: Iterable<PendingTile>,
    thresholdOf: (tile: PendingTile) => number,
    take: (batch: readonly PendingTile[], results: RawDetection[][]) => void,
  ): Promise<void> {
    const running: { batch: PendingTile[]; buffer: Float32Array; results: Promise<RawDetection[][]> }[] = [];
    const settleOldest = async (): Promise<void> => {
      const { batch, buffer, results } = running.shift()!;
      const detections = await results;
      this.keepTiles(buffer);
      take(batch, detections);
    };
    // Taken when the first tile of a batch is cut, so a pass holds at most batchesAtOnce.
    let buffer: Float32Array | null = null;
    let batch: PendingTile[] = [];
    const send = async (filled: Float32Array): Promise<void> => {
      const results = this.model.runBatch(filled, batch.map(thresholdOf));
      // Awaited in order below; a failure while an earlier batch is awaited must not go unobserved.
      results.catch(() => undefined);
      running.push({ batch, buffer: filled, results });
      batch = [];
      buffer = null;
      while (running.length >= this.batchesAtOnce) await settleOldest();
    };
    try {
      for (const pending of tiles) {
        const slot = batch.length;
        buffer ??= this.tileBuffer();
        tileTensor(
          pending.image,
          pending.x0,
          pending.y0,
          buffer.subarray(slot * BLAZEFACE_TILE_LENGTH, (slot + 1) * BLAZEFACE_TILE_LENGTH),
        );
        batch.push(pending);
        if (batch.length === this.batchSize) await send(buffer);
      }
      if (buffer && batch.length > 0) await send(buffer);
      while (running.length > 0) await settleOldest();
    } finally {
      running.length = 0;
    }
  }

  /** A kept tile buffer, or a new one (shared memory when the graphs run in threads). */
  private tileBuffer(): Float32Array {
    const kept = this.idleTiles.pop();
    if (kept) return kept;
    const bytes = this.batchSize * BLAZEFACE_TILE_LENGTH * Float32Array.BYTES_PER_ELEMENT;
    return new Float32Array(this.parallelism > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  }

  /** Keep a buffer for later passes: as many as one pass holds at once (batchesAtOnce). */
  private keepTiles(buffer: Float32Array): void {
    if (this.idleTiles.length < this.batchesAtOnce) this.idleTiles.push(buffer);
  }

  async dispose(): Promise<void> {
    await this.release();
  }
}

/** How far a head reaches beyond its face box, in face box sides: above (hair), and to each side. */
const HEAD_ABOVE = 0.5;
const HEAD_BESIDE = 0.25;

/**
 * Whether `candidate` is centred on the head of the larger face `face`: its box, with the hair
 * above and beside it. The front-camera graph (verify.ts) sees faces in a portrait's hair (in
 * the min-face photo test its looks agreed on one at 0.62-0.73), so it is not asked there; the
 * back-camera graph's own looks still are (a small face beside a large one is common).
 *
 * @example
 * ```ts
 * withinHeadOf(largeFace, smallDetectionInItsHair); // true
 * ```
 */
export function withinHeadOf(face: RawDetection, candidate: RawDetection): boolean {
  const [x, y, w, h] = face.box;
  const [cx0, cy0, cw, ch] = candidate.box;
  if (Math.max(w, h) <= Math.max(cw, ch)) return false;
  const cx = cx0 + cw / 2;
  const cy = cy0 + ch / 2;
  return (
    cx >= x - HEAD_BESIDE * w && cx <= x + w + HEAD_BESIDE * w && cy >= y - HEAD_ABOVE * h && cy <= y + h
  );
}

/**
 * The faces of one or more passes (each its confident faces and confirmed candidates), merged
 * by one weighted NMS, contained boxes dropped. One NMS over all of them, never a second NMS
 * over merged faces: weighted NMS moves the boxes it averages, so merging its output again
 * could join two faces that it kept apart. With one pass this is the single-pass detector.
 *
 * @example
 * ```ts
 * const faces = mergePasses([firstPass, smoothedPass]); // a face found by both: one, averaged
 * ```
 */
export function mergePasses(passes: readonly (readonly RawDetection[])[]): RawDetection[] {
  return suppressContained(weightedNms(passes.flat(), 0.3));
}

/**
 * The photo at every level's scale (the photo itself at scale 1). Each level of scale under 1 is
 * reduced from the next finer one rather than from the photo (Lanczos throughout): the photo,
 * which may be 12-50 MP, is read once, for the finest level. A level over scale 1 (a small
 * photo's whole-photo tile or views, its enlarged candidate level) is enlarged from the photo.
 */
async function levelImages(photo: RgbImage, levels: readonly Level[]): Promise<RgbImage[]> {
  const images: RgbImage[] = new Array<RgbImage>(levels.length);
  const order = [...levels.keys()].sort((i, j) => levels[j]!.scale - levels[i]!.scale);
  let source = photo;
  for (const index of order) {
    const width = Math.max(1, Math.round(photo.width * levels[index]!.scale));
    const height = Math.max(1, Math.round(photo.height * levels[index]!.scale));
    // An enlarged level comes from the photo and is never a source for the coarser ones.
    const enlarged = levels[index]!.scale > 1;
    const image = await resizeTo(enlarged ? photo : source, width, height);
    images[index] = image;
    // Keep reducing from images with enough pixels that the next reduction still averages.
    if (!enlarged && (image.width >= 2 * BLAZEFACE_INPUT || image.height >= 2 * BLAZEFACE_INPUT))
      source = image;
  }
  return images;
}

async function resizeTo(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (width === image.width && height === image.height) return image;
  const { data, info } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
    limitInputPixels: false,
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}

/** Block side and the luma standard deviation (levels) above which a block shows detail. */
const DETAIL_BLOCK = 8;
const DETAIL_STD = 4;

/**
 * Whether a tile has any 8 x 8 block whose luma varies by more than DETAIL_STD levels (std).
 * The smallest faces searched (14 px) span about two blocks and their eyes, brows and mouth
 * differ from the skin by far more than that, even in soft or noisy photos; uniform areas do not.
 */
export function hasDetail(image: RgbImage, x0: number, y0: number, size = BLAZEFACE_INPUT): boolean {
  const x1 = Math.min(image.width, x0 + size);
  const y1 = Math.min(image.height, y0 + size);
  const limit = DETAIL_STD * DETAIL_STD;
  for (let by = y0; by < y1; by += DETAIL_BLOCK) {
    for (let bx = x0; bx < x1; bx += DETAIL_BLOCK) {
      let sum = 0;
      let sum2 = 0;
      let n = 0;
      for (let y = by; y < Math.min(by + DETAIL_BLOCK, y1); y++) {
        let p = (y * image.width + bx) * 3;
        for (let x = bx; x < Math.min(bx + DETAIL_BLOCK, x1); x++, p += 3) {
          const l = (image.data[p]! + 2 * image.data[p + 1]! + image.data[p + 2]!) / 4;
          sum += l;
          sum2 += l * l;
          n++;
        }
      }
      // variance > std^2  <=>  n * sum2 - sum^2 > std^2 * n^2
      if (n * sum2 - sum * sum > limit * n * n) return true;
    }
  }
  return false;
}

/**
 * The 256 x 256 NHWC tile at (x0, y0) of `image`, in [-1, 1]; outside the image (past its right
 * or bottom edge, or before a negative origin) it is mid-grey (0). Written into `out`.
 */
function tileTensor(image: RgbImage, x0: number, y0: number, out: Float32Array): Float32Array {
  const size = BLAZEFACE_INPUT;
  const left = Math.max(0, -x0);
  const right = Math.min(size, image.width - x0);
  const partial = x0 < 0 || y0 < 0 || x0 + size > image.width || y0 + size > image.height;
  if (partial) out.fill(0);
  const count = (right - left) * 3;
  const data = image.data;
  for (let y = Math.max(0, -y0); y < Math.min(size, image.height - y0); y++) {
    const src = ((y0 + y) * image.width + x0 + left) * 3;
    const dst = (y * size + left) * 3;
    for (let i = 0; i < count; i++) out[dst + i] = TO_UNIT[data[src + i]!]!;
  }
  return out;
}

/** v / 127.5 - 1 for every 8-bit value: the tiles of a 12 MP photo hold ~30 M of them. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** A detection's box side (the larger of width and height). */
function faceSide(d: RawDetection): number {
  return Math.max(d.box[2], d.box[3]);
}

/**
 * A detection crossing a tile edge that lies inside the image is a cut face; a neighbouring
 * tile, which overlaps this one by more than such a face, sees it whole.
 */
function cutByInnerEdge(
  d: RawDetection,
  x0: number,
  y0: number,
  width: number,
  height: number,
  overlap: number,
): boolean {
  const [x, y, w, h] = d.box;
  if (Math.max(w, h) > overlap) return false;
  const size = BLAZEFACE_INPUT;
  return (
    (x < 0 && x0 > 0) ||
    (y < 0 && y0 > 0) ||
    (x + w > size && x0 + size < width) ||
    (y + h > size && y0 + size < height)
  );
}

function toPhoto(d: RawDetection, x0: number, y0: number, scale: number): RawDetection {
  return {
    box: [(d.box[0] + x0) / scale, (d.box[1] + y0) / scale, d.box[2] / scale, d.box[3] / scale],
    score: d.score,
    keypoints: d.keypoints.map(([x, y]) => [(x + x0) / scale, (y + y0) / scale]),
  };
}
