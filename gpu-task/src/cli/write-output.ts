/**
 * How `dr2e restore` writes an output file: whole or not at all. The bytes go to a hidden file
 * beside the output, which is then renamed over it, so
 * - a full disk or an interrupted run never leaves a truncated image, and never destroys the
 *   good output of an earlier run under the same name;
 * - a link already standing at the output's name is replaced, not written through (it may lead
 *   to an input or to any file outside the output folder).
 */
import type { Stats } from 'node:fs';
import { chmod, chown, lstat, rename, rm, writeFile } from 'node:fs/promises';
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
 * A read-only file at `file` is refused rather than replaced: someone protected it. A file it
 * replaces passes its permissions on. A hidden name keeps a leftover (a killed process) out of
 * the next run's folder listing, which leaves hidden files out.
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
  const replaced = await fileToReplace(file);
  // A short name of fixed length: the output's own name may already be near the 255-byte limit.
  const temp = path.join(path.dirname(file), `.dr2e-${randomBytes(6).toString('hex')}.partial`);
  try {
    // 'wx': a name that exists already (however unlikely) is never written through.
    await writeFile(temp, bytes, { flag: 'wx' });
    if (replaced) await keepOwnership(temp, replaced);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The regular file that `file` will replace (null: none, or a link replaced as a name). */
async function fileToReplace(file: string): Promise<Stats | null> {
  let stats;
  try {
    stats = await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (stats.isDirectory()) throw new OutputInTheWayError(`${file} is a folder`);
  if (!stats.isFile()) return null;
  // The mode bits, not access(): root may write anything, yet a file made read-only was meant
  // to stay (and the worker's image and CI run as root).
  if ((stats.mode & 0o222) === 0) throw new OutputInTheWayError(`${file} is read-only; not replaced`);
  return stats;
}

/**
 * The new file takes the replaced one's permissions (a `chmod 600` on private photos must hold
 * across a rerun) and, where allowed (root), its owner. Best effort: a file system without
 * modes (FAT on a card reader) still gets its output.
 */
async function keepOwnership(temp: string, replaced: Stats): Promise<void> {
  await chmod(temp, replaced.mode & 0o7777).catch(() => undefined);
  if (process.getuid?.() === 0) await chown(temp, replaced.uid, replaced.gid).catch(() => undefined);
}
