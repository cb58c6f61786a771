/**
 * The calibration script (scripts/calibrate-quality.ts) refuses bad arguments and samples files
 * it cannot fit on, with a message that names the problem, before any scoring, and writes
 * nothing then: neither the table module nor the samples folder is created. Runs the script as
 * its users do, offline (it needs no ../shared to get this far).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../engine/helpers/fixture-paths.js';
import { runScript, useTempDir } from './helpers.js';

const committedSamples = path.join(repoRoot, 'docs', 'quality', 'calibration', 'samples.csv');

/** Run the script with `args` (and throwaway output paths); its exit code and standard error. */
function calibrate(dir: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return runScript('calibrate-quality.ts', [
    ...args,
    '--out',
    path.join(dir, 'out'),
    '--table',
    path.join(dir, 'table.ts'),
  ]);
}

describe('scripts/calibrate-quality.ts refuses what it cannot fit', () => {
  const tempDir = useTempDir('dr2e-calibrate-');

  it.each([
    [['--rule', 'loose'], '--rule must be pooled or cell, got loose'],
    [['--splits', 'mild,foggy'], '--splits: unknown split foggy'],
    [['--bins', '0'], '--bins wants whole numbers >= 1, got 0'],
    [['--steps', '2,4', '--clean', 'absent.tar'], 'the option grid lacks the input itself'],
  ])('refuses %j before scoring: %s', async (args, message) => {
    // Prepare
    const dir = tempDir();
    // Act
    const { code, stderr } = await calibrate(dir, args);
    // Assess
    expect(code).not.toBe(0);
    expect(stderr).toContain(message);
    expect(existsSync(path.join(dir, 'table.ts'))).toBe(false);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  it('refuses to refit on a file that is not its samples.csv', async () => {
    // Prepare
    const dir = tempDir();
    const foreign = path.join(dir, 'foreign.csv');
    await writeFile(foreign, 'face,psnr,ssim\na.jpg,30.1,0.91\n');
    // Act
    const { code, stderr } = await calibrate(dir, ['--refit', foreign]);
    // Assess
    expect(code).not.toBe(0);
    expect(stderr).toContain('not a samples.csv of this script');
    expect(existsSync(path.join(dir, 'table.ts'))).toBe(false);
  });

  it('refuses to refit an older samples.csv without the colour-noise estimate unless asked to re-estimate', async () => {
    // Prepare: the committed file's first samples, without the column a later estimator added
    const dir = tempDir();
    const lines = (await readFile(committedSamples, 'utf8')).split('\n').slice(0, 200);
    const drop = lines[0]!.split(',').indexOf('colour_noise_est');
    expect(drop).toBeGreaterThan(0);
    const older = path.join(dir, 'older.csv');
    await writeFile(
      older,
      lines
        .map((line) =>
          line
            .split(',')
            .filter((_, i) => i !== drop)
            .join(','),
        )
        .join('\n'),
    );
    // Act
    const { code, stderr } = await calibrate(dir, ['--refit', older]);
    // Assess: a table fitted on it would bin faces without a term the engine uses
    expect(code).not.toBe(0);
    expect(stderr).toContain('lacks estimates the engine uses (colour_noise_est');
    expect(stderr).toContain('--reestimate');
    expect(existsSync(path.join(dir, 'table.ts'))).toBe(false);
  });
});
