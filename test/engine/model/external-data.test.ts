/**
 * Graphs saved with ONNX external data keep their weights in side files the `.onnx` names. The
 * `.onnx` file's sha256 does not cover them, so manifests list them (`externalData`, each with
 * its own sha256) and loading checks them against what the graph references.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelContractError } from '../../../gpu-task/src/engine/errors.js';
import { readDenoiserManifest } from '../../../gpu-task/src/engine/model/load-manifest.js';
import { externalDataLocations } from '../../../gpu-task/src/engine/model/onnx-external-data.js';
import { OnnxDenoiser } from '../../../gpu-task/src/engine/model/onnx-denoiser.js';
import { repoRoot } from '../helpers/fixture-paths.js';

const fixtures = path.join(repoRoot, 'test', 'fixtures', 'models', 'external-data');
const selfContained = path.join(repoRoot, 'test', 'fixtures', 'models', 'contract', 'denoiser-ok.onnx');

let work: string;

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** The 32x32 fixture denoiser (scale in `denoiser.onnx.data`), copied to `work`, and its manifest. */
async function externalDenoiser(
  edit: (manifest: Record<string, unknown>) => void = () => undefined,
): Promise<string> {
  await copyFile(path.join(fixtures, 'denoiser.onnx'), path.join(work, 'denoiser.onnx'));
  await copyFile(path.join(fixtures, 'denoiser.onnx.data'), path.join(work, 'denoiser.onnx.data'));
  const manifest: Record<string, unknown> = {
    schemaVersion: 1,
    role: 'denoiser',
    name: 'external',
    file: 'denoiser.onnx',
    externalData: [
      { path: 'denoiser.onnx.data', sha256: await sha256(path.join(work, 'denoiser.onnx.data')) },
    ],
    resolution: 32,
    io: { image: 'x', timestep: 't', output: 'out' },
    channels: { input: 3, output: 6 },
    variance: 'learned_range',
    schedule: { betaSchedule: 'linear', numTimesteps: 1000 },
    license: { name: 'MIT', commercialUse: true },
    provenance: { source: 'test graph', sha256: await sha256(path.join(work, 'denoiser.onnx')) },
  };
  edit(manifest);
  const file = path.join(work, 'denoiser.json');
  await writeFile(file, JSON.stringify(manifest));
  return file;
}

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-external-'));
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('models with external data', () => {
  it('loads a graph whose listed side file matches its sha256', async () => {
    // Prepare
    const manifest = await externalDenoiser();
    // Act
    const resolved = await readDenoiserManifest(manifest);
    const denoiser = await OnnxDenoiser.load(manifest);
    const x = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 5) / 5);
    const out = await denoiser.predict(x, [10], 1);
    // Assess: the scale read from the side file is 1, so the output repeats the input
    expect(resolved.externalDataPaths).toEqual([path.join(work, 'denoiser.onnx.data')]);
    expect(Array.from(out.subarray(0, 5))).toEqual(Array.from(x.subarray(0, 5)));
    await denoiser.dispose();
  });

  it('refuses a side file that changed after export', async () => {
    // Prepare: the .onnx file (and its sha256) is untouched; only the weights differ
    const manifest = await externalDenoiser();
    const data = path.join(work, 'denoiser.onnx.data');
    const bytes = await readFile(data);
    bytes[0] = (bytes[0] as number) ^ 0xff;
    await writeFile(data, bytes);
    // Act
    const loading = OnnxDenoiser.load(manifest);
    // Assess
    await expect(loading).rejects.toThrow(ModelContractError);
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(
      /denoiser\.onnx\.data does not match its manifest: sha256 is [0-9a-f]{64}, .*denoiser\.json records/,
    );
  });

  it('refuses a checksummed manifest that does not list a side file its graph reads, saying what to add', async () => {
    // Prepare
    const manifest = await externalDenoiser((m) => delete m.externalData);
    // Act
    const loading = OnnxDenoiser.load(manifest);
    // Assess
    await expect(loading).rejects.toThrow(ModelContractError);
    await expect(OnnxDenoiser.load(manifest)).rejects.toThrow(
      /records a sha256 for denoiser\.onnx, but its graph also reads weights from the external data file "denoiser\.onnx\.data", which the manifest does not list.*"externalData": \[\{"path":"denoiser\.onnx\.data","sha256":/,
    );
  });

  it('loads an unlisted side file when the manifest records no sha256 at all (nothing is verified then)', async () => {
    // Prepare
    const manifest = await externalDenoiser((m) => {
      delete m.externalData;
      m.provenance = { source: 'test graph' };
    });
    // Act
    const denoiser = await OnnxDenoiser.load(manifest);
    // Assess
    expect(denoiser.resolution).toBe(32);
    await denoiser.dispose();
  });

  it('refuses a graph whose side file is missing, naming it', async () => {
    // Prepare
    const manifest = await externalDenoiser();
    await rm(path.join(work, 'denoiser.onnx.data'));
    // Act
    const loading = OnnxDenoiser.load(manifest);
    // Assess
    await expect(loading).rejects.toThrow(
      /keeps weights in the external data file "denoiser\.onnx\.data", but .*denoiser\.onnx\.data does not exist/,
    );
  });

  it('refuses a manifest listing a side file its graph does not reference', async () => {
    // Prepare: a self-contained graph whose manifest lists a stray weights file
    const manifest = await externalDenoiser();
    await copyFile(selfContained, path.join(work, 'denoiser.onnx'));
    await writeFile(
      manifest,
      JSON.stringify({
        ...(JSON.parse(await readFile(manifest, 'utf8')) as Record<string, unknown>),
        provenance: { source: 'test graph' },
      }),
    );
    // Act
    const loading = OnnxDenoiser.load(manifest);
    // Assess
    await expect(loading).rejects.toThrow(
      /lists the external data file "denoiser\.onnx\.data", which its graph/,
    );
  });

  it('resolves listed paths from the manifest and references from the graph, in sub-folders too', async () => {
    // Prepare: graph and weights in models/, manifest one level up
    await externalDenoiser();
    await mkdir(path.join(work, 'models'));
    for (const name of ['denoiser.onnx', 'denoiser.onnx.data']) {
      await copyFile(path.join(work, name), path.join(work, 'models', name));
    }
    const manifest = JSON.parse(await readFile(path.join(work, 'denoiser.json'), 'utf8')) as {
      externalData: { path: string }[];
    } & Record<string, unknown>;
    const file = path.join(work, 'up.json');
    await writeFile(
      file,
      JSON.stringify({
        ...manifest,
        file: 'models/denoiser.onnx',
        externalData: [{ ...manifest.externalData[0], path: 'models/denoiser.onnx.data' }],
      }),
    );
    // Act
    const resolved = await readDenoiserManifest(file);
    // Assess
    expect(resolved.externalDataPaths).toEqual([path.join(work, 'models', 'denoiser.onnx.data')]);
  });
});

