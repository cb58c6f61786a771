/**
 * The onnxruntime session of a second-opinion detector graph that takes whole photos of any size
 * (FaceBoxes, faceboxes.ts; the full-range graph, full-range.ts; RetinaFace, retinaface.ts), refusing a file that is not
 * the graph it is loaded as, and the padded input such a graph is fed.
 */
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../engine/core.js';

/**
 * A session over `file` with `threads` intra-op threads, checked to have every tensor of `names`
 * (inputs and outputs); otherwise released and refused: "FILE is not WHAT: it has no ...".
 *
 * @example
 * ```ts
 * const session = await photoGraphSession(file, 2, ['image', 'scores32'], 'the FaceBoxes graph');
 * ```
 */
export async function photoGraphSession(
  file: string,
  threads: number,
  names: readonly string[],
  what: string,
): Promise<ort.InferenceSession> {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Math.max(1, Math.floor(threads)),
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    // Every photo has its own input shape: a memory pattern per shape would only be kept.
    enableMemPattern: false,
  });
  const missing = names.filter((name) => ![...session.inputNames, ...session.outputNames].includes(name));
  if (missing.length > 0) {
    await session.release();
    throw new Error(`${file} is not ${what}: it has no ${missing.join(', ')}`);
  }
  return session;
}

/**
 * `image` as the NHWC float input of such a graph: each sample `v` as `v * scale + offset`, the
 * sides padded right and bottom to multiples of `align` with zeros (the graphs' strides need
 * whole cells).
 *
 * @example
 * ```ts
 * const { input, width, height } = paddedInput(photo, 128, 1 / 255, 0); // FaceBoxes: [0, 1]
 * ```
 */
export function paddedInput(
  image: RgbImage,
  align: number,
  scale: number,
  offset: number,
): { input: Float32Array; width: number; height: number } {
  const height = Math.ceil(image.height / align) * align;
  const width = Math.ceil(image.width / align) * align;
  const input = new Float32Array(height * width * 3);
  const rowLength = image.width * 3;
  for (let y = 0; y < image.height; y++) {
    const from = y * rowLength;
    const to = y * width * 3;
    for (let i = 0; i < rowLength; i++) input[to + i] = image.data[from + i]! * scale + offset;
  }
  return { input, width, height };
}
