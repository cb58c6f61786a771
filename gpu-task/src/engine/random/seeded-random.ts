/**
 * General seeded random numbers: uniform, integer, normal, Laplace and Poisson draws and a
 * pick from a list, for work that must give the same draws on every run and machine for a seed
 * (the evaluation's degradation parameters and synthetic noise, the eigenface fit's start).
 *
 * Each consumer should derive its own seed from the names of what it draws for (`deriveSeed`),
 * so one item's draws never depend on which other items are processed (a `--limit 10` run is a
 * prefix of a `--limit 100` run).
 *
 * Bits from {@link Xoshiro128} with its SplitMix32 seeding; doubles in [0, 1) from 53 bits;
 * normals by Box-Muller. The sampler's noise has its own, faster source (noise-source.ts).
 */
import { InvalidParametersError } from '../errors.js';
import { Xoshiro128 } from './xoshiro128.js';

const TWO_POW_MINUS_32 = 2 ** -32;
const TWO_POW_MINUS_53 = 2 ** -53;

/**
 * A 31-bit seed from any mix of strings and numbers (FNV-1a over their text, then a final
 * avalanche), so related names give unrelated seeds.
 *
 * @example
 * ```ts
 * deriveSeed(0, 'face-001.jpg', 'x8', 'severe'); // the same number on every run
 * ```
 */
export function deriveSeed(...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5;
  const text = parts.map(String).join('\u0000');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Murmur3's finaliser spreads the last characters' influence over all bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) & 0x7fffffff;
}

/**
 * A reproducible stream of uniform, normal, Laplace and Poisson draws.
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42);
 * random.between(3, 5); // a uniform value in [3, 5)
 * random.pick(['gaussian', 'laplace', 'poisson']);
 * ```
 */
export class SeededRandom {
  private readonly bits: Xoshiro128;
  private spareNormal: number | null = null;

  /** @throws InvalidParametersError when `seed` is not a safe integer. */
  constructor(seed: number) {
    this.bits = Xoshiro128.fromSeedSplitMix32(seed);
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    return this.bits.nextUint32();
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) * TWO_POW_MINUS_53;
  }

  /** A uniform double in [low, high). */
  between(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** A uniform integer in [low, high], both included. */
  integer(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low + 1));
  }

  /** One element of a non-empty list, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new InvalidParametersError('cannot pick from an empty list');
    return items[Math.floor(this.uniform() * items.length)] as T;
  }

  /** A standard normal draw (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    // 1 - u is in (0, 1], so the logarithm is finite.
    const u1 = 1 - this.uniform();
    const u2 = this.nextUint32() * TWO_POW_MINUS_32;
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /** A zero-mean Laplace draw with standard deviation `std` (scale `std / sqrt 2`). */
  laplace(std: number): number {
    const scale = std / Math.SQRT2;
    const u = this.uniform() - 0.5; // in [-0.5, 0.5)
    const magnitude = -scale * Math.log(1 - 2 * Math.abs(u));
    return u < 0 ? -magnitude : magnitude;
  }

  /**
   * A Poisson draw with the given mean: Knuth's product of uniforms below a mean of 30, the
   * rounded normal approximation `max(0, round(mean + sqrt(mean) z))` above, where the two
   * distributions agree to well within what synthetic noise needs.
   */
  poisson(mean: number): number {
    if (!(mean >= 0) || !Number.isFinite(mean)) {
      throw new InvalidParametersError(`Poisson mean must be finite and non-negative, got ${String(mean)}`);
    }
    if (mean === 0) return 0;
    if (mean >= 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let count = 0;
    let product = 1 - this.uniform();
    while (product > limit) {
      count += 1;
      product *= 1 - this.uniform();
    }
    return count;
  }
}
