/**
 * How `dr2e restore` writes an output file: whole or not at all. The bytes go to a hidden file
 * beside the output, which is then renamed over it, so
 * - a full disk or an interrupted run never leaves a truncated image, and never destroys the
 *   good output of an earlier run under the same name;
 * - a link already standing at the output's name is replaced, not written through (it may lead
 *   to an input or to any file outside the output folder).
 */
import { constants } from 'node:fs';
import { access, lstat, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** The output's name is taken by something it must not replace (a folder, a read-only file). */
export class OutputInTheWayError extends Error {
  override readonly name = 'OutputInTheWayError';
}

/**
 * Writes `bytes` to `file` through a hidden temporary file in the same folder (a rename within a
 * folder is atomic). On any failure the temporary file is removed and `file` is as it was.
 *
 * A read-only file at `file` is refused rather than replaced: someone protected it. A hidden
 * name keeps a leftover (a killed process) out of the next run's folder listing, which leaves
 * hidden files out.
 *
 * @example
 * ```ts
 * await writeOutputFile('out/photo.png', restoredPng);
 * ```
 * @throws OutputInTheWayError for a folder or a read-only file at `file`; the write's own error
 * (ENOSPC, EACCES, ...) otherwise.
 */
export async function writeOutputFile(
  file: string,
  bytes: Uint8Array | AsyncIterable<Uint8Array>,
): Promise<void> {
  await refuseWhatMustStay(file);
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(4).toString('hex')}.partial`,
  );
  try {
    // 'wx': a name that exists already (however unlikely) is never written through.
    await writeFile(temp, bytes, { flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function refuseWhatMustStay(file: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (stats.isDirectory()) throw new OutputInTheWayError(`${file} is a folder`);
  if (!stats.isFile()) return; // a link (replaced, not followed) or a stale special file
  try {
    await access(file, constants.W_OK);
  } catch {
    throw new OutputInTheWayError(`${file} is read-only; not replaced`);
  }
}
