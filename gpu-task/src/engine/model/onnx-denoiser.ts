/**
 * The diffusion model behind the {@link Denoiser} port, on onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { InvalidParametersError } from '../errors.js';
import type { Denoiser } from '../sampler/denoiser.js';
import { assertFiniteOutput, assertGraphContract, assertOutputDims } from './contract.js';
import type { DenoiserManifest } from './manifest.js';
import { readDenoiserManifest, verifySha256 } from './load-manifest.js';
import { createInferenceSession, runSession, type SessionConfig } from './onnx-session.js';

export interface LoadModelOptions extends SessionConfig {
  /** Verify the ONNX file's SHA-256 when the manifest records one (default true). */
  verifyChecksum?: boolean;
  /** Run one batch-1 call at load to catch shape errors and warm the provider (default true). */
  warmup?: boolean;
}

/** A loaded denoiser: the manifest it honours and the session behind it. */
export class OnnxDenoiser implements Denoiser {
  readonly resolution: number;
  readonly outputChannels: 3 | 6;
  private readonly label: string;

  private constructor(
    readonly manifest: DenoiserManifest,
    private readonly session: ort.InferenceSession,
  ) {
    this.resolution = manifest.resolution;
    this.outputChannels = manifest.channels.output;
    this.label = `denoiser "${manifest.name}"`;
  }

  /**
   * Load a denoiser from its manifest, refusing graphs that break the contract.
   *
   * @example
   * ```ts
   * const denoiser = await OnnxDenoiser.load('gpu-task/models/tiny/denoiser.json', { device: 'cpu' });
   * const out = await denoiser.predict(x, [999], 1); // [1, 6, 64, 64]
   * ```
   */
  static async load(manifestFile: string, options: LoadModelOptions = {}): Promise<OnnxDenoiser> {
    const { manifest, onnxPath } = await readDenoiserManifest(manifestFile);
    if (options.verifyChecksum !== false && manifest.provenance.sha256) {
      await verifySha256(onnxPath, manifest.provenance.sha256);
    }
    const session = await createInferenceSession(onnxPath, options);
    return OnnxDenoiser.fromSession(manifest, session, options.warmup !== false);
  }

  /** Wrap an existing session (used by tools that build the manifest in memory). */
  static async fromSession(
    manifest: DenoiserManifest,
    session: ort.InferenceSession,
    warmup = true,
  ): Promise<OnnxDenoiser> {
    const s = manifest.resolution;
    assertGraphContract(
      session,
      `denoiser "${manifest.name}"`,
      [
        {
          name: manifest.io.image,
          type: 'float32',
          dims: [null, 3, s, s],
          axes: ['batch', 'channels', 'height', 'width'],
        },
        { name: manifest.io.timestep, type: manifest.timestepType, dims: [null], axes: ['batch'] },
      ],
      [
        {
          name: manifest.io.output,
          type: 'float32',
          dims: [null, manifest.channels.output, s, s],
          axes: ['batch', 'channels', 'height', 'width'],
        },
      ],
    );
    const denoiser = new OnnxDenoiser(manifest, session);
    if (warmup) {
      await denoiser.predict(
        new Float32Array(3 * s * s),
        [Math.floor(manifest.schedule.numTimesteps / 2)],
        1,
      );
    }
    return denoiser;
  }

  async predict(x: Float32Array, timesteps: readonly number[], batch: number): Promise<Float32Array> {
    const s = this.resolution;
    if (x.length !== batch * 3 * s * s || timesteps.length !== batch) {
      throw new InvalidParametersError(
        `${this.label}: expected ${batch} images of 3x${s}x${s} and ${batch} timesteps, got ${x.length} values and ${timesteps.length} timesteps`,
      );
    }
    const { io, timestepType } = this.manifest;
    const timestepTensor =
      timestepType === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(timesteps, (t) => BigInt(t)),
            [batch],
          )
        : timestepType === 'int32'
          ? new ort.Tensor('int32', Int32Array.from(timesteps), [batch])
          : new ort.Tensor('float32', Float32Array.from(timesteps), [batch]);
    const output = await runSession(
      this.session,
      { [io.image]: new ort.Tensor('float32', x, [batch, 3, s, s]), [io.timestep]: timestepTensor },
      io.output,
      this.label,
    );
    assertOutputDims(
      this.label,
      io.output,
      output.dims,
      [batch, this.outputChannels, s, s],
      ['batch', 'channels', 'height', 'width'],
    );
    const data = output.data as Float32Array;
    assertFiniteOutput(this.label, io.output, data, batch);
    return data;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
