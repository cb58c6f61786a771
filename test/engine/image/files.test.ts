import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IMAGE_FORMAT_EXTENSIONS,
  isImageFileName,
  listImageFiles,
  SUPPORTED_IMAGE_FORMATS,
} from '../../../gpu-task/src/engine/image/index.js';

describe('image file names', () => {
  it('know an extension for every format the engine decodes', () => {
    for (const format of SUPPORTED_IMAGE_FORMATS)
      expect(IMAGE_FORMAT_EXTENSIONS[format].length).toBeGreaterThan(0);
  });

  it('match extensions in any letter case and nothing else', () => {
    expect(
      [
        'a.jpg',
        'B.JPEG',
        'download.jfif',
        'i.jpe',
        'c.Png',
        'd.webp',
        'e.avif',
        'f.tif',
        'g.TIFF',
        'IMG_1.HEIC',
        'h.heif',
        'DSCF0001.HIF',
      ].every(isImageFileName),
    ).toBe(true);
    expect(['notes.txt', 'jpg', 'a.jpg.bak', 'anim.gif', 'x.svg', 'noext'].some(isImageFileName)).toBe(false);
  });
});

/** A named pipe at `file` (no fs/promises call makes one). */
function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

describe('listImageFiles', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dr2e-files-'));
    await mkdir(path.join(root, 'team', 'deep'), { recursive: true });
    for (const name of ['z.webp', 'a.jpg', 'notes.txt', 'team/b.PNG', 'team/deep/c.heic', 'team/readme.md']) {
      await writeFile(path.join(root, name), 'x');
    }
    await symlink(path.join(root, 'a.jpg'), path.join(root, 'link.jpg'));
    // What a folder copied from a Mac, or a photo manager, leaves beside the photos
    await mkdir(path.join(root, '.thumbnails'));
    for (const name of ['._a.jpg', '.DS_Store', '.hidden.png', '.thumbnails/a.jpg']) {
      await writeFile(path.join(root, name), 'x');
    }
    await symlink(path.join(root, 'gone.jpg'), path.join(root, 'broken.jpg'));
    // A link to a folder above it: descending into it would never end
    await symlink(root, path.join(root, 'team', 'loop'));
    mkfifo(path.join(root, 'pipe.jpg'));
    await symlink(path.join(root, 'pipe.jpg'), path.join(root, 'pipe-link.jpg'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists one folder level by default, in name order, images only, links to files under their own names', async () => {
    expect(await listImageFiles(root)).toEqual(
      ['a.jpg', 'broken.jpg', 'link.jpg', 'z.webp'].map((name) => path.join(root, name)),
    );
  });

  it('leaves out hidden files and folders (macOS ._ resource forks), links to folders and special files', async () => {
    const listed = await listImageFiles(root, { recursive: true });
    expect(
      listed.filter((file) => path.basename(file).startsWith('.') || file.includes('.thumbnails')),
    ).toEqual([]);
    expect(listed.filter((file) => file.includes('loop') || file.includes('pipe'))).toEqual([]);
  });

  it('descends into sub-folders where they fall in name order when recursive', async () => {
    expect(await listImageFiles(root, { recursive: true })).toEqual([
      path.join(root, 'a.jpg'),
      path.join(root, 'broken.jpg'),
      path.join(root, 'link.jpg'),
      path.join(root, 'team', 'b.PNG'),
      path.join(root, 'team', 'deep', 'c.heic'),
      path.join(root, 'z.webp'),
    ]);
  });

  it('fails with the file system error for a missing folder', async () => {
    await expect(listImageFiles(path.join(root, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
