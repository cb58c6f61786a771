/**
 * Seeded randomness of the engine and its tools, one generator (xoshiro128**) underneath:
 * the sampler's normal noise (`SeededNormalSource`, or a recorded one to replay a reference
 * trace) and general draws for synthetic data (`SeededRandom`, `deriveSeed`).
 *
 * @example
 * ```ts
 * const noise = new SeededNormalSource(42); // the sampler's noise for seed 42
 * const random = new SeededRandom(deriveSeed(0, 'face-001.jpg', 'x8')); // draws for one eval item
 * ```
 */
export { RecordedNoiseSource, SeededNormalSource } from './noise-source.js';
export type { NoiseSource } from './noise-source.js';
export { deriveSeed, SeededRandom } from './seeded-random.js';
export { Xoshiro128 } from './xoshiro128.js';
export { faceSeed, randomSeed } from './seeds.js';
