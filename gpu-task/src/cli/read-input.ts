/**
 * How `dr2e restore` reads an input file: never more than the engine's file limit, so an input
 * that never ends (`/dev/zero`, a pipe fed forever) or a huge file is refused after reading at
 * most the limit, not after filling the memory.
 */
import { open } from 'node:fs/promises';
import { ImageTooLargeError, RESAVE_SMALLER, describeBytes, describeOverLimit } from '../engine/index.js';

/** Bytes read at a time from a stream (a pipe, a device); a regular file is read in one piece. */
const READ_CHUNK = 4 * 1024 * 1024;
/** Bytes looked for after a regular file's end. */
const PROBE_CHUNK = 64 * 1024;

/**
 * The bytes of `file`, at most `maxBytes` of them.
 *
 * @example
 * ```ts
 * const bytes = await readInputFile('photo.heic', DEFAULT_IMAGE_LIMITS.maxFileBytes);
 * ```
 * @throws ImageTooLargeError for a file (or stream) longer than `maxBytes`; the read's own
 * error (ENOENT, EACCES, EISDIR, ...) otherwise.
 */
export async function readInputFile(file: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const stats = await handle.stat();
    if (stats.isFile() && stats.size > maxBytes) {
      const [size, limit] = describeOverLimit(stats.size, maxBytes, describeBytes, 'bytes');
      throw new ImageTooLargeError(`file is ${size}; the limit is ${limit}: ${RESAVE_SMALLER}`);
    }
    // Up to one byte more than the limit tells a file at the limit from a longer one. A regular
    // file is read in one piece of its size (plus that byte, for a file that grew); a stream
    // (a pipe, a device) in pieces of READ_CHUNK.
    const chunks: Uint8Array[] = [];
    let total = 0;
    let next = stats.isFile() ? stats.size + 1 : READ_CHUNK;
    while (total <= maxBytes) {
      const chunk = new Uint8Array(Math.min(next, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      // A short read of a regular file is its end: a small look for bytes it may have gained.
      next = bytesRead < chunk.length ? PROBE_CHUNK : READ_CHUNK;
    }
    if (total > maxBytes) {
      throw new ImageTooLargeError(
        `input is longer than the limit of ${describeBytes(maxBytes)} (reading stopped there)`,
      );
    }
    // The bytes alone, never a view into a larger piece: a batch holds every input's bytes.
    const [only] = chunks;
    return chunks.length === 1 && only!.buffer.byteLength <= total + 1 ? only! : Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}
