/**
 * What the loader says when given the wrong kind of file: the hint must name what the option
 * at hand takes (`--model` a pipeline, `--enhancer` an enhancer manifest), not another option's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelContractError } from '../../../gpu-task/src/engine/errors.js';
import { OnnxEnhancer } from '../../../gpu-task/src/engine/model/onnx-enhancer.js';
import { runCli } from '../../cli/cli-io.js';
import { repoRoot } from '../helpers/fixture-paths.js';

const tiny = path.join(repoRoot, 'gpu-task', 'models', 'tiny');

let out: string;

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'dr2e-hints-'));
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('hints for the enhancer manifest', () => {
  it('asks for the enhancer.json beside an ONNX graph, not for a pipeline', async () => {
    // Act
    const loading = OnnxEnhancer.load(path.join(tiny, 'enhancer.onnx'));
    // Assess
    await expect(loading).rejects.toThrow(ModelContractError);
    await expect(OnnxEnhancer.load(path.join(tiny, 'enhancer.onnx'))).rejects.toThrow(
      /enhancer\.onnx is an ONNX graph: pass its manifest \(the enhancer\.json the exporter wrote beside the graph, not pipeline\.json\)/,
    );
  });

  it('names the enhancer manifest a pipeline points at when given the pipeline', async () => {
    await expect(OnnxEnhancer.load(path.join(tiny, 'pipeline.json'))).rejects.toThrow(
      `has role "pipeline", expected "enhancer": an enhancer is given by its own manifest, e.g. ${path.join(tiny, 'enhancer.json')}`,
    );
  });

  it("asks for the enhancer's manifest in a folder", async () => {
    await expect(OnnxEnhancer.load(tiny)).rejects.toThrow(
      /is a folder: pass the enhancer's manifest in it \(enhancer\.json, not pipeline\.json\)/,
    );
  });

  it('gives dr2e restore --enhancer graph.onnx the enhancer hint', async () => {
    // Act
    const run = await runCli([
      'restore',
      path.join(repoRoot, 'samples', 'sample-mild.jpg'),
      '--enhancer',
      path.join(tiny, 'enhancer.onnx'),
      '-o',
      out,
    ]);
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      /model_contract: .*enhancer\.onnx is an ONNX graph: pass its manifest \(the enhancer\.json/,
    );
    expect(run.stderr).not.toMatch(/pipeline\.json, or/);
  });
});
