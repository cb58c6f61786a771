/**
 * The DR2 sampler (paper Eq. 9-11): diffuse the degraded input to step ω, then denoise step by
 * step while iterative refinement replaces the low frequencies of each sample by those of the
 * equally diffused input, and return the predicted x0 at step τ.
 *
 * One step i, from ω down to τ (indices into the K-step respaced schedule):
 * 1. `out = model(x_i, timestepMap[i])`, one call for the whole batch;
 * 2. `x0 = clip(sqrt(1/abar_i) x_i - sqrt(1/abar_i - 1) eps, -1, 1)`; at i = τ, return x0;
 * 3. `x_{i-1} = mu + exp(logvar / 2) z` with the posterior mean and the model's variance
 *    (learned range, or fixed small / large);
 * 4. `y_{i-1} = sqrt(abar_{i-1}) y + sqrt(1 - abar_{i-1}) eps'` and
 *    `x_{i-1} <- x_{i-1} - Phi_N(x_{i-1}) + Phi_N(y_{i-1})` (for N = 1, `x_{i-1} <- y_{i-1}`).
 *
 * Noise is drawn per image from its own source, in the reference order: the initial epsilon,
 * then per step the posterior draw followed by the y draw (the posterior draw is consumed even
 * for N = 1, where it is not needed, to keep the order).
 */
import { CanceledError, InvalidParametersError, ModelContractError } from '../errors.js';
import type { NoiseSource } from '../random/noise-source.js';
import { LowPassFilter } from '../resize/lowpass.js';
import type { RespacedSchedule, VarianceType } from '../schedule/respaced-schedule.js';
import type { Denoiser } from './denoiser.js';
import { validateDr2Params } from './dr2-params.js';
import { expNearZero } from './fast-exp.js';

/** Channels of an RGB image. */
const IMAGE_CHANNELS = 3;

/** What a sampler is bound to; reuse one sampler for every batch of a model. */
export interface Dr2SamplerConfig {
  readonly denoiser: Denoiser;
  /** The K-step respaced schedule (see `RespacedSchedule.get`). */
  readonly schedule: RespacedSchedule;
  /** How the model's variance is obtained; must agree with `denoiser.outputChannels`. */
  readonly variance: VarianceType;
}

/** Progress after a step; `step` counts completed model calls, 1..`total`. */
export interface Dr2StepProgress {
  /** Completed steps (model calls) so far, 1-based. */
  readonly step: number;
  /** Respaced index i of the step just completed (the largest ω down to the smallest τ). */
  readonly index: number;
  /** Total model calls of the run: `omega - tau + 1` for one setting; with per-image settings, the
   * steps from the largest ω to the smallest τ where some image is active. */
  readonly total: number;
  /** Training timestep the model was called with at this step. */
  readonly timestep: number;
}

/**
 * Time spent per phase of a run, in milliseconds (for benchmarks, not for control flow).
 *
 * Work that does not depend on the model's output (drawing the step's noise, diffusing y to the
 * next step and low-passing it) runs while the model call is in flight, so with an asynchronous
 * denoiser (onnxruntime runs off the JS thread) it costs no wall time. `overlappedMs` says how
 * much of the phase times was spent that way; the sampler's own cost on the critical path is
 * `totalMs - modelMs - callbackMs`.
 */
export interface Dr2PhaseTimings {
  /** Wall time from each `denoiser.predict` call until its result was in hand, summed. */
  modelMs: number;
  /** Noise generation (`NoiseSource.fill`). */
  noiseMs: number;
  /** Element-wise arithmetic (x0, posterior sample, forward diffusion of y, refinement sums). */
  arithmeticMs: number;
  /** The low-pass filter Phi_N. */
  lowPassMs: number;
  /** Part of noise, arithmetic and low-pass time spent while a model call was in flight. */
  overlappedMs: number;
  /** Time inside `onStep` callbacks. */
  callbackMs: number;
  /** Whole run. */
  totalMs: number;
  /** Model calls made. */
  steps: number;
}

/** One image's DR2 setting: N, τ, ω (and optionally K, which must then equal the schedule's). */
export interface Dr2SampleParams {
  readonly n: number;
  readonly tau: number;
  readonly omega: number;
  readonly steps?: number;
}

