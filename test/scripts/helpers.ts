/**
 * Running the repository's scripts as their users do (`node --import tsx scripts/NAME.ts ...`,
 * from the repository root), and a throwaway folder for what they would write.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { repoRoot } from '../engine/helpers/fixture-paths.js';

const run = promisify(execFile);

/**
 * Run `scripts/<name>` with `args`; its exit code (0 when it succeeded) and standard error.
 *
 * @example
 * ```ts
 * const { code, stderr } = await runScript('calibrate-quality.ts', ['--bins', '0']);
 * ```
 */
export async function runScript(
  name: string,
  args: readonly string[],
): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'scripts', name), ...args],
      {
        cwd: repoRoot,
        timeout: 60_000,
      },
    );
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
}

/**
 * A temporary folder made before the enclosing describe block's tests and removed after them;
 * the returned function gives its path (call it inside a test).
 */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
