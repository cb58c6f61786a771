/**
 * Whole-photo evaluation scenes made from real photos: a clean photo is the ground truth, its
 * faces are those the detector finds in it (each framed as the pipeline frames a face, on the
 * model's template), and each draw degrades the whole photo with a split's degradation, as the
 * synthetic scenes of photo-scenes.ts are degraded.
 *
 * **Why.** Synthetic scenes paste square UTKFace crops onto backgrounds. A real group photo has
 * what they lack (hair and shoulders around every face, neighbouring faces, one lighting), and it
 * is how users meet the product and how issue 10 checks it: a group photo degraded at a quarter
 * of its size, restored x4, against bicubic of the same degraded photo.
 *
 * @example
 * ```ts
 * const photo = await loadRealPhoto('group.jpg', bytes, detector, template, 4);
 * const scene = await buildRealScene(0, photo, 2, degradationSplit('severe'));
 * ```
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type FivePointTemplate,
  InvalidParametersError,
  type RgbImage,
  decodeImageToRgb,
} from '../engine/index.js';
import {
  FaceDetector,
  DEFAULT_SMALLEST_FACE,
  alignmentFor,
  applySimilarity,
  invertSimilarity,
  similarityAngle,
  similarityScale,
} from '../photo/index.js';
import { type DegradationSplit, sampleDegradation } from './degrade.js';
import { type PhotoScene, type SceneFace, degradePhoto } from './photo-scenes.js';

/** A clean photo ready to be degraded: its pixels and its faces. */
export interface RealPhoto {
  /** The file's base name: scene ids and face ids start with it. */
  name: string;
  /** The clean photo, cut at its right and bottom edges to a multiple of `upscale`. */
  truth: RgbImage;
  upscale: number;
  /**
   * Its faces in the degraded photo's pixels (the truth's divided by `upscale`), each square the
   * model's frame around the face as the pipeline would align it on the clean photo.
   */
  faces: SceneFace[];
}

/**
 * Decode a clean photo, cut it to a multiple of `upscale` and find its faces. The faces are
 * detected on the clean photo at full size (faces down to DEFAULT_SMALLEST_FACE px there) and
 * framed with `template` (the model's, `framingTemplate(engine.framing)`), so each face's unit
 * square is the frame a restoration of it would fill. Throws when the photo holds no face.
 */
export async function loadRealPhoto(
  file: string,
  bytes: Uint8Array,
  detector: FaceDetector,
  template: FivePointTemplate,
  upscale: number,
): Promise<RealPhoto> {
  const name = path.basename(file);
  const { image } = await decodeImageToRgb(bytes).catch((error: unknown) => {
    throw new InvalidParametersError(
      `${name}: not a photo that can be decoded (${error instanceof Error ? error.message : String(error)})`,
    );
  });
  const width = image.width - (image.width % upscale);
  const height = image.height - (image.height % upscale);
  if (width < 32 * upscale || height < 32 * upscale) {
    throw new InvalidParametersError(
      `${name}: ${image.width}x${image.height} is too small to evaluate at x${upscale} (at least ${32 * upscale} px a side)`,
    );
  }
  const truth = cutTo(image, width, height);
  const detected = await detector.detect(truth, { smallestFace: DEFAULT_SMALLEST_FACE });
  if (detected.length === 0) throw new InvalidParametersError(`${name}: no face found in the clean photo`);
  const faces = detected.map((face, index): SceneFace => {
    const unitToTruth = invertSimilarity(alignmentFor(face.keypoints, template));
    const [cx, cy] = applySimilarity(unitToTruth, [0.5, 0.5]);
    return {
      id: `${name}#${index}`,
      side: similarityScale(unitToTruth) / upscale,
      angle: similarityAngle(unitToTruth),
      cx: cx / upscale,
      cy: cy / upscale,
      unitToTruth,
    };
  });
  return { name, truth, upscale, faces };
}

/**
 * Load clean photos (loadRealPhoto) with one detector, released afterwards.
 *
 * @example
 * ```ts
 * const photos = await loadRealPhotos(['group.jpg'], engine.faceTemplate, 4);
 * ```
 */
export async function loadRealPhotos(
  files: readonly string[],
  template: FivePointTemplate,
  upscale: number,
): Promise<RealPhoto[]> {
  const detector = await FaceDetector.load();
  try {
    const photos: RealPhoto[] = [];
    for (const file of files) {
      // Scene ids (and their degradation draws and seeds) come from the base name.
      if (photos.some((p) => p.name === path.basename(file))) {
        throw new InvalidParametersError(`two photos are named ${path.basename(file)}: rename one`);
      }
      const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
        throw new InvalidParametersError(`${file}: cannot read the photo (${error.code ?? error.message})`);
      });
      photos.push(await loadRealPhoto(file, new Uint8Array(bytes), detector, template, upscale));
    }
    return photos;
  } finally {
    await detector.dispose();
  }
}

/** The top-left `width` x `height` of an image. */
function cutTo(image: RgbImage, width: number, height: number): RgbImage {
  if (width === image.width && height === image.height) return image;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    data.set(image.data.subarray(y * image.width * 3, (y * image.width + width) * 3), y * width * 3);
  }
  return { data, width, height };
}

/**
 * Draw `draw` of a real photo under `split`: the clean photo degraded whole (photo-scenes.ts
 * degradePhoto: blur scaled to its faces' mean frame side, reduction by `upscale`, noise, JPEG),
 * with a degradation drawn from (seed, scene id), as a synthetic scene's is.
 */
export async function buildRealScene(
  seed: number,
  photo: RealPhoto,
  draw: number,
  split: DegradationSplit,
): Promise<PhotoScene> {
  const { truth, upscale, faces } = photo;
  const id = `${photo.name}-${String(draw).padStart(2, '0')}`;
  const degradation = sampleDegradation(seed, id, upscale, split);
  const meanFaceSide = (upscale * faces.reduce((sum, f) => sum + f.side, 0)) / faces.length;
  const { jpeg, low } = await degradePhoto(truth, degradation, meanFaceSide, seed, id);
  return {
    id,
    width: truth.width / upscale,
    height: truth.height / upscale,
    upscale,
    faces,
    truth,
    degradation,
    jpeg,
    low,
  };
}
