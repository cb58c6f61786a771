/**
 * Finding every face of a photo with BlazeFace: an image pyramid of downscaled copies, each cut
 * into overlapping 256 x 256 tiles, the detections of all tiles merged by weighted NMS.
 *
 * **Why a pyramid.** BlazeFace sees a 256 px input. Run once on a whole 12 MP photo, a face of
 * 100 px becomes 6 px and is lost. The model reliably finds faces whose box is about
 * `MIN_DETECTOR_FACE` px or more in its input and up to most of the input, a range of about 12x.
 * The levels therefore run from the whole photo in one tile (large faces) down to the scale
 * at which the smallest wanted face is `MIN_DETECTOR_FACE` px, each level `LEVEL_STEP` times
 * finer than the previous. At each fine level only faces too small for the next coarser level
 * are kept, and tiles overlap by more than such a face, so every face lies whole in some tile.
 * The photo is decoded once; the levels are resized from its pixels (Lanczos, which averages
 * what it drops, so small faces keep their contrast).
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import {
  BLAZEFACE_INPUT,
  BlazeFaceModel,
  type RawDetection,
  suppressContained,
  weightedNms,
} from './blazeface.js';

/** Smallest face box, in detector pixels, searched for at the finest level. */
export const MIN_DETECTOR_FACE = 14;

/** Scale ratio between pyramid levels. */
export const LEVEL_STEP = 3;

/** Default smallest face (box side in photo pixels) the pyramid reaches. */
export const DEFAULT_SMALLEST_FACE = 24;

/** Default score threshold. */
export const DEFAULT_SCORE_THRESHOLD = 0.7;

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
}

/** One pyramid level: the photo resized by `scale`, and which faces it is responsible for. */
interface Level {
  scale: number;
  /** Keep detections with box side (level pixels) at least this... */
  minBox: number;
  /** ...and at most this (Infinity at the coarsest level). */
  maxBox: number;
  /**
   * One tile holds the whole photo: such levels use the lower WHOLE_PHOTO_THRESHOLD, since a
   * false positive grows with the number of windows searched, and degraded close-ups score low.
   */
  wholePhoto?: boolean;
}

/** Score threshold of the whole-photo levels (MediaPipe's own default). */
export const WHOLE_PHOTO_THRESHOLD = 0.5;

/** Tile origins along one axis: cover `length` with tiles of `tile` px overlapping by `overlap`. */
export function tileOrigins(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const stride = tile - overlap;
  const count = Math.ceil((length - tile) / stride) + 1;
  const origins: number[] = [];
  for (let i = 0; i < count; i++) origins.push(Math.round((i * (length - tile)) / (count - 1)));
  return origins;
}

