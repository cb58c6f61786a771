/**
 * Synthetic whole photos for the photo stage's tests: aligned face crops (whose landmarks are
 * known from their framing) pasted into a background at known similarity transforms, so the
 * true landmarks of every face in the photo are known.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import {
  FFHQ_FRAMING,
  framingTemplate,
  type FaceFraming,
  decodeImageToRgb,
  type RgbImage,
  SeededRandom,
} from '../../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  buildScene,
  degradationSplit,
  listCleanFaces,
  type PhotoScene,
  addNoise,
  gaussianBlur,
  jpegRoundTrip,
  planarToRgb,
  resizePlanar,
  rgbToPlanar,
  loadSceneCrops,
  sceneBackground,
  scenePhotoId,
} from '../../gpu-task/src/eval/index.js';
import {
  applySimilarity,
  type DetectOptions,
  type FaceDetector,
  composeSimilarity,
  invertSimilarity,
  type FaceUpsamplerBank,
  loadFaceUpsampler,
  pasteFrame,
  type PreparedFace,
  type PreparedPhoto,
  type Similarity,
} from '../../gpu-task/src/photo/index.js';
import { sharedDir } from '../engine/helpers/fixture-paths.js';

export const hqDir = path.join(sharedDir, 'data', 'hq');
export const utkTar = path.join(sharedDir, 'data', 'utkface', 'utkface-200.tar');
export const wholePhotosDir = path.join(sharedDir, 'data', 'whole-photos');
export const hqPresent = existsSync(hqDir);
export const utkPresent = existsSync(utkTar);

/** The UTKFace crops' framing (measured; see the default model's manifest). */
export const UTK_FRAMING: FaceFraming = {
  name: 'utkface-200',
  eyeDistance: 0.4025,
  eyeY: 0.2855,
  mouthY: 0.6876,
};

/** An aligned face crop and the framing it has. */
export interface AlignedFace {
  image: RgbImage;
  framing: FaceFraming;
}

export async function hqFaces(): Promise<AlignedFace[]> {
  const refs = await listCleanFaces(hqDir);
  return Promise.all(
    refs.map(async (ref) => ({
      image: (await decodeImageToRgb(await ref.read())).image,
      framing: FFHQ_FRAMING,
    })),
  );
}

export async function utkFaces(count: number, prefix = 'train/'): Promise<AlignedFace[]> {
  const refs = await listCleanFaces(utkTar, { prefix, limit: count });
  return Promise.all(
    refs.map(async (ref) => ({
      image: (await decodeImageToRgb(await ref.read())).image,
      framing: UTK_FRAMING,
    })),
  );
}

/** Where to put a face: its centre, its side in the photo, its rotation (radians, clockwise). */
export interface Placement {
  face: AlignedFace;
  cx: number;
  cy: number;
  side: number;
  angle?: number;
}

/** A face as placed: eyes (image left, right), nose tip, mouth centre, in photo coordinates. */
export interface PlacedFace {
  landmarks: [number, number][];
  /** Distance between the eyes, in photo pixels. */
  eyeDistance: number;
  /** Crop pixels -> photo coordinates. */
  cropToPhoto: Similarity;
}

/** A quiet background: a diagonal gradient with soft blobs (something for a detector to reject). */
export function background(width: number, height: number, grey = false): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const t = (x / width + y / height) / 2;
      const wave = 12 * Math.sin(x / 37) * Math.cos(y / 53);
      data[i] = 90 + 80 * t + wave;
      data[i + 1] = grey ? data[i]! : 110 + 40 * t + wave;
      data[i + 2] = grey ? data[i]! : 140 - 50 * t + wave;
    }
  }
  return { data, width, height };
}

/**
 * Paste faces into `photo` (in place) and return where their landmarks went.
 */
