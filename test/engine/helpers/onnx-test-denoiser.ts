/**
 * Test-only denoiser over a bare onnxruntime-node session, for reference traces: image input
 * float32 [B,3,S,S], timestep input int64 [B], one float32 output [B,C,S,S].
 */
import * as ort from 'onnxruntime-node';
import type { FixtureDenoiserRequest } from '../../../gpu-task/src/engine/fixtures/verify-fixture.js';
import type { Denoiser } from '../../../gpu-task/src/engine/sampler/denoiser.js';

export interface DisposableDenoiser extends Denoiser {
  dispose(): Promise<void>;
}

export async function loadOnnxTestDenoiser(
  onnxPath: string,
  request: FixtureDenoiserRequest,
): Promise<DisposableDenoiser> {
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const [imageName, timestepName] = request.inputNames as [string, string];
  const { resolution: size, outputChannels, outputName } = request;
  return {
    resolution: size,
    outputChannels,
    async predict(x: Float32Array, timesteps: readonly number[], batch: number): Promise<Float32Array> {
      const feeds = {
        [imageName]: new ort.Tensor('float32', x, [batch, 3, size, size]),
        [timestepName]: new ort.Tensor(
          'int64',
          BigInt64Array.from(timesteps, (t) => BigInt(t)),
          [batch],
        ),
      };
      const results = await session.run(feeds, [outputName]);
      const output = results[outputName];
      if (output === undefined) throw new Error(`model produced no output named ${outputName}`);
      return output.data as Float32Array;
    },
    async dispose(): Promise<void> {
      await session.release();
    },
  };
}
