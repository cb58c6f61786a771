/**
 * Seeds of restore calls: one per image (the caller's, or drawn and reported), and one per face
 * of a photo derived from it, so a photo's faces draw different noise and every draw repeats.
 */
import { randomInt } from 'node:crypto';

/** A random seed that fits every consumer (JSON, SQL integers, the PRNG's safe-integer check). */
export function randomSeed(): number {
  return randomInt(0, 2 ** 31 - 1);
}

/**
 * Seed of a photo's face `index`: the photo's seed for the first face (so an aligned crop and
 * the same face found in a photo draw the same noise), a hash of (seed, index) for the others.
 */
export function faceSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  let h = (seed ^ Math.imul(index, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) % (2 ** 31 - 1);
}
