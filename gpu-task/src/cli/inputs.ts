/**
 * Turning the `dr2e restore` arguments into a work list: expand folders, keep explicit files
 * whatever their extension (a mislabelled file gets a clear decode error instead of being
 * skipped silently), and plan output paths that never overwrite an input.
 *
 * A folder whose top level holds no image but whose sub-folders do (a dataset split into sets)
 * is descended into without `--recursive`: refusing it would only make the user retype the
 * command. Files found in sub-folders keep their relative place under the output folder.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { MAX_FACES_LIMIT } from '../../../shared/src/index.js';
import { listImageFiles } from '../engine/index.js';
import { OutputFolderError } from './output-folder.js';

/**
 * Longest file name (bytes of UTF-8) the file systems dr2e writes to take: ext4 and XFS stop at
 * 255 bytes, APFS and NTFS at 255 characters (counting bytes is the stricter).
 */
export const MAX_FILE_NAME_BYTES = 255;

export interface PlannedItem {
  /** The input path as found (absolute). */
  input: string;
  /** Where the restored image goes, or null when the item cannot be processed. */
  output: string | null;
  /** Where the DR2 intermediate goes (with --save-dr2). */
  dr2Output: string | null;
  /** Why the item cannot be processed (reported as a per-file error). */
  problem?: string;
  /**
   * The error code of `problem`: `unsupported_image_format` for a file of a format dr2e cannot
   * read (the code the engine gives such a file named on its own), `name_too_long` for an input
   * whose output names would pass MAX_FILE_NAME_BYTES, else `input_rejected`.
   */
  problemCode?: string;
  /**
   * Left out rather than failed: a folder's file of a format dr2e cannot read (a camera's raw
   * beside its JPEG), when the folder holds images it can. Reported; the run does not fail for it.
   */
  skipped?: { code: string };
}

/**
 * Why a folder's named pipe, socket or device is left out. Named on their own, pipes and devices
 * are read (`<(curl ...)`, `/dev/stdin`; read-input.ts never waits on a pipe without a writer).
 */
const SPECIAL_FILE = 'not a regular file (a named pipe, socket or device): name it on its own to read it';

/** Why an input path cannot be looked at, from its `stat` error. */
function unreadablePath(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'symbolic link loop (the link leads back to itself)';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'no such file or folder (a part of the path is a file)';
  if (code === 'ENAMETOOLONG') return 'the path is too long';
  return 'no such file or folder';
}

/** An input file and the sub-folder (relative to the folder argument it came from) it sits in. */
interface FoundInput {
  path: string;
  subfolder: string;
}

export interface PlanOptions {
  outDir: string;
  extension: string;
  saveDr2: boolean;
  /** Each face's crops are written beside the output too (`<stem>.face<k>[.input].png`, --save-faces). */
  saveFaces?: boolean;
  /** Most faces an input may write crops of (their names' length; default MAX_FACES_LIMIT). */
  maxFaces?: number;
  recursive?: boolean;
  /**
   * Told of each input that is a file already listed (`first`: named twice, by another path or a
   * link, or named and also in a named folder); it is restored once, as `first`.
   */
  onDuplicate?: (input: string, first: string) => void;
}

/** The name of face k's crop beside an output `<stem>.<ext>` (`input`: the crop as it came in). */
export function faceCropName(stem: string, index: number, input: boolean): string {
  return `${stem}.face${index + 1}${input ? '.input' : ''}.png`;
}

/**
 * The stems (output names without extension) whose extra files (--save-dr2, --save-faces) would
 * be named `name`: the files an output of such a stem writes besides itself.
 */
function stemsWriting(name: string, options: PlanOptions): string[] {
  const stems: string[] = [];
  const dr2Suffix = `.dr2${options.extension}`;
  if (options.saveDr2 && name.endsWith(dr2Suffix)) stems.push(name.slice(0, -dr2Suffix.length));
  const face = options.saveFaces ? /^(.*)\.face[1-9]\d*(?:\.input)?\.png$/s.exec(name) : null;
  if (face) stems.push(face[1]!);
  return stems;
}

/**
 * The longest name (the last part of the path) among the files an output `<stem><ext>` writes:
 * itself, its DR2 image (--save-dr2), the face crops of its last possible face (--save-faces).
 */
