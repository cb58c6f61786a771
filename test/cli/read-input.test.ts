/**
 * `dr2e restore` reads an input up to the file limit and no further: a huge file or an input
 * that never ends is refused as too large instead of filling the memory.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInputFile, StalledPipeError } from '../../gpu-task/src/cli/read-input.js';
import { ImageTooLargeError } from '../../gpu-task/src/engine/index.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-read-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('reading an input file', () => {
  it('returns every byte of a file at or under the limit, in a buffer of its size', async () => {
    // Prepare
    const file = path.join(work, 'at-limit.bin');
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i % 251);
    await writeFile(file, bytes);

    // Act
    const read = await readInputFile(file, 3000);
    const underLimit = await readInputFile(file, 25 * 1024 * 1024);

    // Assess: and no more memory than that (a batch holds up to 256 inputs)
    expect(read).toEqual(bytes);
    expect(underLimit).toEqual(bytes);
    expect(underLimit.buffer.byteLength).toBeLessThanOrEqual(3001);
  });

  it('refuses a file over the limit by its size, naming both', async () => {
    // Prepare
    const file = path.join(work, 'over.bin');
    await writeFile(file, new Uint8Array(3 * 1024 + 1));

    // Act
    const read = readInputFile(file, 3 * 1024);

    // Assess
    await expect(read).rejects.toBeInstanceOf(ImageTooLargeError);
    await expect(read).rejects.toThrow(
      'file is 3073 bytes; the limit is 3072 bytes (3 KiB): re-save it as a JPEG',
    );
  });

  it.skipIf(!existsSync('/dev/zero'))('stops reading an input that never ends at the limit', async () => {
    // Act
    const read = readInputFile('/dev/zero', 64 * 1024);

    // Assess
    await expect(read).rejects.toBeInstanceOf(ImageTooLargeError);
    await expect(read).rejects.toThrow(/longer than the limit of 64 KiB/);
  });

  it("passes a missing file's own error through", async () => {
    await expect(readInputFile(path.join(work, 'missing.jpg'), 1024)).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('reads a named pipe its writer fills, ends at once on one nobody writes to, and gives up on a stalled one', async () => {
    // Prepare: three pipes; the first gets a writer before the read starts (as `<(curl ...)` has)
    const [fed, unwritten, stalled] = ['fed', 'unwritten', 'stalled'].map((name) =>
      path.join(work, `${name}.pipe`),
    );
    execFileSync('mkfifo', [fed!, unwritten!, stalled!]);
    const bytes = Uint8Array.from({ length: 5000 }, (_, i) => i % 13);
    const writer = createWriteStream(fed!);
    const stalledWriter = createWriteStream(stalled!);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the writers wait in open() for a reader
    // Act
    const reading = readInputFile(fed!, 3 * 1024 * 1024);
    writer.end(Buffer.from(bytes));
    const read = await reading;
    const started = Date.now();
    const empty = await readInputFile(unwritten!, 3 * 1024 * 1024);
    const elapsed = Date.now() - started;
    const gaveUp = readInputFile(stalled!, 3 * 1024 * 1024, 200);
    // Assess
    expect(Buffer.from(read).equals(Buffer.from(bytes))).toBe(true);
    expect(empty.length).toBe(0);
    expect(elapsed).toBeLessThan(5000); // a blocking open would never have returned
    await expect(gaveUp).rejects.toThrow(StalledPipeError);
    stalledWriter.destroy();
  });
});
