/**
 * `dr2e_models.make_pipeline` refuses manifests that lack a required field or carry an unknown
 * one, from its own lists (Python cannot read the zod schema). These tests keep its lists equal
 * to the engine's schema, so a field added on one side cannot make the other refuse good files.
 */
import { spawnSync } from 'node:child_process';
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
