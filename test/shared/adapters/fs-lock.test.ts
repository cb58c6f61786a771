/**
 * The local adapters' lock: read-modify-write sequences under `withLock` never lose an update,
 * also when the directory lock is handed from holder to holder within the process, and the
 * lock directory is gone once the burst is over (another process can take it).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withLock } from '../../../shared/adapters/local/fs-util.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('withLock', () => {
  it('serialises 200 concurrent increments and releases the directory lock afterwards', async () => {
    // Prepare
    const counter = path.join(dir, 'counter');
    const lock = path.join(dir, '.lock');
    await writeFile(counter, '0');
    let inside = 0;
    let overlap = false;
    // Act
    await Promise.all(
      Array.from({ length: 200 }, () =>
        withLock(lock, async () => {
          inside += 1;
          if (inside > 1) overlap = true;
          const value = Number(await readFile(counter, 'utf8'));
          await writeFile(counter, String(value + 1));
          inside -= 1;
        }),
      ),
    );
    // Assess
    expect(overlap).toBe(false);
    expect(await readFile(counter, 'utf8')).toBe('200');
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('passes the error of an action on and keeps the lock usable', async () => {
    const lock = path.join(dir, '.lock');
    await expect(withLock(lock, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(withLock(lock, async () => 'next')).resolves.toBe('next');
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
