/**
 * What the DR2 sampler needs from a diffusion model: one batched call per step.
 * The ONNX session wrapper implements it; tests can implement it with plain functions.
 */
export interface Denoiser {
  /** Square image side the model runs at. */
  readonly resolution: number;
  /** 6 = noise + learned-range variance interpolation (improved DDPM); 3 = noise only. */
  readonly outputChannels: 3 | 6;
  /**
   * Predict for a batch.
   *
   * @param x - `[batch, 3, S, S]` float32, values in [-1, 1] (noisy images x_t).
   * @param timesteps - `batch` timesteps on the training scale (0..T-1), one per image.
   * @param batch - number of images in `x`.
   * @returns `[batch, outputChannels, S, S]` float32.
   */
  predict(x: Float32Array, timesteps: readonly number[], batch: number): Promise<Float32Array>;
}
