/**
 * How far pixels are from grey, for tests of black-and-white inputs staying so (the grey rule,
 * photo/refine.ts).
 */

/**
 * The largest max - min of R, G and B over interleaved pixels of `channels` channels (the first
 * three read; 0 for an image with no colour anywhere).
 *
 * @example
 * ```ts
 * expect(largestChannelSpread(image.data)).toBe(0);
 * ```
 */
export function largestChannelSpread(data: ArrayLike<number>, channels = 3): number {
  let spread = 0;
  for (let i = 0; i + 2 < data.length; i += channels) {
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    spread = Math.max(spread, Math.max(r, g, b) - Math.min(r, g, b));
  }
  return spread;
}