/** One batched run. */
export interface Dr2SampleRequest {
  /** Degraded inputs `[batch, 3, S, S]`, RGB in [-1, 1]. Not modified. */
  readonly y: Float32Array;
  readonly batch: number;
  /**
   * One setting for the whole batch, or one per image. With per-image settings each image
   * enters the loop at its own ω and leaves at its own τ; a step calls the model once, on the
   * images active at that step only.
   */
  readonly params: Dr2SampleParams | readonly Dr2SampleParams[];
  /** One source per image, so an image's result does not depend on its batch mates. */
  readonly noise: readonly NoiseSource[];
  /** Called after each step; awaited, so it may be async (e.g. to persist progress). */
  readonly onStep?: (progress: Dr2StepProgress) => void | Promise<void>;
  /** Checked before each step; an aborted signal ends the run with CanceledError. */
  readonly signal?: AbortSignal;
  /** Clip predicted x0 to [-1, 1] (default true, as the paper does). */
  readonly clipDenoised?: boolean;
}

/** Result of a run. */
export interface Dr2SampleResult {
  /** Restored images `[batch, 3, S, S]`: x0 predicted at step τ, in [-1, 1] when clipped. */
  readonly x0: Float32Array;
  readonly timings: Dr2PhaseTimings;
}

/** What the loop keeps per image. */
interface ImageState {
  readonly n: number;
  readonly tau: number;
  readonly omega: number;
  readonly lowPass: LowPassFilter | undefined;
  readonly noise: NoiseSource;
  readonly y: Float32Array;
  readonly x: Float32Array;
  readonly x0: Float32Array;
  readonly posteriorNoise: Float32Array;
  readonly forwardNoise: Float32Array;
  readonly nextInput: Float32Array;
}

/**
 * Runs DR2 for batches of images with one denoiser and schedule.
 *
 * @example
 * ```ts
 * const schedule = RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 100 });
 * const sampler = new Dr2Sampler({ denoiser, schedule, variance: 'learned_range' });
 * const params = resolveDr2Params({ preset: 'medium' }, denoiser.resolution);
 * const { x0 } = await sampler.sample({
 *   y, batch: 2, params, // or [paramsOfFace0, paramsOfFace1]
 *   noise: [new SeededNormalSource(1), new SeededNormalSource(2)],
 *   onStep: ({ step, total }) => bar.update(step / total),
 *   signal: job.abortSignal,
 * });
 * ```
 */
export class Dr2Sampler {
  readonly denoiser: Denoiser;
  readonly schedule: RespacedSchedule;
  readonly variance: VarianceType;

  /** @throws ModelContractError when the variance type does not fit the model's output channels. */
  constructor(config: Dr2SamplerConfig) {
    const { denoiser, schedule, variance } = config;
    const expectedChannels = variance === 'learned_range' ? 6 : 3;
    if (denoiser.outputChannels !== expectedChannels) {
      throw new ModelContractError(
        `variance "${variance}" needs a model with ${expectedChannels} output channels, ` +
          `but the denoiser has ${String(denoiser.outputChannels)}`,
      );
    }
    this.denoiser = denoiser;
    this.schedule = schedule;
    this.variance = variance;
  }

