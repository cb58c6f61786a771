/**
 * Writing a report's files under one output folder: both evaluations (aligned faces and whole
 * photos) write many files into sub-folders and return the list they wrote.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ReportFiles {
  /** Write `data` at `relative` under the output folder, creating its folder. */
  write(relative: string, data: string | Uint8Array): Promise<void>;
  /** Every file written so far, as full paths in writing order. */
  readonly written: readonly string[];
}

/**
 * @example
 * ```ts
 * const files = reportFiles('out/eval');
 * await files.write('tables/psnr.md', table);
 * files.written; // ['out/eval/tables/psnr.md']
 * ```
 */
export function reportFiles(outDir: string): ReportFiles {
  const written: string[] = [];
  return {
    written,
    async write(relative, data) {
      const file = path.join(outDir, relative);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, data);
      written.push(file);
    },
  };
}
