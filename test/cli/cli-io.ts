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
