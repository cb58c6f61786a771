/**
 * The detector-template script (scripts/measure-detector-template.ts) refuses a bad command line
 * with its message and the usage, exit 1, and writes no template then. Runs offline: every case
 * stops before any face is read.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../engine/helpers/fixture-paths.js';

const run = promisify(execFile);
const script = path.join(repoRoot, 'scripts', 'measure-detector-template.ts');

describe('scripts/measure-detector-template.ts refuses a bad command line', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr2e-template-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const scene = ['--clean', 'faces.tar', '--prefix', 'train/', '--background', 'bg.jpg'];
  it.each([
    [['--frist', '3'], "Unknown option '--frist'"],
    [['faces.tar', 'train/', '8'], "Unexpected argument 'faces.tar'"],
    [['--prefix', 'train/'], '--clean, --prefix, --photos and --background are required'],
    [[...scene, '--photos', '0'], '--photos wants a whole number >= 1, got 0'],
    [[...scene, '--photos', '8', '--seed', '1.5'], '--seed wants a whole number >= 0, got 1.5'],
    [[...scene, '--photos', '8', '--split', 'foggy'], "unknown degradation split 'foggy'"],
    [['--crops', 'no-such-folder'], '--crops: ENOENT'],
  ])('refuses %j: %s', async (args, message) => {
    // Prepare
    const out = path.join(dir, 'template.json');
    // Act
    const failure = await run(process.execPath, ['--import', 'tsx', script, ...args, '--out', out], {
      cwd: repoRoot,
      timeout: 60_000,
    }).then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    // Assess
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain(message);
    expect(failure?.stderr).toContain('usage: measure-detector-template.ts');
    expect(existsSync(out)).toBe(false);
  });
});
