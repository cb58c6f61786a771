/**
 * The stage-2 enhancer (SPARNetHD, VQFR or any face restoration network) on onnxruntime-node.
 * It takes DR2's coarse output resized to `inputSize` and returns a sharper `outputSize` image.
 */
import * as ort from 'onnxruntime-node';
import { InvalidParametersError } from '../errors.js';
import { assertFiniteOutput, assertGraphContract, assertOutputDims } from './contract.js';
import type { EnhancerManifest } from './manifest.js';
import { readEnhancerManifest, verifySha256 } from './load-manifest.js';
import type { LoadModelOptions } from './onnx-denoiser.js';
import { createInferenceSession, runSession } from './onnx-session.js';

export class OnnxEnhancer {
  readonly inputSize: number;
  readonly outputSize: number;
  private readonly label: string;

  private constructor(
    readonly manifest: EnhancerManifest,
    private readonly session: ort.InferenceSession,
  ) {
    this.inputSize = manifest.inputSize;
    this.outputSize = manifest.outputSize;
    this.label = `enhancer "${manifest.name}"`;
  }

  /**
   * Load an enhancer from its manifest, refusing graphs that break the contract.
   *
   * @example
   * ```ts
   * const enhancer = await OnnxEnhancer.load('gpu-task/models/tiny/enhancer.json');
   * const sharp = await enhancer.enhance(coarse, 2); // [2, 3, outputSize, outputSize] in [-1, 1]
   * ```
   */
  static async load(manifestFile: string, options: LoadModelOptions = {}): Promise<OnnxEnhancer> {
    const { manifest, onnxPath } = await readEnhancerManifest(manifestFile);
    if (options.verifyChecksum !== false && manifest.provenance.sha256) {
      await verifySha256(onnxPath, manifest.provenance.sha256);
    }
    const session = await createInferenceSession(onnxPath, options);
    return OnnxEnhancer.fromSession(manifest, session, options.warmup !== false);
  }

  static async fromSession(
    manifest: EnhancerManifest,
    session: ort.InferenceSession,
    warmup = true,
  ): Promise<OnnxEnhancer> {
    const axes = ['batch', 'channels', 'height', 'width'];
    assertGraphContract(
      session,
      `enhancer "${manifest.name}"`,
      [
        {
          name: manifest.io.image,
          type: 'float32',
          dims: [null, 3, manifest.inputSize, manifest.inputSize],
          axes,
        },
      ],
      [
        {
          name: manifest.io.output,
          type: 'float32',
          dims: [null, 3, manifest.outputSize, manifest.outputSize],
          axes,
        },
      ],
    );
    const enhancer = new OnnxEnhancer(manifest, session);
    if (warmup) await enhancer.enhance(new Float32Array(3 * manifest.inputSize * manifest.inputSize), 1);
    return enhancer;
  }

  /**
   * Enhance a batch. Input and output are in the engine's range [-1, 1]; the conversion to the
   * model's own `valueRange` happens here, and the output is clamped.
   */
  async enhance(x: Float32Array, batch: number): Promise<Float32Array> {
    const inSize = this.inputSize;
    if (x.length !== batch * 3 * inSize * inSize) {
      throw new InvalidParametersError(
        `${this.label}: expected ${batch} images of 3x${inSize}x${inSize}, got ${x.length} values`,
      );
    }
    const [lo, hi] = this.manifest.valueRange;
    const toModel = lo === -1 && hi === 1 ? x : mapRange(x, -1, 1, lo, hi);
    const output = await runSession(
      this.session,
      { [this.manifest.io.image]: new ort.Tensor('float32', toModel, [batch, 3, inSize, inSize]) },
      this.manifest.io.output,
      this.label,
    );
    const out = this.outputSize;
    assertOutputDims(
      this.label,
      this.manifest.io.output,
      output.dims,
      [batch, 3, out, out],
      ['batch', 'channels', 'height', 'width'],
    );
    const data = output.data as Float32Array;
    assertFiniteOutput(this.label, this.manifest.io.output, data, batch);
    const result = lo === -1 && hi === 1 ? new Float32Array(data) : mapRange(data, lo, hi, -1, 1);
    for (let i = 0; i < result.length; i++) {
      const v = result[i] as number;
      result[i] = v < -1 ? -1 : v > 1 ? 1 : v;
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function mapRange(x: Float32Array, fromLo: number, fromHi: number, toLo: number, toHi: number): Float32Array {
  const scale = (toHi - toLo) / (fromHi - fromLo);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = ((x[i] as number) - fromLo) * scale + toLo;
  return out;
}
