/**
 * Sources of standard normal noise for the sampler.
 *
 * The sampler gives every image of a batch its own source and draws from it in a fixed order,
 * so an image's result depends only on its own source, never on what it was batched with.
 */
import { FixtureError } from '../errors.js';
import { rotl, Xoshiro128 } from './xoshiro128.js';

/** A stream of standard normal draws. */
export interface NoiseSource {
  /**
   * Fill `out` with the next `out.length` draws of the stream, in order. The stream does not
   * depend on how it is chunked: `fill(a)` then `fill(b)` gives the same values as one fill of
   * `a.length + b.length`.
   */
  fill(out: Float32Array): void;
}

const TWO_POW_MINUS_53 = 2 ** -53;
const TWO_PI = 2 * Math.PI;

/**
 * Standard normal draws from an integer seed, identical on every machine and platform.
 *
 * Algorithm (documented so another implementation can reproduce the bytes):
 * - uniform bits: xoshiro128** 1.1 (Blackman & Vigna), 32-bit integer arithmetic only
 *   ({@link Xoshiro128.fromSeed}): its four state words are the low then high halves of the first
 *   two SplitMix64 outputs for the seed (taken modulo 2^64, so negative seeds are allowed);
 * - uniforms: two consecutive 32-bit outputs `a`, `b` give `u = ((a >>> 5) * 2^26 + (b >>> 6) + 1) / 2^53`,
 *   a 53-bit value in (0, 1] (never 0, so its log is finite);
 * - normals: Box-Muller on two uniforms `u1`, `u2`: `r = sqrt(-2 ln u1)`, `z1 = r cos(2π u2)`,
 *   `z2 = r sin(2π u2)`; both are used, in that order, then rounded to float32.
 *
 * The transcendental functions are V8's (fdlibm ports, not the C library), so a given Node
 * version produces the same bytes everywhere.
 *
 * @example
 * ```ts
 * const noise = new SeededNormalSource(42);
 * const eps = new Float32Array(3 * 64 * 64);
 * noise.fill(eps); // the same values on every run with seed 42
 * ```
 */
export class SeededNormalSource implements NoiseSource {
  private readonly bits: Xoshiro128;
  /** Second Box-Muller value kept for the next draw when a fill ends on an odd count. */
  private spare = 0;
  private hasSpare = false;

  /** @throws InvalidParametersError when `seed` is not a safe integer. */
  constructor(seed: number) {
    this.bits = Xoshiro128.fromSeed(seed);
  }

  fill(out: Float32Array): void {
    const length = out.length;
    let i = 0;
    if (this.hasSpare && length > 0) {
      out[i++] = this.spare;
      this.hasSpare = false;
    }
    // Xoshiro128.nextUint32 is inlined with its state in locals: this loop produces every normal
    // the sampler uses, and a method call per 32-bit draw costs about a quarter of its time.
    const bits = this.bits;
    let s0 = bits.s0;
    let s1 = bits.s1;
    let s2 = bits.s2;
    let s3 = bits.s3;
    while (i < length) {
      // Four xoshiro128** outputs -> two 53-bit uniforms in (0, 1].
      let r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const high1 = r >>> 5;
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const u1 = (high1 * 67108864 + (r >>> 6) + 1) * TWO_POW_MINUS_53;
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const high2 = r >>> 5;
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const u2 = (high2 * 67108864 + (r >>> 6) + 1) * TWO_POW_MINUS_53;

      const radius = Math.sqrt(-2 * Math.log(u1));
      const angle = TWO_PI * u2;
      out[i++] = radius * Math.cos(angle);
      const second = radius * Math.sin(angle);
      if (i < length) {
        out[i++] = second;
      } else {
        this.spare = second;
        this.hasSpare = true;
      }
    }
    bits.s0 = s0;
    bits.s1 = s1;
    bits.s2 = s2;
    bits.s3 = s3;
  }
}

/**
 * Serves a recorded noise sequence (a reference trace's `noise` tensor) in order, so a sampler
 * can replay another implementation's run draw for draw.
 *
 * @example
 * ```ts
 * const noise = new RecordedNoiseSource(trace.noise.data);
 * await sampler.sample({ y, batch: 1, params, noise: [noise] });
 * noise.remaining; // 0 when the sampler consumed exactly what was recorded
 * ```
 */
export class RecordedNoiseSource implements NoiseSource {
  private offset = 0;

  constructor(private readonly values: Float32Array) {}

  /** Draws not yet served. */
  get remaining(): number {
    return this.values.length - this.offset;
  }

  /** Draws served so far. */
  get consumed(): number {
    return this.offset;
  }

  /**
   * @throws FixtureError when fewer than `out.length` recorded draws remain: the sampler asked
   * for more noise than the recording holds, so its draw order differs from the recording's.
   */
  fill(out: Float32Array): void {
    if (out.length > this.remaining) {
      throw new FixtureError(
        `recorded noise exhausted: ${out.length} draws requested at offset ${this.offset}, ` +
          `but only ${this.remaining} of ${this.values.length} remain ` +
          '(the sampler consumes more noise than was recorded)',
      );
    }
    out.set(this.values.subarray(this.offset, this.offset + out.length));
    this.offset += out.length;
  }
}
