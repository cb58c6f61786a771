/**
 * The local adapters' lock: read-modify-write sequences under `withLock` never lose an update,
 * also when the directory lock is handed from holder to holder within the process, and the
 * lock directory is gone once the burst is over (another process can take it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { promisify } from 'node:util';
import { tryClaimMarker, withLock } from '../../../shared/adapters/local/fs-util.js';

const run = promisify(execFile);
const fsUtil = path.resolve(import.meta.dirname, '../../../shared/adapters/local/fs-util.ts');

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

describe('tryClaimMarker', () => {
  it('grants one of many racing claims, refuses a live holder, and takes over a dead one', async () => {
    // Prepare: a marker left by a process on this machine that no longer exists, and one held
    // by this test's parent process (alive)
    const dead = path.join(dir, 'dead');
    const alive = path.join(dir, 'alive');
    await writeFile(dead, `${hostname()}:2147483646`);
    await writeFile(alive, `${hostname()}:${process.ppid}`);
    const raced = path.join(dir, 'raced');
    // Act
    const claims = await Promise.all(Array.from({ length: 20 }, () => tryClaimMarker(raced)));
    const takenOver = await tryClaimMarker(dead);
    const refused = await tryClaimMarker(alive);
    const granted = claims.filter((claim) => claim !== undefined);
    await granted[0]?.();
    const again = await tryClaimMarker(raced);
    // Assess
    expect(granted).toHaveLength(1);
    expect(takenOver).toBeDefined();
    expect(refused).toBeUndefined();
    expect(again).toBeDefined();
    await again?.();
    await takenOver?.();
  });

  it('gives back only its own claim, never one taken over meanwhile', async () => {
    // Prepare: a claim, then taken over by another holder (judged stale elsewhere)
    const marker = path.join(dir, 'job');
    const release = await tryClaimMarker(marker);
    expect(release).toBeDefined();
    await writeFile(marker, 'otherhost:4242\nits-token');

    // Act
    await release?.();

    // Assess
    expect(await readFile(marker, 'utf8')).toBe('otherhost:4242\nits-token');
  });

  it('lets one of several processes take over a dead holder', async () => {
    // Prepare: a marker of a process that is gone; four processes that try at the same moment
    // and, if they win, hold the claim a while
    const marker = path.join(dir, 'job');
    await writeFile(marker, `${hostname()}:2147483646`);
    const script = path.join(dir, 'claim.mts');
    await writeFile(
      script,
      `import { tryClaimMarker } from ${JSON.stringify(fsUtil)};
const startAt = Number(process.argv[2]);
while (Date.now() < startAt) await new Promise((resolve) => setTimeout(resolve, 1));
const release = await tryClaimMarker(${JSON.stringify(marker)});
console.log(release ? 'won' : 'lost');
if (release) {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await release();
}
`,
    );
    const startAt = String(Date.now() + 4000);

    // Act
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => run(process.execPath, ['--import', 'tsx', script, startAt])),
    );

    // Assess
    const said = outcomes.map((outcome) => outcome.stdout.trim()).sort();
    expect(said).toEqual(['lost', 'lost', 'lost', 'won']);
  }, 30_000);
});
