/**
 * Restored faces back into the photo enlarged by `upscale`: each face's square inverse-warped
 * onto the output under its feathered mask (warp.ts `pasteFrame`), larger faces first. With a
 * face upsampler, every face's square is first enlarged by it (out to 1.5 times the frame): a
 * face left as it was is that layer, a restored face is pasted over it (its kept share,
 * FaceToPaste.keep, taken from it), so the hair, ears and collar around a restored face are
 * enlarged as a kept face's are. Either onto a whole enlarged
 * background (`pasteFaces`, `pasteOnto`) or into windows of the output under the faces only
 * (`faceWindows`), which finish.ts streams into the encoder.
 */
import type { RgbImage } from '../engine/core.js';
import { type OutputWindow, enlargeCentred, enlargeWindow } from './enlarge.js';
import { type FaceUpsamplerBank, upsampledFaceBounds, layUpsampledFace } from './face-upsampler.js';
import { type PreparedFace, toPixels } from './prepare.js';
import { type Similarity, composeSimilarity, similarityScale } from './similarity.js';
import {
  DEFAULT_PASTE_MASK,
  type KeptPart,
  type PixelBounds,
  checkShare,
  frameBounds,
  pasteFrame,
} from './warp.js';

/** A face to put back into the photo. */
export interface FaceToPaste {
  face: PreparedFace;
  /** Its restoration at its paste side, aligned like `face`; null: left as it was (not pasted). */
  restored: RgbImage | null;
  /**
   * 0..1 (default 0): the share of the restoration that is the face's aligned input, whatever
   * else it holds (engine/quality `keepShare`). That share is taken from what lies under the
   * face (the face upsampler's layer, or the enlargement), not from the aligned input warped
   * back (warp.ts KeptPart): a face `auto` hedged nearly all the way to keeping comes out
   * nearly as a kept face does, not softened by the warp there and back.
   */
  keep?: number;
}

/** Refuse a keep share outside 0..1 before anything is written. */
function checkKeepShares(faces: readonly FaceToPaste[]): void {
  for (const { keep } of faces) checkShare(keep ?? 0, "a face's keep share");
}

/** pasteFrame's KeptPart for a face (null when it is restored outright). */
function keptPart({ face, keep }: FaceToPaste): KeptPart | null {
  return keep ? { input: face.alignedInput, keep } : null;
}

/** A background enlarged by a BackgroundUpscaler. */
export interface UpscaledBackground {
  image: RgbImage;
  /**
   * Where input content lands: output coordinate = factor x input coordinate + offset (both
   * continuous, pixel i covering [i, i + 1)), so faces are pasted exactly over their background.
   */
  offset: number;
}

/**
 * Where a learned background upsampler would plug in: the whole photo enlarged by `factor`.
 * The default is `cubicBackground`.
 */
export type BackgroundUpscaler = (image: RgbImage, factor: number) => Promise<UpscaledBackground>;

/** The default background: the photo enlarged by `enlargeCentred` (content where the input had it). */
export const cubicBackground: BackgroundUpscaler = async (image, factor) => {
  if (factor === 1) return { image: { ...image, data: image.data.slice() }, offset: 0 };
  return {
    image: {
      data: await enlargeCentred(image.data, image.width, image.height, 3, factor),
      width: image.width * factor,
      height: image.height * factor,
    },
    offset: 0,
  };
};

/**
 * Paste restored faces (each at its paste side, aligned like its PreparedFace) into the photo
 * enlarged by `upscale`. Larger faces first, so a smaller face in front of a larger one (a
 * child on a lap) is blended over it rather than under it.
 */
export async function pasteFaces(
  photo: RgbImage,
  upscale: number,
  faces: readonly (FaceToPaste & { restored: RgbImage })[],
  background: BackgroundUpscaler = cubicBackground,
): Promise<RgbImage> {
  return pasteOnto(await background(photo, upscale), upscale, faces);
}