function longestNameWritten(stem: string, options: PlanOptions): string {
  const base = path.basename(stem);
  const names = [`${base}${options.extension}`];
  if (options.saveDr2) names.push(`${base}.dr2${options.extension}`);
  if (options.saveFaces) names.push(faceCropName(base, (options.maxFaces ?? MAX_FACES_LIMIT) - 1, true));
  return names.reduce((longest, name) =>
    Buffer.byteLength(name) > Buffer.byteLength(longest) ? name : longest,
  );
}

/**
 * Expand the arguments and plan outputs `<outDir>/<basename><ext>` (`<outDir>/<sub-folder>/...`
 * for files found in a folder argument's sub-folders). Two inputs with the same name get `-2`,
 * `-3`... so no output overwrites another; an output that would land on an input file, or whose
 * name or extra files' names would be longer than MAX_FILE_NAME_BYTES, is refused for that item
 * (before any work: the file system would refuse it after the restoration).
 *
 * @example
 * ```ts
 * await planRestore(['faces/', 'me.heic'], { outDir: 'out', extension: '.png', saveDr2: true });
 * // [{ input: '/abs/faces/a.jpg', output: '/abs/out/a.png', dr2Output: '/abs/out/a.dr2.png' }, ...]
 * ```
 */
export async function planRestore(args: readonly string[], options: PlanOptions): Promise<PlannedItem[]> {
  const items: PlannedItem[] = [];
  const inputs: FoundInput[] = [];
  const outDir = path.resolve(options.outDir);
  const outReal = await realPathOfNew(outDir);
  for (const arg of args) {
    const absolute = path.resolve(arg);
    let info;
    try {
      info = await stat(absolute);
    } catch (error) {
      items.push({ input: absolute, output: null, dr2Output: null, problem: unreadablePath(error) });
      continue;
    }
    if (info.isDirectory()) {
      // Folders give their image files (by extension); explicit files are taken as they are.
      // Files of formats dr2e cannot read are reported, as they would be when named explicitly.
      const unsupported = new Map<string, string>();
      const special = new Set<string>();
      const listing = {
        onUnsupported: (file: string, format: string) => unsupported.set(file, format),
        onSpecialFile: (file: string) => special.add(file),
      };
      let found = await listImageFiles(absolute, { recursive: options.recursive ?? false, ...listing });
      const descended = (options.recursive ?? false) || found.length === 0;
      if (found.length === 0 && !options.recursive)
        found = await listImageFiles(absolute, { recursive: true, ...listing });
      for (const file of special) {
        items.push({
          input: file,
          output: null,
          dr2Output: null,
          problem: SPECIAL_FILE,
          ...(found.length > 0 ? { skipped: { code: 'input_rejected' } } : {}),
        });
      }
      for (const [file, format] of unsupported) {
        items.push({
          input: file,
          output: null,
          dr2Output: null,
          problem: `unsupported image format (${format}); convert it to PNG or JPEG`,
          problemCode: 'unsupported_image_format',
          // Beside images it can restore, a file it cannot is skipped; alone, the folder fails.
          ...(found.length > 0 ? { skipped: { code: 'unsupported_image_format' } } : {}),
        });
      }
      refuseOutputsAsInputs(arg, await realpath(absolute), outReal, descended);
      if (found.length === 0 && unsupported.size === 0 && special.size === 0) {
        items.push({
          input: absolute,
          output: null,
          dr2Output: null,
          problem: 'folder holds no image files',
        });
      }
      for (const file of found)
        inputs.push({ path: file, subfolder: path.relative(absolute, path.dirname(file)) });
    } else {
      inputs.push({ path: absolute, subfolder: '' });
    }
  }

  const inputReal = new Set<string>();
  for (const { path: input } of inputs) inputReal.add(await realpath(input).catch(() => input));
  // A file of a format dr2e cannot read that a folder lists and an argument also names is
  // reported once: as the named file (it fails to decode), not also as the folder's skipped one.
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.problemCode !== 'unsupported_image_format') continue;
    if (inputReal.has(await realpath(item.input).catch(() => item.input))) items.splice(i, 1);
  }
  // Names (relative to the output folder) that no output may take: the inputs that lie in it,
  // compared by real path (an output folder reached through a link is the folder it links to).
  const inputNames = new Set<string>();
  /** Stems whose extra files would land on an input, with that input's name. */
  const inputsWrittenBy = new Map<string, string>();
  for (const real of inputReal) {
    const relative = path.relative(outReal, real);
    if (liesOutside(relative)) continue;
    inputNames.add(relative);
    for (const stem of stemsWriting(relative, options)) inputsWrittenBy.set(stem, relative);
  }
  const takenStems = new Set<string>();
  /** Stems whose extra files would land on an output already planned. */
  const outputsWrittenBy = new Set<string>();
  /** Whether `stem` or a file it writes would land on another output or on a file another writes. */
  const clashesWithOutputs = (stem: string): boolean =>
    takenStems.has(stem) ||
    outputsWrittenBy.has(stem) ||
    stemsWriting(`${stem}${options.extension}`, options).some((other) => takenStems.has(other));
  /** Real path -> the first input listed for it. */
  const seen = new Map<string, string>();
  for (const { path: input, subfolder } of inputs) {
    const real = await realpath(input).catch(() => input);
    const first = seen.get(real);
    if (first !== undefined) {
      // The same file named twice (folder + explicit, two paths, a link) is restored once.
      options.onDuplicate?.(input, first);
      continue;
    }
    seen.set(real, input);
    const stem = path.join(subfolder, path.basename(input, path.extname(input)));
    let candidate = stem;
    for (let n = 2; clashesWithOutputs(candidate); n++) candidate = `${stem}-${n}`;
    takenStems.add(candidate);
    for (const other of stemsWriting(`${candidate}${options.extension}`, options))
      outputsWrittenBy.add(other);
    const output = path.join(outDir, `${candidate}${options.extension}`);
    const dr2Output = options.saveDr2 ? path.join(outDir, `${candidate}.dr2${options.extension}`) : null;
    const name = `${candidate}${options.extension}`;
    const clash = inputNames.has(name) ? name : inputsWrittenBy.get(candidate);
    const longest = longestNameWritten(candidate, options);
    if (Buffer.byteLength(longest) > MAX_FILE_NAME_BYTES) {
      items.push({
        input,
        output: null,
        dr2Output: null,
        problem: `the output file name ${longest} would be ${Buffer.byteLength(longest)} bytes long, over the ${MAX_FILE_NAME_BYTES} a file system takes; rename the input${options.saveDr2 || options.saveFaces ? ' or leave out --save-dr2 and --save-faces' : ''}`,
        problemCode: 'name_too_long',
      });
      continue;
    }
    if (clash !== undefined) {
      items.push({
        input,
        output: null,
        dr2Output: null,
        problem: `refusing to overwrite the input file ${path.join(outReal, clash)}; choose another output folder`,
      });
      continue;
    }
    items.push({ input, output, dr2Output });
  }
  return items;
}