  /**
   * Restore a batch. The loop runs from the largest ω to the smallest τ of the batch; at step i
   * the images with `ω_b >= i >= τ_b` are active. They are packed into one contiguous model input
   * (no copy when every image is active), so the model computes nothing for images that have
   * not started or have already finished: running inactive images and discarding their output
   * would cost model time (the dominant cost) for a saving of one copy per step. Since the model
   * evaluates each sample on its own, an image's result is the same as when it runs alone.
   *
   * @throws InvalidParametersError for inconsistent inputs or parameters (a per-image array of
   *   another length than the batch, or one image's invalid setting, named by its index).
   * @throws ModelContractError when the model returns a tensor of the wrong size.
   * @throws CanceledError when `signal` is aborted before a step.
   */
  async sample(request: Dr2SampleRequest): Promise<Dr2SampleResult> {
    const startedAt = performance.now();
    const { y, batch, noise, onStep, signal } = request;
    const clipDenoised = request.clipDenoised ?? true;
    const { denoiser, schedule } = this;
    const size = denoiser.resolution;
    const steps = schedule.steps;

    if (!Number.isInteger(batch) || batch < 1) {
      throw new InvalidParametersError(`batch must be a positive integer, got ${String(batch)}`);
    }
    const perImage = perImageParams(request.params, batch);
    perImage.forEach((params, b) => {
      const where = perImage.length > 1 && Array.isArray(request.params) ? ` (image ${b})` : '';
      if (params.steps !== undefined && params.steps !== steps) {
        throw new InvalidParametersError(
          `params.steps (${params.steps}) does not match the schedule's ${steps} steps${where}`,
        );
      }
      try {
        validateDr2Params(
          { n: params.n, tau: params.tau, omega: params.omega, steps },
          size,
          schedule.config.numTimesteps,
        );
      } catch (error) {
        if (where && error instanceof InvalidParametersError) {
          throw new InvalidParametersError(`${error.message}${where}`, { cause: error });
        }
        throw error;
      }
    });
    const imageLength = IMAGE_CHANNELS * size * size;
    const length = batch * imageLength;
    if (y.length !== length) {
      throw new InvalidParametersError(
        `y has ${y.length} values; a batch of ${batch} RGB images at ${size}x${size} needs ${length}`,
      );
    }
    if (noise.length !== batch) {
      throw new InvalidParametersError(`one noise source per image is needed: ${noise.length} for ${batch}`);
    }

    const timings: Dr2PhaseTimings = {
      modelMs: 0,
      noiseMs: 0,
      arithmeticMs: 0,
      lowPassMs: 0,
      overlappedMs: 0,
      callbackMs: 0,
      totalMs: 0,
      steps: 0,
    };
    const pixels = size * size;
    const outputChannels = denoiser.outputChannels;

    const x = new Float32Array(length);
    const x0 = new Float32Array(length);
    const posteriorNoise = new Float32Array(length);
    const forwardNoise = new Float32Array(length);
    /** y diffused to the next step, then (N > 1) low-passed: Phi_N(y_{i-1}). */
    const nextInput = new Float32Array(length);
    const view = (buffer: Float32Array, b: number) => buffer.subarray(b * imageLength, (b + 1) * imageLength);
    const images: ImageState[] = perImage.map((params, b) => ({
      n: params.n,
      tau: params.tau,
      omega: params.omega,
      lowPass: params.n > 1 ? LowPassFilter.get(size, params.n) : undefined,
      noise: noise[b] as NoiseSource,
      y: view(y, b),
      x: view(x, b),
      x0: view(x0, b),
      posteriorNoise: view(posteriorNoise, b),
      forwardNoise: view(forwardNoise, b),
      nextInput: view(nextInput, b),
    }));
    const firstIndex = Math.max(...images.map((image) => image.omega));
    const lastIndex = Math.min(...images.map((image) => image.tau));
    /** Packed model inputs for steps where only some images are active, by active count. */
    const packed = new Map<number, Float32Array>();

    const fixed = this.variance === 'learned_range' ? undefined : schedule.fixedVariance(this.variance);
    const total = modelCallsOf(images);
    let completed = 0;
    // Reused every step.
    const coefficients: PosteriorCoefficients = {
      recipScale: 0,
      epsScale: 0,
      clip: clipDenoised,
      meanCoefStart: 0,
      meanCoefCurrent: 0,
      minLog: 0,
      maxLog: 0,
      fixedLog: Number.NaN,
      learnedRange: fixed === undefined,
    };

    /** An image enters at its ω: its initial draw (first in its stream) and y diffused to ω. */
    const enter = (image: ImageState): void => {
      let mark = performance.now();
      image.noise.fill(image.forwardNoise);
      timings.noiseMs += performance.now() - mark;
      mark = performance.now();
      diffuse(
        image.y,
        image.forwardNoise,
        image.x,
        schedule.sqrtAlphasCumprod[image.omega] as number,
        schedule.sqrtOneMinusAlphasCumprod[image.omega] as number,
      );
      timings.arithmeticMs += performance.now() - mark;
    };

    /**
     * Model-independent work for x_{i-1} of the active images that go on past step i, run while
     * the model computes step i: the step's draws in the reference order (posterior, then y),
     * y_{i-1}, and Phi_N(y_{i-1}).
     */
    const drawAhead = (active: readonly ImageState[], i: number): void => {
      const start = performance.now();
      for (const image of active) {
        if (i <= image.tau) continue;
        const mark = performance.now();
        image.noise.fill(image.posteriorNoise);
        image.noise.fill(image.forwardNoise);
        const noiseEnd = performance.now();
        timings.noiseMs += noiseEnd - mark;
        diffuse(
          image.y,
          image.forwardNoise,
          image.nextInput,
          schedule.sqrtAlphasCumprod[i - 1] as number,
          schedule.sqrtOneMinusAlphasCumprod[i - 1] as number,
        );
        const diffuseEnd = performance.now();
        timings.arithmeticMs += diffuseEnd - noiseEnd;
        image.lowPass?.applyInPlace(image.nextInput, IMAGE_CHANNELS);
        timings.lowPassMs += performance.now() - diffuseEnd;
      }
      timings.overlappedMs += performance.now() - start;
    };

    for (let i = firstIndex; i >= lastIndex; i--) {
      if (signal?.aborted) {
        throw new CanceledError(`sampling canceled before step ${completed + 1} of ${total}`, {
          cause: signal.reason,
        });
      }
      for (const image of images) if (image.omega === i) enter(image);
      const active = images.filter((image) => image.omega >= i && image.tau <= i);
      const timestep = schedule.timestepMap[i] as number;
      const count = active.length;
      if (count === 0) continue; // a gap between one image's τ and another's ω: nothing to compute
      let modelInput: Float32Array = x;
      if (count < batch) {
        let buffer = packed.get(count);
        if (!buffer) {
          buffer = new Float32Array(count * imageLength);
          packed.set(count, buffer);
        }
        active.forEach((image, j) => buffer.set(image.x, j * imageLength));
        modelInput = buffer;
      }
      const timesteps: number[] = new Array<number>(count).fill(timestep);

      const callStart = performance.now();
      const prediction = denoiser.predict(modelInput, timesteps, count);
      try {
        drawAhead(active, i);
      } catch (error) {
        // Do not leave the model call's result unobserved (an unhandled rejection).
        await prediction.catch(() => undefined);
        throw error;
      }

      const out = await prediction;
      timings.modelMs += performance.now() - callStart;
      timings.steps++;
      completed++;
      const outputLength = count * outputChannels * pixels;
      if (out.length !== outputLength) {
        throw new ModelContractError(
          `the denoiser returned ${out.length} values; [${count}, ${outputChannels}, ${size}, ${size}] ` +
            `has ${outputLength}`,
        );
      }

      const recipScale = schedule.sqrtRecipAlphasCumprod[i] as number;
      const epsScale = schedule.sqrtRecipm1AlphasCumprod[i] as number;
      coefficients.recipScale = recipScale;
      coefficients.epsScale = epsScale;
      coefficients.meanCoefStart = schedule.posteriorMeanCoef1[i] as number;
      coefficients.meanCoefCurrent = schedule.posteriorMeanCoef2[i] as number;
      coefficients.minLog = schedule.posteriorLogVarianceClipped[i] as number;
      coefficients.maxLog = schedule.logBetas[i] as number;
      coefficients.fixedLog = fixed === undefined ? Number.NaN : (fixed.logVariance[i] as number);
      for (let j = 0; j < count; j++) {
        const image = active[j] as ImageState;
        const prediction = out.subarray(j * outputChannels * pixels, (j + 1) * outputChannels * pixels);
        const mark = performance.now();
        if (i === image.tau) {
          predictStart(
            prediction,
            image.x,
            image.x0,
            outputChannels,
            pixels,
            recipScale,
            epsScale,
            clipDenoised,
          );
          timings.arithmeticMs += performance.now() - mark;
        } else if (image.lowPass === undefined) {
          // N = 1: Phi_1 is the identity, so refinement replaces the sample by y_{i-1}; the
          // posterior draw was still consumed, keeping the reference's noise order.
          image.x.set(image.nextInput);
          timings.arithmeticMs += performance.now() - mark;
        } else {
          posteriorSample(prediction, image.x, image.posteriorNoise, outputChannels, pixels, coefficients);
          const sampleEnd = performance.now();
          timings.arithmeticMs += sampleEnd - mark;
          // Iterative refinement: x_{i-1} <- x_{i-1} - Phi_N(x_{i-1}) + Phi_N(y_{i-1}).
          image.lowPass.refine(image.x, image.nextInput, IMAGE_CHANNELS);
          timings.lowPassMs += performance.now() - sampleEnd;
        }
      }

      if (onStep !== undefined) {
        const mark = performance.now();
        await onStep({ step: completed, index: i, total, timestep });
        timings.callbackMs += performance.now() - mark;
      }
    }

    timings.totalMs = performance.now() - startedAt;
    return { x0, timings };
  }
}

