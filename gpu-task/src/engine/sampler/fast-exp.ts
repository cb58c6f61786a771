/**
 * `exp` for the sampler's per-pixel learned variance. The sampler factors the standard
 * deviation so that the per-pixel exponent is small (about 1e-2 on the steps DR2 runs); there a
 * short polynomial is several times faster than `Math.exp` (a call into C++ in V8) and far more
 * accurate than the float32 the result is stored in.
 */

/** Largest |z| served by the polynomial; beyond it `Math.exp` is used. */
const POLYNOMIAL_RANGE = 0.25;

/**
 * e^z: a degree-7 Taylor polynomial for |z| <= 1/4 (relative error below 1e-9), `Math.exp`
 * elsewhere (and for NaN).
 *
 * @example
 * ```ts
 * expNearZero(0.01); // ≈ 1.010050167084168
 * expNearZero(3); // Math.exp(3)
 * ```
 */
export function expNearZero(z: number): number {
  if (!(z >= -POLYNOMIAL_RANGE && z <= POLYNOMIAL_RANGE)) return Math.exp(z);
  return (
    1 + z * (1 + z * (1 / 2 + z * (1 / 6 + z * (1 / 24 + z * (1 / 120 + z * (1 / 720 + z * (1 / 5040)))))))
  );
}
