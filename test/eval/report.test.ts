/**
 * Report formatting (Markdown tables with the best value in bold, CSV, verdicts) and the
 * clean-face sources (folders, tar archives, evenly spaced subsets).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evenlySpaced, listCleanFaces, listTarFiles } from '../../gpu-task/src/eval/clean-faces.js';
import type { MethodScores } from '../../gpu-task/src/eval/evaluate.js';
import {
  formatScoresCsv,
  formatSplitTable,
  formatSummaryTables,
  verdicts,
} from '../../gpu-task/src/eval/report.js';
import { niceTicks, renderImageGrid, renderLineCharts } from '../../gpu-task/src/eval/visuals.js';
import { patternImage } from './helpers.js';

const params = { n: 16, tau: 35, omega: 65, steps: 100 };
const rows: MethodScores[] = [
  {
    scale: 8,
    split: 'severe',
    method: 'bicubic',
    label: 'bicubic',
    images: 10,
    psnr: 20.5,
    ssim: 0.62,
    gmsd: 0.2,
    idAccuracy: 0.9,
    idDistance: 0.05,
    seconds: 0.1,
  },
  {
    scale: 8,
    split: 'severe',
    method: 'enhancer',
    label: 'enhancer only',
    images: 10,
    psnr: 20.1,
    ssim: 0.6,
    gmsd: 0.21,
    idAccuracy: 0.8,
    idDistance: 0.06,
    seconds: 1,
  },
  {
    scale: 8,
    split: 'severe',
    method: 'dr2e',
    label: 'severe',
    params,
    images: 10,
    psnr: 19.9,
    ssim: 0.64,
    gmsd: 0.19,
    idAccuracy: 0.9,
    idDistance: 0.07,
    seconds: 30,
  },
  {
    scale: 8,
    split: 'severe',
    method: 'dr2e',
    label: 'N=4 τ=10',
    params: { ...params, n: 4, tau: 10 },
    images: 10,
    psnr: Number.POSITIVE_INFINITY,
    ssim: 0.5,
    gmsd: 0.3,
    idAccuracy: 0.5,
    idDistance: 0.2,
    seconds: 30,
  },
];

describe('tables', () => {
  it('formats one row per method with the best value of each metric in bold', () => {
    // Act
    const table = formatSplitTable(rows);
    const lines = table.trim().split('\n');
    // Assess
    expect(lines).toHaveLength(2 + rows.length);
    expect(lines[0]).toBe(
      '| method | N | τ | ω | PSNR (dB) ↑ | SSIM ↑ | GMSD ↓ | ID acc. ↑ | ID dist. ↓ | time (s) |',
    );
    expect(lines[2]).toBe('| bicubic |  |  |  | 20.50 | 0.6200 | 0.2000 | **0.900** | **0.0500** | 0.1 |');
    expect(lines[4]).toBe(
      '| DR2E (severe) | 16 | 35 | 65 | 19.90 | **0.6400** | **0.1900** | **0.900** | 0.0700 | 30.0 |',
    );
    expect(lines[5]).toContain('| **inf** |');
  });

  it('leaves out the identity columns when no basis was used', () => {
    // Prepare
    const plain = rows.map(({ idAccuracy: _a, idDistance: _d, ...rest }) => rest);
    // Act
    const header = formatSplitTable(plain).split('\n')[0]!;
    // Assess
    expect(header).not.toContain('ID');
    expect(header).toContain('GMSD');
  });

  it('writes CSV with a header, empty cells for missing values and quoted commas', () => {
    // Prepare
    const odd: MethodScores = { ...rows[0]!, label: 'a, "b"' };
    // Act
    const csv = formatScoresCsv([rows[0]!, rows[3]!, odd]).trim().split('\n');
    // Assess
    expect(csv[0]).toBe(
      'scale,split,method,setting,n,tau,omega,steps,images,psnr,ssim,gmsd,id_accuracy,id_distance,id_cosine,input_size,seconds',
    );
    expect(csv[1]).toBe('8,severe,bicubic,bicubic,,,,,10,20.5,0.62,0.2,0.9,0.05,,,0.1');
    expect(csv[2]).toContain(',inf,');
    expect(csv[3]).toContain('"a, ""b"""');
  });

  it('summarises every (scale, split) in one table per metric, the best of each row in bold', () => {
    // Prepare
    const other = rows.slice(0, 3).map((r) => ({ ...r, scale: 16, ssim: r.ssim - 0.1 }));
    // Act
    const summary = formatSummaryTables([
      { scale: 8, split: 'severe', scores: rows },
      { scale: 16, split: 'severe', scores: other },
    ]);
    const ssim = summary.split('**SSIM ↑**')[1]!.trim().split('\n').slice(0, 4);
    // Assess
    expect(ssim[0]).toBe('| scale | split | bicubic | enhancer only | DR2E (severe) | DR2E (N=4 τ=10) |');
    expect(ssim[2]).toBe('| x8 | severe | 0.6200 | 0.6000 | **0.6400** | 0.5000 |');
    expect(ssim[3]).toBe('| x16 | severe | 0.5200 | 0.5000 | **0.5400** |  |');
  });

  it('says on which metrics a DR2E setting beats both baselines', () => {
    // Act
    const result = verdicts({ scale: 8, split: 'severe', scores: rows });
    // Assess: better SSIM and GMSD, a tie on ID accuracy is not a win.
    expect(result[0]).toEqual({ scale: 8, split: 'severe', setting: 'severe', beats: ['SSIM', 'GMSD'] });
    expect(result[1]!.beats).toEqual(['PSNR (dB)']);
  });
});

describe('pictures', () => {
  it('renders a labelled grid as a PNG of the expected size', async () => {
    // Act
    const png = await renderImageGrid({
      cells: [
        [patternImage(32, 1), patternImage(32, 2)],
        [patternImage(32, 3), patternImage(16, 4)],
      ],
      columnLabels: ['one', 'two'],
      cellSize: 32,
    });
    // Assess
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(2 * 36 + 4);
  });

  it('renders line charts and picks round tick values', async () => {
    // Act
    const png = await renderLineCharts([
      {
        title: 'SSIM',
        xLabel: 'tau',
        yLabel: 'SSIM',
        series: [
          {
            label: 'N=4',
            points: [
              { x: 10, y: 0.5 },
              { x: 20, y: 0.6 },
            ],
          },
        ],
      },
    ]);
    // Assess
    expect((await sharp(png).metadata()).format).toBe('png');
    expect(niceTicks(0.52, 0.68)).toEqual([0.55, 0.6, 0.65]);
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
  });
});

describe('clean-face sources', () => {
  let work: string;

  /** A minimal ustar archive of the given files. */
  function ustar(files: { name: string; data: Uint8Array }[]): Uint8Array {
    const blocks: Uint8Array[] = [];
    for (const file of files) {
      const header = new Uint8Array(512);
      header.set(Buffer.from(file.name), 0);
      header.set(Buffer.from('0000644\0'), 100);
      header.set(Buffer.from(`${file.data.length.toString(8).padStart(11, '0')}\0`), 124);
      header.set(Buffer.from('        '), 148);
      header[156] = '0'.charCodeAt(0);
      header.set(Buffer.from('ustar\0' + '00'), 257);
      const checksum = header.reduce((a, b) => a + b, 0);
      header.set(Buffer.from(`${checksum.toString(8).padStart(6, '0')}\0 `), 148);
      blocks.push(header);
      const padded = new Uint8Array(Math.ceil(file.data.length / 512) * 512);
      padded.set(file.data);
      blocks.push(padded);
    }
    blocks.push(new Uint8Array(1024));
    return Buffer.concat(blocks);
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'dr2e-clean-'));
    const png = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await writeFile(
      path.join(work, 'faces.tar'),
      ustar([
        { name: 'train/a.png', data: png },
        { name: 'val/b.png', data: png },
        { name: 'val/notes.txt', data: Buffer.from('not an image') },
        { name: 'val/c.png', data: png },
      ]),
    );
    await mkdir(path.join(work, 'folder', 'sub'), { recursive: true });
    await writeFile(path.join(work, 'folder', 'z.png'), png);
    await writeFile(path.join(work, 'folder', 'sub', 'y.png'), png);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('reads image files under a prefix straight from a tar archive', async () => {
    // Act
    const entries = await listTarFiles(path.join(work, 'faces.tar'));
    const faces = await listCleanFaces(path.join(work, 'faces.tar'), { prefix: 'val/' });
    // Assess
    expect(entries.map((e) => e.name)).toEqual(['train/a.png', 'val/b.png', 'val/notes.txt', 'val/c.png']);
    expect(faces.map((f) => f.id)).toEqual(['val/b.png', 'val/c.png']);
    expect((await sharp(await faces[1]!.read()).metadata()).width).toBe(40);
  });

  it('keeps only the ids that match, and names the pattern when none does', async () => {
    // Act
    const faces = await listCleanFaces(path.join(work, 'faces.tar'), { prefix: 'val/', match: /c\.png$/ });
    // Assess
    expect(faces.map((f) => f.id)).toEqual(['val/c.png']);
    await expect(
      listCleanFaces(path.join(work, 'faces.tar'), { prefix: 'val/', match: /^val\/9/ }),
    ).rejects.toThrow(/holds no image files matching \/\^val\\\/9\//);
  });

  it('lists a folder recursively, sorted by relative path', async () => {
    // Act
    const faces = await listCleanFaces(path.join(work, 'folder'));
    // Assess
    expect(faces.map((f) => f.id)).toEqual(['sub/y.png', 'z.png']);
  });

  it('takes evenly spaced subsets and refuses empty sources', async () => {
    // Act + Assess
    expect(evenlySpaced([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([0, 2, 5, 7]);
    expect(evenlySpaced([1, 2], 5)).toEqual([1, 2]);
    await expect(listCleanFaces(path.join(work, 'faces.tar'), { prefix: 'test/' })).rejects.toThrow(
      /holds no image files/,
    );
    await expect(listCleanFaces(path.join(work, 'missing'))).rejects.toThrow(/no such file or folder/);
  });
});
