/**
 * Where the evaluation's clean faces come from: a folder of images, or a tar archive read in
 * place (the UTKFace archive in ../shared holds `train/` and `val/`; nothing is extracted).
 *
 * Selection is deterministic and independent of the seed: the images are sorted by name and
 * `limit` of them are taken evenly spaced over the sorted list (indices `floor(i · M / limit)`),
 * so a subset spreads over the whole set instead of taking its alphabetically first names
 * (UTKFace names start with the age, so the first names are all babies).
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidParametersError, isImageFileName, listImageFiles } from '../engine/index.js';

/** One clean face, not yet decoded. */
export interface CleanFaceRef {
  /** Stable id: the path inside the folder or archive. */
  id: string;
  read(): Promise<Uint8Array>;
}

interface TarEntry {
  name: string;
  offset: number;
  size: number;
}

function parseOctal(bytes: Uint8Array): number {
  const text = Buffer.from(bytes).toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function parseString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

/**
 * List the regular files of a tar archive (ustar, with GNU long names and pax `path` records).
 *
 * @throws InvalidParametersError for a file that is not a tar archive.
 */
export async function listTarFiles(file: string): Promise<TarEntry[]> {
  const handle = await open(file, 'r');
  try {
    const { size: total } = await handle.stat();
    const entries: TarEntry[] = [];
    const header = new Uint8Array(512);
    let offset = 0;
    let longName: string | null = null;
    while (offset + 512 <= total) {
      await handle.read(header, 0, 512, offset);
      if (header.every((b) => b === 0)) break;
      const magic = Buffer.from(header.subarray(257, 262)).toString('latin1');
      if (magic !== 'ustar') throw new InvalidParametersError(`${file} is not a (ustar) tar archive`);
      const size = parseOctal(header.subarray(124, 136));
      const type = String.fromCharCode(header[156]!);
      const dataOffset = offset + 512;
      let name = parseString(header.subarray(0, 100));
      const prefix = parseString(header.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
      if (type === 'L' || type === 'x') {
        const data = new Uint8Array(size);
        await handle.read(data, 0, size, dataOffset);
        if (type === 'L') longName = parseString(data);
        else {
          const match = /\d+ path=([^\n]*)\n/.exec(Buffer.from(data).toString('utf8'));
          if (match) longName = match[1]!;
        }
      } else {
        if (longName !== null) name = longName;
        longName = null;
        if (type === '0' || type === '\0') entries.push({ name, offset: dataOffset, size });
      }
      offset = dataOffset + Math.ceil(size / 512) * 512;
    }
    return entries;
  } finally {
    await handle.close();
  }
}

async function readRange(file: string, offset: number, size: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const data = new Uint8Array(size);
    await handle.read(data, 0, size, offset);
    return data;
  } finally {
    await handle.close();
  }
}

/** Evenly spaced picks of `limit` items from a sorted list (all of them when limit is larger). */
export function evenlySpaced<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  if (!Number.isInteger(limit) || limit < 1) {
    throw new InvalidParametersError(`limit must be a positive integer, got ${String(limit)}`);
  }
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]!);
}

/**
 * The clean faces of a folder (searched recursively for image files) or a `.tar` archive,
 * optionally only those under `prefix` inside the archive (e.g. `val/`) and whose id matches
 * `match` (e.g. UTKFace's age prefix), `limit` of them evenly spaced in id order.
 *
 * @example
 * ```ts
 * const faces = await listCleanFaces('../shared/data/utkface/utkface-200.tar', { prefix: 'val/', limit: 100 });
 * ```
 */
export async function listCleanFaces(
  source: string,
  options: { prefix?: string; limit?: number; match?: RegExp } = {},
): Promise<CleanFaceRef[]> {
  const info = await stat(source).catch(() => null);
  if (!info) throw new InvalidParametersError(`clean faces: no such file or folder: ${source}`);
  let refs: CleanFaceRef[];
  if (info.isDirectory()) {
    const root = path.resolve(source);
    const files = await listImageFiles(root, { recursive: true });
    refs = files
      .map((file) => ({ id: path.relative(root, file).split(path.sep).join('/'), file }))
      .filter((f) => !options.prefix || f.id.startsWith(options.prefix))
      .map(({ id, file }) => ({ id, read: async () => new Uint8Array(await readFile(file)) }));
  } else {
    const entries = await listTarFiles(source);
    refs = entries
      .filter((e) => isImageFileName(e.name))
      .filter((e) => !options.prefix || e.name.startsWith(options.prefix))
      .map((e) => ({ id: e.name, read: () => readRange(source, e.offset, e.size) }));
  }
  // search, not test: a /g or /y pattern's test() would carry lastIndex from one id to the next.
  if (options.match) refs = refs.filter((ref) => ref.id.search(options.match!) >= 0);
  refs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (refs.length === 0) {
    const under = options.prefix ? ` (under ${options.prefix})` : '';
    const matching = options.match ? ` matching ${String(options.match)}` : '';
    throw new InvalidParametersError(`clean faces: ${source}${under} holds no image files${matching}`);
  }
  return evenlySpaced(refs, options.limit);
}
