/**
 * Faces cut back out of a finished photo's encoded output, at their paste sides: what the
 * output holds where each face is (for faces left as they were, whose output is the enlargement
 * and the face upsampler's layer rather than a restored face).
 */
import sharp from 'sharp';
import { InvalidParametersError, type RgbImage, rgbFromSharp } from '../engine/core.js';
import { cropRaw } from './enlarge.js';
import { outputToInput, placeFace, union } from './paste.js';
import type { PreparedPhoto } from './prepare.js';
import { composeSimilarity } from './similarity.js';
import { type PixelBounds, warpToFrame } from './warp.js';

/** Output pixels beyond a face's square read when it is cut out again (the cubic's reach). */
const CUT_MARGIN = 3;

/**
 * Most output pixels decoded at once to cut faces from (48 MB of RGB): faces whose windows fit
 * in one such rectangle are cut from one decode; a larger spread is cut in several.
 */
const MAX_CUT_PIXELS = 16_000_000;

/**
 * The aligned crops of the faces `indexes` of `photo` cut out of its finished output (`bytes`, as
 * finishPhoto encoded them: input size x `photo.upscale`), each at its paste side: what the
 * output holds there. For faces left as they were (`--save-faces`, the API's `output.faces`),
 * whose output is the enlargement and the face upsampler's layer, not a restored face that
 * finishPhoto could hand back. The faces' squares (and a margin) are decoded together, top to
 * bottom, in as few rectangles as MAX_CUT_PIXELS allows: a PNG or JPEG is read from its first
 * row whatever is extracted, so a decode per face would read a 48 MP output once per face.
 * `maxPixels` (default MAX_CUT_PIXELS) bounds a rectangle; the crops do not depend on it.
 *
 * @example
 * ```ts
 * const crops = await facesInOutput(finished.bytes, prepared, [2]); // crops.get(2): face 3 as output
 * ```
 */
export async function facesInOutput(
  bytes: Uint8Array,
  photo: PreparedPhoto,
  indexes: readonly number[],
  maxPixels = MAX_CUT_PIXELS,
): Promise<Map<number, RgbImage>> {
  const width = photo.decoded.image.width * photo.upscale;
  const height = photo.decoded.image.height * photo.upscale;
  const toInput = outputToInput(photo.upscale, 0);
  const wanted = indexes.flatMap((index) => {
    const face = photo.faces[index];
    if (!face) throw new InvalidParametersError(`no face ${index} in a photo of ${photo.faces.length}`);
    const { toFrame, bounds } = placeFace(face, face.pasteSide, toInput);
    const window: PixelBounds = {
      x0: Math.max(0, bounds.x0 - CUT_MARGIN),
      y0: Math.max(0, bounds.y0 - CUT_MARGIN),
      x1: Math.min(width, bounds.x1 + CUT_MARGIN + 1),
      y1: Math.min(height, bounds.y1 + CUT_MARGIN + 1),
    };
    // Wholly outside the photo: no pixel of it was output.
    return window.x1 > window.x0 && window.y1 > window.y0 ? [{ index, face, toFrame, window }] : [];
  });
  wanted.sort((p, q) => p.window.y0 - q.window.y0);
  // Top to bottom, each group the faces whose union of windows stays within MAX_CUT_PIXELS.
  const groups: { members: typeof wanted; union: PixelBounds }[] = [];
  for (const item of wanted) {
    const last = groups[groups.length - 1];
    const grown = last ? union(last.union, item.window) : item.window;
    if (last && (grown.x1 - grown.x0) * (grown.y1 - grown.y0) <= maxPixels) {
      last.members.push(item);
      last.union = grown;
    } else {
      groups.push({ members: [item], union: { ...item.window } });
    }
  }
  const crops = new Map<number, RgbImage>();
  for (const { members, union: area } of groups) {
    // sRGB, three bands: a grey output comes back grey, an alpha channel is not the face's.
    const decoded = await rgbFromSharp(
      sharp(bytes, { limitInputPixels: false })
        .extract({ left: area.x0, top: area.y0, width: area.x1 - area.x0, height: area.y1 - area.y0 })
        .removeAlpha()
        .toColourspace('srgb'),
    );
    for (const { index, face, toFrame, window } of members) {
      // The face's own window, so the cut reflects at the same edges whatever it was decoded with:
      // the photo's own wherever the square reaches past the margin.
      const w = window.x1 - window.x0;
      const h = window.y1 - window.y0;
      const data = cropRaw(decoded.data, decoded.width, 3, window.x0 - area.x0, window.y0 - area.y0, w, h);
      const own = { data, width: w, height: h };
      // Window pixels -> output pixels -> the face's square.
      const windowToFrame = composeSimilarity(toFrame, { a: 1, b: 0, tx: window.x0, ty: window.y0 });
      crops.set(index, warpToFrame(own, windowToFrame, face.pasteSide));
    }
  }
  return crops;
}
