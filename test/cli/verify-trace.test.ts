/**
 * `dr2e verify-trace` on every reference fixture: the official sampler's traces, schedules and
 * low-pass recordings in ../shared (skipped with a message when absent), the copies committed
 * for fresh clones, and the independently generated extra cases (other sizes and K, tau = 0,
 * omega = K - 1, fixed variances, batch 2).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  committedFixturesDir,
  extraFixturesDir,
  fixtureDirs,
  SHARED_ABSENT_MESSAGE,
  sharedFixturesDir,
  sharedFixturesPresent,
} from '../engine/helpers/fixture-paths.js';
import { runCli } from './cli-io.js';

const kinds = ['schedule-', 'lowpass-', 'trace-'];
const all = (root: string) => kinds.flatMap((prefix) => fixtureDirs(root, prefix));

describe.skipIf(!sharedFixturesPresent)(
  `official fixtures in ../shared ${sharedFixturesPresent ? '' : SHARED_ABSENT_MESSAGE}`,
  () => {
    it.each(all(sharedFixturesDir).map((d) => [path.basename(d), d]))('%s passes', async (_name, dir) => {
      const run = await runCli(['verify-trace', dir]);
      expect(run.stdout).toMatch(/^max abs error \d\.\d{3}e[-+]\d+$/m);
      expect(run.stdout).toContain('PASS');
      expect(run.status).toBe(0);
    });
  },
);

describe('committed fixtures (fresh clone)', () => {
  const dirs = [...all(committedFixturesDir), ...all(extraFixturesDir)];

  it('covers traces, a schedule and a low-pass recording', () => {
    expect(dirs.some((d) => path.basename(d).startsWith('trace-'))).toBe(true);
    expect(dirs.some((d) => path.basename(d).startsWith('schedule-'))).toBe(true);
    expect(dirs.some((d) => path.basename(d).startsWith('lowpass-'))).toBe(true);
  });

  it.each(dirs.map((d) => [path.basename(d), d]))('%s passes', async (_name, dir) => {
    const run = await runCli(['verify-trace', dir]);
    expect(run.stdout).toMatch(/^max abs error \d\.\d{3}e[-+]\d+$/m);
    expect(run.status).toBe(0);
  });
});

describe('failures', () => {
  it('exits 1 when the engine disagrees with a fixture beyond the tolerance', async () => {
    // Prepare: a copy of a committed trace whose expected output is shifted by 1e-3
    const work = await mkdtemp(path.join(tmpdir(), 'dr2e-trace-'));
    const source = fixtureDirs(committedFixturesDir, 'trace-')[0] as string;
    const dir = path.join(work, path.basename(source));
    await cp(source, dir, { recursive: true });
    const file = path.join(dir, 'expected_x0.f32');
    const bytes = await readFile(file);
    const values = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
    values[100] = (values[100] as number) + 1e-3;
    await writeFile(file, new Uint8Array(values.buffer));
    // Act
    const run = await runCli(['verify-trace', dir]);
    // Assess
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/max abs error 1\.0\d\de-3/);
    expect(run.stdout).toContain('FAIL');
    await rm(work, { recursive: true, force: true });
  });

  it('exits 2 with a clear message for a folder that is not a fixture', async () => {
    const run = await runCli(['verify-trace', tmpdir()]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/fixture_invalid: cannot read .*case\.json/);
  });
});
