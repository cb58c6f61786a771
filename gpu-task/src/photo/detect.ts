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
import type { RgbImage } from '../engine/image/index.js';
import { BLAZEFACE_INPUT, BlazeFaceModel, type RawDetection, weightedNms } from './blazeface.js';

/** Smallest face box, in detector pixels, searched for at the finest level. */
export const MIN_DETECTOR_FACE = 14;

/** Scale ratio between pyramid levels. */
export const LEVEL_STEP = 3;

/** Default smallest face (box side in photo pixels) the pyramid reaches. */
export const DEFAULT_SMALLEST_FACE = 24;

/** Default score threshold. */
export const DEFAULT_SCORE_THRESHOLD = 0.6;

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
  /** Tiles run at once (each on one onnxruntime thread). Default 2. */
  concurrency?: number;
}

/** One pyramid level: the photo resized by `scale`, and which faces it is responsible for. */
interface Level {
  scale: number;
  /** Keep detections with box side (level pixels) at least this... */
  minBox: number;
  /** ...and at most this (Infinity at the coarsest level). */
  maxBox: number;
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

/** Plan the pyramid for a photo (see the module comment). */
export function planPyramid(width: number, height: number, smallestFace: number): Level[] {
  const coarsest = BLAZEFACE_INPUT / Math.max(width, height);
  const finest = Math.min(1, MIN_DETECTOR_FACE / Math.max(1, smallestFace));
  const levels: Level[] = [
    // The whole photo at half a tile, with grey around it: faces that fill the photo (a close-up,
    // an aligned crop) are found here, with context around them as the model expects.
    { scale: coarsest / 2, minBox: BLAZEFACE_INPUT / 3, maxBox: Infinity },
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
  private constructor(private readonly model: BlazeFaceModel) {}

  static async load(file?: string): Promise<FaceDetector> {
    return new FaceDetector(await BlazeFaceModel.load(file));
  }

  /** Every face of the photo, best score first. */
  async detect(photo: RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const threshold = options.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
    const concurrency = Math.max(1, options.concurrency ?? 2);
    const levels = planPyramid(photo.width, photo.height, options.smallestFace ?? DEFAULT_SMALLEST_FACE);
    const all: RawDetection[] = [];
    for (const level of levels) {
      const image = await resizeForLevel(photo, level.scale);
      const overlap = Math.min(BLAZEFACE_INPUT / 2, Math.ceil(level.maxBox) + 8);
      const xs = tileOrigins(image.width, BLAZEFACE_INPUT, Number.isFinite(overlap) ? overlap : 0);
      const ys = tileOrigins(image.height, BLAZEFACE_INPUT, Number.isFinite(overlap) ? overlap : 0);
      const tiles = ys.flatMap((y) => xs.map((x) => [x, y] as const));
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < tiles.length; i = next++) {
          const [x0, y0] = tiles[i]!;
          const found = await this.model.run(tileTensor(image, x0, y0), threshold);
          for (const d of found) {
            const side = Math.max(d.box[2], d.box[3]);
            if (side < level.minBox || side > level.maxBox) continue;
            if (cutByInnerEdge(d, x0, y0, image.width, image.height, overlap)) continue;
            all.push(toPhoto(d, x0, y0, level.scale));
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    }
    return weightedNms(all, 0.3)
      .filter((d) => d.box[2] > 0 && d.box[3] > 0)
      .map((d) => ({ box: d.box, score: d.score, keypoints: d.keypoints }));
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
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
