/**
 * The one uniform generator of the code base: xoshiro128** 1.1 (Blackman & Vigna) on 32-bit
 * integer arithmetic, identical on every machine. The sampler's noise (noise-source.ts) and
 * the evaluation's synthetic degradations (seeded-random.ts) both draw from it; they differ only
 * in how a seed fills the four state words, and each keeps its documented seeding so results
 * stored with a seed stay reproducible.
 */
import { InvalidParametersError } from '../errors.js';

const UINT64_MASK = (1n << 64n) - 1n;

/** 32-bit rotate left, as a signed 32-bit integer. */
export function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidParametersError(`seed must be a safe integer, got ${String(seed)}`);
  }
}

/**
 * SplitMix64 (Steele, Lea, Flood 2014), the seeding generator recommended by the xoshiro
 * authors: the low then high 32-bit halves of its first outputs for `seed` (taken modulo 2^64,
 * so negative seeds are allowed; even 0 gives well-mixed words).
 */
function splitMix64Words(seed: bigint, count: number): number[] {
  let state = seed & UINT64_MASK;
  const words: number[] = [];
  while (words.length < count) {
    state = (state + 0x9e3779b97f4a7c15n) & UINT64_MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & UINT64_MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & UINT64_MASK;
    z = z ^ (z >> 31n);
    words.push(Number(z & 0xffffffffn), Number(z >> 32n));
  }
  return words.slice(0, count);
}

/** SplitMix32 outputs, started from the low and high 32-bit halves of `seed` mixed together. */
function splitMix32Words(seed: number, count: number): number[] {
  let state = (seed | 0) ^ Math.imul(Math.floor(seed / 2 ** 32) | 0, 0x9e3779b9);
  const words: number[] = [];
  while (words.length < count) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    words.push((z ^ (z >>> 16)) | 0);
  }
  return words;
}

/**
 * xoshiro128** 1.1 state and step. The state words are public so that a hot loop may copy them
 * into locals, inline the step and write them back (SeededNormalSource does, since a method call
 * per 32-bit draw costs a quarter of its time); anything else calls {@link nextUint32}.
 *
 * @example
 * ```ts
 * const bits = Xoshiro128.fromSeed(42);
 * bits.nextUint32(); // the same number on every run and machine
 * ```
 */
export class Xoshiro128 {
  /** The four state words as signed 32-bit integers (small integers are fastest in V8). */
  constructor(
    public s0: number,
    public s1: number,
    public s2: number,
    public s3: number,
  ) {
    // The all-zero state is xoshiro's one fixed point; no seeding below produces it but a
    // caller's words might.
    if ((s0 | s1 | s2 | s3) === 0) this.s0 = 1;
  }

  /**
   * The sampler's seeding: the state is the first two SplitMix64 outputs for `seed`.
   *
   * @throws InvalidParametersError when `seed` is not a safe integer.
   */
  static fromSeed(seed: number): Xoshiro128 {
    assertSeed(seed);
    const [w0, w1, w2, w3] = splitMix64Words(BigInt(seed), 4) as [number, number, number, number];
    return new Xoshiro128(w0 | 0, w1 | 0, w2 | 0, w3 | 0);
  }

  /**
   * The evaluation's seeding: the state is four SplitMix32 outputs from the seed's two halves.
   * Kept beside {@link fromSeed} because committed evaluation results were drawn with it.
   *
   * @throws InvalidParametersError when `seed` is not a safe integer.
   */
  static fromSeedSplitMix32(seed: number): Xoshiro128 {
    assertSeed(seed);
    const [w0, w1, w2, w3] = splitMix32Words(seed, 4) as [number, number, number, number];
    return new Xoshiro128(w0, w1, w2, w3);
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
}