/** Output pixels -> input pixels for a background enlarged by `upscale` with `offset`. */
export function outputToInput(upscale: number, offset: number): Similarity {
  return { a: 1 / upscale, b: 0, tx: -offset / upscale, ty: -offset / upscale };
}

/** Where a face's square lands in the output: output pixels -> face pixels, and its bounds. */
export function placeFace(face: PreparedFace, side: number, toInput: Similarity) {
  const toFrame = composeSimilarity(toPixels(face.toUnit, side), toInput);
  return { toFrame, bounds: frameBounds(toFrame, side) };
}

/**
 * pasteFaces onto a background already enlarged (in place). With `upsampled` (the photo as
 * enlarged and the bank), every face's square is first laid over it enlarged by the face
 * upsampler (takesLayer).
 */
export function pasteOnto(
  { image: out, offset }: UpscaledBackground,
  upscale: number,
  faces: readonly FaceToPaste[],
  upsampled: { image: RgbImage; bank: FaceUpsamplerBank } | null = null,
): RgbImage {
  checkKeepShares(faces);
  const toInput = outputToInput(upscale, offset);
  if (upsampled) {
    for (const { face } of faces) {
      if (takesLayer(face)) {
        const toUnit = composeSimilarity(face.toUnit, toInput);
        layUpsampledFace(out, { x: 0, y: 0 }, upsampled.image, upsampled.bank, toUnit);
      }
    }
  }
  for (const item of faces) {
    const { face, restored } = item;
    if (!restored) continue;
    const { toFrame } = placeFace(face, restored.width, toInput);
    pasteFrame(out, restored, toFrame, DEFAULT_PASTE_MASK, { x: 0, y: 0 }, keptPart(item));
  }
  return out;
}

/**
 * The restored faces blended into windows of the photo enlarged by `upscale`: each window holds
 * the output pixels under one face, or under several that overlap (blended in order, as
 * pasteOnto does), for withEnlargedWindows to lay over the streamed enlargement without the
 * whole output in memory. Every face has its window, a face left as it was too (its frame), and
 * so does each square of `leftAlone` (the photo's skipped faces): there the enlargement under
 * it is the `exact` one (enlarge.ts EnlargeLevels), while each window's `enlarged` is the
 * streamed `fast` enlargement it replaces. So a kept or skipped face is bicubic's to the level,
 * and over every window the output is pasteOnto's bytes on cubicBackground; only the background
 * away from the faces keeps the cheaper `fast` levels, within one level of them.
 */
