/**
 * Beta schedules of the forward diffusion process over the full training grid of T steps.
 *
 * Each schedule is a pure function of its config, computed in float64 with the same
 * operation order as the reference Python (numpy) code, so the linear schedule reproduces
 * the recorded fixtures to the last bit.
 */
import { InvalidParametersError } from '../errors.js';

/** Names of the supported beta schedules (the model manifest's `schedule.betaSchedule`). */
export type BetaScheduleName = 'linear' | 'cosine';

/** A beta schedule over the full training grid. */
export interface BetaScheduleConfig {
  /** `linear` (DDPM / guided-diffusion) or `cosine` (improved DDPM). */
  readonly name: BetaScheduleName;
  /** Number of training timesteps T (1000 for the paper's models). */
  readonly numTimesteps: number;
}

/** Upper bound of a cosine-schedule beta; improved DDPM clips there to avoid a singular last step. */
const COSINE_MAX_BETA = 0.999;
/** Offset `s` of the improved-DDPM cosine schedule, so beta_0 is not vanishingly small. */
const COSINE_OFFSET = 0.008;
/** `1 + s` written as the literal the reference uses (the computed sum may differ in the last bit). */
const COSINE_OFFSET_PLUS_ONE = 1.008;

/**
 * Evenly spaced float64 values from `start` to `stop` inclusive, computed like `numpy.linspace`
 * (`start + i * step` with the last entry set to `stop`), which makes the result bit-identical.
 */
export function linspace(start: number, stop: number, count: number): Float64Array {
  const values = new Float64Array(count);
  if (count === 1) {
    values[0] = start;
    return values;
  }
  const step = (stop - start) / (count - 1);
  for (let i = 0; i < count; i++) values[i] = i * step + start;
  values[count - 1] = stop;
  return values;
}

/**
 * Linear schedule in the guided-diffusion convention: betas from `scale * 1e-4` to
 * `scale * 0.02` with `scale = 1000 / T`, so any T describes the same continuous process.
 */
function linearBetas(numTimesteps: number): Float64Array {
  const scale = 1000 / numTimesteps;
  return linspace(scale * 0.0001, scale * 0.02, numTimesteps);
}

/**
 * Cosine schedule of improved DDPM: `abar(t) = cos²((t/T + s) / (1 + s) · π/2)` and
 * `beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999)`.
 */
function cosineBetas(numTimesteps: number): Float64Array {
  const alphaBar = (fraction: number): number => {
    const cosine = Math.cos(((fraction + COSINE_OFFSET) / COSINE_OFFSET_PLUS_ONE) * (Math.PI / 2));
    return cosine * cosine;
  };
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), COSINE_MAX_BETA);
  }
  return betas;
}

/**
 * Betas of the full (not respaced) schedule.
 *
 * @example
 * ```ts
 * const betas = betaSchedule({ name: 'linear', numTimesteps: 1000 });
 * betas[0]; // 1e-4
 * betas[999]; // 0.02
 * ```
 * @throws InvalidParametersError for an unknown name or a T that is not an integer >= 2.
 */
export function betaSchedule(config: BetaScheduleConfig): Float64Array {
  const { name, numTimesteps } = config;
  if (!Number.isInteger(numTimesteps) || numTimesteps < 2) {
    throw new InvalidParametersError(`numTimesteps must be an integer >= 2, got ${String(numTimesteps)}`);
  }
  switch (name) {
    case 'linear':
      return linearBetas(numTimesteps);
    case 'cosine':
      return cosineBetas(numTimesteps);
    default:
      throw new InvalidParametersError(`unknown beta schedule "${String(name)}" (expected linear or cosine)`);
  }
}
