/**
 * DR2's low-pass filter Phi_N = up_N(down_N(x)): bicubic downscaling by N (antialiased) then
 * bicubic upscaling back, with MATLAB `imresize` semantics (see bicubic.ts).
 */
import { InvalidParametersError } from '../errors.js';
import { BicubicResizer } from './bicubic.js';

/**
 * Checks that N is a power of two (1 included) that divides the image side.
 *
 * @throws InvalidParametersError naming the offending value.
 */
export function assertLowPassFactor(size: number, factor: number): void {
  if (!Number.isInteger(size) || size < 1) {
    throw new InvalidParametersError(`image size must be a positive integer, got ${String(size)}`);
  }
  if (!Number.isInteger(factor) || factor < 1 || (factor & (factor - 1)) !== 0) {
    throw new InvalidParametersError(`N must be a power of two (1, 2, 4, 8, ...), got ${String(factor)}`);
  }
  if (factor > size || size % factor !== 0) {
    throw new InvalidParametersError(`N (${factor}) must divide the image size (${size})`);
  }
}

/**
 * Phi_N for square planes of side `size`.
 *
 * N = 1 is the identity. Buffers are reused between calls, so an instance is not re-entrant; the
 * methods are synchronous, which makes that safe in single-threaded JS. Use
 * {@link LowPassFilter.get} to share instances.
 *
 * @example
 * ```ts
 * const phi = LowPassFilter.get(64, 8);
 * phi.apply(x, filtered, 3); // 3 planes of 64x64
 * phi.applyInPlace(x, 3);
 * ```
 */
export class LowPassFilter {
  /** Side of the downscaled planes, size / N. */
  readonly lowSize: number;
  private readonly down: BicubicResizer;
  private readonly up: BicubicResizer;
  private low: Float32Array;

  /** @throws InvalidParametersError when N is not a power of two dividing `size`. */
  constructor(
    readonly size: number,
    readonly factor: number,
  ) {
    assertLowPassFactor(size, factor);
    this.lowSize = size / factor;
    this.down = new BicubicResizer(size, size, this.lowSize, this.lowSize);
    this.up = new BicubicResizer(this.lowSize, this.lowSize, size, size);
    this.low = new Float32Array(0);
  }

  /** A shared filter per (size, N). */
  static get(size: number, factor: number): LowPassFilter {
    const key = `${size}/${factor}`;
    let filter = filterCache.get(key);
    if (filter === undefined) {
      filter = new LowPassFilter(size, factor);
      filterCache.set(key, filter);
    }
    return filter;
  }

  /** `down_N` alone: `planes` planes of `size²` into `dst` (`planes` planes of `(size/N)²`). */
  downsample(src: Float32Array, dst: Float32Array, planes: number): void {
    this.down.resize(src, dst, planes);
  }

  /**
   * `dst = Phi_N(src)` for `planes` planes. `src` and `dst` may be the same array: every plane is
   * read completely before it is written.
   */
  apply(src: Float32Array, dst: Float32Array, planes: number): void {
    if (this.factor === 1) {
      if (src !== dst) dst.set(src.subarray(0, planes * this.size * this.size));
      return;
    }
    const lowLength = planes * this.lowSize * this.lowSize;
    if (this.low.length < lowLength) this.low = new Float32Array(lowLength);
    this.down.resize(src, this.low, planes);
    this.up.resize(this.low, dst, planes);
  }

  /** `buffer = Phi_N(buffer)` for `planes` planes. */
  applyInPlace(buffer: Float32Array, planes: number): void {
    this.apply(buffer, buffer, planes);
  }

  /**
   * DR2's iterative refinement in place: `x <- x - Phi_N(x) + filteredReference`, where
   * `filteredReference` is Phi_N of the diffused input (it must not overlap `x`). The subtraction
   * is fused into the filter's last pass, so this costs one filter application.
   *
   * @example
   * ```ts
   * phi.apply(yNext, yNextFiltered, planes); // may run while the model computes
   * phi.refine(xNext, yNextFiltered, planes); // x keeps its high frequencies, takes y's low ones
   * ```
   */
  refine(x: Float32Array, filteredReference: Float32Array, planes: number): void {
    const length = planes * this.size * this.size;
    if (filteredReference.length < length) {
      throw new InvalidParametersError(
        `filteredReference has ${filteredReference.length} values, needs ${length}`,
      );
    }
    if (this.factor === 1) {
      x.set(filteredReference.subarray(0, length));
      return;
    }
    const lowLength = planes * this.lowSize * this.lowSize;
    if (this.low.length < lowLength) this.low = new Float32Array(lowLength);
    this.down.resize(x, this.low, planes);
    this.up.resizeSubtractAdd(this.low, x, filteredReference, planes);
  }
}

const filterCache = new Map<string, LowPassFilter>();
