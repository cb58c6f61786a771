/**
 * Planning `dr2e restore`'s work list: which files a folder argument gives, and where each
 * output goes. No model runs here; the files only need image names.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planRestore } from '../../gpu-task/src/cli/inputs.js';

let work: string;

async function touch(...parts: string[]): Promise<void> {
  const file = path.join(work, ...parts);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, 'not decoded while planning');
}

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-plan-'));
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const plan = (args: string[], recursive?: boolean) =>
  planRestore(
    args.map((arg) => path.join(work, arg)),
    {
      outDir: path.join(work, 'out'),
      extension: '.png',
      saveDr2: false,
      ...(recursive ? { recursive } : {}),
    },
  );

describe('planning a restore run', () => {
  it('descends into a folder whose top level holds no image, keeping each sub-folder under the output', async () => {
    // Prepare: a dataset split into sets, the same file name in two of them
    await touch('data', 'set-a', '001.jpg');
    await touch('data', 'set-b', '001.jpg');
    await touch('data', 'set-b', 'deeper', 'face.png');
    await touch('data', 'README.txt');

    // Act
    const items = await plan(['data']);

    // Assess
    expect(items.map((item) => path.relative(work, item.output ?? 'none'))).toEqual([
      path.join('out', 'set-a', '001.png'),
      path.join('out', 'set-b', '001.png'),
      path.join('out', 'set-b', 'deeper', 'face.png'),
    ]);
    expect(items.every((item) => item.problem === undefined)).toBe(true);
  });

  it("reports a folder's files of formats dr2e cannot read instead of leaving them out silently", async () => {
    // Prepare
    await touch('mixed', 'a.jpg');
    await touch('mixed', 'party.gif');
    await touch('mixed', 'scan.BMP');
    await touch('mixed', 'notes.txt');

    // Act
    const items = await plan(['mixed']);

    // Assess
    const problems = items.filter((item) => item.problem !== undefined);
    expect(problems.map((item) => [path.basename(item.input), item.problem, item.skipped?.code])).toEqual([
      ['party.gif', 'unsupported image format (GIF); convert it to PNG or JPEG', 'unsupported_image_format'],
      ['scan.BMP', 'unsupported image format (BMP); convert it to PNG or JPEG', 'unsupported_image_format'],
    ]);
    expect(items.filter((item) => item.output !== null).map((item) => path.basename(item.input))).toEqual([
      'a.jpg',
    ]);
  });

  it('fails a folder whose only images are of formats dr2e cannot read', async () => {
    await touch('gifs', 'party.gif');
    const items = await plan(['gifs']);
    expect(items.map((item) => [path.basename(item.input), item.output, item.skipped])).toEqual([
      ['party.gif', null, undefined],
    ]);
  });

  it('refuses an output folder inside the input folder reached through a link, before it exists', async () => {
    // Prepare: `link` points at `photos`; the output folder photos/out does not exist yet
    await touch('photos', 'a.jpg');
    await symlink(path.join(work, 'photos'), path.join(work, 'link'));
    const options = { extension: '.png', saveDr2: false, recursive: true };
    // Act (each plan is awaited before the next starts: a second rejection
    // left pending while the first is awaited is reported as unhandled)
    const viaLink = await planRestore([path.join(work, 'photos')], {
      ...options,
      outDir: path.join(work, 'link', 'out'),
    }).catch((error: unknown) => error);
    const dotted = await planRestore([path.join(work, 'photos')], {
      ...options,
      outDir: path.join(work, 'photos', '..backup'),
    }).catch((error: unknown) => error);
    // Assess
    expect(viaLink).toBeInstanceOf(Error);
    expect(String(viaLink)).toMatch(/inside the input folder/);
    // `..backup` is a folder inside photos, not its parent: refused as well
    expect(dotted).toBeInstanceOf(Error);
    expect(String(dotted)).toMatch(/inside the input folder/);
  });

  it('stays at the top level of a folder that holds images unless --recursive is given', async () => {
    // Prepare
    await touch('photos', 'a.jpg');
    await touch('photos', 'old', 'b.jpg');

    // Act
    const flat = await plan(['photos']);
    const deep = await plan(['photos'], true);

    // Assess
    expect(flat.map((item) => path.relative(work, item.output ?? 'none'))).toEqual([
      path.join('out', 'a.png'),
    ]);
    expect(deep.map((item) => path.relative(work, item.output ?? 'none'))).toEqual([
      path.join('out', 'a.png'),
      path.join('out', 'old', 'b.png'),
    ]);
  });

  it('reports a folder with no image anywhere as a per-item problem', async () => {
    // Prepare
    await touch('empty', 'notes', 'todo.txt');

    // Act
    const items = await plan(['empty']);

    // Assess
    expect(items).toEqual([
      {
        input: path.join(work, 'empty'),
        output: null,
        dr2Output: null,
        problem: 'folder holds no image files',
      },
    ]);
  });

  it('gives same-named files from two arguments distinct outputs', async () => {
    // Prepare
    await touch('one', 'face.jpg');
    await touch('two', 'face.jpg');

    // Act
    const items = await plan(['one', 'two']);

    // Assess
    expect(items.map((item) => path.basename(item.output ?? 'none'))).toEqual(['face.png', 'face-2.png']);
  });
});
