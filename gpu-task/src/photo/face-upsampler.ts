/**
 * The face upsampler: how the photo is enlarged around and under its faces. Faces that `auto`
 * keeps as they were (clean or mildly degraded, larger than the prior can improve) came back as
 * the photo's bicubic enlargement, a little soft; a learned linear interpolator does better at
 * the same cost class. Restored faces are pasted over the same layer, so their hair, ears and
 * collar (where the paste mask fades out) are enlarged as a kept face's are.
 *
 * **What it is.** A bank of 5x5 filters per (bucket, output phase), fitted by least squares on
 * `train/` faces degraded like the eval's `mild` split and shrunk toward bicubic
 * (`models/dr2e_models/train_face_upsampler.py`, whose module text is the layout's
 * specification). Each input pixel picks its bucket from the structure of the luma gradient
 * around it (direction, strength, coherence, as RAISR does), so edges are sharpened along their
 * direction and flat skin stays smooth. The same filter serves R, G and B, so a grey face stays
 * grey. It only interpolates: it draws no detail the input does not hold.
 *
 * **Which.** A model's pipeline manifest names its banks (`faceUpsampler`), as it names its
 * networks: the embedded default's are fitted on UTKFace and share its terms, so a deployment
 * that brings its own weights does not inherit them unasked (without banks, faces get the
 * photo's plain enlargement).
 *
 * **Where.** Only inside the frames of faces (blended out to 1.5 times the frame, see
 * paste.ts): filtering a 12 MP photo with it would cost seconds in JavaScript, and it was
 * fitted on faces. What it gains over bicubic on held-out `train/` faces is in each bank's
 * `provenance`; on `val/` photos in docs/eval/README.md.
 *
 * @example
 * ```ts
 * const bank = await loadFaceUpsampler('gpu-task/models/default/face-upsampler/x2.json');
 * const window = upsampleWindow(photo, bank, { x0: 100, y0: 80, x1: 399, y1: 379 });
 * ```
 */
import { readFile } from 'node:fs/promises';
import { InvalidParametersError, ModelContractError, type RgbImage } from '../engine/core.js';
import type { Similarity } from './similarity.js';
import { type PixelBounds, clamp8, frameBounds } from './warp.js';

/** A loaded filter bank (see the training module for the layout). */
export interface FaceUpsamplerBank {
  factor: number;
  taps: number;
  angles: number;
  luma: readonly [number, number, number];
  tensorRadius: number;
  /** Ascending thresholds of sqrt(l1): a value equal to one falls below it. */
  strength: readonly number[];
  /** Ascending thresholds of the coherence. */
  coherence: readonly number[];
  /** [bucket][phase][tap], tap = row * taps + column. */
  weights: Float32Array;
  /** The terms of the faces it was fitted on (as a model manifest's `license`). */
  license: { name: string; commercialUse: boolean };
}

const BANK_FORMAT = 'dr2e-face-upsampler/1';

function numberList(value: unknown, what: string, file: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ModelContractError(`${file}: ${what} must be a list of finite numbers`);
  }
  return value as number[];
}

