/**
 * The output folder of `dr2e restore`, made ready before the model loads: created if missing and
 * checked writable, so a typo or a read-only disk fails at once with a clear message (exit 2)
 * instead of after every photo has been restored.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The output folder cannot be used (a file in the way, no permission, a read-only disk). */
export class OutputFolderError extends Error {
  override readonly name = 'OutputFolderError';
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const known: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    ENOENT: 'no such file or folder',
  };
  if (typeof code === 'string' && known[code]) return known[code];
  return error instanceof Error ? error.message : String(error);
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

/**
 * Creates `folder` (and its missing parents) and checks that a file can be written in it.
 * Returns its absolute path.
 *
 * Parents are created one at a time: Node's recursive `mkdir` never returns under some
 * pseudo file systems (`/proc`).
 *
 * @example
 * ```ts
 * const outDir = await prepareOutputFolder(options.output); // before loading the model
 * ```
 * @throws OutputFolderError naming the folder and the reason.
 */
export async function prepareOutputFolder(folder: string): Promise<string> {
  const target = path.resolve(folder);
  const missing: string[] = [];
  for (let current = target; ;) {
    try {
      if (!(await stat(current)).isDirectory()) {
        throw new OutputFolderError(`output folder ${folder}: ${current} is a file, not a folder`);
      }
      break;
    } catch (error) {
      if (error instanceof OutputFolderError) throw error;
      if (errorCode(error) === 'ENOTDIR') {
        throw new OutputFolderError(`output folder ${folder}: a part of the path is a file, not a folder`);
      }
      if (errorCode(error) !== 'ENOENT') {
        throw new OutputFolderError(`cannot use output folder ${folder}: ${reason(error)}`);
      }
      missing.unshift(current);
      const parent = path.dirname(current);
      if (parent === current) throw new OutputFolderError(`cannot use output folder ${folder}: no such root`);
      current = parent;
    }
  }
  for (const part of missing) {
    try {
      await mkdir(part);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') {
        throw new OutputFolderError(`cannot create output folder ${part}: ${reason(error)}`);
      }
    }
  }
  const probe = path.join(target, `.dr2e-write-check-${process.pid}`);
  try {
    await writeFile(probe, '');
  } catch (error) {
    throw new OutputFolderError(`cannot write into output folder ${target}: ${reason(error)}`);
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
  return target;
}