export async function faceWindows(
  photo: RgbImage,
  upscale: number,
  faces: readonly FaceToPaste[],
  bank: FaceUpsamplerBank | null,
  leftAlone: readonly Similarity[] = [],
): Promise<OutputWindow[]> {
  checkKeepShares(faces);
  const width = photo.width * upscale;
  const height = photo.height * upscale;
  const toInput = outputToInput(upscale, 0);
  const clip = (b: PixelBounds): PixelBounds => ({
    x0: Math.max(0, b.x0),
    y0: Math.max(0, b.y0),
    x1: Math.min(width - 1, b.x1),
    y1: Math.min(height - 1, b.y1),
  });
  // What goes over the enlargement: with a bank, the face upsampler's layer of each face, and
  // each restored face over it; a face with neither, the exact enlargement of its frame.
  type Placed =
    | { kind: 'frame'; bounds: PixelBounds }
    | { kind: 'layer'; toFrame: Similarity; bounds: PixelBounds }
    | {
        kind: 'restored';
        restored: RgbImage;
        kept: KeptPart | null;
        toFrame: Similarity;
        bounds: PixelBounds;
      };
  // The exact enlargement of a face's frame, for a face nothing is laid over (none at x1,
  // where the stream is the photo itself).
  const frame = (toUnit: Similarity): Placed[] =>
    upscale === 1
      ? []
      : [{ kind: 'frame', bounds: clip(frameBounds(composeSimilarity(toUnit, toInput), 1)) }];
  const placed = faces.flatMap((item): Placed[] => {
    const { face, restored } = item;
    const layer: Placed[] = [];
    if (bank && takesLayer(face)) {
      const toUnit = composeSimilarity(face.toUnit, toInput);
      layer.push({ kind: 'layer', toFrame: toUnit, bounds: clip(upsampledFaceBounds(toUnit)) });
    }
    if (!restored) return layer.length > 0 ? layer : frame(face.toUnit);
    const { toFrame, bounds } = placeFace(face, restored.width, toInput);
    return [...layer, { kind: 'restored', restored, kept: keptPart(item), toFrame, bounds: clip(bounds) }];
  });
  placed.push(...leftAlone.flatMap(frame));
  // Group faces whose rectangles overlap (transitively): one window each, faces in their order.
  const groups: { bounds: PixelBounds; members: number[] }[] = [];
  placed.forEach(({ bounds }, index) => {
    if (bounds.x0 > bounds.x1 || bounds.y0 > bounds.y1) return; // wholly outside the photo
    let group = { bounds: { ...bounds }, members: [index] };
    for (let i = groups.length - 1; i >= 0; i--) {
      if (overlaps(groups[i]!.bounds, group.bounds)) {
        const other = groups.splice(i, 1)[0]!;
        group = { bounds: union(other.bounds, group.bounds), members: [...other.members, ...group.members] };
        i = groups.length; // the grown rectangle may now meet groups already passed
      }
    }
    groups.push(group);
  });
  return Promise.all(
    groups.map(async ({ bounds: { x0, y0, x1, y1 }, members }) => {
      const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
      // What the stream holds there, and what the face goes onto (at x1 they are one crop).
      const [enlarged, image] = await Promise.all([
        enlargeWindow(photo, upscale, x0, y0, w, h, 'fast'),
        upscale === 1 ? null : enlargeWindow(photo, upscale, x0, y0, w, h, 'exact'),
      ]);
      const onto = image ?? { ...enlarged, data: enlarged.data.slice() };
      const inOrder = [...members].sort((i, j) => i - j).map((index) => placed[index]!);
      // The faces' layers under the restored faces, as pasteOnto lays them.
      for (const entry of inOrder) {
        if (entry.kind === 'layer' && bank)
          layUpsampledFace(onto, { x: x0, y: y0 }, photo, bank, entry.toFrame);
      }
      for (const entry of inOrder) {
        if (entry.kind === 'restored') {
          const { restored, toFrame, kept } = entry;
          pasteFrame(onto, restored, toFrame, DEFAULT_PASTE_MASK, { x: x0, y: y0 }, kept);
        }
      }
      return { left: x0, top: y0, enlarged, image: onto };
    }),
  );
}

function overlaps(p: PixelBounds, q: PixelBounds): boolean {
  return p.x0 <= q.x1 && q.x0 <= p.x1 && p.y0 <= q.y1 && q.y0 <= p.y1;
}

export function union(p: PixelBounds, q: PixelBounds): PixelBounds {
  return {
    x0: Math.min(p.x0, q.x0),
    y0: Math.min(p.y0, q.y0),
    x1: Math.max(p.x1, q.x1),
    y1: Math.max(p.y1, q.y1),
  };
}

/**
 * Faces with a frame larger than this (input pixels) keep the plain enlargement under them: the banks
 * were fitted on faces of 20-160 px, and the layer's cost grows with the face's area (a 256 px
 * frame at x4 is a 2.4 MP layer, about half a second of JavaScript on this project's machines).
 */
export const MAX_UPSAMPLED_FACE = 256;

/** Whether a face's square gets the face upsampler's layer (see MAX_UPSAMPLED_FACE). */
export function takesLayer(face: PreparedFace): boolean {
  return 1 / similarityScale(face.toUnit) <= MAX_UPSAMPLED_FACE;
}