describe('externalDataLocations', () => {
  it('finds external tensors in attributes, subgraphs and initializers, and ignores decoys', async () => {
    // Act
    const locations = await externalDataLocations(path.join(fixtures, 'nested.onnx'));
    // Assess: the decoys are a tensor without data_location EXTERNAL and a doc string with entry bytes
    expect([...locations].sort()).toEqual(['branch.bin', 'const.bin', 'weights/init.bin']);
  });

  it('finds none in a self-contained graph', async () => {
    expect(await externalDataLocations(selfContained)).toEqual([]);
    expect(
      await externalDataLocations(path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'denoiser.onnx')),
    ).toEqual([]);
  });

  it('refuses a truncated graph as unreadable', async () => {
    // Prepare
    const bytes = await readFile(path.join(fixtures, 'nested.onnx'));
    const truncated = path.join(work, 'truncated.onnx');
    await writeFile(truncated, bytes.subarray(0, bytes.length - 7));
    // Act
    const scanning = externalDataLocations(truncated);
    // Assess
    await expect(scanning).rejects.toThrow(ModelContractError);
    await expect(externalDataLocations(truncated)).rejects.toThrow(/is not a readable ONNX graph/);
  });

  it('names the checksum first when a truncated graph has a manifest recording its sha256', async () => {
    // Prepare: the fixture denoiser and its manifest, then the graph cut short (a partial copy)
    const manifest = await externalDenoiser();
    const graph = path.join(work, 'denoiser.onnx');
    const bytes = await readFile(graph);
    await writeFile(graph, bytes.subarray(0, Math.floor(bytes.length / 2)));
    // Act
    const error = await readDenoiserManifest(manifest).catch((caught: unknown) => caught);
    // Assess: what to fix (the copy), then what the walk saw
    expect(error).toBeInstanceOf(ModelContractError);
    expect(String(error)).toMatch(/denoiser\.onnx does not match its manifest: sha256 is [0-9a-f]{64}/);
    expect(String(error)).toMatch(/is not a readable ONNX graph/);
  });
});
