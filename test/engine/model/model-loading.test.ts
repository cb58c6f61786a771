/**
 * The model contract at load time: manifests are validated, graphs that break the contract are
 * refused with a message naming the problem, and execution providers are never silently
 * swapped.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Dr2eEngine } from '../../../gpu-task/src/engine/dr2e-engine.js';
import { ModelContractError, ProviderUnavailableError } from '../../../gpu-task/src/engine/errors.js';
import { OnnxDenoiser } from '../../../gpu-task/src/engine/model/onnx-denoiser.js';
import { OnnxEnhancer } from '../../../gpu-task/src/engine/model/onnx-enhancer.js';
import { resolveExecutionProviders } from '../../../gpu-task/src/engine/model/providers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const contractDir = path.join(repoRoot, 'test', 'fixtures', 'models', 'contract');
const tinyPipeline = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');

let work: string;

function denoiserManifest(file: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 1,
    role: 'denoiser',
    name: path.basename(file, '.onnx'),
    file,
    resolution: 32,
    io: { image: 'x', timestep: 't', output: 'out' },
    timestepType: 'int64',
    channels: { input: 3, output: 6 },
    variance: 'learned_range',
    schedule: { betaSchedule: 'linear', numTimesteps: 1000 },
    license: { name: 'MIT', commercialUse: true },
    provenance: { source: 'test graph' },
    ...overrides,
  };
}

async function writeManifest(name: string, manifest: Record<string, unknown>): Promise<string> {
  const file = path.join(work, `${name}.json`);
  await writeFile(file, JSON.stringify(manifest));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-models-'));
  for (const name of [
    'denoiser-ok',
    'denoiser-wrong-input-name',
    'denoiser-3-channels',
    'denoiser-16px',
    'denoiser-float-timestep',
    'denoiser-dynamic-3-channels',
    'denoiser-extra-input',
    'denoiser-batch-1',
    'enhancer-ok',
    'enhancer-no-upscale',
  ]) {
    await copyFile(path.join(contractDir, `${name}.onnx`), path.join(work, `${name}.onnx`));
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('denoiser contract', () => {
  it('loads a conforming graph and predicts a batch', async () => {
    // Prepare
    const manifest = await writeManifest('ok', denoiserManifest('denoiser-ok.onnx'));
    // Act
    const denoiser = await OnnxDenoiser.load(manifest);
    const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => (i % 7) / 7);
    const out = await denoiser.predict(x, [10, 20], 2);
    // Assess: the test graph is concat(x, x)
    expect(out.length).toBe(2 * 6 * 32 * 32);
    expect(Array.from(out.subarray(0, 5))).toEqual(Array.from(x.subarray(0, 5)));
    await denoiser.dispose();
  });

  it.each([
    ['denoiser-wrong-input-name.onnx', {}, /missing input "x".*"image"/],
    ['denoiser-3-channels.onnx', {}, /output "out" has channels = 3, the contract needs 6/],
    ['denoiser-16px.onnx', {}, /input "x" has height = 16, the contract needs 32/],
    ['denoiser-float-timestep.onnx', {}, /input "t" has type float32, the contract needs int64/],
    ['denoiser-extra-input.onnx', {}, /unexpected extra inputs.*"y"/],
    ['denoiser-batch-1.onnx', {}, /input "x" has a fixed batch of 1 .*dynamic batch axis/],
    [
      'denoiser-dynamic-3-channels.onnx',
      {},
      /returned "out" with shape \[1, 3, 32, 32\], the contract needs \[1, 6, 32, 32\]/,
    ],
  ])('refuses %s with a message naming the problem', async (file, overrides, message) => {
    // Prepare
    const manifest = await writeManifest(file, denoiserManifest(file, overrides));
    // Act
    const loading = OnnxDenoiser.load(manifest);
    // Assess
    await expect(loading).rejects.toBeInstanceOf(ModelContractError);
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(message);
  });

  it('refuses NaN and infinite outputs instead of letting them become a black image', async () => {
    // Prepare: the test graph returns its input, so a NaN in comes back out
    const manifest = await writeManifest('ok-nan', denoiserManifest('denoiser-ok.onnx'));
    const denoiser = await OnnxDenoiser.load(manifest);
    const x = new Float32Array(3 * 32 * 32).fill(0.5);
    x[100] = Number.NaN;
    const infinite = new Float32Array(3 * 32 * 32).fill(0.5);
    infinite[7] = Number.POSITIVE_INFINITY;
    // Act
    // (one call at a time: a second rejection pending while the first is
    // awaited would be reported as unhandled)
    const withNaN = await denoiser.predict(x, [10], 1).catch((error: unknown) => error);
    const withInfinity = await denoiser.predict(infinite, [10], 1).catch((error: unknown) => error);
    // Assess
    expect(withNaN).toBeInstanceOf(ModelContractError);
    expect(String(withNaN)).toMatch(/returned NaN in "out" \(value 100 of 6144\).*parity/);
    expect(String(withInfinity)).toMatch(/returned Infinity/);
    await denoiser.dispose();
  });

  it.each([
    ['[0, 1] (a denoiser works in the DDPM space [-1, 1])', [0, 1], /a denoiser works on \[-1, 1\]/],
    ['[1, 1] (empty)', [1, 1], /low < high/],
  ])('refuses a denoiser valueRange of %s', async (_label, valueRange, message) => {
    const manifest = await writeManifest(
      `range-${String(valueRange)}`,
      denoiserManifest('denoiser-ok.onnx', { valueRange }),
    );
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(message);
  });

  it('says what to pass when given a model folder or an ONNX graph instead of a manifest', async () => {
    await expect(Dr2eEngine.load({ model: contractDir })).rejects.toThrow(
      /is a folder: pass the model's manifest/,
    );
    await expect(Dr2eEngine.load({ model: path.join(contractDir, 'denoiser-ok.onnx') })).rejects.toThrow(
      /is an ONNX graph: pass its manifest/,
    );
  });

  it('refuses a misspelt manifest key instead of dropping it while its default applies', async () => {
    const manifest = await writeManifest(
      'typo',
      denoiserManifest('denoiser-ok.onnx', { timestep_type: 'float32' }),
    );
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(/timestep_type/);
  });

  it('refuses a manifest that pairs learned-range variance with 3 output channels', async () => {
    const manifest = await writeManifest(
      'bad-variance',
      denoiserManifest('denoiser-ok.onnx', { channels: { input: 3, output: 3 } }),
    );
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(/learned_range.*6 output channels/);
  });

  it('refuses invalid JSON, a missing ONNX file and a manifest of the wrong role', async () => {
    const notJson = path.join(work, 'broken.json');
    await writeFile(notJson, '{ "role": "denoiser", ');
    await expect(OnnxDenoiser.load(notJson)).rejects.toThrow(/not valid JSON/);
    const missing = await writeManifest('missing', denoiserManifest('nowhere.onnx'));
    await expect(OnnxDenoiser.load(missing)).rejects.toThrow(/ONNX file named by .* not found/);
    const wrongRole = await writeManifest('role', {
      ...denoiserManifest('denoiser-ok.onnx'),
      role: 'enhancer',
    });
    await expect(OnnxDenoiser.load(wrongRole)).rejects.toThrow(/role "enhancer", expected "denoiser"/);
    await expect(OnnxDenoiser.load(path.join(work, 'absent.json'))).rejects.toThrow(/manifest not found/);
  });

  it('refuses an ONNX file whose checksum differs from its manifest', async () => {
    const manifest = await writeManifest(
      'checksum',
      denoiserManifest('denoiser-ok.onnx', { provenance: { source: 'x', sha256: '0'.repeat(64) } }),
    );
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(/does not match its manifest: sha256/);
  });
});

describe('a model trained over fewer timesteps than the default schedule', () => {
  it('runs its whole schedule by default, refuses a pipeline asking for more, and goes by its own name', async () => {
    // Prepare: the contract's 32 px denoiser, declared as trained over T = 50
    const denoiser = await writeManifest(
      'short-schedule',
      denoiserManifest('denoiser-ok.onnx', {
        name: 'my-ddpm-32',
        schedule: { betaSchedule: 'linear', numTimesteps: 50 },
      }),
    );
    const pipeline = await writeManifest('too-many-steps', {
      schemaVersion: 1,
      role: 'pipeline',
      name: 'too-many-steps',
      denoiser: 'short-schedule.json',
      enhancer: null,
      defaults: { steps: 200 },
    });
    // Act
    const engine = await Dr2eEngine.load({ model: denoiser });
    const defaults = engine.resolveParams({ preset: 'mild' });
    const name = engine.name;
    await engine.dispose();
    const refused = Dr2eEngine.load({ model: pipeline });
    // Assess
    expect(defaults.steps).toBe(50);
    expect(name).toBe('my-ddpm-32');
    await expect(refused).rejects.toThrow(/defaults\.steps is 200, more than the 50 timesteps/);
    expect(() => engine.resolveParams({ steps: 100 })).toThrow(/between 2 and 50 \(the T timesteps/);
  });
});

describe('face upsampler contract', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('refuses a pipeline whose face upsampler cannot be loaded, releasing the networks it had loaded', async () => {
    // Prepare: the tiny pair with a x2 bank that is not a bank
    const tinyDir = path.dirname(tinyPipeline);
    await writeFile(path.join(work, 'not-a-bank.json'), JSON.stringify({ format: 'something else' }));
    const pipeline = await writeManifest('broken-upsampler', {
      schemaVersion: 1,
      role: 'pipeline',
      name: 'broken-upsampler',
      denoiser: path.join(tinyDir, 'denoiser.json'),
      enhancer: path.join(tinyDir, 'enhancer.json'),
      faceUpsampler: { x2: 'not-a-bank.json', x4: 'not-a-bank.json' },
    });
    const denoiserDisposed = vi.spyOn(OnnxDenoiser.prototype, 'dispose');
    const enhancerDisposed = vi.spyOn(OnnxEnhancer.prototype, 'dispose');
    // Act
    const refused = Dr2eEngine.load({ model: pipeline });
    // Assess
    await expect(refused).rejects.toThrow(ModelContractError);
    await expect(refused).rejects.toThrow(/not-a-bank\.json: format must be/);
    expect(denoiserDisposed).toHaveBeenCalledTimes(1);
    expect(enhancerDisposed).toHaveBeenCalledTimes(1);
  });
});

describe('enhancer contract', () => {
  const enhancerManifest = (file: string, outputSize: number) => ({
    schemaVersion: 1,
    role: 'enhancer',
    name: file,
    file,
    io: { image: 'input', output: 'output' },
    channels: { input: 3, output: 3 },
    inputSize: 32,
    outputSize,
    license: { name: 'MIT', commercialUse: true },
    provenance: { source: 'test graph' },
  });

  it('runs a conforming enhancer and clamps to [-1, 1]', async () => {
    const manifest = await writeManifest('enh-ok', enhancerManifest('enhancer-ok.onnx', 64));
    const enhancer = await OnnxEnhancer.load(manifest);
    const x = new Float32Array(3 * 32 * 32).fill(3);
    const out = await enhancer.enhance(x, 1);
    expect(out.length).toBe(3 * 64 * 64);
    expect(Math.max(...out)).toBe(1);
    await enhancer.dispose();
  });

  it('refuses an enhancer valueRange whose ends are equal or reversed', async () => {
    for (const valueRange of [
      [1, 1],
      [1, -1],
    ]) {
      const manifest = await writeManifest(`enh-range-${String(valueRange)}`, {
        ...enhancerManifest('enhancer-ok.onnx', 64),
        valueRange,
      });
      await expect(OnnxEnhancer.load(manifest)).rejects.toThrow(
        /valueRange must be \[low, high\] with low < high/,
      );
    }
  });

  it('refuses a pipeline or --enhancer pairing a denoiser and an enhancer of different face framings', async () => {
    // Prepare: the contract's 32 px pair, the denoiser in a tight framing
    const tight = { name: 'tight', eyeDistance: 0.42, eyeY: 0.4, mouthY: 0.74 };
    const ffhq = { name: 'ffhq', eyeDistance: 0.25, eyeY: 0.47, mouthY: 0.72 };
    await writeManifest('framed-denoiser', denoiserManifest('denoiser-ok.onnx', { framing: tight }));
    const sameFraming = await writeManifest('framed-enhancer-same', {
      ...enhancerManifest('enhancer-ok.onnx', 64),
      framing: { ...tight, name: 'also tight' },
    });
    const otherFraming = await writeManifest('framed-enhancer-ffhq', {
      ...enhancerManifest('enhancer-ok.onnx', 64),
      framing: ffhq,
    });
    const pipeline = (enhancer: string) => ({
      schemaVersion: 1,
      role: 'pipeline',
      name: 'framed',
      denoiser: 'framed-denoiser.json',
      enhancer,
    });
    const samePipeline = await writeManifest('framed-same', pipeline('framed-enhancer-same.json'));
    const mixedPipeline = await writeManifest('framed-mixed', pipeline('framed-enhancer-ffhq.json'));
    // Act
    const same = await Dr2eEngine.load({ model: samePipeline });
    await same.dispose();
    const mixed = await Dr2eEngine.load({ model: mixedPipeline }).catch((error: unknown) => error);
    const overridden = await Dr2eEngine.load({ model: samePipeline, enhancer: otherFraming }).catch(
      (error: unknown) => error,
    );
    // Assess: a framing named otherwise but placing the face alike loads
    expect(sameFraming).toContain('framed-enhancer-same');
    expect(mixed).toBeInstanceOf(ModelContractError);
    expect(String(mixed)).toMatch(
      /framed-enhancer-ffhq\.json .* made for another face framing than the denoiser/,
    );
    expect(overridden).toBeInstanceOf(ModelContractError);
    expect(String(overridden)).toMatch(/pair models of one framing/);
  });

  it('refuses a graph whose output size differs from the manifest', async () => {
    const manifest = await writeManifest('enh-bad', enhancerManifest('enhancer-no-upscale.onnx', 64));
    await expect(OnnxEnhancer.load(manifest)).rejects.toThrow(
      /output "output" has height = 32, the contract needs 64/,
    );
  });
});

describe('execution providers', () => {
  it('uses the CPU by default', () => {
    expect(resolveExecutionProviders('cpu')).toEqual(['cpu']);
  });

  it('refuses CUDA where its provider library is not installed, saying how to get it', () => {
    const cudaLibrary = path.join(
      repoRoot,
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
    );
    if (existsSync(cudaLibrary)) {
      expect(resolveExecutionProviders('cuda')).toEqual([{ name: 'cuda', deviceId: 0 }]);
      return;
    }
    expect(() => resolveExecutionProviders('cuda')).toThrow(ProviderUnavailableError);
    expect(() => resolveExecutionProviders('cuda')).toThrow(/onnxruntime-node-install=cuda12/);
  });

  it('either runs on WebGPU or says clearly that it cannot (no silent CPU fallback)', async () => {
    // On a machine without a GPU adapter this must fail loudly; with one it must work.
    try {
      const engine = await Dr2eEngine.load({ model: tinyPipeline, device: 'webgpu' });
      expect(engine.resolution).toBe(64);
      await engine.dispose();
    } catch (error) {
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect((error as Error).message).toMatch(/webgpu/);
    }
  });
});
