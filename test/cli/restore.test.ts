/**
 * `dr2e restore` end to end with the shipped default model: good files are restored, bad ones
 * fail alone with a clear reason, results are reproducible by seed, inputs are never
 * overwritten, and bad options stop the run with a message naming the problem.
 */
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, sharedDir, writeFixedPresetPipeline } from '../engine/helpers/fixture-paths.js';
import { blackBilevelPng } from '../engine/image/helpers.js';
import { withNoise } from '../engine/quality/cards.js';
import { runCli, runCliReaderGone } from './cli-io.js';

const realDegradedDir = path.join(sharedDir, 'data', 'real-degraded', 'dr2-test');
const realDegradedPresent = existsSync(realDegradedDir);
const groupPhoto = path.join(sharedDir, 'data', 'whole-photos', 'insightface_t1_group.jpg');

let work: string;
let goodDir: string;
let badDir: string;

/** A smooth synthetic portrait-like image (gradients + an ellipse), any size. */
async function syntheticFace(
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp',
): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><radialGradient id="g"><stop offset="0" stop-color="#e8b894"/><stop offset="1" stop-color="#6b4a3a"/></radialGradient></defs>
    <rect width="100%" height="100%" fill="#4a5a6a"/>
    <ellipse cx="50%" cy="50%" rx="30%" ry="40%" fill="url(#g)"/>
    <circle cx="40%" cy="42%" r="4%" fill="#222"/><circle cx="60%" cy="42%" r="4%" fill="#222"/>
    <rect x="42%" y="65%" width="16%" height="3%" fill="#833"/></svg>`;
  return sharp(Buffer.from(svg))[format]().toBuffer();
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'dr2e-restore-'));
  goodDir = path.join(work, 'good');
  badDir = path.join(work, 'bad');
  await mkdir(goodDir);
  await mkdir(badDir);
  await writeFile(path.join(goodDir, 'portrait.png'), await syntheticFace(96, 96, 'png'));
  await writeFile(path.join(goodDir, 'wide.jpg'), await syntheticFace(160, 90, 'jpeg'));
  await writeFile(path.join(goodDir, 'small.webp'), await syntheticFace(48, 48, 'webp'));
  const png = await syntheticFace(96, 96, 'png');
  await writeFile(path.join(badDir, 'zero-bytes.png'), new Uint8Array(0));
  await writeFile(path.join(badDir, 'truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  await writeFile(path.join(badDir, 'notes.jpg'), 'this is a text file, not a JPEG\n');
  await writeFile(path.join(badDir, 'huge.png'), blackBilevelPng(20000, 20000));
  await writeFile(
    path.join(badDir, 'one-pixel.png'),
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toBuffer(),
  );
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const BAD_FILES: [string, RegExp][] = [
  ['zero-bytes.png', /image_decode_failed: empty file \(0 bytes\)/],
  ['truncated.png', /image_decode_failed: truncated or corrupt PNG/],
  ['notes.jpg', /image_decode_failed: not an image/],
  ['huge.png', /image_too_large: image is 20000x20000/],
  ['one-pixel.png', /image_too_small: image is 1x1 px; its shorter side must be at least 32 px/],
];

describe('restoring a mixed folder', () => {
  it('restores every good file, reports each bad one, and exits 1', async () => {
    // Prepare
    const out = path.join(work, 'out-mixed');
    // Act
    // `--input-framing model` (implies --aligned): the inputs are aligned crops used as they are,
    // so DR2's output keeps the model's resolution (the default model declares a framing; square
    // inputs would otherwise be adapted).
    const run = await runCli([
      'restore',
      goodDir,
      badDir,
      '-o',
      out,
      '--save-dr2',
      '--seed',
      '3',
      '--input-framing',
      'model',
    ]);
    // Assess
    expect(run.status).toBe(1);
    const written = (await readdir(out)).sort();
    expect(written).toEqual([
      'portrait.dr2.png',
      'portrait.png',
      'small.dr2.png',
      'small.png',
      'wide.dr2.png',
      'wide.png',
    ]);
    for (const [file, reason] of BAD_FILES) {
      expect(run.stdout).toMatch(new RegExp(`failed .*${file.replace('.', '\\.')}: ${reason.source}`));
    }
    expect(run.stdout).toMatch(/restored 3 of 8 files .* s per image/);
    // The output keeps the input's aspect, at input size x 2 (the default --upscale); DR2's
    // output stays at the model's 64 px.
    const wide = await sharp(path.join(out, 'wide.png')).metadata();
    expect(wide.width).toBe(320);
    expect(wide.height).toBe(180);
    const dr2 = await sharp(path.join(out, 'portrait.dr2.png')).metadata();
    expect([dr2.width, dr2.height]).toEqual([64, 64]);
  });

  it.skipIf(!realDegradedPresent)(
    `restores the paper's real degraded faces with the bad files in the same run${realDegradedPresent ? '' : ` (skipped: ${realDegradedDir} is absent)`}`,
    async () => {
      const out = path.join(work, 'out-real');
      const run = await runCli([
        'restore',
        realDegradedDir,
        badDir,
        '-o',
        out,
        '--preset',
        'severe',
        '--batch',
        '4',
      ]);
      const inputs = readdirSync(realDegradedDir).filter((f) => f.endsWith('.png'));
      expect(run.status).toBe(1);
      expect((await readdir(out)).sort()).toEqual(inputs.sort());
      expect(run.stdout).toContain(`restored ${inputs.length} of ${inputs.length + BAD_FILES.length} files`);
      for (const [, reason] of BAD_FILES) expect(run.stdout).toMatch(reason);
    },
  );

  it.skipIf(!realDegradedPresent)(
    `reads the paper's test faces at the size they were degraded at, and restores them by default${realDegradedPresent ? '' : ` (skipped: ${realDegradedDir} is absent)`}`,
    async () => {
      // Prepare: the DR2 paper's test faces, degraded small with heavy noise and enlarged to
      // 512 px: set01 x4, set02 x8, set03 x16.
      // Act: the default (auto) on whole photos.
      const run = await runCli([
        'restore',
        realDegradedDir,
        '-o',
        path.join(work, 'out-real-auto'),
        '--json',
      ]);
      // Assess
      expect(run.status).toBe(0);
      const report = JSON.parse(run.stdout) as {
        files: {
          input: string;
          faces: { estimate: { faceSize: number; noise: number }; settings: { kept?: boolean } }[];
        }[];
      };
      const faces = report.files.map((file) => ({ name: path.basename(file.input), face: file.faces[0]! }));
      expect(faces).toHaveLength(15);
      // Their noise is seen at its own scale (read on the enlarged pixels it was 0.4-3.4 grey
      // levels, and the faces read 155-195 px in set01 and 87-195 px in set02).
      for (const { name, face } of faces.filter((f) => /^set0[12]_/.test(f.name))) {
        expect(face.estimate.faceSize, name).toBeLessThan(100);
        expect(face.estimate.noise, name).toBeGreaterThan(3);
      }
      // And so auto restores them: it kept 6 of the 15 exactly as they were.
      expect(faces.filter((f) => f.face.settings.kept).length).toBeLessThanOrEqual(2);
    },
  );
});

