/**
 * Runs the Python model tests (models/tests: U-Net and SPARNetHD definitions, checkpoint
 * checks, ONNX export and parity) from vitest, so `npm test` covers them where the model
 * toolchain exists. They need /usr/bin/python3 with torch and onnx; without them the suite is
 * skipped and says why. DR2E_SKIP_FULL_SIZE=1 skips the two-minute full-size export checks.
 *
 * The full-size exports (random weights with exactly the published DR2 U-Net and SPARNetHD
 * layouts) are then run through the engine's own session wrappers (`OnnxDenoiser`,
 * `OnnxEnhancer`, with their contract checks) and compared with PyTorch outputs computed from
 * the unconverted checkpoints.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxDenoiser, OnnxEnhancer } from '../../gpu-task/src/engine/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = '/usr/bin/python3';
const probeDir = mkdtempSync(path.join(tmpdir(), 'dr2e-export-probe-'));

function pythonProblem(): string | null {
  const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (probe.error) return `${python} cannot run (${probe.error.message})`;
  if (probe.status !== 0) return `${python} lacks torch/onnx/numpy`;
  return null;
}

function readF32(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbs(values: Float32Array): number {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  return max;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

const problem = pythonProblem();
const suite = problem ? describe.skip : describe;

afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

suite(`models/tests Python unittest suite${problem ? ` (skipped: ${problem})` : ''}`, () => {
  it('passes', () => {
    // Act
    // From models/, so that the dr2e_models package and the tests package import as they are.
    const run = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: path.join(repoRoot, 'models'),
      encoding: 'utf8',
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, DR2E_EXPORT_PROBE_DIR: probeDir },
    });
    // Assess: unittest reports on stderr; show its tail when it fails.
    const report = `${run.stdout}\n${run.stderr}`.slice(-6000);
    expect(run.status, report).toBe(0);
    expect(run.stderr).toMatch(/\nOK/);
  }, 900_000);

  // The full-size exports need the published layouts from ../shared (the Python tests skip
  // without them) and can be turned off with DR2E_SKIP_FULL_SIZE=1.
  const layoutsDir = path.join(
    process.env.DR2E_SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared'),
    'fixtures',
    'checkpoint-layouts',
  );
  const fullSizeSkipReason =
    process.env.DR2E_SKIP_FULL_SIZE === '1'
      ? 'DR2E_SKIP_FULL_SIZE=1'
      : existsSync(path.join(layoutsDir, 'dr2-ffhq-256-unet.json'))
        ? null
        : `${layoutsDir} is absent (set DR2E_SHARED_DIR)`;
  const fullSize = (name: string, fn: () => Promise<void>, timeout: number) =>
    fullSizeSkipReason ? it.skip(`${name} (skipped: ${fullSizeSkipReason})`, fn) : it(name, fn, timeout);

  fullSize('full-size DR2 U-Net export runs through the engine denoiser and matches PyTorch', async () => {
    // Prepare: written by the Python full-size export test above
    const dir = path.join(probeDir, 'dr2-unet');
    expect(existsSync(path.join(dir, 'manifest.json')), 'the Python export test wrote no probe').toBe(true);
    const denoiser = await OnnxDenoiser.load(path.join(dir, 'manifest.json'), { warmup: false });
    const x = readF32(path.join(dir, 'x.f32'));
    const expected = readF32(path.join(dir, 'out.f32'));
    // Act
    const out = await denoiser.predict(x, [500], 1);
    // Assess
    expect(denoiser.resolution).toBe(256);
    expect(out.length).toBe(expected.length);
    expect(maxAbsDifference(out, expected)).toBeLessThanOrEqual(1e-4 * maxAbs(expected));
    await denoiser.dispose();
  }, 120_000);

  fullSize('full-size SPARNetHD export runs through the engine enhancer and matches PyTorch', async () => {
    const dir = path.join(probeDir, 'sparnethd');
    expect(existsSync(path.join(dir, 'manifest.json')), 'the Python export test wrote no probe').toBe(true);
    const enhancer = await OnnxEnhancer.load(path.join(dir, 'manifest.json'), { warmup: false });
    const x = readF32(path.join(dir, 'x.f32'));
    // The engine clamps the enhancer's output to [-1, 1]; compare with the clamped reference.
    const expected = readF32(path.join(dir, 'out.f32')).map((v) => Math.min(1, Math.max(-1, v)));
    const out = await enhancer.enhance(x, 1);
    expect([enhancer.inputSize, enhancer.outputSize]).toEqual([512, 512]);
    expect(maxAbsDifference(out, expected)).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(expected)));
    await enhancer.dispose();
  }, 180_000);
});