/**
 * Model calls of one run over images with these settings: the steps from the largest ω down to
 * the smallest τ where at least one image is active (a step no image needs is skipped).
 *
 * @example modelCallsOf([{ omega: 30, tau: 10 }, { omega: 50, tau: 40 }]) // 21 + 11 = 32
 */
export function modelCallsOf(params: readonly { readonly omega: number; readonly tau: number }[]): number {
  if (params.length === 0) return 0;
  const first = Math.max(...params.map((p) => p.omega));
  const last = Math.min(...params.map((p) => p.tau));
  let calls = 0;
  for (let i = first; i >= last; i--) {
    if (params.some((p) => p.omega >= i && p.tau <= i)) calls++;
  }
  return calls;
}

/** One setting per image: a single setting is shared; an array must have one per image. */
function perImageParams(
  params: Dr2SampleParams | readonly Dr2SampleParams[],
  batch: number,
): readonly Dr2SampleParams[] {
  if (!isParamsArray(params)) return new Array<Dr2SampleParams>(batch).fill(params);
  if (params.length !== batch) {
    throw new InvalidParametersError(`one setting per image is needed: ${params.length} for ${batch}`);
  }
  return params;
}

function isParamsArray(
  params: Dr2SampleParams | readonly Dr2SampleParams[],
): params is readonly Dr2SampleParams[] {
  return Array.isArray(params);
}

