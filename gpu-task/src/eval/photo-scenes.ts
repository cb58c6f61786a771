/**
 * Synthetic group photos for the whole-photo evaluation (`dr2e eval-photos`): clean faces
 * composed into a background at known similarity transforms, at the ground-truth resolution
 * (`upscale` times the photo's), then the whole photo degraded with the eval's Eq. 13 family.
 *
 * **Geometry.** Continuous coordinates, pixel i covering [i, i + 1), in the low-resolution
 * photo and the ground truth alike: a ground-truth coordinate is `upscale` times the photo's
 * (the downsampling is centre-aligned, MATLAB `imresize` semantics). Each face is a square
 * clean crop (UTKFace's 200 px "aligned and cropped" faces) placed with side `side` (photo
 * pixels), rotation `angle` and centre (cx, cy); `unitToTruth` maps its crop's unit square
 * [0, 1]² into the ground truth, which is how the evaluation cuts the same face region out of
 * every method's output.
 *
 * **Composition.** The crop is resized (antialiased bicubic) to its side in the ground truth,
 * then drawn through a rounded-square mask feathered over its outer tenth (a hard square edge
 * would be a seam no real photo has). Faces do not overlap.
 *
 * **Degradation** of the whole ground-truth photo (degrade.ts, one draw per photo): Gaussian
 * blur σ = σ512 · (mean face side in the ground truth) / 512, so a split blurs the photo's
 * average face as the aligned evaluation blurs a face; bicubic downsampling by `upscale`;
 * noise; 8-bit rounding; JPEG at the drawn quality (4:2:0). The JPEG bytes are what the
 * pipeline gets, as a user's file would be.
 */
import sharp from 'sharp';
import {
  InvalidParametersError,
  type RgbImage,
  SeededRandom,
  decodeImageToRgb,
  deriveSeed,
  rgbFromSharp,
  sharpFromRgb,
} from '../engine/index.js';
import { type Similarity, invertSimilarity, warpToFrame } from '../photo/index.js';
import {
  type DegradationParams,
  type DegradationSplit,
  addNoise,
  gaussianBlur,
  sampleDegradation,
} from './degrade.js';
import { planarToRgb, resizePlanar, resizeRgb, rgbToPlanar } from './planes.js';

/** How the scenes are drawn. */
export interface SceneOptions {
  /** Low-resolution photo size (what the pipeline gets). */
  width: number;
  height: number;
  /** Ground truth = photo x upscale. */
  upscale: number;
  /** Faces per photo. */
  faces: number;
  /** Face crop side in photo pixels, drawn log-uniformly from [min, max]. */
  minSide: number;
  maxSide: number;
  /** Largest rotation, radians (drawn uniformly in ±maxAngle). */
  maxAngle: number;
}

export const DEFAULT_SCENE_OPTIONS: Readonly<SceneOptions> = Object.freeze({
  width: 400,
  height: 300,
  upscale: 4,
  faces: 3,
  minSide: 40,
  maxSide: 160,
  maxAngle: (25 * Math.PI) / 180,
});

/** One face as placed. */
export interface SceneFace {
  /** The clean face's id (path in the archive). */
  id: string;
  /** Crop side in photo pixels. */
  side: number;
  /** Rotation, radians (clockwise in image coordinates). */
  angle: number;
  /** Centre in photo coordinates. */
  cx: number;
  cy: number;
  /** The crop's unit square -> ground-truth coordinates. */
  unitToTruth: Similarity;
}

/** Where faces go in one photo (before any pixel is drawn). */
export interface SceneLayout {
  id: string;
  faces: Omit<SceneFace, 'unitToTruth'>[];
}

/** A composed and degraded photo. */
export interface PhotoScene {
  id: string;
  width: number;
  height: number;
  upscale: number;
  faces: SceneFace[];
  /** Clean photo at width x upscale, height x upscale. */
  truth: RgbImage;
  degradation: DegradationParams;
  /** The degraded photo as a JPEG file (the pipeline's input). */
  jpeg: Uint8Array;
  /** The degraded photo decoded (the baselines' input). */
  low: RgbImage;
}

/** Check scene options at the edge. */
export function checkSceneOptions(options: SceneOptions): void {
  const { width, height, upscale, faces, minSide, maxSide } = options;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 32 && height >= 32)) {
    throw new InvalidParametersError(`photo size must be integers >= 32, got ${width}x${height}`);
  }
  if (!Number.isInteger(upscale) || upscale < 1) {
    throw new InvalidParametersError(`upscale must be a positive integer, got ${String(upscale)}`);
  }
  if (!Number.isInteger(faces) || faces < 1 || faces > 12) {
    throw new InvalidParametersError(`faces per photo must be 1-12, got ${String(faces)}`);
  }
  if (!(minSide >= 8 && maxSide >= minSide && maxSide <= Math.min(width, height))) {
    throw new InvalidParametersError(
      `face sides must satisfy 8 <= min <= max <= the photo's shorter side, got ${minSide}-${maxSide}`,
    );
  }
}

