/**
 * `dr2e_models.make_pipeline` refuses manifests that lack a required field, carry an unknown one
 * or hold a value the engine refuses, from its own rules (Python cannot read the zod schema).
 * These tests keep its lists equal to the engine's schema and feed both the same broken
 * manifests, so a model folder the check passes is one the engine loads, and the reverse.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { DenoiserManifestSchema, EnhancerManifestSchema } from '../../gpu-task/src/engine/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = '/usr/bin/python3';

function pythonFields(): { required: Record<string, string[]>; optional: Record<string, string[]> } | null {
  const script = [
    'import json',
    'from dr2e_models.make_pipeline import OPTIONAL_FIELDS, REQUIRED_FIELDS',
    'print(json.dumps({"required": REQUIRED_FIELDS, "optional": OPTIONAL_FIELDS}))',
  ].join('\n');
  const run = spawnSync(python, ['-c', script], { cwd: path.join(repoRoot, 'models'), encoding: 'utf8' });
  if (run.error || run.status !== 0) return null;
  return JSON.parse(run.stdout) as { required: Record<string, string[]>; optional: Record<string, string[]> };
}

/** Top-level keys of a manifest schema, split by whether a manifest may leave them out. */
function schemaFields(schema: z.ZodObject): { required: string[]; optional: string[] } {
  const keys = Object.keys(schema.shape);
  // Optional and defaulted fields accept a missing value; required ones do not.
  const omittable = (key: string): boolean =>
    (schema.shape[key] as z.ZodType).safeParse(undefined).success;
  return {
    required: keys.filter((key) => !omittable(key)).sort(),
    optional: keys.filter(omittable).sort(),
  };
}

const fields = pythonFields();
const suite = fields ? describe : describe.skip;

suite(`make_pipeline's manifest fields${fields ? '' : ` (skipped: ${python} with onnx is not available)`}`, () => {
  it.each([
    ['denoiser', DenoiserManifestSchema],
    ['enhancer', EnhancerManifestSchema],
  ] as const)('match the %s schema', (role, schema) => {
    // Act
    const expected = schemaFields(schema);
    // Assess
    expect([...(fields?.required[role] ?? [])].sort()).toEqual(expected.required);
    expect([...(fields?.optional[role] ?? [])].sort()).toEqual(expected.optional);
  });
});

type Manifest = Record<string, unknown>;

/** The tiny test models' manifests: valid for both checks. */
function tinyManifest(role: 'denoiser' | 'enhancer'): Manifest {
  return JSON.parse(readFileSync(path.join(repoRoot, 'gpu-task', 'models', 'tiny', `${role}.json`), 'utf8')) as Manifest;
}

const FRAMING = { name: 'tight', eyeDistance: 0.42, eyeY: 0.4, mouthY: 0.74 };