interface PosteriorCoefficients {
  /** sqrt(1 / abar_i). */
  recipScale: number;
  /** sqrt(1 / abar_i - 1). */
  epsScale: number;
  readonly clip: boolean;
  meanCoefStart: number;
  meanCoefCurrent: number;
  /** Learned range: log variance at v = -1 (posterior variance, clipped log). */
  minLog: number;
  /** Learned range: log variance at v = +1 (log beta). */
  maxLog: number;
  /** Fixed variance types: the step's log variance. */
  fixedLog: number;
  readonly learnedRange: boolean;
}

/** q(x_t | x_0) sample: `out = signalScale · clean + noiseScale · eps`. */
function diffuse(
  clean: Float32Array,
  eps: Float32Array,
  out: Float32Array,
  signalScale: number,
  noiseScale: number,
): void {
  for (let k = 0; k < out.length; k++) {
    out[k] = signalScale * (clean[k] as number) + noiseScale * (eps[k] as number);
  }
}

/** x0 of one image from its predicted noise (the model's channels 0..2), clipped to [-1, 1] when asked. */
function predictStart(
  out: Float32Array,
  x: Float32Array,
  x0: Float32Array,
  outputChannels: number,
  pixels: number,
  recipScale: number,
  epsScale: number,
  clip: boolean,
): void {
  for (let c = 0; c < IMAGE_CHANNELS; c++) {
    const imageBase = c * pixels;
    const epsBase = c * pixels;
    for (let p = 0; p < pixels; p++) {
      let value = recipScale * (x[imageBase + p] as number) - epsScale * (out[epsBase + p] as number);
      if (clip) value = value < -1 ? -1 : value > 1 ? 1 : value;
      x0[imageBase + p] = value;
    }
  }
}

/**
 * One fused pass per pixel of one image: x0 from the predicted noise (clipped), the posterior mean
 * `coef1 · x0 + coef2 · x_i`, the variance, and `x <- mean + exp(logvar / 2) · z`.
 */
function posteriorSample(
  out: Float32Array,
  x: Float32Array,
  posteriorNoise: Float32Array,
  outputChannels: number,
  pixels: number,
  coefficients: PosteriorCoefficients,
): void {
  const { recipScale, epsScale, clip, meanCoefStart, meanCoefCurrent } = coefficients;
  const { minLog, maxLog, fixedLog, learnedRange } = coefficients;
  const fixedStd = Math.exp(0.5 * fixedLog);
  // Learned range interpolates the log variance between the posterior variance (v = -1) and beta
  // (v = +1), improved DDPM: logvar = f·maxLog + (1-f)·minLog with f = (v + 1) / 2. The standard
  // deviation exp(logvar / 2) factors into exp(baseLog) · exp(slope · v) with
  // baseLog = minLog / 2 + (maxLog - minLog) / 4 and slope = (maxLog - minLog) / 4. The two
  // logs differ little on the steps DR2 runs (slope · v is ~1e-2), so exp(slope · v) takes a
  // short polynomial instead of a full exp per pixel; larger arguments use Math.exp.
  const slope = (maxLog - minLog) / 4;
  const baseStd = Math.exp(0.5 * minLog + slope);
  for (let c = 0; c < IMAGE_CHANNELS; c++) {
    const imageBase = c * pixels;
    const epsBase = c * pixels;
    const varianceBase = (IMAGE_CHANNELS + c) * pixels;
    for (let p = 0; p < pixels; p++) {
      const k = imageBase + p;
      const current = x[k] as number;
      let start = recipScale * current - epsScale * (out[epsBase + p] as number);
      if (clip) start = start < -1 ? -1 : start > 1 ? 1 : start;
      const mean = meanCoefStart * start + meanCoefCurrent * current;
      let std = fixedStd;
      if (learnedRange) std = baseStd * expNearZero(slope * (out[varianceBase + p] as number));
      x[k] = mean + std * (posteriorNoise[k] as number);
    }
  }
}
