/**
 * The kept difference-image buffers (scratch.ts): zeros on every use, reused while kept,
 * dropped when a use fails or when too large to keep.
 */
import { describe, expect, it } from 'vitest';
import { ZeroedScratch } from '../../gpu-task/src/photo/scratch.js';

describe('ZeroedScratch', () => {
  it('hands out exactly the length asked for, all zeros, and reuses a kept buffer for a smaller request', async () => {
    // Prepare
    const pool = new ZeroedScratch();
    let first: Buffer | undefined;
    await pool.use(1000, async (zeros) => {
      first = zeros;
      zeros.fill(9, 10, 20);
      zeros.fill(0, 10, 20); // the contract: leave zeros behind
    });
    // Act
    const second = await pool.use(600, async (zeros) => zeros);
    // Assess
    expect(first!.length).toBe(1000);
    expect(second.length).toBe(600);
    expect(second.every((b) => b === 0)).toBe(true);
    expect(second.buffer).toBe(first!.buffer); // the same memory, not a fresh allocation
    expect(pool.idleCount).toBe(1);
    pool.clear();
  });

  it('drops a buffer whose use failed (its bytes are unknown) and passes the error on', async () => {
    // Prepare
    const pool = new ZeroedScratch();
    let dirty: Buffer | undefined;
    // Act
    const failure = pool.use(100, async (zeros) => {
      dirty = zeros;
      zeros[5] = 1;
      throw new Error('encoder failed');
    });
    // Assess
    await expect(failure).rejects.toThrow('encoder failed');
    expect(pool.idleCount).toBe(0);
    const next = await pool.use(100, async (zeros) => zeros);
    expect(next.buffer).not.toBe(dirty!.buffer);
    expect(next.every((b) => b === 0)).toBe(true);
    pool.clear();
  });

  it('keeps nothing larger than its limit, and lets go of idle buffers after the idle time', async () => {
    // Prepare
    const pool = new ZeroedScratch(500, 20);
    // Act
    await pool.use(800, async () => undefined);
    const afterLarge = pool.idleCount;
    await pool.use(400, async () => undefined);
    const afterSmall = pool.idleCount;
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Assess
    expect([afterLarge, afterSmall, pool.idleCount]).toEqual([0, 1, 0]);
  });
});