/**
 * Draw where the faces of photo `id` go: sides log-uniform in [minSide, maxSide], largest
 * placed first, centres uniform with the face inside the photo and no two faces' discs
 * overlapping (a face that finds no place is drawn 15 % smaller and tried again).
 * Depends only on (seed, id, options) and the face ids given.
 */
export function layoutScene(
  seed: number,
  id: string,
  faceIds: readonly string[],
  options: SceneOptions,
): SceneLayout {
  const random = new SeededRandom(deriveSeed(seed, id, 'layout'));
  const { width, height, minSide, maxSide, maxAngle } = options;
  const drawn = faceIds.map((faceId) => ({
    id: faceId,
    side: minSide * (maxSide / minSide) ** random.uniform(),
    angle: (2 * random.uniform() - 1) * maxAngle,
  }));
  drawn.sort((a, b) => b.side - a.side);
  const placed: Omit<SceneFace, 'unitToTruth'>[] = [];
  for (const face of drawn) {
    let side = face.side;
    for (let attempt = 0; ; attempt++) {
      // A rotated square's reach from its centre is at most side / sqrt(2).
      const reach = side / Math.SQRT2;
      const cx = reach + random.uniform() * Math.max(0, width - 2 * reach);
      const cy = reach + random.uniform() * Math.max(0, height - 2 * reach);
      const free = placed.every((p) => Math.hypot(p.cx - cx, p.cy - cy) >= 0.55 * (p.side + side));
      if (free) {
        placed.push({ id: face.id, side, angle: face.angle, cx, cy });
        break;
      }
      if (attempt % 50 === 49) side *= 0.85;
      if (side < 8) throw new InvalidParametersError(`no room for ${faceIds.length} faces in ${id}`);
    }
  }
  return { id, faces: placed };
}

/** The crop's unit square -> ground-truth coordinates of a placed face. */
export function unitToTruthOf(face: Omit<SceneFace, 'unitToTruth'>, upscale: number): Similarity {
  const s = face.side * upscale;
  const a = s * Math.cos(face.angle);
  const b = s * Math.sin(face.angle);
  // unit centre (0.5, 0.5) -> (cx, cy) x upscale
  return {
    a,
    b,
    tx: face.cx * upscale - 0.5 * a + 0.5 * b,
    ty: face.cy * upscale - 0.5 * b - 0.5 * a,
  };
}

/** Corner radius and feather width of the composition mask, fractions of the crop side. */
const MASK_CORNER = 0.22;
const MASK_FEATHER = 0.1;

/**
 * The composition mask in unit-square coordinates: a rounded square, 1 inside, feathered to 0
 * at the crop's edge (UTKFace crops are tight: an inscribed ellipse would cut the face itself).
 */
function maskAlpha(u: number, v: number): number {
  const half = 0.5 - MASK_CORNER;
  const ax = Math.abs(u - 0.5) - half;
  const ay = Math.abs(v - 0.5) - half;
  const outside = Math.hypot(Math.max(ax, 0), Math.max(ay, 0)) + Math.min(Math.max(ax, ay), 0) - MASK_CORNER;
  const inside = -outside;
  if (inside <= 0) return 0;
  if (inside >= MASK_FEATHER) return 1;
  const t = inside / MASK_FEATHER;
  return t * t * (3 - 2 * t);
}

/** Draw a clean crop into `target` (in place) under `unitToTarget`, through the elliptical mask. */
export function composeFace(target: RgbImage, crop: RgbImage, unitToTarget: Similarity): void {
  const side = Math.max(8, Math.round(Math.hypot(unitToTarget.a, unitToTarget.b)));
  const sized = crop.width === side ? crop : resizeRgb(crop, side, side);
  // The target's box around the face, filled by warping the crop into it.
  const corners = [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ].map(([u, v]) => [
    unitToTarget.a * u! - unitToTarget.b * v! + unitToTarget.tx,
    unitToTarget.b * u! + unitToTarget.a * v! + unitToTarget.ty,
  ]);
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c[0]!))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c[1]!))));
  const x1 = Math.min(target.width, Math.ceil(Math.max(...corners.map((c) => c[0]!))));
  const y1 = Math.min(target.height, Math.ceil(Math.max(...corners.map((c) => c[1]!))));
  const box = Math.max(x1 - x0, y1 - y0);
  if (box <= 0) return;
  // crop pixels -> unit -> target -> box
  const k = 1 / side;
  const cropToBox: Similarity = {
    a: unitToTarget.a * k,
    b: unitToTarget.b * k,
    tx: unitToTarget.tx - x0,
    ty: unitToTarget.ty - y0,
  };
  const drawn = warpToFrame(sized, cropToBox, box);
  const toUnit = invertSimilarity(unitToTarget);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const u = toUnit.a * (x + 0.5) - toUnit.b * (y + 0.5) + toUnit.tx;
      const v = toUnit.b * (x + 0.5) + toUnit.a * (y + 0.5) + toUnit.ty;
      const alpha = maskAlpha(u, v);
      if (alpha <= 0) continue;
      const o = (y * target.width + x) * 3;
      const d = ((y - y0) * box + (x - x0)) * 3;
      for (let c = 0; c < 3; c++) {
        target.data[o + c] = Math.round(
          target.data[o + c]! + alpha * (drawn.data[d + c]! - target.data[o + c]!),
        );
      }
    }
  }
}

