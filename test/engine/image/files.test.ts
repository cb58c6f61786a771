import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
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
      ['a.jpg', 'B.JPEG', 'c.Png', 'd.webp', 'e.avif', 'f.tif', 'g.TIFF', 'IMG_1.HEIC', 'h.heif'].every(
        isImageFileName,
      ),
    ).toBe(true);
    expect(['notes.txt', 'jpg', 'a.jpg.bak', 'anim.gif', 'x.svg', 'noext'].some(isImageFileName)).toBe(false);
  });
});

describe('listImageFiles', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dr2e-files-'));
    await mkdir(path.join(root, 'team', 'deep'), { recursive: true });
    for (const name of ['z.webp', 'a.jpg', 'notes.txt', 'team/b.PNG', 'team/deep/c.heic', 'team/readme.md']) {
      await writeFile(path.join(root, name), 'x');
    }
    await symlink(path.join(root, 'a.jpg'), path.join(root, 'link.jpg'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists one folder level by default, in name order, images only (no links)', async () => {
    expect(await listImageFiles(root)).toEqual([path.join(root, 'a.jpg'), path.join(root, 'z.webp')]);
  });

  it('descends into sub-folders where they fall in name order when recursive', async () => {
    expect(await listImageFiles(root, { recursive: true })).toEqual([
      path.join(root, 'a.jpg'),
      path.join(root, 'team', 'b.PNG'),
      path.join(root, 'team', 'deep', 'c.heic'),
      path.join(root, 'z.webp'),
    ]);
  });

  it('fails with the file system error for a missing folder', async () => {
    await expect(listImageFiles(path.join(root, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
