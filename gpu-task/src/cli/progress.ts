/**
 * Progress for `dr2e restore`: a bar on a terminal, plain lines otherwise (CI logs, pipes),
 * always on stderr so stdout stays clean for the summary.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /**
   * A model call is done: `done` of `total` over the whole engine call (all its sampler runs),
   * `files` those whose faces are in the run now.
   */
  step(done: number, total: number, files: readonly string[]): void;
  /** One file is finished (restored or failed). */
  fileDone(file: string, ok: boolean, message: string): void;
  stop(): void;
}

export function createProgress(totalFiles: number, stream: NodeJS.WriteStream, quiet: boolean): Progress {
  if (quiet) return { step: () => undefined, fileDone: () => undefined, stop: () => undefined };
  if (!stream.isTTY) {
    let finished = 0;
    return {
      step: () => undefined,
      fileDone(file, ok, message) {
        finished += 1;
        stream.write(
          `[${finished}/${totalFiles}] ${ok ? 'ok  ' : 'FAIL'} ${file}${message ? `: ${message}` : ''}\n`,
        );
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'restoring |{bar}| {value}/{total} files | step {step}/{steps} | {file}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalFiles, 0, { step: 0, steps: 0, file: '' });
  let finished = 0;
  return {
    step(done, total, files) {
      bar.update(finished, {
        step: done,
        steps: total,
        file: files.length > 1 ? `${files.length} files` : (files[0] ?? ''),
      });
    },
    fileDone(file) {
      // Failures are listed in the summary; the bar only counts.
      finished += 1;
      bar.update(finished, { file });
    },
    stop() {
      bar.stop();
    },
  };
}
