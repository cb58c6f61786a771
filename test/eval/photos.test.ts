/**
 * `dr2e eval-photos` end to end on one tiny synthetic group photo (two UTKFace val/ faces, the
 * tiny random-weight model, x2): the real photo pipeline runs, every face is found, the output
 * is exactly input x upscale, and the reports hold every face and method; bad options stop with
 * a message. Needs ../shared (UTKFace).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RetinaFaceModel } from '../../gpu-task/src/photo/index.js';
import { runCli } from '../cli/cli-io.js';
import { repoRoot, sharedDir } from '../engine/helpers/fixture-paths.js';
import { background, encode, placeFaces, utkFaces } from '../photo/helpers.js';

const utkTar = path.join(sharedDir, 'data', 'utkface', 'utkface-200.tar');
const present = existsSync(utkTar);
const tinyModel = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-eval-photos-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const TINY_RUN = [
  'eval-photos',
  '--clean',
  utkTar,
  '--prefix',
  'val/',
  '--limit',
  '1',
  '--faces',
  '2',
  '--size',
  '240x160',
  '--face-sides',
  '70,80',
  '--upscale',
  '2',
  '--splits',
  'mild',
  '--model',
  tinyModel,
  '--preset',
  'mild',
  '--steps',
  '4',
  '--examples',
  '2',
  '-q',
];

describe.skipIf(!present)(`dr2e eval-photos${present ? '' : ` (skipped: ${utkTar} is absent)`}`, () => {
  it('runs the photo pipeline on a synthetic group photo and reports detection, size and face scores', async () => {
    // Act
    const out = path.join(work, 'run');
    const run = await runCli([...TINY_RUN, '-o', out]);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/mild: recall 100 %, size exact/);
    const results = await readFile(path.join(out, 'results.csv'), 'utf8');
    const rows = results.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(',')[1])).toEqual(['dr2e', 'bicubic', 'background']);
    for (const row of rows) {
      const [, , facePsnr, faceSsim, idCos, , , wholeSsim, recall, sizeOk] = row.split(',');
      expect(Number(facePsnr)).toBeGreaterThan(10);
      expect(Number(faceSsim)).toBeGreaterThan(0);
      expect(Number(idCos)).toBeGreaterThan(-1);
      expect(Number(wholeSsim)).toBeGreaterThan(0.3);
      expect([recall, sizeOk]).toEqual(['1.0000', 'true']);
    }
    const faces = (await readFile(path.join(out, 'faces.csv'), 'utf8')).trim().split('\n');
    expect(faces).toHaveLength(3);
    expect(faces[1]).toMatch(/^mild,photo-000,val\/.*,true,/);
    // Each face's fusion as applied: its weights and the share of the noise attenuation.
    const header = faces[0]!.split(',');
    const attenuation = header.indexOf('detail_attenuation');
    expect(header.slice(attenuation - 2, attenuation + 1)).toEqual([
      'input_weight',
      'detail_weight',
      'detail_attenuation',
    ]);
    for (const row of faces.slice(1)) {
      const fields = row.split(',');
      if (fields[attenuation - 2] === '') continue;
      expect(fields[attenuation]).not.toBe('');
      expect(Number(fields[attenuation])).toBeGreaterThanOrEqual(0);
      expect(Number(fields[attenuation])).toBeLessThanOrEqual(1);
    }
    const photos = (await readFile(path.join(out, 'photos.csv'), 'utf8')).trim().split('\n');
    expect(photos[1]).toMatch(/,240,160,480,320,true,2,2,0,/);
    expect(existsSync(path.join(out, 'strips', 'mild.png'))).toBe(true);
    const markdown = await readFile(path.join(out, 'results.md'), 'utf8');
    expect(markdown).toContain('dr2e eval-photos --clean');
    expect(markdown).toMatch(/\*\*mild\*\*: recall 100 %, output size exact/);
    // The pipeline's background alone leaves the faces as bicubic-like enlargements: no face
    // region of DR2E's output equals it, the faces were pasted.
    const [dr2e, , background] = rows.map((r) => r.split(',')[2]);
    expect(dr2e).not.toBe(background);
  });

  it('evaluates real clean photos: draws of their degradation, scored on the faces found in them', async () => {
    // Prepare: a clean "real" photo of two val/ faces.
    const faces = await utkFaces(2, 'val/');
    const photo = background(241, 160);
    placeFaces(photo, [
      { face: faces[0]!, cx: 70, cy: 80, side: 80 },
      { face: faces[1]!, cx: 175, cy: 78, side: 76 },
    ]);
    const file = path.join(work, 'group.png');
    await writeFile(file, await encode(photo));
    const real = ['eval-photos', '--photo', file, ...TINY_RUN.slice(TINY_RUN.indexOf('--upscale'))];
    real[real.indexOf('--examples') + 1] = '1';
    // Act
    const out = path.join(work, 'real');
    const run = await runCli([...real, '--limit', '2', '-o', out]);
    // Assess: two draws of the photo (cut to 240 x 160), each with both faces found.
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/mild: recall 100 %, size exact/);
    const rows = (await readFile(path.join(out, 'faces.csv'), 'utf8')).trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(',').slice(1, 3).join(' '))).toEqual([
      expect.stringMatching(/^group\.png-00 group\.png#\d$/),
      expect.stringMatching(/^group\.png-00 group\.png#\d$/),
      expect.stringMatching(/^group\.png-01 group\.png#\d$/),
      expect.stringMatching(/^group\.png-01 group\.png#\d$/),
    ]);
    const photos = (await readFile(path.join(out, 'photos.csv'), 'utf8')).trim().split('\n');
    expect(photos[1]).toMatch(/,120,80,240,160,true,2,2,0,/);
    // Draws of one photo share their ground truths: a face is identified among the other
    // person's, not failed by its own other draw (bicubic's faces are told apart).
    const bicubic = (await readFile(path.join(out, 'results.csv'), 'utf8'))
      .split('\n')
      .find((row) => row.startsWith('mild,bicubic,'))!
      .split(',');
    expect(Number(bicubic[5])).toBeGreaterThan(0.5);
    const markdown = await readFile(path.join(out, 'results.md'), 'utf8');
    expect(markdown).toContain('(group.png, 240x160, 2 faces)');
    const info = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')) as { realPhotos?: unknown };
    expect(info.realPhotos).toEqual([{ name: 'group.png', width: 240, height: 160, faces: 2 }]);
  });

  it('takes clean faces or real photos, not both and not neither, and no synthetic-scene option with photos', async () => {
    const file = path.join(work, 'group.png');
    const refused: [string[], RegExp][] = [
      [['--clean', utkTar, '--photo', file], /--clean.*--photo.*one of the two/],
      [TINY_RUN.slice(TINY_RUN.indexOf('--upscale')), /one of the two/],
      [['--photo', file, '--faces', '2'], /--faces shape synthetic scenes/],
      [['--photo', file, file, '--limit', '1'], /--limit 1 draws cannot cover 2 photos/],
    ];
    for (const [args, message] of refused) {
      const run = await runCli(['eval-photos', ...args, '-o', path.join(work, 'bad')]);
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  it('--commercial-use evaluates as a commercial deployment runs: without RetinaFace, and refusing the default model', async () => {
    // Prepare
    const retinaFaceLoads = vi.spyOn(RetinaFaceModel, 'load');
    const defaultModel = TINY_RUN.filter(
      (_, i) => i !== TINY_RUN.indexOf('--model') && i !== TINY_RUN.indexOf('--model') + 1,
    );
    // Act
    const commercial = await runCli([...TINY_RUN, '--commercial-use', '-o', path.join(work, 'commercial')]);
    const refused = await runCli([...defaultModel, '--commercial-use', '-o', path.join(work, 'refused')]);
    // Assess: the tiny MIT pair runs with every face found by the commercial detector
    expect(commercial.status).toBe(0);
    expect(commercial.stdout).toMatch(/mild: recall 100 %, size exact/);
    expect(retinaFaceLoads).not.toHaveBeenCalled();
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/non_commercial_weights: .*UTKFace: non-commercial research use only/);
  });

  it('stops with a message on options that cannot make a photo', async () => {
    const run = await runCli([...TINY_RUN, '--face-sides', '70,500', '-o', path.join(work, 'bad')]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/face sides must satisfy/);
    const size = await runCli([...TINY_RUN, '--size', 'big', '-o', path.join(work, 'bad')]);
    expect(size.status).toBe(2);
    expect(size.stderr).toMatch(/size must be WIDTHxHEIGHT/);
  });
});
