/**
 * `dr2e restore` writes each output whole or not at all, and never through a link standing at
 * the output's name.
 */
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputInTheWayError, writeOutputFile } from '../../gpu-task/src/cli/write-output.js';

let work: string;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-write-'));
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);

/** Yields a first chunk, then fails as a full disk would. */
async function* failingAfterOneChunk(): AsyncGenerator<Uint8Array> {
  yield bytes('half of a new ');
  throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

describe('writing an output file', () => {
  it('writes the bytes under the name and leaves nothing else in the folder', async () => {
    // Act
    await writeOutputFile(path.join(work, 'photo.png'), bytes('restored'));

    // Assess
    expect(await readFile(path.join(work, 'photo.png'), 'utf8')).toBe('restored');
    expect(await readdir(work)).toEqual(['photo.png']);
  });

  it('keeps the earlier output whole when a write fails midway, and removes the partial file', async () => {
    // Prepare: a good output of an earlier run
    const file = path.join(work, 'photo.png');
    await writeFile(file, 'earlier good output');

    // Act
    const write = writeOutputFile(file, failingAfterOneChunk());

    // Assess
    await expect(write).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readFile(file, 'utf8')).toBe('earlier good output');
    expect(await readdir(work)).toEqual(['photo.png']);
  });

  it('replaces a link standing at the output name instead of writing through it', async () => {
    // Prepare: out/photo.png links to an input elsewhere
    const input = path.join(work, 'input.png');
    await writeFile(input, 'the input');
    await mkdir(path.join(work, 'out'));
    const output = path.join(work, 'out', 'photo.png');
    await symlink(input, output);

    // Act
    await writeOutputFile(output, bytes('restored'));

    // Assess
    expect(await readFile(input, 'utf8')).toBe('the input');
    expect(await readFile(output, 'utf8')).toBe('restored');
    await expect(readlink(output)).rejects.toMatchObject({ code: 'EINVAL' }); // a file now, not a link
  });

  it('refuses a read-only file at the output name, even when run as root', async () => {
    // Prepare
    const file = path.join(work, 'photo.png');
    await writeFile(file, 'protected');
    await chmod(file, 0o444);

    // Act
    const write = writeOutputFile(file, bytes('restored'));

    // Assess
    await expect(write).rejects.toThrow(/is read-only; not replaced/);
    expect(await readFile(file, 'utf8')).toBe('protected');
    expect(await readdir(work)).toEqual(['photo.png']);
  });

  it("keeps a replaced file's permissions", async () => {
    // Prepare: an output kept private
    const file = path.join(work, 'photo.png');
    await writeFile(file, 'earlier');
    await chmod(file, 0o600);

    // Act
    await writeOutputFile(file, bytes('restored'));

    // Assess
    expect(await readFile(file, 'utf8')).toBe('restored');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('writes an output whose name is near the 255-byte limit', async () => {
    // Act
    const file = path.join(work, `${'a'.repeat(251)}.png`);
    await writeOutputFile(file, bytes('restored'));

    // Assess
    expect(await readFile(file, 'utf8')).toBe('restored');
  });

  it('refuses a folder standing at the output name and leaves it as it is', async () => {
    // Prepare
    const output = path.join(work, 'photo.png');
    await mkdir(output);
    await writeFile(path.join(output, 'inside.txt'), 'kept');

    // Act
    const write = writeOutputFile(output, bytes('restored'));

    // Assess
    await expect(write).rejects.toBeInstanceOf(OutputInTheWayError);
    await expect(write).rejects.toThrow(/is a folder/);
    expect(await readFile(path.join(output, 'inside.txt'), 'utf8')).toBe('kept');
    expect(await readdir(work)).toEqual(['photo.png']);
  });
});