/**
 * Whether a path made by `path.relative(folder, file)` leads out of `folder`. Only a first part
 * that is `..` itself does: `..x.png` is a file in the folder.
 *
 * @example
 * ```ts
 * liesOutside(path.relative('/out', '/in/a.png')); // true ('../in/a.png')
 * liesOutside(path.relative('/out', '/out/..x.png')); // false
 * ```
 */
export function liesOutside(relative: string): boolean {
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
}

/**
 * Refuses an output folder that a folder argument lists: the folder itself, or one inside it
 * when its sub-folders are searched. This run would work, but the next one would take its
 * outputs for inputs and restore them again.
 */
function refuseOutputsAsInputs(arg: string, folder: string, outDir: string, descended: boolean): void {
  const inside = path.relative(folder, outDir);
  const isFolder = inside === '';
  const isWithin = !isFolder && !liesOutside(inside);
  if (isFolder || (descended && isWithin)) {
    throw new OutputFolderError(
      `the output folder ${outDir} is ${isFolder ? 'the input folder' : `inside the input folder ${arg}`}: a later run would restore this run's outputs again; choose an output folder outside it`,
    );
  }
}

/**
 * The real path a folder will have, whether or not it exists yet: the nearest existing parent
 * resolved (links, e.g. macOS's /tmp), the missing rest appended.
 */
async function realPathOfNew(folder: string): Promise<string> {
  const missing: string[] = [];
  for (let current = folder; ; current = path.dirname(current)) {
    try {
      return path.join(await realpath(current), ...missing);
    } catch {
      if (path.dirname(current) === current) return folder;
      missing.unshift(path.basename(current));
    }
  }
}
