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
import {
  AUTO_PRESET,
  FIXED_PRESETS,
  RESTORE_DEFAULTS,
  type FixedPreset,
} from '../../../../shared/src/index.js';
import { InvalidParametersError } from '../errors.js';
import { roundHalfToEven } from '../schedule/rounding.js';
import { assertLowPassFactor } from '../resize/lowpass.js';

/**
 * Names of the presets: `auto` (chosen per face from its estimated degradation, see
 * engine/quality) and the fixed ones. One list for the API, the CLI and the engine
 * (shared/src/restore-options.ts).
 */
export { PRESETS as DR2_PRESET_NAMES, type Preset as Dr2PresetName } from '../../../../shared/src/index.js';

/** The fixed presets. */
export type FixedPresetName = FixedPreset;

/**
 * A fixed preset, defined relative to the face so that it means the same at every model
 * resolution: the low-pass Phi_N keeps the detail of a `cutoff`-pixel face (N = resolution /
 * cutoff, at least 1), and sampling stops at `tau` on the K = 100 grid.
 */
export interface Dr2Preset {
  /** Side (px) of the face whose detail the low-pass keeps. */
  readonly cutoff: number;
  /** On the K = 100 grid. */
  readonly tau: number;
}

/** The resolution the paper's demo values are given at (its FFHQ models are 256 px). */
export const PRESET_REFERENCE_RESOLUTION = 256;

/**
 * The paper's demo settings (N, τ) = (4, 22), (8, 35), (16, 35) at 256 px, as cut-offs: the
 * low-pass keeps a 64-, 32- or 16-px face. At the 64-px default model this is N = 1, 2, 4 (the
 * unscaled N = 8 and 16 would keep an 8- or 4-px face, far less than a severely degraded input
 * still holds). τ stays on the K = 100 grid: DR2 stops once the noise drowns the input's
 * degradation, and a small model's input is a small face enlarged, whose noise is as strong per
 * model pixel as a large model's (it is not averaged down), so τ is not shifted with resolution.
 */
export const DR2_PRESETS: Readonly<Record<FixedPresetName, Dr2Preset>> = Object.freeze({
  mild: Object.freeze({ cutoff: 64, tau: 22 }),
  medium: Object.freeze({ cutoff: 32, tau: 35 }),
  severe: Object.freeze({ cutoff: 16, tau: 35 }),
});

/**
 * N for a cut-off at a model resolution: the largest power of two N <= resolution / cutoff that
 * divides the resolution (at least 1).
 *
 * @example
 * ```ts
 * lowPassFactorForCutoff(16, 64); // 4
 * lowPassFactorForCutoff(64, 64); // 1
 * lowPassFactorForCutoff(16, 256); // 16
 * ```
 */
export function lowPassFactorForCutoff(cutoff: number, resolution: number): number {
  let n = 1;
  while (n * 2 * cutoff <= resolution && resolution % (n * 2) === 0) n *= 2;
  return n;
}

/**
 * A model's own values of some fixed presets (N, and τ on the K = 100 grid), where it was
 * measured to need others than DR2_PRESETS give at its resolution (a pipeline manifest's
 * `presets`).
 */
export type ModelPresets = Readonly<
  Partial<Record<FixedPresetName, { readonly n: number; readonly tau: number }>>
>;

/** Preset used when a request names none (the engine then estimates each face; see engine/quality). */
export const DEFAULT_DR2_PRESET = RESTORE_DEFAULTS.preset;
/** What `auto` resolves to where no face estimate is available (e.g. `resolveDr2Params` alone). */
export const AUTO_FALLBACK_PRESET: FixedPresetName = 'mild';
/** Sampling steps K used when a request names none. */
export const DEFAULT_DR2_STEPS = RESTORE_DEFAULTS.steps;
/** The grid (K) on which presets and omega offsets are defined. */
export const REFERENCE_STEPS = 100;
/** Training timesteps T assumed when the caller does not say (the paper's models use 1000). */
export const DEFAULT_NUM_TIMESTEPS = 1000;

