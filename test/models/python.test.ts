/**
 * Runs the Python model tests (models/tests: U-Net and SPARNetHD definitions, checkpoint
 * checks, ONNX export and parity) from vitest, so `npm test` covers them where the model
 * toolchain exists. They need /usr/bin/python3 with torch and onnx; without them the suite is
 * skipped and says why. DR2E_SKIP_FULL_SIZE=1 skips the two-minute full-size export checks.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = '/usr/bin/python3';

function pythonProblem(): string | null {
  const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (probe.error) return `${python} cannot run (${probe.error.message})`;
  if (probe.status !== 0) return `${python} lacks torch/onnx/numpy`;
  return null;
}

const problem = pythonProblem();
const suite = problem ? describe.skip : describe;

suite(`models/tests Python unittest suite${problem ? ` (skipped: ${problem})` : ''}`, () => {
  it('passes', () => {
    // Act
    const run = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'models/tests'], {
      cwd: repoRoot,
      encoding: 'utf8',
      maxBuffer: 32 * 1024 * 1024,
    });
    // Assess: unittest reports on stderr; show its tail when it fails.
    const report = `${run.stdout}\n${run.stderr}`.slice(-6000);
    expect(run.status, report).toBe(0);
    expect(run.stderr).toMatch(/\nOK/);
  }, 900_000);
});
