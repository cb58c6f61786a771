/**
 * Round to the nearest integer, ties to even — Python's `round()`, which the reference code
 * uses to pick respaced timesteps. `Math.round` rounds ties up and would disagree at x.5.
 *
 * @example
 * ```ts
 * roundHalfToEven(2.5); // 2
 * roundHalfToEven(3.5); // 4
 * roundHalfToEven(-0.5); // -0 (compares equal to 0)
 * ```
 */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
