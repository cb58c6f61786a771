/**
 * `dr2e eval` and `dr2e eval-basis` end to end on four generated faces with the tiny random
 * model (fast settings): the reports, tables, strips, sweep grids and curves are written, the
 * run is reproducible, and bad options stop with a message.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/cli-io.js';
import { repoRoot } from '../engine/helpers/fixture-paths.js';
import { cartoonFacePng } from './helpers.js';

const tinyModel = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');
let work: string;
let faces: string;
let basisFile: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-eval-'));
  faces = path.join(work, 'faces');
  await mkdir(faces);
  for (let i = 0; i < 4; i++)
    await writeFile(path.join(faces, `face-${i}.png`), await cartoonFacePng(100, i));
  basisFile = path.join(work, 'basis.json');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const FAST = ['--model', tinyModel, '--steps', '10', '--seed', '5', '-q'];

describe('dr2e eval-basis', () => {
  it('fits and saves an eigenface basis from training faces', async () => {
    // Act
    const run = await runCli([
      'eval-basis',
      '--train',
      faces,
      '--size',
      '16',
      '--components',
      '3',
      '-o',
      basisFile,
      '-q',
    ]);
    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/eigenface basis: 3 components of 16x16 from 4 faces/);
    const header = JSON.parse(await readFile(basisFile, 'utf8')) as {
      components: number;
      license: { commercialUse: boolean };
    };
    expect(header.components).toBe(3);
    expect(header.license.commercialUse).toBe(false);
    expect(existsSync(basisFile.replace(/\.json$/, '.bin'))).toBe(true);
  });

  it('refuses to fit on val/', async () => {
    // Act
    const run = await runCli([
      'eval-basis',
      '--train',
      faces,
      '--prefix',
      'val/',
      '-o',
      path.join(work, 'x.json'),
    ]);
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/not on val\//);
  });
});

describe('dr2e eval', () => {
  it('writes the tables, CSV, degradations and strips of every (scale, split)', async () => {
    // Prepare
    const out = path.join(work, 'report');
    // Act
    const run = await runCli([
      'eval',
      '--clean',
      faces,
      '--scales',
      '4,8',
      '--splits',
      'mild,severe',
      '--presets',
      'severe',
      '--baselines',
      'enhancer,dr2',
      '--n',
      '4',
      '--tau',
      '3',
      '--examples',
      '2',
      '--basis',
      basisFile,
      '-o',
      out,
      ...FAST,
    ]);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/evaluated 4 faces x 4 \(scale, split\)/);
    expect((await readdir(path.join(out, 'tables'))).sort()).toEqual(
      ['x4-mild', 'x4-severe', 'x8-mild', 'x8-severe'].flatMap((k) => [`${k}.csv`, `${k}.md`]),
    );
    const csv = (await readFile(path.join(out, 'results.csv'), 'utf8')).trim().split('\n');
    // Per split: bicubic, enhancer only, DR2 and DR2E for each of the two settings.
    expect(csv).toHaveLength(1 + 4 * 6);
    expect(csv.filter((line) => line.startsWith('8,severe,dr2e,severe,4,'))).toHaveLength(1);
    // ... psnr, ssim, gmsd, eigenface accuracy and distance, the recognizer's cosine (default recognizer).
    expect(csv[0]).toContain(',id_distance,id_cosine,');
    expect(csv[1]).toMatch(/^4,mild,bicubic,bicubic,,,,,4,[\d.]+,[\d.]+,[\d.]+,[\d.]+,[\d.]+,-?[\d.]+,/);
    const markdown = await readFile(path.join(out, 'results.md'), 'utf8');
    expect(markdown).toContain('dr2e eval --clean');
    expect(markdown).toContain('| DR2E (severe) | 4 |');
    expect(markdown).toContain('## Where DR2E beats both baselines');
    expect(markdown).toContain('![x8 severe examples](strips/x8-severe.png)');
    const degradations = (await readFile(path.join(out, 'degradations.csv'), 'utf8')).trim().split('\n');
    expect(degradations).toHaveLength(1 + 4 * 4);
    const strip = await sharp(path.join(out, 'strips', 'x8-severe.png')).metadata();
    expect(strip.format).toBe('png');
    expect(strip.height).toBeGreaterThan(2 * 128);
    const runInfo = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')) as {
      images: number;
      verdicts: unknown[];
    };
    expect(runInfo.images).toBe(4);
    expect(runInfo.verdicts).toHaveLength(8);
  });

  it('gives the same numbers on a second run with the same seed', async () => {
    // Prepare
    const args = (out: string): string[] => [
      'eval',
      '--clean',
      faces,
      '--scales',
      '8',
      '--splits',
      'medium',
      '--presets',
      'medium',
      '--examples',
      '0',
      '--basis',
      'none',
      '-o',
      out,
      ...FAST,
    ];
    // Act
    await runCli(args(path.join(work, 'again-1')));
    await runCli(args(path.join(work, 'again-2')));
    // Assess: everything but the timing column agrees.
    const strip = (text: string): string => text.replace(/,[\d.]+\n/g, '\n');
    const a = await readFile(path.join(work, 'again-1', 'results.csv'), 'utf8');
    const b = await readFile(path.join(work, 'again-2', 'results.csv'), 'utf8');
    expect(strip(b)).toBe(strip(a));
  });

  it('sweeps (N, tau) into a grid, curves and a table', async () => {
    // Prepare
    const out = path.join(work, 'sweep');
    // Act
    const run = await runCli([
      'eval',
      '--clean',
      faces,
      '--sweep',
      '--sweep-scale',
      '8',
      '--sweep-split',
      'severe',
      '--sweep-n',
      '2,4',
      '--sweep-tau',
      '2,4,6',
      '--basis',
      basisFile,
      '-o',
      out,
      ...FAST,
    ]);
    // Assess
    expect(run.status).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'sweep-curves.png',
      'sweep-grid-dr2.png',
      'sweep-grid-dr2e.png',
      'sweep.csv',
      'sweep.md',
    ]);
    const csv = (await readFile(path.join(out, 'sweep.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(1 + 2 + 2 * 3);
    const grid = await sharp(path.join(out, 'sweep-grid-dr2e.png')).metadata();
    // Columns: input, three taus, ground truth; rows: two N.
    expect(grid.width).toBeGreaterThan(5 * 128);
    expect(grid.height).toBeGreaterThan(2 * 128);
  });

  it('stops with a message on bad options', async () => {
    // Act
    const lonelyN = await runCli(['eval', '--clean', faces, '--n', '4', '-o', path.join(work, 'x'), ...FAST]);
    const badSplit = await runCli([
      'eval',
      '--clean',
      faces,
      '--splits',
      'extreme',
      '-o',
      path.join(work, 'x'),
    ]);
    const badScale = await runCli([
      'eval',
      '--clean',
      faces,
      '--scales',
      '3',
      '--basis',
      'none',
      '-o',
      path.join(work, 'x'),
      ...FAST,
    ]);
    // Assess
    expect(lonelyN.status).toBe(2);
    expect(lonelyN.stderr).toMatch(/--n and --tau go together/);
    expect(badSplit.status).toBe(2);
    expect(badSplit.stderr).toMatch(/unknown split extreme/);
    expect(badScale.status).toBe(2);
    expect(badScale.stderr).toMatch(/scale x3 does not divide the evaluation size 128/);
  });
});
