/**
 * Lints the Python model tooling (models/: the dr2e_models package and its tests) with flake8,
 * Debian's `flake8` package, using models/.flake8. Without flake8 the lint is skipped and says
 * why (`.ci/run` installs it). Also guards the package layout: the tools import each other as
 * `dr2e_models.*` modules, so no file may edit `sys.path` to find them.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelsDir = path.join(repoRoot, 'models');

function flake8Problem(): string | null {
  const probe = spawnSync('flake8', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `flake8 is not installed (apt-get install flake8): ${probe.error.message}`;
  if (probe.status !== 0) return `flake8 --version failed: ${probe.stderr.trim()}`;
  return null;
}

function pythonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'runs' || entry.name === '__pycache__' ? [] : pythonFiles(full);
    return entry.name.endsWith('.py') ? [full] : [];
  });
}

const problem = flake8Problem();

describe('Python model tooling', () => {
  (problem ? it.skip : it)(`passes flake8${problem ? ` (skipped: ${problem})` : ''}`, () => {
    // Act: flake8 finds models/.flake8 from its working directory
    const run = spawnSync('flake8', ['.'], { cwd: modelsDir, encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 });
    // Assess: flake8 lists one finding per line on stdout
    expect(run.error).toBeUndefined();
    expect(run.stdout.trim().split('\n').filter(Boolean), run.stderr).toEqual([]);
    expect(run.status).toBe(0);
  }, 120_000);

  it('finds its modules as a package, never by editing sys.path', () => {
    const files = pythonFiles(modelsDir);
    const editors = files
      .filter((file) => /\bsys\.path\.(insert|append|extend)\b|\bsys\.path\s*[+]?=/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(repoRoot, file));
    expect(files.length).toBeGreaterThan(10);
    expect(editors).toEqual([]);
  });
});