/**
 * A synthetic background without faces: smooth colour gradients, soft blobs and a fine texture
 * (something with detail for the upsamplers, nothing a detector takes for a face).
 */
export function syntheticBackground(width: number, height: number, seed: number): RgbImage {
  const random = new SeededRandom(deriveSeed(seed, 'background'));
  const base = [0, 1, 2].map(() => 60 + 140 * random.uniform());
  const tilt = [0, 1, 2].map(() => 60 * (random.uniform() - 0.5));
  const blobs = Array.from({ length: 6 }, () => ({
    x: random.uniform(),
    y: random.uniform(),
    r: 0.1 + 0.25 * random.uniform(),
    c: [0, 1, 2].map(() => 60 * (random.uniform() - 0.5)),
  }));
  const fx = 20 + 40 * random.uniform();
  const fy = 20 + 40 * random.uniform();
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const texture = 6 * Math.sin((u * fx + 0.3 * v * fy) * Math.PI) * Math.sin(v * fy * Math.PI);
      for (let c = 0; c < 3; c++) {
        let value = base[c]! + tilt[c]! * (u - v) + texture;
        for (const blob of blobs) {
          const d2 = ((u - blob.x) ** 2 + (v - blob.y) ** 2) / (blob.r * blob.r);
          value += blob.c[c]! * Math.exp(-d2);
        }
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return { data, width, height };
}

/**
 * A background cut from a photo without faces: a random window of the photo's aspect-corrected
 * crop (at least half its height), resized (Lanczos) to width x height.
 */
export async function photoBackground(
  photo: RgbImage,
  width: number,
  height: number,
  seed: number,
): Promise<RgbImage> {
  const random = new SeededRandom(deriveSeed(seed, 'background'));
  const aspect = width / height;
  const maxH = Math.min(photo.height, photo.width / aspect);
  const h = Math.max(8, Math.round(maxH * (0.5 + 0.5 * random.uniform())));
  const w = Math.max(8, Math.min(photo.width, Math.round(h * aspect)));
  const left = Math.floor(random.uniform() * (photo.width - w + 1));
  const top = Math.floor(random.uniform() * (photo.height - h + 1));
  return rgbFromSharp(
    sharpFromRgb(photo)
      .extract({ left, top, width: w, height: h })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' }),
  );
}

/**
 * Compose one photo's ground truth: `background` (already at the ground-truth size) with the
 * layout's faces drawn in, each from `crops` (by id).
 */
export function composeTruth(
  background: RgbImage,
  layout: SceneLayout,
  crops: ReadonlyMap<string, RgbImage>,
  upscale: number,
): { truth: RgbImage; faces: SceneFace[] } {
  const truth: RgbImage = { ...background, data: background.data.slice() };
  const faces = layout.faces.map((face) => ({ ...face, unitToTruth: unitToTruthOf(face, upscale) }));
  for (const face of faces) {
    const crop = crops.get(face.id);
    if (!crop) throw new InvalidParametersError(`no clean face ${face.id}`);
    composeFace(truth, crop, face.unitToTruth);
  }
  return { truth, faces };
}

/**
 * Degrade a ground-truth photo into the pipeline's input (see the module comment): blur scaled
 * to the mean face side, bicubic downsampling by `upscale`, noise, rounding, JPEG.
 */
export async function degradePhoto(
  truth: RgbImage,
  params: DegradationParams,
  meanFaceSide: number,
  seed: number,
  id: string,
): Promise<{ jpeg: Uint8Array; low: RgbImage }> {
  const { scale } = params;
  if (truth.width % scale !== 0 || truth.height % scale !== 0) {
    throw new InvalidParametersError(
      `the ground truth ${truth.width}x${truth.height} is not divisible by ${scale}`,
    );
  }
  const sigma = (params.sigma512 * meanFaceSide) / 512;
  const blurred = gaussianBlur(rgbToPlanar(truth), sigma);
  const small = resizePlanar(blurred, truth.width / scale, truth.height / scale);
  addNoise(
    small,
    params.noiseType,
    params.noise,
    new SeededRandom(deriveSeed(seed, id, params.split, 'noise')),
  );
  const rounded = planarToRgb(small);
  const jpeg = await sharp(rounded.data, {
    raw: { width: rounded.width, height: rounded.height, channels: 3 },
  })
    .jpeg({ quality: params.jpegQuality, chromaSubsampling: '4:2:0' })
    .toBuffer();
  const bytes = new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  const { image: low } = await decodeImageToRgb(bytes);
  return { jpeg: bytes, low };
}

/**
 * Build one scene end to end: layout, composition, degradation.
 *
 * @example
 * ```ts
 * const scene = await buildScene(0, 'medium-003', faceIds, crops, background, DEGRADATION_SPLITS.medium, DEFAULT_SCENE_OPTIONS);
 * ```
 */
export async function buildScene(
  seed: number,
  id: string,
  faceIds: readonly string[],
  crops: ReadonlyMap<string, RgbImage>,
  background: RgbImage,
  split: DegradationSplit,
  options: SceneOptions,
): Promise<PhotoScene> {
  checkSceneOptions(options);
  const { width, height, upscale } = options;
  if (background.width !== width * upscale || background.height !== height * upscale) {
    throw new InvalidParametersError(
      `background must be ${width * upscale}x${height * upscale}, got ${background.width}x${background.height}`,
    );
  }
  const layout = layoutScene(seed, id, faceIds, options);
  const { truth, faces } = composeTruth(background, layout, crops, upscale);
  const degradation = sampleDegradation(seed, id, upscale, split);
  const meanFaceSide = (upscale * faces.reduce((sum, f) => sum + f.side, 0)) / faces.length;
  const { jpeg, low } = await degradePhoto(truth, degradation, meanFaceSide, seed, id);
  return { id, width, height, upscale, faces, truth, degradation, jpeg, low };
}

/**
 * The centred square of a clean face image (UTKFace crops are square already; others lose the
 * longer side's margins), as scenes place square faces.
 *
 * @example
 * ```ts
 * centreSquare({ data, width: 200, height: 240 }); // 200x200, rows 20..219
 * ```
 */
export function centreSquare(image: RgbImage): RgbImage {
  if (image.width === image.height) return image;
  const side = Math.min(image.width, image.height);
  const left = Math.floor((image.width - side) / 2);
  const top = Math.floor((image.height - side) / 2);
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + side * 3), y * side * 3);
  }
  return { data, width: side, height: side };
}

