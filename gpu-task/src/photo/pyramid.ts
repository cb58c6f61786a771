/**
 * The photo detector's image pyramid (detect.ts runs it): which downscaled copies of a photo are
 * searched, how each is cut into overlapping 256 x 256 tiles, and how a tile's detections map
 * back to the photo.
 *
 * **Why a pyramid.** BlazeFace sees a 256 px input. Run once on a whole 12 MP photo, a face of
 * 100 px becomes 6 px and is lost. The model reliably finds faces whose box is about
 * `MIN_DETECTOR_FACE` px or more in its input and up to most of the input, a range of about 12x.
 * The levels therefore run from the whole photo in one tile (large faces) down to the scale
 * at which the smallest wanted face is `MIN_DETECTOR_FACE` px, about `LEVEL_STEP` times finer
 * each (evenly spaced, see planPyramid). At each fine level only faces too small for the next
 * coarser level are kept, and tiles overlap by more than such a face, so every face lies whole
 * in some tile. Faces that fill the photo are found in small whole-photo views (see
 * WHOLE_PHOTO_VIEWS); a photo too small for finer levels is also searched enlarged, for
 * candidates only (planPyramid). The photo is decoded once; the finest level is resized from
 * its pixels and each coarser one from the level below (Lanczos, which averages what it drops,
 * so small faces keep their contrast).
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';
import { BLAZEFACE_INPUT, type RawDetection } from './blazeface.js';

/** Smallest face box, in detector pixels, searched for at the finest level. */
export const MIN_DETECTOR_FACE = 14;

/** Scale ratio between pyramid levels. */
export const LEVEL_STEP = 3;

/** One pyramid level: the photo resized by `scale`, and which faces it is responsible for. */
export interface Level {
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
export interface PendingTile {
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
export function* levelTiles(
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
export function wholePhotoLevel(level: Level): boolean {
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
 * The photo at every level's scale (the photo itself at scale 1). Each level of scale under 1 is
 * reduced from the next finer one rather than from the photo (Lanczos throughout): the photo,
 * which may be 12-50 MP, is read once, for the finest level. A level over scale 1 (a small
 * photo's whole-photo tile or views, its enlarged candidate level) is enlarged from the photo.
 */
export async function levelImages(photo: RgbImage, levels: readonly Level[]): Promise<RgbImage[]> {
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

/** `image` resized to `width` x `height` (Lanczos), or `image` itself where that is its size. */
export async function resizeTo(image: RgbImage, width: number, height: number): Promise<RgbImage> {
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
export function tileTensor(image: RgbImage, x0: number, y0: number, out: Float32Array): Float32Array {
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

/**
 * A detection crossing a tile edge that lies inside the image is a cut face; a neighbouring
 * tile, which overlaps this one by more than such a face, sees it whole.
 */
export function cutByInnerEdge(
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

export function toPhoto(d: RawDetection, x0: number, y0: number, scale: number): RawDetection {
  return {
    box: [(d.box[0] + x0) / scale, (d.box[1] + y0) / scale, d.box[2] / scale, d.box[3] / scale],
    score: d.score,
    keypoints: d.keypoints.map(([x, y]) => [(x + x0) / scale, (y + y0) / scale]),
  };
}
