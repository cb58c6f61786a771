/**
 * Planning `dr2e restore`'s work list: which files a folder argument gives, and where each
 * output goes. No model runs here; the files only need image names.
 */
import { execFileSync } from 'node:child_process';
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

  it('refuses to write over an input through an output folder reached by a link', async () => {
    // Prepare: `link` points at `photos`, which holds photo.png
    await touch('photos', 'photo.png');
    await symlink(path.join(work, 'photos'), path.join(work, 'link'));

    // Act
    const [item] = await planRestore([path.join(work, 'photos', 'photo.png')], {
      outDir: path.join(work, 'link'),
      extension: '.png',
      saveDr2: false,
    });

    // Assess
    expect(item?.output).toBeNull();
    expect(item?.problem).toMatch(/refusing to overwrite the input file .*photo\.png/);
  });

  it('refuses to write over an input whose name starts with two dots', async () => {
    // Prepare: `..x.png` lies in the output folder ('..x' is a name, not the parent folder)
    await touch('out', '..x.png');

    // Act
    const [item] = await plan([path.join('out', '..x.png')]);

    // Assess
    expect(item?.output).toBeNull();
    expect(item?.problem).toMatch(/refusing to overwrite the input file .*\.\.x\.png/);
  });
  it('refuses an input whose face crops (--save-faces) or DR2 image would write over another input', async () => {
    // Prepare: photo.face1.png and other.dr2.png are themselves inputs, in the output folder
    await touch('photos', 'photo.jpg');
    await touch('photos', 'photo.face1.png');
    await touch('photos', 'other.jpg');
    await touch('photos', 'other.dr2.png');
    const inputs = ['photo.jpg', 'photo.face1.png', 'other.jpg', 'other.dr2.png'];

    // Act
    const items = await planRestore(
      inputs.map((name) => path.join(work, 'photos', name)),
      { outDir: path.join(work, 'photos'), extension: '.png', saveDr2: true, saveFaces: true },
    );

    // Assess: photo.jpg's first face crop and other.jpg's DR2 image would be those inputs
    const problems = new Map(items.map((item) => [path.basename(item.input), item.problem ?? 'ok']));
    expect(problems.get('photo.jpg')).toMatch(/overwrite the input file .*photo\.face1\.png/);
    expect(problems.get('other.jpg')).toMatch(/overwrite the input file .*other\.dr2\.png/);
  });

  it("renames an output that another input's face crops or DR2 image would take, in either order", async () => {
    // Prepare
    for (const name of ['photo.jpg', 'photo.face1.jpg', 'photo.dr2.jpg']) await touch('in', name);
    const options = { outDir: path.join(work, 'out'), extension: '.png', saveDr2: true, saveFaces: true };
    const inputs = ['photo.jpg', 'photo.face1.jpg', 'photo.dr2.jpg'].map((name) =>
      path.join(work, 'in', name),
    );

    // Act
    const forward = await planRestore(inputs, options);
    const backward = await planRestore([...inputs].reverse(), options);
    const plain = await planRestore(inputs, { ...options, saveDr2: false, saveFaces: false });

    // Assess: no output is a file another output writes besides itself
    for (const items of [forward, backward]) {
      const outputs = items.map((item) => path.basename(item.output ?? 'none', '.png'));
      expect(new Set(outputs).size).toBe(3);
      for (const output of outputs) {
        const writtenBy = (other: string) =>
          output === `${other}.dr2` || /^\.face\d+(\.input)?$/.test(output.slice(other.length));
        expect(outputs.filter((other) => output.startsWith(other) && writtenBy(other))).toEqual([]);
      }
    }
    expect(forward.map((item) => path.basename(item.output ?? 'none'))).toEqual([
      'photo.png',
      'photo.face1-2.png',
      'photo.dr2-2.png',
    ]);
    // Without the extra files, the names are free
    expect(plain.map((item) => path.basename(item.output ?? 'none'))).toEqual([
      'photo.png',
      'photo.face1.png',
      'photo.dr2.png',
    ]);
  });

  it('refuses, before any work, an input whose output or extra file names would pass 255 bytes', async () => {
    // Prepare: a 240-byte stem fits alone (244 with .png) but not with its face crops' names
    const stem = 'a'.repeat(240);
    await touch('in', `${stem}.jpg`);
    await touch('in', 'short.jpg');
    const inputs = [path.join(work, 'in', `${stem}.jpg`), path.join(work, 'in', 'short.jpg')];
    const options = { outDir: path.join(work, 'out'), extension: '.png', saveDr2: false };

    // Act
    const plain = await planRestore(inputs, options);
    const withFaces = await planRestore(inputs, { ...options, saveFaces: true });

    // Assess
    expect(plain.map((item) => item.problem)).toEqual([undefined, undefined]);
    expect(withFaces[0]).toMatchObject({ output: null, problemCode: 'name_too_long' });
    expect(withFaces[0]?.problem).toMatch(/\.face100\.input\.png would be 258 bytes long.*--save-faces/);
    expect(withFaces[1]?.output).toBe(path.join(work, 'out', 'short.png'));
  });

  it('reports an unreadable file that a folder lists and an argument names once, as the named file', async () => {
    // Prepare
    await touch('mixed', 'a.jpg');
    await touch('mixed', 'b.gif');

    // Act
    const items = await plan(['mixed', path.join('mixed', 'b.gif')]);

    // Assess: b.gif is planned once (it fails to decode as an explicit file), never also skipped
    const gifs = items.filter((item) => path.basename(item.input) === 'b.gif');
    expect(gifs).toHaveLength(1);
    expect(gifs[0]).not.toHaveProperty('skipped');
    expect(gifs[0]?.output).toBe(path.join(work, 'out', 'b.png'));
  });

  it("leaves a folder's named pipe out, saying so, and plans one named on its own (read-input reads it)", async () => {
    // Prepare: a FIFO named directly, one in a folder beside a photo, and a photo after them
    await touch('alone.jpg');
    await touch('album', 'a.jpg');
    execFileSync('mkfifo', [path.join(work, 'pipe.jpg'), path.join(work, 'album', 'pipe.jpg')]);
    // Act: planning opens nothing, so it returns (a blocking open of a pipe would not)
    const items = await plan(['pipe.jpg', 'album', 'alone.jpg']);
    // Assess
    const byName = (name: string) => items.find((item) => path.relative(work, item.input) === name);
    expect(byName('pipe.jpg')?.output).toBe(path.join(work, 'out', 'pipe.png'));
    expect(byName(path.join('album', 'pipe.jpg'))).toMatchObject({
      output: null,
      problem: expect.stringMatching(/not a regular file/),
      skipped: { code: 'input_rejected' },
    });
    expect(byName(path.join('album', 'a.jpg'))?.output).toBe(path.join(work, 'out', 'a.png'));
    expect(byName('alone.jpg')?.output).toBe(path.join(work, 'out', 'alone.png'));
  });

  it('names a symbolic link loop as one, not as a missing file', async () => {
    // Prepare
    await symlink(path.join(work, 'loop-b.jpg'), path.join(work, 'loop-a.jpg'));
    await symlink(path.join(work, 'loop-a.jpg'), path.join(work, 'loop-b.jpg'));
    // Act
    const [item] = await plan(['loop-a.jpg']);
    // Assess
    expect(item?.problem).toMatch(/symbolic link loop/);
  });

  it('restores a file named twice once, and says so', async () => {
    // Prepare
    await touch('in', 'me.jpg');
    const duplicates: string[] = [];
    // Act
    const items = await planRestore(
      [path.join(work, 'in', 'me.jpg'), path.join(work, 'in', '..', 'in', 'me.jpg')],
      {
        outDir: path.join(work, 'out'),
        extension: '.png',
        saveDr2: false,
        onDuplicate: (input, first) => duplicates.push(`${input} <- ${first}`),
      },
    );
    // Assess
    expect(items).toHaveLength(1);
    expect(duplicates).toEqual([`${path.join(work, 'in', 'me.jpg')} <- ${path.join(work, 'in', 'me.jpg')}`]);
  });

  it("restores a folder's link to another of its files once, naming the file it is", async () => {
    // Prepare: latest.jpg links to a.jpg in the same folder
    await touch('album', 'a.jpg');
    await symlink(path.join(work, 'album', 'a.jpg'), path.join(work, 'album', 'latest.jpg'));
    const duplicates: [string, string][] = [];
    // Act
    const items = await planRestore([path.join(work, 'album')], {
      outDir: path.join(work, 'out'),
      extension: '.png',
      saveDr2: false,
      onDuplicate: (input, first) => duplicates.push([input, first]),
    });
    // Assess
    expect(items.map((item) => item.output)).toEqual([path.join(work, 'out', 'a.png')]);
    expect(duplicates).toEqual([[path.join(work, 'album', 'latest.jpg'), path.join(work, 'album', 'a.jpg')]]);
  });
});