/**
 * The clean faces' square crops by id, each decoded once: what `buildScene` places.
 *
 * @example
 * ```ts
 * const refs = await listCleanFaces('faces.tar', { prefix: 'val/', limit: 24 });
 * const crops = await loadSceneCrops(refs);
 * ```
 */
export async function loadSceneCrops(
  refs: readonly { id: string; read(): Promise<Uint8Array> }[],
): Promise<Map<string, RgbImage>> {
  const crops = new Map<string, RgbImage>();
  for (const ref of refs) crops.set(ref.id, centreSquare((await decodeImageToRgb(await ref.read())).image));
  return crops;
}

/** The id of the evaluation's photo `index`: `photo-000`, `photo-001`, ... */
export function scenePhotoId(index: number): string {
  return `photo-${String(index).padStart(3, '0')}`;
}

/**
 * The background of the evaluation's photo `index`, at the ground-truth size: a window of a photo
 * without faces (`photoBackground`), or a synthetic one when none is given, drawn from the seed
 * and the index as `dr2e eval-photos` draws it (so scripts and tests rebuild its scenes exactly).
 *
 * @example
 * ```ts
 * const background = await sceneBackground(noFacePhoto, DEFAULT_SCENE_OPTIONS, seed, index);
 * const scene = await buildScene(seed, scenePhotoId(index), faceIds, crops, background, split, DEFAULT_SCENE_OPTIONS);
 * ```
 */
export async function sceneBackground(
  photo: RgbImage | null,
  options: Pick<SceneOptions, 'width' | 'height' | 'upscale'>,
  seed: number,
  index: number,
): Promise<RgbImage> {
  const [width, height] = [options.width * options.upscale, options.height * options.upscale];
  const drawn = deriveSeed(seed, index);
  return photo ? photoBackground(photo, width, height, drawn) : syntheticBackground(width, height, drawn);
}
