/**
 * DR2's user-facing parameters and how they resolve to concrete sampler settings.
 *
 * - `n` (N): low-pass factor of Phi_N; larger N keeps less of the input and removes heavier
 *   degradation. A power of two dividing the image side; 1 replaces x by the diffused input.
 * - `tau` (τ): respaced step at which sampling stops and x0 is returned (0 = run to the end).
 * - `omega` (ω): respaced step where sampling starts from the diffused input.
 * - `steps` (K): sampling steps of the respaced schedule (100 = the paper's "every 10 steps").
 *
 * `tau` and `omega` are indices into the chosen K-step schedule. Presets and default omega
 * offsets are defined on the paper's K = 100 grid; for another K they are moved to the same point
 * of the diffusion, `round(v · (K - 1) / 99)`.
 */
import { InvalidParametersError } from '../errors.js';
import { roundHalfToEven } from '../schedule/rounding.js';
import { assertLowPassFactor } from '../resize/lowpass.js';

/** Names of the built-in presets, from the paper's demo on its three real-degradation sets. */
export type Dr2PresetName = 'mild' | 'medium' | 'severe';

/** Preset values on the K = 100 grid. */
export interface Dr2Preset {
  readonly n: number;
  readonly tau: number;
}

/** The paper's demo settings: (N, τ) = (4, 22), (8, 35), (16, 35). */
export const DR2_PRESETS: Readonly<Record<Dr2PresetName, Dr2Preset>> = Object.freeze({
  mild: Object.freeze({ n: 4, tau: 22 }),
  medium: Object.freeze({ n: 8, tau: 35 }),
  severe: Object.freeze({ n: 16, tau: 35 }),
});

/** Preset used when a request names none. */
export const DEFAULT_DR2_PRESET: Dr2PresetName = 'mild';
/** Sampling steps K used when a request names none. */
export const DEFAULT_DR2_STEPS = 100;
/** The grid (K) on which presets and omega offsets are defined. */
export const REFERENCE_STEPS = 100;
/** Training timesteps T assumed when the caller does not say (the paper's models use 1000). */
export const DEFAULT_NUM_TIMESTEPS = 1000;

/** What a caller may ask for; every field is optional. */
export interface Dr2ParamsRequest {
  /** Starting point; explicit `n`, `tau`, `omega` override its values. */
  readonly preset?: string;
  readonly n?: number;
  /** Index into the K-step schedule. */
  readonly tau?: number;
  /** Index into the K-step schedule. */
  readonly omega?: number;
  readonly steps?: number;
}

/** Fully resolved sampler settings. */
export interface Dr2Params {
  readonly n: number;
  readonly tau: number;
  readonly omega: number;
  readonly steps: number;
}

/**
 * How far above tau sampling starts by default, on the K = 100 grid, as the paper's code picks
 * it from N: heavier low-pass filtering needs more diffusion steps to restore detail.
 */
export function defaultOmegaOffset(n: number): number {
  if (n <= 1) return 5;
  if (n === 2) return 10;
  if (n === 4) return 20;
  if (n === 8) return 25;
  return 30;
}

/** Move an index on the K = 100 grid to the same point of a K-step schedule. */
export function scaleReferenceIndex(value: number, steps: number): number {
  return roundHalfToEven((value * (steps - 1)) / (REFERENCE_STEPS - 1));
}

function isPresetName(name: string): name is Dr2PresetName {
  return Object.hasOwn(DR2_PRESETS, name);
}

function assertInteger(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidParametersError(`${name} must be an integer, got ${String(value)}`);
  }
}

/**
 * Checks resolved settings against each other, the image side and the training grid.
 *
 * @throws InvalidParametersError naming the first problem found.
 */
export function validateDr2Params(
  params: Dr2Params,
  resolution: number,
  numTimesteps: number = DEFAULT_NUM_TIMESTEPS,
): void {
  const { n, tau, omega, steps } = params;
  assertInteger('steps', steps);
  assertInteger('n', n);
  assertInteger('tau', tau);
  assertInteger('omega', omega);
  if (steps < 2 || steps > numTimesteps) {
    throw new InvalidParametersError(`steps must be between 2 and ${numTimesteps}, got ${steps}`);
  }
  assertLowPassFactor(resolution, n);
  if (tau < 0) throw new InvalidParametersError(`tau must be >= 0, got ${tau}`);
  if (omega > steps - 1) {
    throw new InvalidParametersError(`omega (${omega}) must be at most steps - 1 (${steps - 1})`);
  }
  if (tau >= omega) {
    throw new InvalidParametersError(`tau (${tau}) must be less than omega (${omega})`);
  }
}

/**
 * Resolve a request to concrete settings.
 *
 * - Nothing given: the `mild` preset (N = 4, τ = 22, ω = 42) with K = 100.
 * - A preset plus explicit values: the explicit values override the preset's (no conflict
 *   error), e.g. `{ preset: 'severe', tau: 20 }` gives N = 16, τ = 20.
 * - Fields not given come from the preset (the default one if none is named).
 * - ω not given: `min(K - 1, τ + offset(N))` with the offset 5, 10, 20, 25, 30 for N = 1, 2, 4, 8,
 *   ≥16 (scaled to K, at least 1).
 * - Preset τ values are scaled to K; explicit τ and ω are indices into the K-step schedule.
 *
 * @param resolution - side of the square image the sampler runs at (N must divide it).
 * @param options.numTimesteps - training timesteps T bounding K (default 1000).
 * @throws InvalidParametersError with a message naming the problem (unknown preset, non-integer
 *   values, N not a power of two dividing the resolution, not `0 <= tau < omega <= K-1`).
 *
 * @example
 * ```ts
 * resolveDr2Params({}, 256); // { n: 4, tau: 22, omega: 42, steps: 100 }
 * resolveDr2Params({ preset: 'severe' }, 256); // { n: 16, tau: 35, omega: 65, steps: 100 }
 * resolveDr2Params({ preset: 'mild', steps: 50 }, 256); // { n: 4, tau: 11, omega: 21, steps: 50 }
 * ```
 */
export function resolveDr2Params(
  request: Dr2ParamsRequest,
  resolution: number,
  options: { numTimesteps?: number } = {},
): Dr2Params {
  const numTimesteps = options.numTimesteps ?? DEFAULT_NUM_TIMESTEPS;
  const presetName = request.preset ?? DEFAULT_DR2_PRESET;
  if (!isPresetName(presetName)) {
    throw new InvalidParametersError(
      `unknown preset "${presetName}" (expected one of ${Object.keys(DR2_PRESETS).join(', ')})`,
    );
  }
  const preset = DR2_PRESETS[presetName];
  const steps = request.steps ?? DEFAULT_DR2_STEPS;
  assertInteger('steps', steps);
  if (steps < 2 || steps > numTimesteps) {
    throw new InvalidParametersError(`steps must be between 2 and ${numTimesteps}, got ${steps}`);
  }
  const n = request.n ?? preset.n;
  assertInteger('n', n);
  const tau = request.tau ?? scaleReferenceIndex(preset.tau, steps);
  assertInteger('tau', tau);
  let omega = request.omega;
  if (omega === undefined) {
    const offset = Math.max(1, scaleReferenceIndex(defaultOmegaOffset(n), steps));
    omega = Math.min(steps - 1, tau + offset);
  }
  const params: Dr2Params = { n, tau, omega, steps };
  validateDr2Params(params, resolution, numTimesteps);
  return params;
}
