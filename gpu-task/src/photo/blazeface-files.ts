/**
 * Where the project's BlazeFace graphs lie (gpu-task/models/blazeface; see blazeface.ts and
 * scripts/vendor-blazeface.ts). Apart from blazeface.ts so that the detector's threads, which
 * are handed the files, load the graphs without the engine's modules.
 */
import path from 'node:path';
import { modelsDir } from '../engine/core.js';

/**
 * The detector's graph: by default the batched one derived from the vendored graph, which
 * `vendored` names (batch fixed to 1; see the module comment).
 */
export function blazeFaceModelPath(graph: 'batched' | 'vendored' | 'front' = 'batched'): string {
  const names = {
    batched: 'face_detection_back_256x256_barracuda_batched.onnx',
    vendored: 'face_detection_back_256x256_barracuda.onnx',
    // The front-camera (short-range) graph, 128 x 128: a second opinion in verify.ts.
    front: 'face_detection_front_128x128_barracuda.onnx',
  } as const;
  return path.join(modelsDir(), 'blazeface', names[graph]);
}
