/** Where the engine tests find reference fixtures. */
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The read-only reference material beside the checkout (absent on a fresh clone). */
export const sharedDir = process.env.DR2E_SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared');
export const sharedFixturesDir = path.join(sharedDir, 'fixtures', 'dr2-reference');
export const sharedFixturesPresent = existsSync(path.join(sharedFixturesDir, 'README.md'));
export const SHARED_ABSENT_MESSAGE = `skipped: ${sharedFixturesDir} is absent (set DR2E_SHARED_DIR to the shared reference folder)`;

/** Copies of a few official fixtures, committed so a fresh clone can verify them. */
export const committedFixturesDir = path.join(repoRoot, 'test', 'fixtures', 'dr2-reference');
/** Fixtures from models/dr2e_models/make_trace_fixture.py (independent float64 generator). */
export const extraFixturesDir = path.join(repoRoot, 'test', 'fixtures', 'dr2-reference-extra');

/** Fixture directories under `root` whose names start with `prefix` (empty when root is absent). */
export function fixtureDirs(root: string, prefix: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(prefix))
    .map((entry) => path.join(root, entry.name))
    .sort();
}

/** The fixture folders with `prefix` that ship with the repository (committed and extra). */
export function repositoryFixtureDirs(prefix: string): string[] {
  return [...fixtureDirs(committedFixturesDir, prefix), ...fixtureDirs(extraFixturesDir, prefix)];
}

/** The tiny random-weight model's folder (denoiser, enhancer, pipeline manifests). */
export const tinyModelDir = path.join(repoRoot, 'gpu-task', 'models', 'tiny');

/**
 * Write a pipeline manifest at `file` that runs the tiny networks and defaults to the fixed
 * `preset` (a deployment whose model ignores `fidelity` unless `auto` is asked for).
 */
export async function writeFixedPresetPipeline(file: string, preset: string): Promise<string> {
  await writeFile(
    file,
    JSON.stringify({
      schemaVersion: 1,
      role: 'pipeline',
      name: `tiny-${preset}`,
      denoiser: path.join(tinyModelDir, 'denoiser.json'),
      enhancer: path.join(tinyModelDir, 'enhancer.json'),
      defaults: { preset },
    }),
  );
  return file;
}