/** What a caller may ask for; every field is optional. */
export interface Dr2ParamsRequest {
  /** Starting point; explicit `n`, `tau`, `omega` override its values. */
  readonly preset?: string;
  /**
   * 0..1, with `auto`: 0.5 is the automatic choice, larger keeps more of the input, smaller
   * trusts the prior more (engine/quality). Explicit `n`/`tau`/`omega` override it.
   */
  readonly fidelity?: number;
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

function isFixedPresetName(name: string): name is FixedPresetName {
  return Object.hasOwn(DR2_PRESETS, name);
}

/** A fixed preset's (N, τ on K = 100) at a model resolution. */
export function presetAt(name: FixedPresetName, resolution: number): { n: number; tau: number } {
  const preset = DR2_PRESETS[name];
  return { n: lowPassFactorForCutoff(preset.cutoff, resolution), tau: preset.tau };
}

/** @throws InvalidParametersError unless undefined or a number in [0, 1]. */
export function assertFidelity(fidelity: number | undefined): void {
  if (fidelity === undefined) return;
  if (typeof fidelity !== 'number' || !Number.isFinite(fidelity) || fidelity < 0 || fidelity > 1) {
    throw new InvalidParametersError(`fidelity must be a number from 0 to 1, got ${String(fidelity)}`);
  }
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
    throw new InvalidParametersError(
      `steps must be between 2 and ${numTimesteps} (the T timesteps the model was trained over), got ${steps}`,
    );
  }
  assertLowPassFactor(resolution, n);
  if (tau < 0) throw new InvalidParametersError(`tau must be >= 0, got ${tau}`);
  if (omega > steps - 1) {
    throw new InvalidParametersError(`omega (${omega}) must be at most steps - 1 (${steps - 1})`);
  }
  if (tau >= steps - 1) {
    // Said in terms of the schedule: omega derived from tau is capped at steps - 1, so the
    // comparison with omega alone would name a number the caller never gave.
    throw new InvalidParametersError(
      `tau (${tau}) must be less than steps - 1 (${steps - 1}): tau and omega count steps of the ${steps}-step respaced schedule (raise steps or lower tau)`,
    );
  }
  if (tau >= omega) {
    throw new InvalidParametersError(`tau (${tau}) must be less than omega (${omega})`);
  }
}

/**
 * Resolve a request to concrete settings.
 *
 * - Nothing given, or `auto`: `auto` needs a face to estimate (engine/quality chooses per face);
 *   here, without one, it resolves like `mild`.
 * - Fixed presets are scale-aware (see DR2_PRESETS): at 256 px `mild` is N = 4, τ = 22, ω = 42;
 *   at 64 px N = 1.
 * - A preset plus explicit values: the explicit values override the preset's (no conflict
 *   error), e.g. `{ preset: 'severe', tau: 20 }` gives N = 16 (at 256 px), τ = 20.
 * - ω not given: `min(K - 1, τ + offset(N))` with the offset 5, 10, 20, 25, 30 for N = 1, 2, 4, 8,
 *   ≥16 (scaled to K, at least 1).
 * - Preset τ values are scaled to K; explicit τ and ω are indices into the K-step schedule.
 *
 * @param resolution - side of the square image the sampler runs at (N must divide it).
 * @param options.numTimesteps - training timesteps T bounding K (default 1000).
 * @param options.presets - a model's own values of fixed presets (its pipeline manifest's
 *   `presets`), used instead of the scale-aware ones.
 * @throws InvalidParametersError with a message naming the problem (unknown preset, non-integer
 *   values, N not a power of two dividing the resolution, not `0 <= tau < omega <= K-1`,
 *   fidelity outside 0..1).
 *
 * @example
 * ```ts
 * resolveDr2Params({ preset: 'mild' }, 256); // { n: 4, tau: 22, omega: 42, steps: 100 }
 * resolveDr2Params({ preset: 'severe' }, 256); // { n: 16, tau: 35, omega: 65, steps: 100 }
 * resolveDr2Params({ preset: 'severe' }, 64); // { n: 4, tau: 35, omega: 55, steps: 100 }
 * resolveDr2Params({ preset: 'mild', steps: 50 }, 256); // { n: 4, tau: 11, omega: 21, steps: 50 }
 * ```
 */
export function resolveDr2Params(
  request: Dr2ParamsRequest,
  resolution: number,
  options: { numTimesteps?: number; presets?: ModelPresets } = {},
): Dr2Params {
  const numTimesteps = options.numTimesteps ?? DEFAULT_NUM_TIMESTEPS;
  const requested = request.preset ?? DEFAULT_DR2_PRESET;
  const presetName = requested === AUTO_PRESET ? AUTO_FALLBACK_PRESET : requested;
  if (!isFixedPresetName(presetName)) {
    throw new InvalidParametersError(
      `unknown preset "${requested}" (expected one of ${[AUTO_PRESET, ...FIXED_PRESETS].join(', ')})`,
    );
  }
  assertFidelity(request.fidelity);
  const preset = options.presets?.[presetName] ?? presetAt(presetName, resolution);
  const steps = request.steps ?? DEFAULT_DR2_STEPS;
  assertInteger('steps', steps);
  if (steps < 2 || steps > numTimesteps) {
    throw new InvalidParametersError(
      `steps must be between 2 and ${numTimesteps} (the T timesteps the model was trained over), got ${steps}`,
    );
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
