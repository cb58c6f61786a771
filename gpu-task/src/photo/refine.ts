/**
 * The one place per face, between restoration and paste-back, where a restored face meets its
 * aligned input at the same size: colour matching, and a face with no colour of its own (a
 * black-and-white or toned photo) kept so; degradation-aware fusion (issue 11's `fuseDetail`)
 * plugs in here.
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';

export interface RefineOptions {
  /**
   * Match the restored face's low frequencies (colour, shading) to the input's, and give a face
   * whose input has no colour of its own (see COLOURLESS_CHROMA_STD) the input's colour only.
   * The default models drift in colour; faces pasted with another skin tone than their neck
   * show as seams, and a grey photo's faces came back with bluish eyes and purple blotches.
   * Default true.
   */
  colorMatch?: boolean;
}

/**
 * Spread of a face's chroma (the larger standard deviation of Cb and Cr over the frame, in
 * levels) under which its input carries no colour of its own: a black-and-white photo, often
 * stored as colour (phones' mono filters, scans), or a toned one (sepia). The model still paints
 * colour into such a face (up to 25 levels on a grey group photo stored as RGB, bluish eyes and
 * purple skin), so its colour is taken from the input and only its luma from the restoration.
 * On 600 `train/` faces of UTKFace: 17 exactly grey (0), three black-and-white or lightly toned
 * (0.17-1.78), the least colourful colour faces 3.66 and up.
 */
export const COLOURLESS_CHROMA_STD = 2.5;

/** The larger standard deviation of Cb and Cr (BT.601, levels) over `image`. */
export function chromaSpread(image: RgbImage): number {
  const { data } = image;
  const n = data.length / 3;
  if (n === 0) return 0;
  let sumB = 0;
  let sumR = 0;
  let sumB2 = 0;
  let sumR2 = 0;
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    const cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    const cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    sumB += cb;
    sumR += cr;
    sumB2 += cb * cb;
    sumR2 += cr * cr;
  }
  const varB = sumB2 / n - (sumB / n) ** 2;
  const varR = sumR2 / n - (sumR / n) ** 2;
  return Math.sqrt(Math.max(0, varB, varR));
}

async function blurred(image: RgbImage, sigma: number): Promise<Uint8Array> {
  const data = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
    limitInputPixels: false,
  })
    .blur(sigma)
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Colour matching: add the difference of the two faces' Gaussian low-pass (sigma = side / 10,
 * well below the size of eyes and mouth), so the restored face keeps its detail and takes the
 * input's colour and shading.
 */
export async function matchLowFrequencies(restored: RgbImage, input: RgbImage): Promise<RgbImage> {
  return (await matchedWithTarget(restored, input)).matched;
}

/** matchLowFrequencies, and the input's low-pass it matched to. */
async function matchedWithTarget(
  restored: RgbImage,
  input: RgbImage,
): Promise<{ matched: RgbImage; target: Uint8Array }> {
  const sigma = Math.max(1, restored.width / 10);
  const [low, target] = await Promise.all([blurred(restored, sigma), blurred(input, sigma)]);
  const out = new Uint8Array(restored.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = restored.data[i]! + target[i]! - low[i]!;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
  }
  return { matched: { data: out, width: restored.width, height: restored.height }, target };
}

/**
 * `face`'s luma (BT.601) with `colour`'s chroma, pixel by pixel (same size): where `colour` is
 * grey, a grey face.
 */
function lumaWithChromaOf(face: RgbImage, colour: Uint8Array): RgbImage {
  const src = face.data;
  const out = new Uint8Array(src.length);
  const clamp = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
  for (let i = 0; i < src.length; i += 3) {
    const y = 0.299 * src[i]! + 0.587 * src[i + 1]! + 0.114 * src[i + 2]!;
    const r = colour[i]!;
    const g = colour[i + 1]!;
    const b = colour[i + 2]!;
    const cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    const cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    out[i] = clamp(y + 1.402 * cr);
    out[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    out[i + 2] = clamp(y + 1.772 * cb);
  }
  return { data: out, width: face.width, height: face.height };
}

/**
 * `restored` as it is, unless `input` (the same face, any size) has no colour of its own (see
 * COLOURLESS_CHROMA_STD): then its luma with the input's colour (low-pass, at its size). For
 * faces that get no colour matching (aligned crops), so a black-and-white crop stays so.
 *
 * @example
 * ```ts
 * const kept = await withInputColourIfColourless(restoredCrop, modelInput);
 * ```
 */
export async function withInputColourIfColourless(restored: RgbImage, input: RgbImage): Promise<RgbImage> {
  if (chromaSpread(input) >= COLOURLESS_CHROMA_STD) return restored;
  const { data } = await sharp(input.data, {
    raw: { width: input.width, height: input.height, channels: 3 },
    limitInputPixels: false,
  })
    .resize(restored.width, restored.height, { fit: 'fill', kernel: 'cubic' })
    .blur(Math.max(1, restored.width / 10))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return lumaWithChromaOf(restored, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Refine one restored face against its aligned input (both at the paste resolution).
 *
 * @example
 * ```ts
 * const final = await refineFace(restoredAtPaste, alignedInputAtPaste, { colorMatch: true });
 * ```
 */
export async function refineFace(
  restored: RgbImage,
  input: RgbImage,
  options: RefineOptions = {},
): Promise<RgbImage> {
  if (options.colorMatch === false) return restored;
  const { matched, target } = await matchedWithTarget(restored, input);
  // A face without colour of its own keeps the input's (its low-pass: grey stays exactly grey).
  return chromaSpread(input) < COLOURLESS_CHROMA_STD ? lumaWithChromaOf(matched, target) : matched;
}