describe('reproducibility', () => {
  it('gives the same bytes for the same seed, and different bytes for another seed', async () => {
    const runWith = async (seed: string, name: string) => {
      const out = path.join(work, name);
      const run = await runCli([
        'restore',
        path.join(goodDir, 'portrait.png'),
        '-o',
        out,
        '--seed',
        seed,
        '--save-dr2',
        '--aligned',
      ]);
      expect(run.status).toBe(0);
      return Promise.all([
        readFile(path.join(out, 'portrait.png')),
        readFile(path.join(out, 'portrait.dr2.png')),
      ]);
    };
    const [a, aDr2] = await runWith('11', 'seed-a');
    const [b, bDr2] = await runWith('11', 'seed-b');
    const [, cDr2] = await runWith('12', 'seed-c');
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(aDr2, bDr2)).toBe(0);
    // DR2's output depends on the seed; the final image may not, where `auto` keeps the input whole.
    expect(Buffer.compare(aDr2, cDr2)).not.toBe(0);
  });

  it('gives an image the same result alone or inside a batch', async () => {
    const alone = path.join(work, 'batch-1');
    const batched = path.join(work, 'batch-3');
    await runCli(['restore', goodDir, '-o', alone, '--seed', '5', '--batch', '1', '--aligned']);
    await runCli(['restore', goodDir, '-o', batched, '--seed', '5', '--batch', '3', '--aligned']);
    const x = await sharp(path.join(alone, 'portrait.png')).raw().toBuffer();
    const y = await sharp(path.join(batched, 'portrait.png')).raw().toBuffer();
    // onnxruntime may order float sums differently per batch size: allow a 1-level rounding flip.
    let maxDiff = 0;
    for (let i = 0; i < x.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((x[i] as number) - (y[i] as number)));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});

describe('output safety', () => {
  it('never overwrites an input file', async () => {
    // Prepare: restore a file into its own folder; the PNG input would be overwritten by its output
    const dir = path.join(work, 'in-place');
    await mkdir(dir);
    await copyFile(path.join(goodDir, 'portrait.png'), path.join(dir, 'portrait.png'));
    const before = await readFile(path.join(dir, 'portrait.png'));
    // Act
    const run = await runCli(['restore', path.join(dir, 'portrait.png'), '-o', dir]);
    // Assess
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/refusing to overwrite the input file/);
    expect(Buffer.compare(await readFile(path.join(dir, 'portrait.png')), before)).toBe(0);
  });

  it('refuses an output folder its input folder lists, before any work: a later run would restore the outputs again', async () => {
    // Prepare
    const dir = path.join(work, 'into-itself');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await copyFile(path.join(goodDir, 'wide.jpg'), path.join(dir, 'wide.jpg'));
    // Act
    const itself = await runCli(['restore', dir, '-o', dir]);
    const inside = await runCli(['restore', dir, '-r', '-o', path.join(dir, 'sub', 'out')]);
    const insideNotSearched = await runCli(['restore', dir, '-o', path.join(dir, 'sub', 'out')]);
    // Assess
    expect(itself.status).toBe(2);
    expect(itself.stderr).toMatch(/is the input folder: a later run would restore this run's outputs again/);
    expect(inside.status).toBe(2);
    expect(inside.stderr).toMatch(/inside the input folder/);
    expect(insideNotSearched.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['sub', 'wide.jpg']);
  });

  it('refuses an output folder it cannot create or write, before loading the model', async () => {
    // Prepare: a file where the folder should be, and one above it
    const file = path.join(work, 'a-file.txt');
    await writeFile(file, 'not a folder\n');
    // Act
    const onFile = await runCli(['restore', goodDir, '-o', file]);
    const underFile = await runCli(['restore', goodDir, '-o', path.join(file, 'sub')]);
    // Assess
    expect(onFile.status).toBe(2);
    expect(onFile.stderr).toMatch(/a-file\.txt is a file, not a folder/);
    expect(underFile.status).toBe(2);
    expect(underFile.stderr).toMatch(/a part of the path is a file/);
    for (const run of [onFile, underFile]) {
      expect(run.stderr).not.toMatch(/unexpected error|model .* loaded/);
    }
  });

  it("lists a folder's files of unreadable formats as skipped, without failing the run", async () => {
    // Prepare: a photo beside a camera raw file
    const dir = path.join(work, 'with-raw');
    await mkdir(dir);
    await copyFile(path.join(goodDir, 'wide.jpg'), path.join(dir, 'wide.jpg'));
    await writeFile(path.join(dir, 'wide.CR2'), 'raw sensor data');
    // Act
    const run = await runCli(['restore', dir, '-o', path.join(work, 'with-raw-out')]);
    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/restored 1 of 1 file/);
    expect(run.stdout).toMatch(
      /skipped .*wide\.CR2: unsupported_image_format: unsupported image format \(CR2/,
    );
    // The progress counts the files that get a line: the skipped one is not among them.
    expect(run.stderr).toMatch(/\[1\/1\] ok {3}.*wide\.jpg/);
    expect(run.stderr).not.toMatch(/\[\d+\/2\]/);
  });

  it('restores a folder copied from a Mac without failing on its ._ resource forks, and a linked photo', async () => {
    // Prepare: a photo, the AppleDouble file macOS writes beside it on foreign disks, a link to another photo
    const dir = path.join(work, 'from-a-mac');
    await mkdir(dir);
    await copyFile(path.join(goodDir, 'wide.jpg'), path.join(dir, 'wide.jpg'));
    await writeFile(path.join(dir, '._wide.jpg'), Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]));
    await writeFile(path.join(dir, '.DS_Store'), 'Bud1');
    await symlink(path.join(goodDir, 'small.webp'), path.join(dir, 'linked.webp'));
    // Act
    const run = await runCli(['restore', dir, '-o', path.join(work, 'from-a-mac-out')]);
    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/restored 2 of 2 files/);
    expect(run.stdout).not.toMatch(/\._wide/);
    expect((await readdir(path.join(work, 'from-a-mac-out'))).sort()).toEqual(['linked.png', 'wide.png']);
  });

  it('restores every file when the reader of its messages leaves after the first line (| head -1)', async () => {
    // Prepare
    const out = path.join(work, 'reader-gone-out');

    // Act
    const status = await runCliReaderGone(['restore', goodDir, '-o', out, '--upscale', '1']);

    // Assess: the messages are lost, the work is not
    expect(status).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['portrait.png', 'small.png', 'wide.png']);
  });

  it('fails a folder of GIFs with the code a GIF named alone gets, and names auto in the JSON summary', async () => {
    // Prepare
    const gifs = path.join(work, 'gifs-only');
    await mkdir(gifs);
    const gif = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#808080' } })
      .gif()
      .toBuffer();
    await writeFile(path.join(gifs, 'a.gif'), gif);
    // Act
    const folder = await runCli(['restore', gifs, '-o', path.join(work, 'gifs-out'), '--json']);
    const alone = await runCli([
      'restore',
      path.join(gifs, 'a.gif'),
      '-o',
      path.join(work, 'gif-out'),
      '--json',
    ]);
    const auto = await runCli([
      'restore',
      path.join(goodDir, 'small.webp'),
      '-o',
      path.join(work, 'auto-json'),
      '--json',
      '--fidelity',
      '0.3',
    ]);
    // Assess
    const codes = [folder, alone].map(
      (run) => (JSON.parse(run.stdout) as { files: { code?: string }[] }).files[0]?.code,
    );
    expect(codes).toEqual(['unsupported_image_format', 'unsupported_image_format']);
    expect(folder.status).toBe(1);
    // The faces' own settings ran, not a preset's: the summary says auto
    expect((JSON.parse(auto.stdout) as { params: unknown }).params).toEqual({
      preset: 'auto',
      fidelity: 0.3,
      steps: 100,
    });
  });

  it.skipIf(!existsSync(groupPhoto))(
    `numbers the --save-faces files as the summary numbers the faces, from 1${existsSync(groupPhoto) ? '' : ` (skipped: ${groupPhoto} is absent)`}`,
    async () => {
      // Act
      const out = path.join(work, 'save-faces');
      const run = await runCli(['restore', groupPhoto, '-o', out, '--save-faces', '--fidelity', '0.2']);
      // Assess: six faces, face1..face6, each with its input crop; the summary's "face 1" is face1
      expect(run.status).toBe(0);
      const files = (await readdir(out)).filter((name) => name.includes('.face'));
      const numbers = files.map((name) => Number(/\.face(\d+)\./.exec(name)?.[1])).sort((a, b) => a - b);
      expect([...new Set(numbers)]).toEqual([1, 2, 3, 4, 5, 6]);
      expect(files).toContain('insightface_t1_group.face1.input.png');
      expect(run.stdout).toMatch(/insightface_t1_group\.jpg face 1: /);
    },
  );

  it.skipIf(!existsSync(groupPhoto))(
    `saves a face kept as it was as the output has it, not as its input${existsSync(groupPhoto) ? '' : ` (skipped: ${groupPhoto} is absent)`}`,
    async () => {
      // Act: at the default fidelity auto keeps this clean group photo's faces
      const out = path.join(work, 'save-kept-faces');
      const run = await runCli(['restore', groupPhoto, '-o', out, '--save-faces', '--json']);
      // Assess: face 1 is kept; its saved crop is the face upsampler's enlargement in the output,
      // close to the aligned input but not the same bytes
      expect(run.status).toBe(0);
      type Summary = { files: { faces: { settings?: { kept?: boolean } }[] }[] };
      expect((JSON.parse(run.stdout) as Summary).files[0]?.faces[0]?.settings?.kept).toBe(true);
      const input = await sharp(path.join(out, 'insightface_t1_group.face1.input.png')).raw().toBuffer();
      const saved = await sharp(path.join(out, 'insightface_t1_group.face1.png')).raw().toBuffer();
      expect(saved.length).toBe(input.length);
      let difference = 0;
      for (let i = 0; i < input.length; i++) difference += Math.abs(saved[i]! - input[i]!);
      // (Measured: 0.7 levels on average.)
      expect(difference / input.length).toBeGreaterThan(0.1);
      expect(difference / input.length).toBeLessThan(3);
    },
  );

  it('denoises a noisy photo around its faces by default, says so, and only enlarges it with --background keep', async () => {
    // Prepare: a 240 x 180 photo of grey-level steps with noise of std 14 (no face in it).
    const [width, height] = [240, 180];
    const steps = new Uint8Array(width * height * 3);
    for (let i = 0; i < steps.length; i++) steps[i] = 60 + 40 * Math.floor((Math.floor(i / 3) % width) / 60);
    const pixels = withNoise({ data: steps, width, height }, 14, 5).data;
    const noisy = path.join(work, 'noisy-photo.png');
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .png()
      .toFile(noisy);
    // Act
    const denoised = await runCli(['restore', noisy, '-o', path.join(work, 'bg-denoise'), '--json']);
    const kept = await runCli([
      'restore',
      noisy,
      '-o',
      path.join(work, 'bg-keep'),
      '--json',
      '--background',
      'keep',
    ]);
    const wrong = await runCli(['restore', noisy, '-o', path.join(work, 'bg-wrong'), '--background', 'blur']);
    // Assess: the report, and the steps' flat parts much smoother than the enlargement kept as it was.
    type Summary = { files: { background?: { noise: number; denoised: boolean } }[] };
    const report = (JSON.parse(denoised.stdout) as Summary).files[0]?.background;
    expect(report?.denoised).toBe(true);
    expect(report?.noise).toBeGreaterThan(10);
    expect((JSON.parse(kept.stdout) as Summary).files[0]).not.toHaveProperty('background');
    // Standard deviation of red over the first step, away from its edges (output x 10-99).
    const spread = async (file: string) => {
      const data = await sharp(file).extract({ left: 10, top: 20, width: 90, height: 300 }).raw().toBuffer();
      const red = Array.from({ length: data.length / 3 }, (_, i) => data[3 * i]!);
      const mean = red.reduce((sum, v) => sum + v, 0) / red.length;
      return Math.sqrt(red.reduce((sum, v) => sum + (v - mean) ** 2, 0) / red.length);
    };
    const [smooth, grainy] = [
      await spread(path.join(work, 'bg-denoise', 'noisy-photo.png')),
      await spread(path.join(work, 'bg-keep', 'noisy-photo.png')),
    ];
    expect(smooth).toBeLessThan(0.6 * grainy);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/--background.*blur/s);
  });

  it("writes an aligned crop's face pair with --save-faces, in the model's framing for a square (FFHQ) crop", async () => {
    // Prepare: portrait.png is square (taken as FFHQ-aligned and cut to the model's framing),
    // wide.jpg is 16:9 (used whole, padded)
    const out = path.join(work, 'aligned-faces-out');

    // Act
    const run = await runCli([
      'restore',
      path.join(goodDir, 'portrait.png'),
      path.join(goodDir, 'wide.jpg'),
      '-o',
      out,
      '--aligned',
      '--save-faces',
      '--preset',
      'medium',
    ]);

    // Assess: each pair is two images of one size; the square crop's is the model's 128 px face
    expect(run.status).toBe(0);
    const size = async (name: string) => {
      const { width, height } = await sharp(path.join(out, name)).metadata();
      return [width, height];
    };
    expect(await size('portrait.face1.input.png')).toEqual([128, 128]);
    expect(await size('portrait.face1.png')).toEqual([128, 128]);
    const [wideWidth, wideHeight] = await size('wide.face1.png');
    expect(await size('wide.face1.input.png')).toEqual([wideWidth, wideHeight]);
    expect(wideWidth! / wideHeight!).toBeCloseTo(160 / 90, 1);
  });

  it('writes JPEG with a .jpg extension when asked', async () => {
    const out = path.join(work, 'jpeg');
    const run = await runCli(['restore', path.join(goodDir, 'small.webp'), '-o', out, '--format', 'jpeg']);
    expect(run.status).toBe(0);
    expect(await readdir(out)).toEqual(['small.jpg']);
    expect((await sharp(path.join(out, 'small.jpg')).metadata()).format).toBe('jpeg');
  });

  it('says when auto runs on a model its calibration was not fitted on, and not otherwise', async () => {
    // Prepare
    const tiny = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');
    const input = path.join(goodDir, 'small.webp');
    // Act
    const onTiny = await runCli(['restore', input, '-o', path.join(work, 'tiny-auto'), '--model', tiny]);
    const onTinyPreset = await runCli([
      'restore',
      input,
      '-o',
      path.join(work, 'tiny-mild'),
      '--model',
      tiny,
      '--preset',
      'mild',
    ]);
    const onDefault = await runCli(['restore', input, '-o', path.join(work, 'default-auto')]);
    // Assess
    expect(onTiny.status).toBe(0);
    expect(onTiny.stderr).toMatch(
      /note: auto's calibration was fitted on the embedded default model, not on .*--preset mild\|medium\|severe/,
    );
    expect(onTinyPreset.stderr).not.toMatch(/auto's calibration/);
    expect(onDefault.stderr).not.toMatch(/auto's calibration/);
  });

  it('refuses --fidelity on a model whose pipeline defaults to a fixed preset, which would ignore it', async () => {
    // Prepare: the tiny networks under a pipeline that defaults to medium
    const manifest = await writeFixedPresetPipeline(path.join(work, 'tiny-medium.json'), 'medium');
    const input = path.join(goodDir, 'small.webp');
    // Act
    const withFidelity = await runCli([
      'restore',
      input,
      '-o',
      path.join(work, 'tiny-medium-fidelity'),
      '--model',
      manifest,
      '--fidelity',
      '0.2',
    ]);
    const withAuto = await runCli([
      'restore',
      input,
      '-o',
      path.join(work, 'tiny-medium-auto'),
      '--model',
      manifest,
      '--preset',
      'auto',
      '--fidelity',
      '0.2',
    ]);
    // Assess
    expect(withFidelity.status).toBe(2);
    expect(withFidelity.stderr).toMatch(/this model's pipeline sets --preset medium by default/);
    expect(withAuto.status).toBe(0);
  });
});

describe('bad options', () => {
  it.each([
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['--tau', '40', '--omega', '30'], /tau \(40\) must be less than omega \(30\)/],
    [['--n', '3'], /N must be a power of two/],
    [['--n', '128'], /N \(128\)|divide/],
    [['--preset', 'extreme'], /Allowed choices are auto, mild, medium, severe/],
    [['--steps', 'ten'], /steps must be an integer/],
    [['--omega', '100'], /omega \(100\) must be at most steps - 1 \(99\)/],
    [['--provider', 'cuda'], /provider_unavailable|cuda/],
    // A fixed preset ignores fidelity: refused rather than a knob that silently does nothing
    [['--preset', 'medium', '--fidelity', '0.2'], /--preset medium is a fixed setting that ignores it/],
    [
      ['--preset', 'severe', '--n', '2', '--tau', '20', '--fidelity', '0.2'],
      /--preset severe is a fixed setting that ignores it/,
    ],
  ])('%j exits 2 naming the problem', async (extra, message) => {
    const out = path.join(work, 'never-written');
    const run = await runCli(['restore', path.join(goodDir, 'portrait.png'), '-o', out, ...extra]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('says --fidelity is unused beside explicit --n/--tau, which override auto, and runs', async () => {
    // Act
    const run = await runCli([
      'restore',
      path.join(goodDir, 'small.webp'),
      '-o',
      path.join(work, 'fidelity-explicit'),
      '--n',
      '2',
      '--tau',
      '20',
      '--fidelity',
      '0.2',
      '--json',
    ]);
    // Assess
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(
      /--fidelity 0\.2 is unused: explicit --n\/--tau\/--omega set the schedule in place of auto's/,
    );
    expect((JSON.parse(run.stdout) as { params: { n: number; tau: number } }).params).toMatchObject({
      n: 2,
      tau: 20,
    });
  });

  it('requires an output folder', async () => {
    const run = await runCli(['restore', goodDir]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/required option '-o, --output <dir>'/);
  });
});

describe('licences', () => {
  const tiny = path.join(repoRoot, 'gpu-task', 'models', 'tiny', 'pipeline.json');
  const note = /^note: model weights licensed for non-commercial use only \((.*)\)$/m;
  /** `dr2e restore` of the portrait into `out` under `work`, with `extra` flags. */
  const restorePortrait = (out: string, ...extra: string[]) =>
    runCli(['restore', path.join(goodDir, 'portrait.png'), '-o', path.join(work, out), ...extra]);

  it('--commercial-use refuses the non-commercial default model before any file is written, and runs a commercial one', async () => {
    // Act
    const refused = await restorePortrait('commercial-refused', '--commercial-use');
    const ran = await restorePortrait(
      'commercial-tiny',
      '--commercial-use',
      '--model',
      tiny,
      '--upscale',
      '1',
    );
    // Assess: refused with the code and the licence named, nothing restored; the MIT model runs
    // with no licence note (its detector runs without RetinaFace)
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/non_commercial_weights: .*UTKFace: non-commercial research use only/);
    const refusedOut = path.join(work, 'commercial-refused');
    expect(existsSync(refusedOut) ? readdirSync(refusedOut) : []).toEqual([]);
    expect(ran.status).toBe(0);
    expect(ran.stderr).not.toMatch(note);
    expect(readdirSync(path.join(work, 'commercial-tiny'))).toEqual(['portrait.png']);
  });

  it("names every non-commercial licence in its note: the detector's RetinaFace for whole photos, not for aligned crops", async () => {
    // Act
    const photo = await restorePortrait('lic-photo', '--model', tiny);
    const aligned = await restorePortrait('lic-aligned', '--model', tiny, '--aligned');
    const embedded = await restorePortrait('lic-embedded', '--aligned');
    // Assess
    expect(photo.status).toBe(0);
    expect(photo.stderr.match(note)?.[1]).toBe(
      "RetinaFace (insightface's retinaface_mnet025_v2): non-commercial research use only",
    );
    expect(aligned.stderr).not.toMatch(note);
    expect(embedded.stderr.match(note)?.[1]).toBe('UTKFace: non-commercial research use only');
  });
});