function positiveInteger(value: unknown, what: string, file: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ModelContractError(`${file}: ${what} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Read and check a bank written by `train_face_upsampler`: a file of another format, a weight
 * count that does not match its shape or non-finite weights are refused with ModelContractError.
 */
export async function loadFaceUpsampler(file: string): Promise<FaceUpsamplerBank> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ModelContractError(`cannot read the face upsampler ${file}: ${(error as Error).message}`);
  }
  if (data.format !== BANK_FORMAT) {
    throw new ModelContractError(`${file}: format must be ${BANK_FORMAT}, got ${String(data.format)}`);
  }
  const factor = positiveInteger(data.factor, 'factor', file);
  const taps = positiveInteger(data.taps, 'taps', file);
  const angles = positiveInteger(data.angles, 'angles', file);
  const tensorRadius = positiveInteger(data.tensorRadius, 'tensorRadius', file);
  const luma = numberList(data.luma, 'luma', file);
  const strength = numberList(data.strength, 'strength', file);
  const coherence = numberList(data.coherence, 'coherence', file);
  const shape = numberList(data.shape, 'shape', file);
  if (taps % 2 !== 1 || luma.length !== 3)
    throw new ModelContractError(`${file}: taps must be odd, luma 3 weights`);
  const ascending = (list: number[]) => list.every((v, i) => i === 0 || list[i - 1]! < v);
  if (!ascending(strength) || !ascending(coherence)) {
    throw new ModelContractError(`${file}: strength and coherence thresholds must be ascending`);
  }
  const buckets = angles * (strength.length + 1) * (coherence.length + 1);
  if (buckets > 65536) throw new ModelContractError(`${file}: ${buckets} buckets, at most 65536`);
  if (shape.join() !== [buckets, factor * factor, taps * taps].join()) {
    throw new ModelContractError(
      `${file}: shape ${shape.join('x')} does not match its buckets, factor and taps`,
    );
  }
  if (typeof data.weights !== 'string') throw new ModelContractError(`${file}: weights must be base64 text`);
  const bytes = Buffer.from(data.weights, 'base64');
  if (bytes.length !== buckets * factor * factor * taps * taps * 4) {
    throw new ModelContractError(`${file}: ${bytes.length} weight bytes for shape ${shape.join('x')}`);
  }
  const weights = new Float32Array(bytes.length / 4);
  for (let i = 0; i < weights.length; i++) weights[i] = bytes.readFloatLE(4 * i);
  if (!weights.every(Number.isFinite)) throw new ModelContractError(`${file}: weights must be finite`);
  const license = data.license as { name?: unknown; commercialUse?: unknown } | undefined;
  if (typeof license?.name !== 'string' || typeof license.commercialUse !== 'boolean') {
    throw new ModelContractError(
      `${file}: license must be { name, commercialUse } (the terms of its training faces)`,
    );
  }
  return {
    factor,
    taps,
    angles,
    luma: [luma[0]!, luma[1]!, luma[2]!],
    tensorRadius,
    strength,
    coherence,
    weights,
    license: { name: license.name, commercialUse: license.commercialUse },
  };
}

/** Ascending thresholds below or at `value`: numpy's searchsorted(side='left'). */
function binOf(thresholds: readonly number[], value: number): number {
  let bin = 0;
  while (bin < thresholds.length && thresholds[bin]! < value) bin++;
  return bin;
}

function clampIndex(i: number, size: number): number {
  return i < 0 ? 0 : i >= size ? size - 1 : i;
}

/**
 * The filter bucket of every input pixel in columns [cx0, cx1] and rows [cy0, cy1] (see the
 * training module: luma gradients and their 5x5 box, both edge-replicated at the photo's edges).
 */
function bucketsOf(
  image: RgbImage,
  bank: FaceUpsamplerBank,
  cx0: number,
  cy0: number,
  cx1: number,
  cy1: number,
) {
  const { width, height, data } = image;
  const [wr, wg, wb] = bank.luma;
  const reach = bank.tensorRadius + 1;
  // Luma over the block plus the reach, read at clamped positions (edge replication).
  const lx0 = cx0 - reach;
  const ly0 = cy0 - reach;
  const lw = cx1 - cx0 + 1 + 2 * reach;
  const lh = cy1 - cy0 + 1 + 2 * reach;
  const lumaAt = new Float64Array(lw * lh);
  for (let y = 0; y < lh; y++) {
    const row = clampIndex(ly0 + y, height) * width;
    for (let x = 0; x < lw; x++) {
      const i = (row + clampIndex(lx0 + x, width)) * 3;
      lumaAt[y * lw + x] = wr * data[i]! + wg * data[i + 1]! + wb * data[i + 2]!;
    }
  }
  // Gradient products at every (clamped) position the box reads.
  const r = bank.tensorRadius;
  const gw = cx1 - cx0 + 1 + 2 * r;
  const gh = cy1 - cy0 + 1 + 2 * r;
  const xx = new Float64Array(gw * gh);
  const yy = new Float64Array(gw * gh);
  const xy = new Float64Array(gw * gh);
  const local = (px: number, py: number) => (py - ly0) * lw + (px - lx0);
  for (let y = 0; y < gh; y++) {
    const py = clampIndex(cy0 - r + y, height);
    const up = clampIndex(py - 1, height);
    const down = clampIndex(py + 1, height);
    for (let x = 0; x < gw; x++) {
      const px = clampIndex(cx0 - r + x, width);
      const gx =
        (lumaAt[local(clampIndex(px + 1, width), py)]! - lumaAt[local(clampIndex(px - 1, width), py)]!) / 2;
      const gy = (lumaAt[local(px, down)]! - lumaAt[local(px, up)]!) / 2;
      xx[y * gw + x] = gx * gx;
      yy[y * gw + x] = gy * gy;
      xy[y * gw + x] = gx * gy;
    }
  }
  const bw = cx1 - cx0 + 1;
  const bh = cy1 - cy0 + 1;
  const buckets = new Uint16Array(bw * bh);
  const boxArea = (2 * r + 1) ** 2;
  const strengthBins = bank.strength.length + 1;
  const coherenceBins = bank.coherence.length + 1;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let dy = 0; dy <= 2 * r; dy++) {
        const o = (y + dy) * gw + x;
        for (let dx = 0; dx <= 2 * r; dx++) {
          sxx += xx[o + dx]!;
          syy += yy[o + dx]!;
          sxy += xy[o + dx]!;
        }
      }
      sxx /= boxArea;
      syy /= boxArea;
      sxy /= boxArea;
      const halfTrace = (sxx + syy) / 2;
      const spread = Math.sqrt(Math.max(halfTrace * halfTrace - (sxx * syy - sxy * sxy), 0));
      const root1 = Math.sqrt(halfTrace + spread);
      const root2 = Math.sqrt(Math.max(halfTrace - spread, 0));
      const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
      const coherence = root1 + root2 > 0 ? (root1 - root2) / (root1 + root2) : 0;
      // angle is in [-pi/2, pi/2]; pi/2 wraps onto bin 0 as -pi/2 (the same orientation).
      const angleBin = Math.floor(((angle + Math.PI / 2) / Math.PI) * bank.angles) % bank.angles;
      buckets[y * bw + x] =
        (angleBin * strengthBins + binOf(bank.strength, root1)) * coherenceBins +
        binOf(bank.coherence, coherence);
    }
  }
  return buckets;
}

/**
 * The output pixels in `window` (inclusive bounds, output pixels of `image` enlarged by the
 * bank's factor, centre-aligned as enlargeCentred) as the bank enlarges them: float RGB samples
 * (not rounded), row by row.
 */
export function upsampleWindow(image: RgbImage, bank: FaceUpsamplerBank, window: PixelBounds): Float32Array {
  const f = bank.factor;
  const { width, height, data } = image;
  const { x0, y0, x1, y1 } = window;
  if (x1 < x0 || y1 < y0 || x0 < 0 || y0 < 0 || x1 >= width * f || y1 >= height * f) {
    throw new InvalidParametersError(
      `window ${x0},${y0}-${x1},${y1} is not inside the ${width * f}x${height * f} output`,
    );
  }
  const cx0 = Math.floor(x0 / f);
  const cy0 = Math.floor(y0 / f);
  const cx1 = Math.floor(x1 / f);
  const cy1 = Math.floor(y1 / f);
  const buckets = bucketsOf(image, bank, cx0, cy0, cx1, cy1);
  const bw = cx1 - cx0 + 1;
  const taps = bank.taps;
  const half = (taps - 1) / 2;
  const phases = f * f;
  const tapCount = taps * taps;
  const ww = x1 - x0 + 1;
  const out = new Float32Array(ww * (y1 - y0 + 1) * 3);
  const columns = new Int32Array(taps);
  for (let y = y0; y <= y1; y++) {
    const cy = Math.floor(y / f);
    const rows: number[] = [];
    for (let t = 0; t < taps; t++) rows.push(clampIndex(cy + t - half, height) * width);
    for (let x = x0; x <= x1; x++) {
      const cx = Math.floor(x / f);
      for (let t = 0; t < taps; t++) columns[t] = clampIndex(cx + t - half, width);
      const bucket = buckets[(cy - cy0) * bw + (cx - cx0)]!;
      const w0 = (bucket * phases + (y % f) * f + (x % f)) * tapCount;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let ty = 0; ty < taps; ty++) {
        const row = rows[ty]!;
        const wRow = w0 + ty * taps;
        for (let tx = 0; tx < taps; tx++) {
          const weight = bank.weights[wRow + tx]!;
          const i = (row + columns[tx]!) * 3;
          r += weight * data[i]!;
          g += weight * data[i + 1]!;
          b += weight * data[i + 2]!;
        }
      }
      const o = ((y - y0) * ww + (x - x0)) * 3;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return out;
}

/**
 * A face's layer's reach, as half-widths of the frame (frame fractions from its centre):
 * whole over 1.2 times the frame (hair, ears and chin around it), faded out smoothly by 1.5 times
 * it, where the background denoiser's protection of a kept face ends too.
 */
const LAYER_WHOLE = 0.6;
const LAYER_END = 0.75;

/** A face's layer's weight at frame fractions (u, v). */
function layerWeight(u: number, v: number): number {
  const d = Math.max(Math.abs(u - 0.5), Math.abs(v - 0.5));
  if (d <= LAYER_WHOLE) return 1;
  if (d >= LAYER_END) return 0;
  const t = (LAYER_END - d) / (LAYER_END - LAYER_WHOLE);
  return t * t * (3 - 2 * t);
}

/** The output pixels a face's layer can touch (`toUnit`: output coordinates -> frame fractions). */
export function upsampledFaceBounds(toUnit: Similarity): PixelBounds {
  const scale = 1 / (2 * LAYER_END);
  const widened = {
    a: toUnit.a * scale,
    b: toUnit.b * scale,
    tx: (toUnit.tx - 0.5) * scale + 0.5,
    ty: (toUnit.ty - 0.5) * scale + 0.5,
  };
  return frameBounds(widened, 1);
}

/**
 * Lay a face's square, enlarged by the bank from `image` (the photo as the output enlarges it),
 * over `target` in place: a window of the output (its top-left at `origin`) holding the photo's
 * plain enlargement there. `toUnit` maps output coordinates to the face's frame fractions.
 * Overlapping faces blend toward the same enlargement, so their order changes samples by a level
 * at most (each blend is rounded).
 */
export function layUpsampledFace(
  target: RgbImage,
  origin: { x: number; y: number },
  image: RgbImage,
  bank: FaceUpsamplerBank,
  toUnit: Similarity,
): void {
  const reach = upsampledFaceBounds(toUnit);
  const window = {
    x0: Math.max(reach.x0, origin.x, 0),
    y0: Math.max(reach.y0, origin.y, 0),
    x1: Math.min(reach.x1, origin.x + target.width - 1, image.width * bank.factor - 1),
    y1: Math.min(reach.y1, origin.y + target.height - 1, image.height * bank.factor - 1),
  };
  if (window.x1 < window.x0 || window.y1 < window.y0) return;
  const enlarged = upsampleWindow(image, bank, window);
  const ww = window.x1 - window.x0 + 1;
  const { a, b, tx, ty } = toUnit;
  for (let y = window.y0; y <= window.y1; y++) {
    const fy = y + 0.5;
    for (let x = window.x0; x <= window.x1; x++) {
      const fx = x + 0.5;
      const weight = layerWeight(a * fx - b * fy + tx, b * fx + a * fy + ty);
      if (weight <= 0) continue;
      const e = ((y - window.y0) * ww + (x - window.x0)) * 3;
      const o = ((y - origin.y) * target.width + (x - origin.x)) * 3;
      for (let c = 0; c < 3; c++) {
        const value = target.data[o + c]!;
        target.data[o + c] = clamp8(value + weight * (enlarged[e + c]! - value));
      }
    }
  }
}