/** Plan the pyramid for a photo (see the module comment). */
export function planPyramid(width: number, height: number, smallestFace: number): Level[] {
  const coarsest = BLAZEFACE_INPUT / Math.max(width, height);
  const finest = Math.min(1, MIN_DETECTOR_FACE / Math.max(1, smallestFace));
  const levels: Level[] = [
    // The whole photo at a quarter and half of a tile, grey around it: the back-camera model
    // expects faces small in its view, so faces that fill the photo (a close-up, an aligned
    // crop, a degraded scan) score best here. Only large faces count at these levels.
    { scale: coarsest / 4, minBox: BLAZEFACE_INPUT / 4 / 3, maxBox: Infinity, wholePhoto: true },
    { scale: coarsest / 2, minBox: BLAZEFACE_INPUT / 2 / 4, maxBox: Infinity, wholePhoto: true },
    { scale: coarsest, minBox: 0, maxBox: Infinity },
  ];
  // Faces at least MIN_DETECTOR_FACE px at a coarser level are found there; a finer level covers
  // what lies below, with a margin so a face between two levels is seen by both (NMS merges them).
  for (let scale = coarsest * LEVEL_STEP; ; scale *= LEVEL_STEP) {
    const last = scale >= finest;
    const s = last ? Math.max(finest, coarsest * 1.5) : scale;
    if (s <= coarsest * 1.2) break;
    const coarser = levels[levels.length - 1]!.scale;
    levels.push({ scale: s, minBox: 0, maxBox: (MIN_DETECTOR_FACE * 1.5 * s) / coarser });
    if (last) break;
  }
  return levels;
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
  private constructor(private readonly models: readonly BlazeFaceModel[]) {}

  /**
   * @param sessions onnxruntime sessions, one tile each at a time on one thread (default 2: the
   *   tiles of a level then run on two cores; one session runs its calls one after another).
   */
  static async load(file?: string, sessions = 2): Promise<FaceDetector> {
    const count = Math.max(1, Math.floor(sessions));
    return new FaceDetector(
      await Promise.all(Array.from({ length: count }, () => BlazeFaceModel.load(file))),
    );
  }

  /** Every face of the photo, best score first. */
  async detect(photo: RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const threshold = options.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
    const levels = planPyramid(photo.width, photo.height, options.smallestFace ?? DEFAULT_SMALLEST_FACE);
    const all: RawDetection[] = [];
    for (const level of levels) {
      const image = await resizeForLevel(photo, level.scale);
      const overlap = Math.min(BLAZEFACE_INPUT / 2, Math.ceil(level.maxBox) + 8);
      const xs = tileOrigins(image.width, BLAZEFACE_INPUT, Number.isFinite(overlap) ? overlap : 0);
      const ys = tileOrigins(image.height, BLAZEFACE_INPUT, Number.isFinite(overlap) ? overlap : 0);
      const tiles = ys.flatMap((y) => xs.map((x) => [x, y] as const));
      let next = 0;
      const worker = async (model: BlazeFaceModel): Promise<void> => {
        for (let i = next++; i < tiles.length; i = next++) {
          const [x0, y0] = tiles[i]!;
          // Fine levels are most of the work; flat tiles (sky, walls, blurred backgrounds) hold no face.
          if (!level.wholePhoto && !hasDetail(image, x0, y0)) continue;
          const found = await model.run(
            tileTensor(image, x0, y0),
            level.wholePhoto ? Math.min(threshold, WHOLE_PHOTO_THRESHOLD) : threshold,
          );
          for (const d of found) {
            const side = Math.max(d.box[2], d.box[3]);
            if (side < level.minBox || side > level.maxBox) continue;
            if (cutByInnerEdge(d, x0, y0, image.width, image.height, overlap)) continue;
            all.push(toPhoto(d, x0, y0, level.scale));
          }
        }
      };
      await Promise.all(this.models.map(worker));
    }
    return suppressContained(weightedNms(all, 0.3))
      .filter((d) => d.box[2] > 0 && d.box[3] > 0)
      .map((d) => ({ box: d.box, score: d.score, keypoints: d.keypoints }));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.models.map((model) => model.dispose()));
  }
}

/** The photo at one level's scale (the photo itself at scale >= 1). */
async function resizeForLevel(photo: RgbImage, scale: number): Promise<RgbImage> {
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  if (width === photo.width && height === photo.height) return photo;
  const { data, info } = await sharp(photo.data, {
    raw: { width: photo.width, height: photo.height, channels: 3 },
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

/** A 256 x 256 NHWC tile in [-1, 1]; outside the image it is mid-grey (0). */
function tileTensor(image: RgbImage, x0: number, y0: number): Float32Array {
  const size = BLAZEFACE_INPUT;
  const out = new Float32Array(size * size * 3);
  const w = Math.min(size, image.width - x0);
  const h = Math.min(size, image.height - y0);
  for (let y = 0; y < h; y++) {
    const src = ((y0 + y) * image.width + x0) * 3;
    const dst = y * size * 3;
    for (let i = 0; i < w * 3; i++) out[dst + i] = image.data[src + i]! / 127.5 - 1;
  }
  return out;
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
