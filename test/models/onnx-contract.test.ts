/**
 * The shipped tiny model pair and a freshly exported small U-Net honour the engine's model
 * contract: input/output names and types, dynamic batch, output shapes, and manifests that
 * the engine's zod schema accepts. Uses onnxruntime-node directly (not the engine's session
 * wrapper) so that it checks the files, whatever the wrapper does.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DenoiserManifestSchema,
  EnhancerManifestSchema,
  PipelineManifestSchema,
} from '../../gpu-task/src/engine/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tinyDir = path.join(repoRoot, 'gpu-task', 'models', 'tiny');
/** The Python tools are modules of the `dr2e_models` package, importable from `models/`. */
const modelsDir = path.join(repoRoot, 'models');
const python = '/usr/bin/python3';

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function gaussianish(count: number, seed: number): Float32Array {
  // Deterministic values in roughly N(0, 1): sum of uniforms from a small LCG.
  const values = new Float32Array(count);
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < count; i += 1) values[i] = (next() + next() + next() + next() - 2) * 1.7;
  return values;
}

interface DenoiserCase {
  session: ort.InferenceSession;
  resolution: number;
}

async function expectDenoiserContract({ session, resolution }: DenoiserCase, outputChannels: number): Promise<void> {
  expect(session.inputNames).toEqual(['x', 't']);
  expect(session.outputNames).toEqual(['out']);
  const [x, t] = session.inputMetadata;
  expect(x).toMatchObject({ name: 'x', isTensor: true, type: 'float32' });
  expect(t).toMatchObject({ name: 't', isTensor: true, type: 'int64' });
  if (x?.isTensor && t?.isTensor) {
    expect(x.shape.slice(1)).toEqual([3, resolution, resolution]);
    expect(typeof x.shape[0]).toBe('string'); // dynamic batch
    expect(t.shape.length).toBe(1);
  }
  for (const batch of [1, 3]) {
    const pixels = batch * 3 * resolution * resolution;
    const timesteps = BigInt64Array.from({ length: batch }, (_, i) => BigInt(Math.round((i * 999) / Math.max(1, batch - 1))));
    const result = await session.run({
      x: new ort.Tensor('float32', gaussianish(pixels, batch), [batch, 3, resolution, resolution]),
      t: new ort.Tensor('int64', timesteps, [batch]),
    });
    const out = result.out;
    expect(out?.dims).toEqual([batch, outputChannels, resolution, resolution]);
    expect(out?.type).toBe('float32');
    const data = out?.data as Float32Array;
    expect(data.every((v) => Number.isFinite(v))).toBe(true);
  }
}

describe('tiny model pair (gpu-task/models/tiny)', () => {
  it('has manifests the engine schema accepts, pointing at the shipped files', () => {
    // Prepare
    const pipeline = PipelineManifestSchema.parse(readJson(path.join(tinyDir, 'pipeline.json')));
    // Act
    const denoiser = DenoiserManifestSchema.parse(readJson(path.join(tinyDir, pipeline.denoiser)));
    const enhancer = EnhancerManifestSchema.parse(readJson(path.join(tinyDir, pipeline.enhancer ?? '')));
    // Assess
    expect(denoiser).toMatchObject({
      resolution: 64,
      io: { image: 'x', timestep: 't', output: 'out' },
      timestepType: 'int64',
      channels: { input: 3, output: 6 },
      variance: 'learned_range',
      schedule: { betaSchedule: 'linear', numTimesteps: 1000 },
    });
    expect(enhancer).toMatchObject({ inputSize: 64, outputSize: 128, io: { image: 'input', output: 'output' } });
    for (const manifest of [denoiser, enhancer]) {
      expect(manifest.provenance.sha256).toBe(sha256(path.join(tinyDir, manifest.file)));
      expect(manifest.license.name).toBe('MIT');
    }
  });

  it('denoiser takes x float32 [B,3,64,64] and t int64 [B] and returns [B,6,64,64] at B=1 and B=3', async () => {
    const session = await ort.InferenceSession.create(path.join(tinyDir, 'denoiser.onnx'));
    try {
      await expectDenoiserContract({ session, resolution: 64 }, 6);
    } finally {
      await session.release();
    }
  });

  it('enhancer maps input [B,3,64,64] to output [B,3,128,128]', async () => {
    const session = await ort.InferenceSession.create(path.join(tinyDir, 'enhancer.onnx'));
    try {
      expect(session.inputNames).toEqual(['input']);
      expect(session.outputNames).toEqual(['output']);
      for (const batch of [1, 3]) {
        const result = await session.run({
          input: new ort.Tensor('float32', gaussianish(batch * 3 * 64 * 64, 7).map((v) => Math.tanh(v)), [batch, 3, 64, 64]),
        });
        expect(result.output?.dims).toEqual([batch, 3, 128, 128]);
      }
    } finally {
      await session.release();
    }
  });
});

function pythonProblem(): string | null {
  const probe = spawnSync(python, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `${python} with torch and onnx is not available`;
  return null;
}

const problem = pythonProblem();
const exportSuite = problem ? describe.skip : describe;

exportSuite(`small U-Net exported by dr2e_models.export${problem ? ` (skipped: ${problem})` : ''}`, () => {
  let workDir = '';
  let onnxPath = '';

  beforeAll(() => {
    // Prepare: random weights for a 32x32 U-Net of the DR2 family, converted by the real CLI.
    workDir = mkdtempSync(path.join(tmpdir(), 'dr2e-export-'));
    const checkpoint = path.join(workDir, 'small.pt');
    const makeCheckpoint = [
      'import torch',
      'from dr2e_models.unet import UNetConfig, build_unet',
      'torch.manual_seed(0)',
      'm = build_unet(UNetConfig(image_size=32, model_channels=32, channel_mult=(1, 2), attention_resolutions=(2,), num_head_channels=16))',
      '[torch.nn.init.normal_(p, std=0.05) for p in m.parameters()]',
      `torch.save(m.state_dict(), ${JSON.stringify(checkpoint)})`,
    ].join('\n');
    const made = spawnSync(python, ['-c', makeCheckpoint], { cwd: modelsDir, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    onnxPath = path.join(workDir, 'small', 'denoiser.onnx');
    const exported = spawnSync(
      python,
      [
        '-m',
        'dr2e_models.export',
        '--arch', 'dr2-unet',
        '--checkpoint', checkpoint,
        '--out', onnxPath,
        '--image-size', '32',
        '--model-channels', '32',
        '--channel-mult', '1,2',
        '--attention-ds', '2',
        '--num-head-channels', '16',
        '--license', 'mit-test',
      ],
      { cwd: modelsDir, encoding: 'utf8' },
    );
    expect(exported.status, exported.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('writes a manifest the engine schema accepts', () => {
    const manifest = DenoiserManifestSchema.parse(readJson(onnxPath.replace(/\.onnx$/, '.json')));
    expect(existsSync(path.join(path.dirname(onnxPath), manifest.file))).toBe(true);
    expect(manifest).toMatchObject({ resolution: 32, channels: { output: 6 }, variance: 'learned_range' });
    expect(manifest.provenance.sha256).toBe(sha256(onnxPath));
    expect(manifest.provenance.parityMaxAbsError).toBeGreaterThanOrEqual(0);
  });

  it('meets the denoiser contract at B=1 and B=3', async () => {
    const session = await ort.InferenceSession.create(onnxPath);
    try {
      await expectDenoiserContract({ session, resolution: 32 }, 6);
    } finally {
      await session.release();
    }
  });
});
