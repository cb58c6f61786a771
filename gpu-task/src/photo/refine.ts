/**
 * The one place per face, between restoration and paste-back, where a restored face meets its
 * aligned input at the same size: colour matching now; degradation-aware fusion (issue 11's
 * `fuseDetail`) plugs in here.
 */
import sharp from 'sharp';
import type { RgbImage } from '../engine/core.js';

export interface RefineOptions {
  /**
   * Match the restored face's low frequencies (colour, shading) to the input's. The default
   * models drift in colour; faces pasted with another skin tone than their neck show as seams.
   * Default true.
   */
  colorMatch?: boolean;
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
  const sigma = Math.max(1, restored.width / 10);
  const [low, target] = await Promise.all([blurred(restored, sigma), blurred(input, sigma)]);
  const out = new Uint8Array(restored.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = restored.data[i]! + target[i]! - low[i]!;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
  }
  return { data: out, width: restored.width, height: restored.height };
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
  return options.colorMatch === false ? restored : matchLowFrequencies(restored, input);
}