/** A change to a valid manifest, and whether the engine accepts the result. */
const VARIANTS: { role: 'denoiser' | 'enhancer'; what: string; change: Manifest; valid: boolean }[] = [
  { role: 'denoiser', what: 'as shipped', change: {}, valid: true },
  { role: 'denoiser', what: 'with a full framing', change: { framing: FRAMING }, valid: true },
  { role: 'denoiser', what: 'fixed_small with 6 outputs', change: { variance: 'fixed_small' }, valid: false },
  { role: 'denoiser', what: 'an unknown variance', change: { variance: 'learned' }, valid: false },
  { role: 'denoiser', what: 'fixed_large with 3 outputs', change: { variance: 'fixed_large', channels: { input: 3, output: 3 } }, valid: true },
  { role: 'denoiser', what: 'a quad beta schedule', change: { schedule: { betaSchedule: 'quad', numTimesteps: 1000 } }, valid: false },
  { role: 'denoiser', what: '0 timesteps', change: { schedule: { betaSchedule: 'linear', numTimesteps: 0 } }, valid: false },
  { role: 'denoiser', what: 'NHWC', change: { layout: 'NHWC' }, valid: false },
  { role: 'denoiser', what: 'BGR', change: { colorOrder: 'BGR' }, valid: false },
  { role: 'denoiser', what: 'a [0, 1] range', change: { valueRange: [0, 1] }, valid: false },
  { role: 'denoiser', what: 'resolution 4', change: { resolution: 4 }, valid: false },
  { role: 'denoiser', what: 'resolution 64.5', change: { resolution: 64.5 }, valid: false },
  { role: 'denoiser', what: 'one input channel', change: { channels: { input: 1, output: 6 } }, valid: false },
  { role: 'denoiser', what: 'an empty name', change: { name: '' }, valid: false },
  { role: 'denoiser', what: 'a 129-character name', change: { name: 'x'.repeat(129) }, valid: false },
  { role: 'denoiser', what: 'a licence without commercialUse', change: { license: { name: 'MIT' } }, valid: false },
  { role: 'denoiser', what: 'a provenance without source', change: { provenance: { converter: 'x' } }, valid: false },
  { role: 'denoiser', what: 'a framing without mouthY', change: { framing: { name: 'f', eyeDistance: 0.4, eyeY: 0.4 } }, valid: false },
  { role: 'denoiser', what: 'a framing of 4 landmarks', change: { framing: { ...FRAMING, landmarks: [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.4, 0.75]] } }, valid: false },
  { role: 'denoiser', what: 'a uint8 timestep', change: { timestepType: 'uint8' }, valid: false },
  { role: 'denoiser', what: 'an empty timestep name', change: { io: { image: 'x', timestep: '', output: 'out' } }, valid: false },
  { role: 'denoiser', what: 'resolution 64.0 (a whole float)', change: { resolution: 64.0, schedule: { betaSchedule: 'linear', numTimesteps: 1000.0 } }, valid: true },
  { role: 'denoiser', what: 'a licence url that is no URL', change: { license: { name: 'MIT', commercialUse: true, url: 'see the repo' } }, valid: false },
  { role: 'denoiser', what: 'a negative parity error', change: { provenance: { source: 'x', parityMaxAbsError: -1 } }, valid: false },
  { role: 'denoiser', what: 'a numeric recipe', change: { provenance: { source: 'x', recipe: 7 } }, valid: false },
  { role: 'denoiser', what: 'a list as architecture', change: { provenance: { source: 'x', architecture: [1] } }, valid: false },
  { role: 'denoiser', what: 'externalData that is no list', change: { externalData: { path: 'a', sha256: 'b' } }, valid: false },
  { role: 'denoiser', what: 'an externalData entry with an extra key', change: { externalData: [{ path: 'd.onnx.data', sha256: '0'.repeat(64), size: 3 }] }, valid: false },
  { role: 'denoiser', what: 'an externalData sha256 of no hex', change: { externalData: [{ path: 'd.onnx.data', sha256: 'x'.repeat(64) }] }, valid: false },
  { role: 'enhancer', what: 'as shipped', change: {}, valid: true },
  { role: 'enhancer', what: 'a [0, 1] range', change: { valueRange: [0, 1] }, valid: true },
  { role: 'enhancer', what: 'a reversed range', change: { valueRange: [1, 0] }, valid: false },
  { role: 'enhancer', what: 'an output smaller than its input', change: { outputSize: 32 }, valid: false },
  { role: 'enhancer', what: 'inputSize 5000', change: { inputSize: 5000 }, valid: false },
  { role: 'enhancer', what: 'six output channels', change: { channels: { input: 3, output: 6 } }, valid: false },
  { role: 'enhancer', what: 'BGR', change: { colorOrder: 'BGR' }, valid: false },
];

/** make_pipeline's problems with each manifest (the fields' check, before any file is read). */
function pythonProblems(manifests: { role: string; manifest: Manifest }[]): string[][] | null {
  const script = [
    'import json, sys',
    'from pathlib import Path',
    'from dr2e_models.make_pipeline import _field_problems',
    'cases = json.load(sys.stdin)',
    'print(json.dumps([_field_problems(Path("m.json"), c["manifest"], c["role"]) for c in cases]))',
  ].join('\n');
  const run = spawnSync(python, ['-c', script], {
    cwd: path.join(repoRoot, 'models'),
    encoding: 'utf8',
    input: JSON.stringify(manifests),
  });
  if (run.error || run.status !== 0) return null;
  return JSON.parse(run.stdout) as string[][];
}

suite("make_pipeline's value checks", () => {
  it('refuse exactly the manifests the engine refuses', () => {
    // Prepare
    const cases = VARIANTS.map(({ role, change }) => ({ role, manifest: { ...tinyManifest(role), ...change } }));
    // Act
    const python = pythonProblems(cases);
    const engine = cases.map(({ role, manifest }) =>
      (role === 'denoiser' ? DenoiserManifestSchema : EnhancerManifestSchema).safeParse(manifest).success,
    );
    // Assess
    expect(python).not.toBeNull();
    const disagreements = VARIANTS.flatMap(({ role, what, valid }, i) => {
      const pythonAccepts = python?.[i]?.length === 0;
      return engine[i] === valid && pythonAccepts === valid
        ? []
        : [`${role} ${what}: engine ${engine[i] ? 'accepts' : 'refuses'}, make_pipeline ${pythonAccepts ? 'accepts' : `refuses (${python?.[i]?.join('; ')})`}, expected ${valid ? 'accepted' : 'refused'}`];
    });
    expect(disagreements).toEqual([]);
  });
});
