/**
 * A reader that leaves early (`dr2e restore ... | head`, quitting `less`)
 * must not stop the restoration: the files are the work, the messages only report it. Node
 * reports a write to a closed pipe as an 'error' event, which, with no listener, ends the
 * process with a stack trace and leaves the remaining photos unrestored.
 */
import type { EventEmitter } from 'node:events';

const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED']);
const guarded = new WeakSet<EventEmitter>();

/**
 * From now on, writes to `stream` after its reader has gone are dropped without a word. Any other
 * stream error is thrown as before. Calling it again for the same stream does nothing.
 *
 * @example
 * ```ts
 * ignoreReaderGone(process.stdout);
 * ignoreReaderGone(process.stderr);
 * ```
 */
export function ignoreReaderGone(stream: EventEmitter): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== undefined && READER_GONE.has(error.code)) return;
    throw error;
  });
}
