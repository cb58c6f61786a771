/**
 * Image files on disk: which file names count as images and how a folder of them is listed, for
 * every caller that takes folders (the CLI's `restore`, the evaluation's clean faces).
 *
 * Only names decide here, never bytes: a folder listing must not open every file. What a file
 * really holds is sniffed when it is decoded (shared/src/image/formats.ts), so a mislabelled file still gets a
 * clear decode error.
 */
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ImageFormat } from '../../../../shared/src/index.js';

/**
 * File extensions (lower case, with the dot) of each format the engine decodes. Beside the usual
 * ones: `.jfif` (how Chrome and Windows often save a JPEG download), `.jpe`, and `.hif` (the HEIF
 * of Fujifilm and Canon cameras).
 */
export const IMAGE_FORMAT_EXTENSIONS: Readonly<Record<ImageFormat, readonly string[]>> = {
  jpeg: ['.jpg', '.jpeg', '.jfif', '.jpe'],
  png: ['.png'],
  webp: ['.webp'],
  avif: ['.avif'],
  tiff: ['.tif', '.tiff'],
  heic: ['.heic', '.heif', '.hif'],
};

/** Every extension picked up from a folder (any letter case). */
export const IMAGE_FILE_EXTENSIONS: ReadonlySet<string> = new Set(
  Object.values(IMAGE_FORMAT_EXTENSIONS).flat(),
);

/**
 * Whether a file name has an image extension (in any letter case).
 *
 * @example
 * ```ts
 * isImageFileName('IMG_0042.HEIC'); // true
 * isImageFileName('notes.txt'); // false
 * ```
 */
export function isImageFileName(name: string): boolean {
  return IMAGE_FILE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/**
 * Extensions of image formats the engine cannot read, with their names: a folder's files of
 * these formats are reported (`onUnsupported`), not silently left out.
 */
export const UNSUPPORTED_IMAGE_EXTENSIONS: Readonly<Record<string, string>> = {
  '.gif': 'GIF',
  '.bmp': 'BMP',
  '.svg': 'SVG',
  '.ico': 'ICO',
  '.psd': 'PSD',
  '.jxl': 'JPEG XL',
  '.dng': 'DNG (camera raw)',
  '.cr2': 'CR2 (camera raw)',
  '.nef': 'NEF (camera raw)',
  '.arw': 'ARW (camera raw)',
};

export interface ListImageFilesOptions {
  /** Descend into sub-folders (default false). */
  recursive?: boolean;
  /** Called for each file of a format named in UNSUPPORTED_IMAGE_EXTENSIONS (left out of the list). */
  onUnsupported?: (file: string, format: string) => void;
  /**
   * Called for each special file (a named pipe, socket or device, or a link to one) with an image
   * extension, left out of the list: a folder's photos are its files, and a caller that wants a
   * pipe or device read names it on its own.
   */
  onSpecialFile?: (file: string) => void;
}

/**
 * The image files of a folder as paths joined onto `folder`, each folder's entries in name
 * order and a sub-folder's files where its name falls, so the same tree always lists the same
 * way. Left out: files without an image extension, hidden entries (names starting with a dot,
 * as a shell's `*` leaves them out: a folder copied from a Mac holds a `._IMG_0001.JPG`
 * resource fork beside each photo, which is no image), links to folders (never descended
 * into, so a link cannot loop) and special files (named pipes, sockets, devices: reported
 * through `onSpecialFile` when they carry an image extension). A link to a file is listed under
 * its own name, as the file it names; a broken one too, so that it fails with a read error
 * rather than vanish.
 *
 * @throws the `readdir` error (ENOENT, ENOTDIR, EACCES) of the first folder that cannot be read.
 *
 * @example
 * ```ts
 * await listImageFiles('faces', { recursive: true }); // ['faces/a.jpg', 'faces/team/b.png', 'faces/z.webp']
 * ```
 */
export async function listImageFiles(folder: string, options: ListImageFilesOptions = {}): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(folder, entry.name);
    const target = entry.isSymbolicLink() ? await linkTarget(full) : entry;
    const isFile = target === 'missing' || target.isFile();
    if (entry.isDirectory() && options.recursive) files.push(...(await listImageFiles(full, options)));
    else if (isFile && isImageFileName(entry.name)) files.push(full);
    else if (isFile) {
      const unsupported = UNSUPPORTED_IMAGE_EXTENSIONS[path.extname(entry.name).toLowerCase()];
      if (unsupported) options.onUnsupported?.(full, unsupported);
    } else if (!target.isDirectory() && isImageFileName(entry.name)) options.onSpecialFile?.(full);
  }
  return files;
}

/**
 * What a link leads to, or `'missing'` when it cannot be followed (broken, a loop, no permission:
 * listed, it fails with its read error rather than vanish).
 */
async function linkTarget(link: string): Promise<Stats | 'missing'> {
  try {
    return await stat(link);
  } catch {
    return 'missing';
  }
}
