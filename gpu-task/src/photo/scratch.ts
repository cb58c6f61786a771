/**
 * Scratch buffers kept between photos, for the photo stage's largest short-lived arrays: the
 * difference images of the streamed output and the 16-bit samples an exact enlargement of a
 * whole photo reads (enlarge.ts `withEnlargedWindows`, `enlargeCentred`).
 *
 * **Why keep them.** A fresh buffer costs nothing to allocate, but every 4 KiB page faults the
 * first time it is touched: a 48 MP output's difference image (144 MB) is 36,000 pages, a
 * 12 MP photo's 16-bit samples (72 MB) 18,000. On the 2-core development VM fresh buffers of
 * those sizes cost about 0.3 s and 0.2 s per photo (docs/benchmarks). A buffer kept resident
 * costs none of it.
 *
 * Memory: a kept buffer stays resident for RETAIN_IDLE_MS after its last use, and only buffers
 * up to the pool's `retainMaxBytes` are kept (larger ones are allocated and dropped).
 */

/** Largest buffer kept between photos: the difference image of a 64 MP output (8000 x 8000 RGB). */
export const RETAIN_MAX_BYTES = 64_000_000 * 3;

/** How long an idle buffer is kept before it is dropped (a worker between jobs, a CLI run). */
export const RETAIN_IDLE_MS = 60_000;

/**
 * A pool of buffers whose contents are whatever their last user left (fresh ones are zeros).
 *
 * @example
 * ```ts
 * const pool = new KeptScratch();
 * const png = await pool.use(width * height * 6, async (buffer) => {
 *   const samples = toPreciseSamples(pixels, new Uint16Array(buffer.buffer, buffer.byteOffset, width * height * 3));
 *   return encode(samples); // the buffer is taken back once this settles
 * });
 * ```
 */
export class KeptScratch {
  private idle: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly retainMaxBytes = RETAIN_MAX_BYTES,
    private readonly retainIdleMs = RETAIN_IDLE_MS,
  ) {}

  /**
   * Run `work` with a buffer of exactly `length` bytes, taken back when `work` settles: `work`
   * must not keep it (nor anything that reads it later) past that.
   */
  async use<T>(length: number, work: (zeros: Buffer) => Promise<T>): Promise<T> {
    const buffer = this.take(length);
    // A rejection skips giveBack: the buffer is dropped (ZeroedScratch: its bytes unknown).
    const result = await work(buffer.subarray(0, length));
    this.giveBack(buffer);
    return result;
  }

  /** Buffers kept now (for tests and diagnostics). */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Drop every kept buffer now. */
  clear(): void {
    this.idle = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  // Buffer.alloc, never the shared pool of Buffer.allocUnsafe: every buffer starts its own
  // ArrayBuffer at offset 0, so a Uint16Array view of it is aligned (enlarge.ts).
  private take(length: number): Buffer {
    // The smallest kept buffer that fits: the others stay for photos with larger outputs.
    let best = -1;
    for (let i = 0; i < this.idle.length; i++) {
      const size = this.idle[i]!.length;
      if (size >= length && (best < 0 || size < this.idle[best]!.length)) best = i;
    }
    if (best >= 0) return this.idle.splice(best, 1)[0]!;
    return Buffer.alloc(length);
  }

  private giveBack(buffer: Buffer): void {
    if (buffer.length > this.retainMaxBytes) return;
    this.idle.push(buffer);
    // Only the largest buffers are worth keeping: two photos encoded at once leave two.
    this.idle.sort((a, b) => b.length - a.length);
    this.idle.length = Math.min(this.idle.length, 2);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.clear(), this.retainIdleMs);
    // An idle pool must not keep a CLI process alive.
    this.timer.unref();
  }
}

/**
 * A pool of zeroed buffers: its users restore the zeros they wrote.
 *
 * @example
 * ```ts
 * const pool = new ZeroedScratch();
 * const bytes = await pool.use(width * height * 3, async (zeros) => {
 *   zeros[0] = 7; // ...write, use...
 *   const result = await encode(zeros);
 *   zeros[0] = 0; // every byte written is zero again
 *   return result;
 * });
 * ```
 */
export class ZeroedScratch extends KeptScratch {
  /**
   * Run `work` with a buffer of exactly `length` zero bytes. `work` must leave every byte it
   * wrote zero again when it resolves; if it throws, the buffer is dropped (its bytes unknown).
   */
  override use<T>(length: number, work: (zeros: Buffer) => Promise<T>): Promise<T> {
    return super.use(length, work);
  }
}
