/**
 * Where the embedded default model lives. `dr2e restore`, `npm start` and the worker use it
 * when no model is configured, so a fresh clone restores faces without downloading anything.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository (package) root: the nearest folder above this file that holds `gpu-task/models`. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'gpu-task', 'models')))
      return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot locate the dr2e package root (gpu-task/models is missing)');
    dir = parent;
  }
}

/** Folder of the shipped models. */
export function modelsDir(): string {
  return path.join(packageRoot(), 'gpu-task', 'models');
}

/**
 * The pipeline manifest used when none is given: `DR2E_MODEL` if set, else the trained default
 * (`gpu-task/models/default`), else the random-weight test pair (`gpu-task/models/tiny`).
 */
export function defaultModelManifest(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DR2E_MODEL) return path.resolve(env.DR2E_MODEL);
  const trained = path.join(modelsDir(), 'default', 'pipeline.json');
  return existsSync(trained) ? trained : path.join(modelsDir(), 'tiny', 'pipeline.json');
}
