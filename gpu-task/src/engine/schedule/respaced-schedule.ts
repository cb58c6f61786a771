/**
 * The K-step respaced diffusion schedule DR2 samples with, and every coefficient the sampler
 * reads from it, in float64.
 *
 * Respacing keeps K of the T training timesteps and recomputes betas so that the kept
 * cumulative products are unchanged: `beta'[k] = 1 - abar[map[k]] / abar[map[k-1]]`. All other
 * arrays are derived from `beta'` exactly as in DDPM / improved DDPM, in the reference's
 * operation order, so the linear schedule matches the recorded fixtures bit for bit.
 */
import { InvalidParametersError } from '../errors.js';
import { betaSchedule, type BetaScheduleName } from './beta-schedule.js';
import { roundHalfToEven } from './rounding.js';

/** What a respaced schedule is made of; instances are cached per distinct config. */
export interface RespacedScheduleConfig {
  /** Beta schedule of the full training grid. */
  readonly betaSchedule: BetaScheduleName;
  /** Training timesteps T (1000 for the paper's models). */
  readonly numTimesteps: number;
  /** Sampling steps K, an integer in 2..T; K = 100 is the paper's "inference every 10 steps". */
  readonly steps: number;
}

/** Variance types a denoiser can be trained with (see the model manifest). */
export type VarianceType = 'learned_range' | 'fixed_small' | 'fixed_large';

/** Per-step variance and its log for the fixed-variance model types. */
export interface FixedVariance {
  readonly variance: Float64Array;
  readonly logVariance: Float64Array;
}

/**
 * Training timesteps kept by respacing T steps down to K, like the reference's single-section
 * `space_timesteps`: a float stride `(T - 1) / (K - 1)` is accumulated and each running value is
 * rounded half to even.
 *
 * The accumulation is deliberate. It equals `round(k * (T - 1) / (K - 1))` for K = 50, 100 and
 * 250 (the recorded fixtures), but for some other K the accumulated value lands a hair below an
 * exact .5 and rounds the other way (T = 1000, K = 21: entry 10 is 499, not 500); the official
 * sampler uses the accumulated values, so we do too.
 *
 * @example
 * ```ts
 * respacedTimesteps(1000, 100).slice(0, 8); // [0, 10, 20, 30, 40, 50, 61, 71]
 * ```
 */
export function respacedTimesteps(numTimesteps: number, steps: number): number[] {
  validateSteps(numTimesteps, steps);
  const stride = (numTimesteps - 1) / (steps - 1);
  const map: number[] = [];
  let position = 0;
  for (let k = 0; k < steps; k++) {
    map.push(roundHalfToEven(position));
    position += stride;
  }
  return map;
}

function validateSteps(numTimesteps: number, steps: number): void {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 2) {
    throw new InvalidParametersError(`numTimesteps must be an integer >= 2, got ${String(numTimesteps)}`);
  }
  if (!Number.isInteger(steps) || steps < 2 || steps > numTimesteps) {
    throw new InvalidParametersError(
      `steps must be an integer between 2 and ${numTimesteps} (the training timesteps), got ${String(steps)}`,
    );
  }
}

const cache = new Map<string, RespacedSchedule>();

/**
 * A K-step respaced schedule. Arrays are indexed by the respaced step k = 0..K-1 (not by the
 * training timestep); `timestepMap[k]` is the training timestep the model is called with.
 *
 * Instances are immutable by contract and shared: obtain them with {@link RespacedSchedule.get},
 * which caches one per config, and never write into their arrays.
 *
 * @example
 * ```ts
 * const schedule = RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 100 });
 * schedule.timestepMap[42]; // 424, the training timestep of respaced step 42
 * schedule.alphasCumprod[42]; // abar at that step
 * ```
 */
export class RespacedSchedule {
  readonly config: RespacedScheduleConfig;
  /** Number of respaced steps K. */
  readonly steps: number;
  /** Training timestep (0..T-1) of each respaced step. */
  readonly timestepMap: readonly number[];
  /** Respaced betas `beta'`. */
  readonly betas: Float64Array;
  /** `abar_k`, the cumulative product of `1 - beta'`. */
  readonly alphasCumprod: Float64Array;
  /** `abar_{k-1}` with `abar_{-1} = 1`. */
  readonly alphasCumprodPrev: Float64Array;
  /** Variance of q(x_{k-1} | x_k, x_0). Entry 0 is 0. */
  readonly posteriorVariance: Float64Array;
  /** `log(posteriorVariance)` with entry 0 replaced by entry 1 (log 0 is undefined). */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** Coefficient of x_0 in the posterior mean. */
  readonly posteriorMeanCoef1: Float64Array;
  /** Coefficient of x_k in the posterior mean. */
  readonly posteriorMeanCoef2: Float64Array;
  /** `sqrt(abar_k)`: scale of the clean image in q(x_k | x_0). */
  readonly sqrtAlphasCumprod: Float64Array;
  /** `sqrt(1 - abar_k)`: scale of the noise in q(x_k | x_0). */
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** `sqrt(1 / abar_k)`: scale of x_k when predicting x_0 from noise. */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** `sqrt(1 / abar_k - 1)`: scale of the predicted noise when predicting x_0. */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** `log(beta')`: upper end of the learned-range log variance. */
  readonly logBetas: Float64Array;