export function placeFaces(photo: RgbImage, placements: readonly Placement[]): PlacedFace[] {
  return placements.map(({ face, cx, cy, side, angle = 0 }) => {
    const crop = face.image.width;
    const s = side / crop;
    const a = s * Math.cos(angle);
    const b = s * Math.sin(angle);
    // crop centre (crop/2, crop/2) -> (cx, cy)
    const cropToPhoto: Similarity = {
      a,
      b,
      tx: cx - (a * crop) / 2 + (b * crop) / 2,
      ty: cy - (b * crop) / 2 - (a * crop) / 2,
    };
    pasteFrame(photo, face.image, invertSimilarity(cropToPhoto), { erode: 0, feather: 0.03 });
    const [le, re, nose, ml, mr] = framingTemplate(face.framing);
    const points = [le, re, nose, [(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2] as const].map(
      ([x, y]) => applySimilarity(cropToPhoto, [x * crop, y * crop]) as [number, number],
    );
    return {
      landmarks: points,
      eyeDistance: Math.hypot(points[1]![0] - points[0]![0], points[1]![1] - points[0]![1]),
      cropToPhoto,
    };
  });
}

export async function encode(image: RgbImage, format: 'png' | 'jpeg' = 'png'): Promise<Uint8Array> {
  const pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  return new Uint8Array(
    await (format === 'png' ? pipeline.png() : pipeline.jpeg({ quality: 92 })).toBuffer(),
  );
}

/** The found face whose eye midpoint is nearest to a placed face's, and that distance. */
function nearest<T extends { landmarks: [number, number][] }>(
  placed: PlacedFace,
  found: readonly T[],
): { face: T | undefined; distance: number } {
  const mid = (l: [number, number][]): [number, number] => [
    (l[0]![0] + l[1]![0]) / 2,
    (l[0]![1] + l[1]![1]) / 2,
  ];
  const [px, py] = mid(placed.landmarks);
  let face: T | undefined;
  let distance = Infinity;
  for (const f of found) {
    const [fx, fy] = mid(f.landmarks);
    const d = Math.hypot(fx - px, fy - py);
    if (d < distance) {
      distance = d;
      face = f;
    }
  }
  return { face, distance };
}

/** The found face whose eye midpoint is nearest to a placed face's, or undefined beyond `limit`. */
export function match<T extends { landmarks: [number, number][] }>(
  placed: PlacedFace,
  found: readonly T[],
  limit = 0.5,
): T | undefined {
  const { face, distance } = nearest(placed, found);
  return distance <= limit * placed.eyeDistance * 2 ? face : undefined;
}

/**
 * How far the nearest found face's eye midpoint lies from a placed face's, in the placed face's
 * eye distances (Infinity when nothing was found): `match` accepts up to 1.
 */
export function eyeMidpointOffset(
  placed: PlacedFace,
  found: readonly { landmarks: [number, number][] }[],
): number {
  return nearest(placed, found).distance / placed.eyeDistance;
}

export { composeSimilarity };

/**
 * A whole-photo evaluation scene as `scripts/detect-recall.ts` builds it: photo `index` of a run
 * of `photos` photos with `seed`, its faces the `index`-th group of train/ faces (drawn from the
 * first `photos` x 3 of the archive), its background a window of the no-face photo; `size` as
 * the script's `--width`/`--height`. Needs ../shared.
 */
export async function recallScene(
  seed: number,
  index: number,
  split: string,
  photos: number,
  size: { width: number; height: number } = DEFAULT_SCENE_OPTIONS,
): Promise<{ scene: PhotoScene; photo: RgbImage }> {
  const [one] = await evaluationScenes({ prefix: 'train/', seed, split, photos, only: index, size });
  return one!;
}

/**
 * The scenes of `dr2e eval-photos --prefix P --seed S --limit N` (one split, the default scene
 * options but `size`), or only photo `only` of them; the archive is listed once. Needs ../shared.
 */
export async function evaluationScenes(options: {
  prefix: string;
  seed: number;
  split: string;
  photos: number;
  only?: number;
  size?: { width: number; height: number };
}): Promise<{ scene: PhotoScene; photo: RgbImage }[]> {
  const { prefix, seed, split, photos, only, size = DEFAULT_SCENE_OPTIONS } = options;
  const sceneOptions = { ...DEFAULT_SCENE_OPTIONS, width: size.width, height: size.height };
  const faces = sceneOptions.faces;
  const refs = await listCleanFaces(utkTar, { prefix, limit: photos * faces });
  const noFace = (
    await decodeImageToRgb(await readFile(path.join(wholePhotosDir, 'insightface_view_noface.jpg')))
  ).image;
  const indices = only === undefined ? [...Array(photos).keys()] : [only];
  const scenes: { scene: PhotoScene; photo: RgbImage }[] = [];
  for (const index of indices) {
    const mine = refs.slice(index * faces, (index + 1) * faces);
    const scene = await buildScene(
      seed,
      scenePhotoId(index),
      mine.map((r) => r.id),
      await loadSceneCrops(mine),
      await sceneBackground(noFace, sceneOptions, seed, index),
      degradationSplit(split),
      sceneOptions,
    );
    scenes.push({ scene, photo: (await decodeImageToRgb(scene.jpeg)).image });
  }
  return scenes;
}

/**
 * Checks that `scene`'s faces are all found in `photo`, and nothing else, with the detector
 * options `enabled` (default: the defaults), and that `without` misses at least one of them.
 */
export async function expectFoundOnlyWith(
  detector: FaceDetector,
  scene: PhotoScene,
  photo: RgbImage,
  without: DetectOptions,
  enabled: DetectOptions = {},
): Promise<void> {
  const missing = await detector.detect(photo, without);
  const found = await detector.detect(photo, enabled);
  expect(foundEach(scene, missing)).toContain(false);
  expect(foundEach(scene, found)).toEqual(scene.faces.map(() => true));
  expect(found).toHaveLength(scene.faces.length);
}

/** For each face placed in `scene`, whether a detection's box centre lies within 0.4 face sides of it. */
export function foundEach(scene: PhotoScene, faces: readonly { box: readonly number[] }[]): boolean[] {
  return scene.faces.map((face) =>
    faces.some(
      (f) =>
        Math.hypot(f.box[0]! + f.box[2]! / 2 - face.cx, f.box[1]! + f.box[3]! / 2 - face.cy) <=
        0.4 * face.side,
    ),
  );
}

/** How a whole photo of `../shared/data/whole-photos` is degraded by degradedWholePhoto. */
export interface PhotoDegradation {
  /** Width after downscaling (the height keeps the aspect ratio). */
  width: number;
  /** Gaussian blur σ in the photo's own pixels, before downscaling. */
  blur: number;
  /** Gaussian noise std (0-255), after downscaling. */
  noise: number;
  jpegQuality: number;
  seed: number;
}

/**
 * A photo of `../shared/data/whole-photos` blurred, downscaled (bicubic), noised and
 * JPEG-compressed, as Eq. 13 degrades a face, deterministically. Needs ../shared.
 */
export async function degradedWholePhoto(name: string, d: PhotoDegradation): Promise<RgbImage> {
  const photo = (await decodeImageToRgb(await readFile(path.join(wholePhotosDir, name)))).image;
  const height = Math.round((photo.height * d.width) / photo.width);
  const small = resizePlanar(gaussianBlur(rgbToPlanar(photo), d.blur), d.width, height);
  addNoise(small, 'gaussian', d.noise, new SeededRandom(d.seed));
  return jpegRoundTrip(planarToRgb(small), d.jpegQuality);
}

/**
 * A photo of `../shared/data/whole-photos` as `scripts/detect-degraded-photos.ts` degrades it:
 * downscaled to `width` first (bicubic), then blurred (σ in the small photo's pixels), noised
 * with the script's seed for `level` (0-2) and `draw`, and JPEG-compressed. Needs ../shared.
 */
export async function harshlyDegradedPhoto(
  name: string,
  {
    width,
    level,
    draw,
    blur,
    noise,
    jpegQuality,
  }: Omit<PhotoDegradation, 'seed'> & { level: number; draw: number },
): Promise<RgbImage> {
  const photo = (await decodeImageToRgb(await readFile(path.join(wholePhotosDir, name)))).image;
  const height = Math.max(1, Math.round((photo.height * width) / photo.width));
  const small = gaussianBlur(resizePlanar(rgbToPlanar(photo), width, height), blur);
  addNoise(small, 'gaussian', noise, new SeededRandom(draw * 100_003 + level * 10_007 + width));
  return jpegRoundTrip(planarToRgb(small), jpegQuality);
}

/**
 * A decoded photo with `faces` as preparePhoto hands it to finishPhoto (a PNG at its own
 * orientation; an opaque alpha plane with `alpha`, which sends finishPhoto down its in-memory
 * path).
 */
export function preparedPhotoOf(
  image: RgbImage,
  upscale: PreparedPhoto['upscale'],
  faces: PreparedFace[],
  { alpha = false, grey = false }: { alpha?: boolean; grey?: boolean } = {},
): PreparedPhoto {
  const { width, height } = image;
  return {
    decoded: {
      image,
      alpha: alpha ? new Uint8Array(width * height).fill(255) : null,
      grey,
      info: { width, height, format: 'png', hasAlpha: alpha, orientation: 1, byteLength: 0, frames: 1 },
    },
    upscale,
    faces,
    skippedFaces: [],
    warnings: [],
    decodeMs: 0,
    detectMs: 0,
    decodeCpuMs: 0,
    detectCpuMs: 0,
  };
}

/** The face upsampler banks the default pipeline names (x2, x4). */
export function shippedFaceUpsampler(factor: number): Promise<FaceUpsamplerBank> {
  return loadFaceUpsampler(
    path.join(__dirname, '..', '..', 'gpu-task', 'models', 'default', 'face-upsampler', `x${factor}.json`),
  );
}

/**
 * Assess a streamed output (`streamed`, raw RGB of `width` x `height`) against the in-memory
 * one (`inMemory`) of the same photo, faces and settings: the same bytes over every face's frame
 * (photo pixels -> [0, 1]², enlarged by `upscale`), widened by `widen` about its centre (1.5:
 * the face upsampler's layer, face-upsampler.ts upsampledFaceBounds), where the faces and the
 * bicubic under them are exact on both paths; within one level everywhere else (the streamed
 * background away from the faces is libvips' 8-bit bicubic, enlarge.ts EnlargeLevels `fast`).
 */
export function expectStreamedAsInMemory(
  streamed: Uint8Array,
  inMemory: Uint8Array,
  width: number,
  upscale: number,
  frames: readonly Similarity[],
  { label = '', widen = 1 }: { label?: string; widen?: number } = {},
): void {
  expect(streamed.length, label).toBe(inMemory.length);
  const height = streamed.length / (width * 3);
  let worst = 0;
  for (let i = 0; i < streamed.length; i++) worst = Math.max(worst, Math.abs(streamed[i]! - inMemory[i]!));
  expect(worst, `${label}: largest difference`).toBeLessThanOrEqual(1);
  for (const frame of frames) {
    const back = invertSimilarity(frame);
    const [near, far] = [0.5 - widen / 2, 0.5 + widen / 2];
    const corners = [
      [near, near],
      [far, near],
      [near, far],
      [far, far],
    ].map(([u, v]) => applySimilarity(back, [u!, v!]).map((c) => c * upscale));
    const x0 = Math.max(0, Math.ceil(Math.min(...corners.map((c) => c[0]!))));
    const x1 = Math.min(width, Math.floor(Math.max(...corners.map((c) => c[0]!))));
    const y0 = Math.max(0, Math.ceil(Math.min(...corners.map((c) => c[1]!))));
    const y1 = Math.min(height, Math.floor(Math.max(...corners.map((c) => c[1]!))));
    let off = 0;
    for (let y = y0; y < y1; y++) {
      for (let i = (y * width + x0) * 3; i < (y * width + x1) * 3; i++)
        if (streamed[i] !== inMemory[i]) off++;
    }
    expect(off, `${label}: samples off in the frame at (${x0}, ${y0})-(${x1}, ${y1})`).toBe(0);
  }
}

/** Expect the vendored graph `file` to be the file its `source.json` beside it records (name, SHA-256). */
export async function expectAsRecorded(file: string): Promise<void> {
  const source = JSON.parse(await readFile(path.join(path.dirname(file), 'source.json'), 'utf8')) as {
    file: string;
    sha256: string;
  };
  expect(path.basename(file)).toBe(source.file);
  expect(
    createHash('sha256')
      .update(await readFile(file))
      .digest('hex'),
  ).toBe(source.sha256);
}

/**
 * `photo` set with its top-left at (`left`, `top`) in a `width` x `height` photo of flat grey
 * 120: a photo of sides the whole-photo graphs must pad, the same face moved by a known offset.
 */
export function setInGrey(
  photo: RgbImage,
  width: number,
  height: number,
  left: number,
  top: number,
): RgbImage {
  const data = new Uint8Array(width * height * 3).fill(120);
  for (let y = 0; y < photo.height; y++)
    data.set(
      photo.data.subarray(y * photo.width * 3, (y + 1) * photo.width * 3),
      ((y + top) * width + left) * 3,
    );
  return { data, width, height };
}
