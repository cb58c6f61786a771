/** Runs the `dr2e` CLI in-process with captured output. */
import { Writable } from 'node:stream';
import { main } from '../../gpu-task/src/cli/main.js';

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

/** `dr2e <args>` with stdout/stderr captured (non-TTY, so progress is line by line). */
export async function runCli(args: string[]): Promise<CliRun> {
  const out = capture();
  const err = capture();
  const status = await main(args, { stdout: out.stream, stderr: err.stream });
  return { status, stdout: out.text(), stderr: err.text() };
}

/** A stream whose reader leaves after its first chunk, as `| head -1` does: later writes fail with EPIPE. */
function readerLeavesAfterFirstChunk(): NodeJS.WriteStream {
  let written = 0;
  return new Writable({
    write(_chunk: Buffer | string, _encoding, callback) {
      written += 1;
      if (written === 1) callback();
      else callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }));
    },
  }) as unknown as NodeJS.WriteStream;
}

/** `dr2e <args>` with stdout and stderr read by a reader that leaves after the first line. */
export async function runCliReaderGone(args: string[]): Promise<number> {
  return main(args, { stdout: readerLeavesAfterFirstChunk(), stderr: readerLeavesAfterFirstChunk() });
}