  /**
   * Build a schedule without the cache; prefer {@link RespacedSchedule.get}.
   *
   * @throws InvalidParametersError when K is not an integer in 2..T or the beta schedule is unknown.
   */
  constructor(config: RespacedScheduleConfig) {
    const { numTimesteps, steps } = config;
    const timestepMap = respacedTimesteps(numTimesteps, steps);
    const baseBetas = betaSchedule({ name: config.betaSchedule, numTimesteps });

    // Cumulative product of the full schedule, sequential like numpy.cumprod.
    const baseAlphasCumprod = new Float64Array(numTimesteps);
    let product = 1;
    for (let t = 0; t < numTimesteps; t++) {
      product *= 1 - (baseBetas[t] as number);
      baseAlphasCumprod[t] = product;
    }

    const betas = new Float64Array(steps);
    let lastAlphaCumprod = 1;
    for (let k = 0; k < steps; k++) {
      const alphaCumprod = baseAlphasCumprod[timestepMap[k] as number] as number;
      betas[k] = 1 - alphaCumprod / lastAlphaCumprod;
      lastAlphaCumprod = alphaCumprod;
    }

    // Recomputed from beta' (not copied from the base grid), as the reference does; the two
    // differ in the last bits and the fixtures record the recomputed values.
    const alphas = new Float64Array(steps);
    const alphasCumprod = new Float64Array(steps);
    const alphasCumprodPrev = new Float64Array(steps);
    product = 1;
    for (let k = 0; k < steps; k++) {
      alphas[k] = 1 - (betas[k] as number);
      alphasCumprodPrev[k] = product;
      product *= alphas[k] as number;
      alphasCumprod[k] = product;
    }

    const posteriorVariance = new Float64Array(steps);
    const posteriorLogVarianceClipped = new Float64Array(steps);
    const posteriorMeanCoef1 = new Float64Array(steps);
    const posteriorMeanCoef2 = new Float64Array(steps);
    const sqrtAlphasCumprod = new Float64Array(steps);
    const sqrtOneMinusAlphasCumprod = new Float64Array(steps);
    const sqrtRecipAlphasCumprod = new Float64Array(steps);
    const sqrtRecipm1AlphasCumprod = new Float64Array(steps);
    const logBetas = new Float64Array(steps);
    for (let k = 0; k < steps; k++) {
      const beta = betas[k] as number;
      const abar = alphasCumprod[k] as number;
      const abarPrev = alphasCumprodPrev[k] as number;
      // Operation order as in the reference (left to right), for bit-exact results.
      posteriorVariance[k] = (beta * (1 - abarPrev)) / (1 - abar);
      posteriorMeanCoef1[k] = (beta * Math.sqrt(abarPrev)) / (1 - abar);
      posteriorMeanCoef2[k] = ((1 - abarPrev) * Math.sqrt(alphas[k] as number)) / (1 - abar);
      sqrtAlphasCumprod[k] = Math.sqrt(abar);
      sqrtOneMinusAlphasCumprod[k] = Math.sqrt(1 - abar);
      sqrtRecipAlphasCumprod[k] = Math.sqrt(1 / abar);
      sqrtRecipm1AlphasCumprod[k] = Math.sqrt(1 / abar - 1);
      logBetas[k] = Math.log(beta);
    }
    for (let k = 0; k < steps; k++) {
      const source = k === 0 ? 1 : k;
      posteriorLogVarianceClipped[k] = Math.log(posteriorVariance[source] as number);
    }

    this.config = Object.freeze({ ...config });
    this.steps = steps;
    this.timestepMap = Object.freeze(timestepMap);
    this.betas = betas;
    this.alphasCumprod = alphasCumprod;
    this.alphasCumprodPrev = alphasCumprodPrev;
    this.posteriorVariance = posteriorVariance;
    this.posteriorLogVarianceClipped = posteriorLogVarianceClipped;
    this.posteriorMeanCoef1 = posteriorMeanCoef1;
    this.posteriorMeanCoef2 = posteriorMeanCoef2;
    this.sqrtAlphasCumprod = sqrtAlphasCumprod;
    this.sqrtOneMinusAlphasCumprod = sqrtOneMinusAlphasCumprod;
    this.sqrtRecipAlphasCumprod = sqrtRecipAlphasCumprod;
    this.sqrtRecipm1AlphasCumprod = sqrtRecipm1AlphasCumprod;
    this.logBetas = logBetas;
  }

  /**
   * The shared schedule for a config, built on first use. Schedules are reused for every batch.
   *
   * @throws InvalidParametersError when K is not an integer in 2..T or the beta schedule is unknown.
   */
  static get(config: RespacedScheduleConfig): RespacedSchedule {
    const key = `${config.betaSchedule}:${config.numTimesteps}:${config.steps}`;
    let schedule = cache.get(key);
    if (schedule === undefined) {
      schedule = new RespacedSchedule(config);
      cache.set(key, schedule);
    }
    return schedule;
  }

  /**
   * Variance of the fixed-variance model types, per respaced step (improved DDPM):
   * `fixed_small` is the posterior variance (log clipped at entry 0); `fixed_large` is `beta'`
   * with entry 0 replaced by posterior variance entry 1, a slightly better likelihood bound.
   */
  fixedVariance(type: Exclude<VarianceType, 'learned_range'>): FixedVariance {
    const cached = this.fixedVarianceCache.get(type);
    if (cached !== undefined) return cached;
    let result: FixedVariance;
    if (type === 'fixed_small') {
      result = { variance: this.posteriorVariance, logVariance: this.posteriorLogVarianceClipped };
    } else {
      const variance = Float64Array.from(this.betas);
      variance[0] = this.posteriorVariance[1] as number;
      result = { variance, logVariance: variance.map((v) => Math.log(v)) };
    }
    this.fixedVarianceCache.set(type, result);
    return result;
  }

  private readonly fixedVarianceCache = new Map<string, FixedVariance>();
}
