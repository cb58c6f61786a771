/**
 * How `dr2e restore` reads an input file: never more than the engine's file limit, so an input
 * that never ends (`/dev/zero`, a pipe fed forever) or a huge file is refused after reading at
 * most the limit, not after filling the memory.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImageTooLargeError, RESAVE_SMALLER, describeBytes, describeOverLimit } from '../engine/index.js';

/**
 * How long a named pipe may send nothing before its read is given up (a writer that stalled).
 * A pipe nobody opened for writing ends at once, as an empty file.
 */
export const PIPE_IDLE_MS = 30_000;

/** A pipe that stalled for PIPE_IDLE_MS (its writer stopped sending without closing it). */
export class StalledPipeError extends Error {
  override readonly name = 'StalledPipeError';
}

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
export async function readInputFile(
  file: string,
  maxBytes: number,
  pipeIdleMs = PIPE_IDLE_MS,
): Promise<Uint8Array> {
  // A named pipe is opened without waiting for a writer: a blocking open of one nobody writes
  // to never returns, and held up every input after it. `<(curl ...)` has its writer already.
  const pipe = (await stat(file)).isFIFO();
  const handle = await open(file, pipe ? constants.O_RDONLY | constants.O_NONBLOCK : 'r');
  const read: ReadInto = pipe
    ? pipeReader(handle, pipeIdleMs)
    : (buffer, offset, length) => handle.read(buffer, offset, length, null);
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
      const { bytesRead } = await read(chunk, 0, chunk.length);
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

/** One read into `buffer` at `offset` of up to `length` bytes, at the current position. */
type ReadInto = (buffer: Uint8Array, offset: number, length: number) => Promise<{ bytesRead: number }>;

/**
 * Reads of a pipe opened non-blocking: EAGAIN (a writer, nothing sent yet) waits a moment and
 * tries again, up to `idleMs` without a byte; 0 bytes (no writer, or it closed) is the end.
 */
function pipeReader(handle: FileHandle, idleMs: number): ReadInto {
  let lastByteAt = Date.now();
  return async (buffer, offset, length) => {
    for (;;) {
      try {
        const { bytesRead } = await handle.read(buffer, offset, length, null);
        if (bytesRead > 0) lastByteAt = Date.now();
        return { bytesRead };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        if (Date.now() - lastByteAt > idleMs) {
          throw new StalledPipeError(
            `the pipe sent nothing for ${Math.round(idleMs / 1000)} s; is its writer still running?`,
          );
        }
        await sleep(5);
      }
    }
  };
}
