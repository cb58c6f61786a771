import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FixtureError } from '../../gpu-task/src/engine/errors.js';
import { readReferenceFixture } from '../../gpu-task/src/engine/fixtures/reference-fixture.js';
import {
  verifyFixture,
  type FixtureVerification,
} from '../../gpu-task/src/engine/fixtures/verify-fixture.js';
import {
  committedFixturesDir,
  extraFixturesDir,
  fixtureDirs,
  SHARED_ABSENT_MESSAGE,
  sharedFixturesDir,
  sharedFixturesPresent,
} from './fixture-paths.js';
import { loadOnnxTestDenoiser } from './onnx-test-denoiser.js';

function describeFailure(result: FixtureVerification): string {
  return `${result.name}: max abs error ${result.maxAbsError.toExponential(3)}; ${result.details.notes.join('; ')}`;
}

async function expectTracePasses(dir: string): Promise<FixtureVerification> {
  const result = await verifyFixture(dir, { loadDenoiser: loadOnnxTestDenoiser });
  expect(result.kind).toBe('trace');
  expect(result.tolerance).toBe(1e-4);
  expect(result.passed, describeFailure(result)).toBe(true);
  expect(result.maxAbsError).toBeLessThanOrEqual(1e-4);
  if (result.details.kind !== 'trace') throw new Error('expected trace details');
  expect(result.details.firstDivergentStep).toBeNull();
  expect(result.details.noiseValuesConsumed).toBe(result.details.noiseValuesRecorded);
  expect(result.details.modelCalls).toBe(result.details.recordedModelCalls);
  return result;
}

describe('DR2 traces of the official sampler', () => {
  it.skipIf(!sharedFixturesPresent)('every shared trace-* is reproduced within 1e-4', async () => {
    const dirs = fixtureDirs(sharedFixturesDir, 'trace-');
    expect(dirs.length).toBeGreaterThanOrEqual(5);
    for (const dir of dirs) await expectTracePasses(dir);
  });
  if (!sharedFixturesPresent) it.skip(SHARED_ABSENT_MESSAGE, () => undefined);

  const committed = fixtureDirs(committedFixturesDir, 'trace-');
  it('has committed traces for a fresh clone', () => {
    expect(committed.length).toBeGreaterThanOrEqual(2);
  });
  it.each(committed.map((dir) => [path.basename(dir), dir]))(
    'committed %s is reproduced',
    async (_name, dir) => {
      await expectTracePasses(dir);
    },
  );
});

describe('traces from the independent float64 generator (models/dr2e_models/make_trace_fixture.py)', () => {
  const extra = fixtureDirs(extraFixturesDir, 'trace-');

  it('covers tau = 0 with omega = K - 1, another size and K, fixed variances and a batch of two', async () => {
    const fixtures = await Promise.all(extra.map((dir) => readReferenceFixture(dir)));
    const traces = fixtures.flatMap((f) => (f.kind === 'trace' ? [f] : []));
    expect(traces.some((t) => t.tau === 0 && t.omega === (t.schedule.sections[0] as number) - 1)).toBe(true);
    expect(traces.some((t) => t.model.variance === 'fixed_small')).toBe(true);
    expect(traces.some((t) => t.model.variance === 'fixed_large')).toBe(true);
    expect(traces.some((t) => t.y.shape[0] === 2)).toBe(true);
  });

  it.each(extra.map((dir) => [path.basename(dir), dir]))(
    '%s is reproduced within 1e-4',
    async (_name, dir) => {
      await expectTracePasses(dir);
    },
  );

  it('reports the first divergent step when the engine is given the wrong variance type', async () => {
    // Prepare: a fixed_small trace relabelled as fixed_large must diverge from step 2 on.
    const source = extra.find((dir) => path.basename(dir).includes('fixed-small'));
    if (source === undefined) throw new Error('fixed-small fixture missing');
    const dir = copyFixture(source);
    const casePath = path.join(dir, 'case.json');
    const json = JSON.parse(readFileSync(casePath, 'utf8')) as { model: { variance: string } };
    json.model.variance = 'fixed_large';
    writeFileSync(casePath, JSON.stringify(json));

    // Act
    const result = await verifyFixture(dir, { loadDenoiser: loadOnnxTestDenoiser });

    // Assess
    expect(result.passed).toBe(false);
    if (result.details.kind !== 'trace') throw new Error('expected trace details');
    expect(result.details.firstDivergentStep?.step).toBe(2);
    expect(result.details.notes.join(' ')).toMatch(/first divergent model input: step 2/);
  });
});

const temporaryDirs: string[] = [];
afterAll(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

function copyFixture(source: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'dr2e-fixture-')), path.basename(source));
  temporaryDirs.push(path.dirname(dir));
  cpSync(source, dir, { recursive: true });
  return dir;
}

describe('malformed fixtures', () => {
  const trace = path.join(committedFixturesDir, 'trace-n1-tau5');
  const schedule = path.join(committedFixturesDir, 'schedule-100');

  it('names a missing tensor file', async () => {
    const dir = copyFixture(trace);
    rmSync(path.join(dir, 'noise.f32'));
    await expect(readReferenceFixture(dir)).rejects.toThrow(FixtureError);
    await expect(readReferenceFixture(dir)).rejects.toThrow(/noise\.f32/);
  });

  it('names a tensor whose byte size does not match its shape', async () => {
    const dir = copyFixture(trace);
    writeFileSync(path.join(dir, 'y.f32'), Buffer.alloc(100));
    await expect(readReferenceFixture(dir)).rejects.toThrow(/y\.f32 has 100 bytes; shape \[1, 3, 64, 64\]/);
  });

  it('names a case.json that is not JSON', async () => {
    const dir = copyFixture(schedule);
    writeFileSync(path.join(dir, 'case.json'), '{ not json');
    await expect(readReferenceFixture(dir)).rejects.toThrow(/case\.json is not valid JSON/);
  });

  it('refuses a missing case.json and an unknown kind', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'dr2e-empty-'));
    temporaryDirs.push(empty);
    await expect(readReferenceFixture(empty)).rejects.toThrow(/cannot read .*case\.json/);
    writeFileSync(path.join(empty, 'case.json'), '{"kind": "mystery"}');
    await expect(readReferenceFixture(empty)).rejects.toThrow(/unknown fixture kind/);
  });

  it('refuses multi-section respacing, which is not defined', async () => {
    const dir = copyFixture(schedule);
    const casePath = path.join(dir, 'case.json');
    const json = JSON.parse(readFileSync(casePath, 'utf8')) as { sections: number[] };
    json.sections = [50, 50];
    writeFileSync(casePath, JSON.stringify(json));
    await expect(verifyFixture(dir)).rejects.toThrow(/2 sections \[50, 50\]; only single-section respacing/);
  });

  it('needs a denoiser loader for traces', async () => {
    await expect(verifyFixture(trace)).rejects.toThrow(/needs a loadDenoiser/);
  });

  it('reads a trace with its shapes, model and labels', async () => {
    const fixture = await readReferenceFixture(trace);
    if (fixture.kind !== 'trace') throw new Error('expected a trace');
    expect(fixture).toMatchObject({ imageSize: 64, n: 1, tau: 5, omega: 10, clipDenoised: true });
    expect(fixture.model).toMatchObject({
      outputChannels: 6,
      variance: 'learned_range',
      inputNames: ['x', 't'],
    });
    expect(fixture.noise.shape).toEqual([11, 1, 3, 64, 64]);
    expect(fixture.noise.labels[0]).toBe('forward(y, t=10)');
  });
});
