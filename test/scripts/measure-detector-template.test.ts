/**
 * The detector-template script (scripts/measure-detector-template.ts) refuses a bad command line
 * with its message and the usage, exit 1, and writes no template then. Runs offline: every case
 * stops before any face is read.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript, useTempDir } from './helpers.js';

describe('scripts/measure-detector-template.ts refuses a bad command line', () => {
  const tempDir = useTempDir('dr2e-template-');

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
    const out = path.join(tempDir(), 'template.json');
    // Act
    const { code, stderr } = await runScript('measure-detector-template.ts', [...args, '--out', out]);
    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: measure-detector-template.ts');
    expect(existsSync(out)).toBe(false);
  });
});
