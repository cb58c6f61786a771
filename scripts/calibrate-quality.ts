/**
 * Fits the `auto` calibration table (gpu-task/src/engine/quality/calibration-table.ts) on
 * synthetic degradations of UTKFace **train/** faces (never val/ or hq/):
 *
 *   nice -n 5 npx tsx scripts/calibrate-quality.ts --clean ../shared/data/utkface/utkface-200.tar \
 *     --faces 192 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 \
 *     --threads 2   # about 17 min on 2 cores
 *   # refit from the scored samples alone (no DR2 run), e.g. after changing the rule below:
 *   npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv
 *
 * For every face and input size (`--sizes`, default 16, 32, 45, 64, 128, 256 px), one degradation
 * of the paper's Eq. 13 family is drawn from one of five splits chosen per (face, size): `clean`
 * and `extreme` reach beyond the eval's mild..severe. The clean face at T is the ground truth, T =
 * the engine's output side O = max(128, size) rounded up to a multiple of the size (135 for 45 px:
 * the degradation downsamples by a whole factor r = T / size). Each degraded face runs DR2E with
 * every ladder step of `--steps` (one mixed-settings sampler loop per face), and every (step,
 * input weight, detail weight) of the grid is fused and scored against the ground truth.
 *
 * Objective per face, relative to bicubic upsampling of the same input:
 *   J = ΔPSNR (dB) + 100 · ΔSSIM + 100 · Δid
 * (id = cosine similarity of face-recognition embeddings of the output and the ground truth,
 * the eval's recognizer `eval/recognizer.ts`; 1 dB weighs like 0.01 SSIM and 0.01 identity).
 * The fusion is split at min(S, face size): a face smaller than the model keeps (input weight)
 * its own band and takes the bands above it from the model.
 *
 * Binning: faces fall into cells by their **estimated** size (a row per size) and severity
 * (severityOf: JPEG blocking + coarse noise / 20, the coarse noise capped for textured faces
 * (creditedCoarseNoise), or blocking - fine detail / 8 under 37.9 px, both plus 4 x the DCT
 * zero share; what the chooser sees at run time). Each row's severity
 * edges are its samples' quantiles (`--bins`: bins of equal counts, one count for every row or
 * one per row), since the same JPEG quality reads as more blocking on larger faces.
 *
 * The rule (conservative, identity-safe): an option is **safe** in a cell when, for the cell as a
 * whole and for every degradation split with at least `--min-split-samples` samples in it, each
 * of its mean gains (ΔPSNR, ΔSSIM, Δid) minus `--margin` z standard errors (the group's own
 * spread / √n; one z for every row or one per row) is >= 0 (strictly, for every metric). Among
 * safe options the cell takes the best mean J above the input's (0); when none is safe or
 * better, the input itself (ladder step 0, both weights 1, fine bands unattenuated: gains
 * exactly 0). Splits in a cell are exactly where a mean over mixed faces would hide a loss: a cell holding mild faces (DR2 worse than
 * bicubic) and medium ones (DR2 better) must not trade one for the other.
 * `--full-input-above PX` keeps the input's whole low band (input weight 1) for faces over PX.
 * `--rule pooled` asks each split's safety over a whole size row instead of inside every cell
 * (choosePooled; tried and not taken: docs/quality/calibration/cross-validation.md).
 *
 * Bins and z are chosen on train only: `--cross-validate 0,0.5,1,...` (candidate z) with
 * `--cv-bins 1,2,4,8,12` (candidate bin counts) fits the table on half the faces (`--cv-repeats`
 * random halves) and scores the other half, pooled per size and split, and prints per size row
 * the (bins, z) with the fewest held-out losses, then the highest held-out J. The defaults of
 * `--bins` and `--margin` are that choice, except at 45 px, where every configuration has the
 * same count since the colour-noise cap and the committed z = 3 keeps the smaller losses
 * (docs/quality/calibration/cross-validation.md).
 *
 * `--extend samples.csv --faces M` grows a calibration: the faces already scored there are kept,
 * only the new ones of the M evenly spaced faces run (M = 2x the previous count adds every other).
 *
 * Writes calibration-table.ts and, in --out, samples.csv (one row per face and option) and
 * table.md (the cells, their gains, in-sample gains per size and split, provenance).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  Dr2eEngine,
  decodeImageToRgb,
  encodeRgbImage,
  type RgbImage,
  type CalibrationCell,
  type CalibrationTable,
  QUALITY_LADDER,
  calibrationBin,
  estimateAtEffectiveSize,
  fuseBands,
  resizeRgb8,
  severityOf,
  splitBands,
  SeededRandom,
  deriveSeed,
  fusionCutoff,
  type FaceFraming,
  FFHQ_FRAMING,
} from '../gpu-task/src/engine/index.js';
import {
  outputSide,
  restoreMixed,
  listCleanFaces,
  DEGRADATION_SPLITS,
  type DegradationSplit,
  degradeFace,
  sampleDegradation,
  DEFAULT_RECOGNIZER,
  embeddingCosine,
  FaceRecognizer,
  psnr,
  ssim,
  resizeRgb,
} from '../gpu-task/src/eval/index.js';

const { values: args } = parseArgs({
  options: {
    clean: { type: 'string', default: '../shared/data/utkface/utkface-200.tar' },
    faces: { type: 'string', default: '40' },
    // Only train faces whose id matches this regular expression (e.g. an age range of UTKFace's
    // file names, to grow a calibration where train's own mix holds few faces: --extend).
    match: { type: 'string' },
    sizes: { type: 'string', default: '16,32,45,64,128,256' },
    seed: { type: 'string', default: '11' },
    batch: { type: 'string', default: '40' },
    model: { type: 'string' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '0,1,2,3,4' },
    'input-weights': { type: 'string', default: '0,0.25,0.5,0.75,1' },
    'detail-weights': { type: 'string', default: '0,0.25,0.5,0.75,1' },
    bins: { type: 'string', default: '8,8,12,8,4,8' },
    'min-split-samples': { type: 'string', default: '2' },
    // z of the margin rule: an option is safe when mean - z * SE >= 0 (see isSafeWithMargin).
    margin: { type: 'string', default: '0,0,3,0,0.5,0' },
    // J's weights of ΔPSNR (dB), ΔSSIM and Δid among the safe options.
    weights: { type: 'string', default: '1,100,100' },
    // Leave-half-the-faces-out check of candidate margins (comma-separated z), printed; no table written.
    'cross-validate': { type: 'string' },
    'cv-repeats': { type: 'string', default: '40' },
    // Candidate bin counts of --cross-validate (the same for every row in each candidate).
    'cv-bins': { type: 'string', default: '1,2,4,8,12' },
    // How cells are chosen: `pooled` (per size row, every split's mean gain safe) or `cell` (every
    // split safe inside every cell); see choosePooled and chooseCell.
    rule: { type: 'string', default: 'cell' },
    // Scoring: the splits each (face, size) draws from (default: clean,mild,medium,severe,extreme).
    // With --extend, faces already scored in other splits are scored again in these.
    splits: { type: 'string' },
    // Rows of faces larger than this (px) only take options with input weight 1: the face's own
    // low band (below the model's resolution) is kept whole; `none`: every input weight everywhere.
    'full-input-above': { type: 'string', default: '128' },
    // On a refit: the command that scored the samples (recorded in the provenance).
    'scored-by': { type: 'string' },
    refit: { type: 'string' },
    // Grow a calibration: keep the samples of this samples.csv (same grid and seed) and score only
    // the faces of --faces that it does not hold (e.g. --faces 48 over a 24-face run adds 24 faces).
    extend: { type: 'string' },
    // The degraded inputs as PNG (not committed): a refit with --reestimate recomputes their
    // estimates, e.g. after a change of the estimator, without running DR2 again.
    inputs: { type: 'string', default: '/tmp/dr2e-calibration-inputs' },
    reestimate: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs/quality/calibration' },
    table: { type: 'string', default: 'gpu-task/src/engine/quality/calibration-table.ts' },
  },
});

/**
 * The calibration's splits: the eval's three, `clean` and `extreme` beyond them on both sides,
 * and `noisy`: heavy noise with light compression (a scan, a low-light or small-sensor photo
 * saved at high quality), which the Eq. 13 splits never draw (they pair heavy noise with strong
 * compression); and, scored but not in the committed samples, `blurry`: heavy blur with little
 * noise and light compression (out of focus, motion, a soft print), where the default model gains
 * next to nothing over bicubic at any size, and `grainy`: heavy noise under JPEG of quality
 * 70-89, the check of the texture cap (creditedCoarseNoise; docs/quality/README.md).
 */
const ALL_SPLITS: DegradationSplit[] = [
  { name: 'clean', sigma512: [0, 0.5], noise: [0, 1.5], jpegQuality: [90, 97] },
  DEGRADATION_SPLITS.mild!,
  DEGRADATION_SPLITS.medium!,
  DEGRADATION_SPLITS.severe!,
  { name: 'extreme', sigma512: [10, 14], noise: [25, 35], jpegQuality: [10, 20] },
  { name: 'noisy', sigma512: [0, 3], noise: [15, 35], jpegQuality: [90, 97] },
  { name: 'blurry', sigma512: [6, 14], noise: [0, 3], jpegQuality: [90, 97] },
  { name: 'grainy', sigma512: [0, 3], noise: [15, 35], jpegQuality: [70, 89] },
];
/** The first five: each (face, size) draws one of them unless `--splits` says otherwise. */
const DEFAULT_SPLITS = ALL_SPLITS.slice(0, 5);
/** The splits this run draws from (`--splits`). */
const SPLITS: DegradationSplit[] = args.splits
  ? args.splits.split(',').map((name) => {
      const split = ALL_SPLITS.find((s) => s.name === name);
      if (!split)
        throw new Error(
          `--splits: unknown split ${name} (known: ${ALL_SPLITS.map((s) => s.name).join(', ')})`,
        );
      return split;
    })
  : DEFAULT_SPLITS;

const SIZES = numberList(args.sizes!);
/** Per size row, checked before any scoring: bin counts (whole numbers >= 1) and margins z. */
const ROW_BINS = perRow(args.bins!, SIZES.length, '--bins');
if (ROW_BINS.some((b) => !Number.isInteger(b) || b < 1)) {
  throw new Error(`--bins wants whole numbers >= 1, got ${args.bins}`);
}
const ROW_MARGINS = perRow(args.margin!, SIZES.length, '--margin');

const fullInputAbove = args['full-input-above'] === 'none' ? undefined : Number(args['full-input-above']);

/**
 * Mean gains within this of 0 count as 0. None: a mean over many faces resolves far below one
 * 8-bit step, and the acceptance compares means strictly (an earlier tolerance of 0.005 dB and
 * 0.0002 SSIM let a fine-band option that lost 0.004 dB on val/ 256 px mild faces through).
 */
const TOLERANCE: readonly [number, number, number] = [0, 0, 0];
/**
 * Splits with fewer samples in a cell do not constrain it on their own (the cell's mean still
 * counts them). 2: every split that has a standard error constrains it.
 */
const MIN_SPLIT_SAMPLES = Number(args['min-split-samples']);

type Rule = 'pooled' | 'cell';
const RULE = args.rule as Rule;
if (RULE !== 'pooled' && RULE !== 'cell') throw new Error(`--rule must be pooled or cell, got ${args.rule}`);

interface Option {
  step: number;
  inputWeight: number;
  detailWeight: number;
  /** False: the detail weight as it is, no Wiener gain (see FusionSettings). */
  attenuateDetail: boolean;
}

function gridOptions(): Option[] {
  const list = (value: string) => value.split(',').map(Number);
  const options: Option[] = [];
  for (const step of list(args.steps!)) {
    for (const inputWeight of list(args['input-weights']!)) {
      for (const detailWeight of list(args['detail-weights']!)) {
        options.push({ step, inputWeight, detailWeight, attenuateDetail: true });
        // The input's fine bands kept whole, whatever the noise estimate says.
        if (detailWeight === 1) options.push({ step, inputWeight, detailWeight, attenuateDetail: false });
      }
    }
  }
  // Checked before any scoring: the fit needs the input itself (every cell's fallback).
  inputOptionIndex(options);
  return options;
}

/** The input itself: ladder step 0, both weights 1, fine bands unattenuated (gains exactly 0). */
function isInputOption(o: Option): boolean {
  return o.step === 0 && o.inputWeight === 1 && o.detailWeight === 1 && !o.attenuateDetail;
}

/** Where the grid holds the input itself; refuses a grid without it (every cell's fallback). */
function inputOptionIndex(options: readonly Option[]): number {
  const index = options.findIndex(isInputOption);
  if (index < 0) {
    throw new Error(
      'the option grid lacks the input itself (step 0, input and detail weight 1, unattenuated): add 0 to --steps and 1 to both weight lists',
    );
  }
  return index;
}

interface Sample {
  id: string;
  size: number;
  split: string;
  estimate: ReturnType<typeof estimateAtEffectiveSize>;
  /** Per option: [dPSNR, dSSIM, dCos]. */
  gains: [number, number, number][];
}

interface Fitted {
  table: CalibrationTable;
  /** Option index per cell. */
  chosen: number[][];
}

async function main(): Promise<void> {
  const started = performance.now();
  const sizes = SIZES;
  let options: Option[];
  let samples: Sample[];
  let provenance: CalibrationTable['provenance'];
  if (args.refit) {
    let missingEstimates: string[];
    ({ options, samples, missingEstimates } = parseSamples(await readFile(args.refit, 'utf8')));
    if (missingEstimates.length > 0 && !args.reestimate) {
      // Its severities would lack terms the engine uses at run time: a table fitted on them
      // would bin faces wrongly.
      throw new Error(
        `${args.refit} lacks estimates the engine uses (${missingEstimates.join(', ')}; an older file): refit it with --reestimate`,
      );
    }
    if (args.reestimate) {
      for (const sample of samples) {
        // sharp directly: the engine's decoder refuses faces under 32 px.
        const { data, info } = await sharp(inputFile(sample.id, sample.size, sample.split))
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        const image = { data: new Uint8Array(data), width: info.width, height: info.height };
        sample.estimate = estimateAtEffectiveSize(image, sample.size);
      }
      // The gains are the scored ones; the estimates are new: samples.csv carries both. The
      // fit below reads them back as written (rounded), so a plain --refit of that file
      // reproduces the table.
      await mkdir(args.out!, { recursive: true });
      const written = path.join(args.out!, 'samples.csv');
      await writeFile(written, samplesCsv(samples, options));
      ({ options, samples } = parseSamples(await readFile(written, 'utf8')));
    }
    const previous = await readProvenance(args.refit);
    provenance = {
      ...previous,
      ...(args['scored-by'] ? { command: args['scored-by'] } : {}),
      data: `${path.basename(args.clean!)} train/ (${new Set(samples.map((s) => s.id)).size} faces, evenly spaced over the sorted names)`,
      samples: samples.length,
      sizes,
      splits: presentSplits(samples).map((s) => s.name),
      refit: `npx tsx scripts/calibrate-quality.ts ${process.argv.slice(2).join(' ')}`,
    };
  } else {
    options = gridOptions();
    const run = await score(options, sizes);
    samples = run.samples;
    provenance = {
      script: 'scripts/calibrate-quality.ts',
      command: `npx tsx scripts/calibrate-quality.ts ${process.argv.slice(2).join(' ')}`,
      data: `${path.basename(args.clean!)} train/ (${run.faces} faces, evenly spaced over the sorted names)`,
      model: run.model,
      // the table holds for these networks only (test/models/default-model.test.ts: the shipped default's)
      modelSha256: run.weights,
      sizes,
      splits: SPLITS.map((s) => s.name),
      seed: Number(args.seed),
      samples: samples.length,
      minutes: Number(((performance.now() - started) / 60000).toFixed(1)),
      date: new Date().toISOString().slice(0, 10),
    };
  }
  provenance.objective = `J = ${WEIGHTS[0]} dPSNR + ${WEIGHTS[1]} dSSIM + ${WEIGHTS[2]} dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = ${args.margin} per size row; every metric strictly) ${RULE === 'pooled' ? 'for each split of >= ' + MIN_SPLIT_SAMPLES + ' samples over its size row (cells chosen together)' : `for the cell and for each split of >= ${MIN_SPLIT_SAMPLES} samples in it`}${fullInputAbove === undefined ? '' : `; input weight 1 for faces over ${fullInputAbove} px`}`;
  provenance.grid = `steps ${[...new Set(options.map((o) => o.step))].join(',')}; input weights ${[...new Set(options.map((o) => o.inputWeight))].join(',')}; detail weights ${[...new Set(options.map((o) => o.detailWeight))].join(',')}`;
  if (args['cross-validate']) {
    crossValidate(samples, options, sizes, numberList(args['cv-bins']!), numberList(args['cross-validate']));
    return;
  }
  const fitted = fit(samples, options, sizes, ROW_BINS, ROW_MARGINS);
  fitted.table.provenance = provenance;
  await mkdir(path.dirname(args.table!), { recursive: true });
  await writeTable(fitted.table, args.table!);
  await mkdir(args.out!, { recursive: true });
  await writeFile(path.join(args.out!, 'table.md'), tableMarkdown(fitted, samples, options));
  console.log(`fitted ${samples.length} samples (${options.length} options each)`);
}

/** SHA-256 of the networks whose outputs were scored (denoiser, then enhancer when there is one). */
function modelWeights(engine: Dr2eEngine): string[] {
  const networks = [engine.denoiser.manifest, ...(engine.enhancer ? [engine.enhancer.manifest] : [])];
  return networks.map((manifest) => manifest.provenance?.sha256 ?? 'unrecorded');
}

/** Run DR2E at every ladder step on every (face, size) and score every option. */
async function score(
  options: Option[],
  sizes: number[],
): Promise<{ samples: Sample[]; faces: number; model: string; weights: string[] }> {
  const started = performance.now();
  const seed = Number(args.seed);
  const batch = Number(args.batch);
  const ladderSteps = [...new Set(options.map((o) => o.step))];
  const engine = await Dr2eEngine.load({
    ...(args.model ? { model: args.model } : {}),
    device: 'cpu',
    intraOpThreads: Number(args.threads),
  });
  TRAIN_FRAMING = engine.framing ?? FFHQ_FRAMING;
  const samples: Sample[] = [];
  if (args.extend) {
    const previous = parseSamples(await readFile(args.extend, 'utf8'));
    // Gains of two models' outputs must not be mixed in one table.
    const scoredWith = JSON.stringify((await readProvenance(args.extend))['modelSha256'] ?? null);
    const networks = JSON.stringify(modelWeights(engine));
    if (scoredWith !== networks || networks.includes('unrecorded')) {
      throw new Error(
        `--extend ${args.extend}: its samples were scored with networks ${scoredWith} (modelSha256 of the ` +
          `table.md beside it), this run's are ${networks}; gains of different networks cannot share a table`,
      );
    }
    if (previous.missingEstimates.length > 0) {
      throw new Error(
        `--extend ${args.extend}: an older file that lacks estimates (${previous.missingEstimates.join(', ')}); refit it with --reestimate first`,
      );
    }
    const key = (o: Option) => `${o.step},${o.inputWeight},${o.detailWeight},${o.attenuateDetail}`;
    if (previous.options.map(key).join(' ') !== options.map(key).join(' ')) {
      throw new Error(
        `--extend ${args.extend}: its options differ from this run's grid (--steps, --*-weights)`,
      );
    }
    samples.push(...previous.samples);
  }
  // Faces scored in one of this run's splits are kept; others (e.g. a new split) run again.
  const scored = new Set(
    samples.filter((s) => SPLITS.some((split) => split.name === s.split)).map((s) => s.id),
  );
  const faces = (
    await listCleanFaces(args.clean!, {
      prefix: 'train/',
      limit: Number(args.faces),
      ...(args.match ? { match: new RegExp(args.match) } : {}),
    })
  ).filter((face) => !scored.has(face.id));
  console.log(`${scored.size} faces kept from --extend, ${faces.length} to score`);
  try {
    for (const [f, face] of faces.entries()) {
      const { image } = await decodeImageToRgb(await face.read());
      const side = Math.min(image.width, image.height);
      const square = cropSquare(image, side);
      const prepared = [];
      for (const size of sizes) {
        // The ground truth's side: the engine's output side, or the next multiple of the face's
        // side (the degradation downsamples by a whole factor): 128 for 16-128 px, 135 for 45.
        const t = size * Math.ceil(outputSide(engine, size) / size);
        const truth = resizeRgb(square, t, t);
        const [truthEmbedding] = await recognizer.embed([truth], TRAIN_FRAMING);
        const random = new SeededRandom(deriveSeed(seed, face.id, size, 'split'));
        const split = random.pick(SPLITS);
        const params = sampleDegradation(seed, face.id, t / size, split);
        const { lowRes } = await degradeFace(truth, params, seed, `${face.id}@${size}`);
        // What the engine sees at run time: an input that reads as enlarged is measured (and
        // binned, and fused) at its effective size.
        const estimate = estimateAtEffectiveSize(lowRes, size);
        await mkdir(args.inputs!, { recursive: true });
        await writeFile(inputFile(face.id, size, split.name), await encodeRgbImage(lowRes, 'png'));
        prepared.push({
          size,
          t,
          truth,
          truthEmbedding: truthEmbedding!,
          split,
          lowRes,
          estimate,
          seed: deriveSeed(seed, face.id, size, 'dr2'),
        });
      }
      // Every ladder step of every size of this face in one mixed-settings sampler loop.
      const ladderParams = ladderSteps.map((index) => {
        const step = QUALITY_LADDER[index]!;
        return engine.resolveParams({ n: nFor(step.cutoff, engine.resolution), tau: step.tau });
      });
      const { restored } = await restoreMixed(
        engine,
        prepared.flatMap((p) => ladderParams.map(() => p.lowRes)),
        prepared.flatMap(() => ladderParams),
        prepared.flatMap((p) => ladderParams.map(() => p.seed)),
        batch,
      );
      for (const [index, p] of prepared.entries()) {
        const bicubic = resizeRgb(p.lowRes, p.t, p.t);
        // The bands of the input and of each step's output once; every option only mixes them.
        const cutoff = fusionCutoff(engine.resolution, p.estimate.faceSize);
        const inputBands = splitBands(resizeRgb8(p.lowRes, p.t, p.t), cutoff);
        const stepBands = ladderSteps.map((_, s) =>
          splitBands(resizeRgb8(restored[index * ladderSteps.length + s]!, p.t, p.t), cutoff),
        );
        const fusedImages = options.map((option) => {
          const { image: fused } = fuseBands(stepBands[ladderSteps.indexOf(option.step)]!, inputBands, {
            cutoff,
            inputWeight: option.inputWeight,
            detailWeight: option.detailWeight,
            noise: p.estimate.noise,
            faceSize: p.estimate.faceSize,
            detailAttenuation: option.attenuateDetail ? 1 : 0,
          });
          return fused;
        });
        // Bicubic and every option in one recognizer batch.
        const [base, ...optionScores] = await scores([bicubic, ...fusedImages], p.truth, p.truthEmbedding);
        const gains = optionScores.map((s): [number, number, number] => [
          s[0] - base![0],
          s[1] - base![1],
          s[2] - base![2],
        ]);
        samples.push({ id: face.id, size: p.size, split: p.split.name, estimate: p.estimate, gains });
      }
      // Written after every face: an interrupted run can be refitted (--refit) from what it scored.
      await mkdir(args.out!, { recursive: true });
      await writeFile(path.join(args.out!, 'samples.csv'), samplesCsv(samples, options));
      console.log(
        `${f + 1}/${faces.length} ${face.id} done, ${((performance.now() - started) / 60000).toFixed(1)} min`,
      );
    }
    return {
      samples,
      faces: new Set(samples.map((s) => s.id)).size,
      model: engine.name,
      weights: modelWeights(engine),
    };
  } finally {
    await engine.dispose();
  }
}

function inputFile(id: string, size: number, split: string): string {
  // The default splits' files keep their first names (one per face and size).
  const suffix = DEFAULT_SPLITS.some((s) => s.name === split) ? '' : `@${split}`;
  return path.join(args.inputs!, `${id.replace(/[^\w.-]/g, '_')}@${size}${suffix}.png`);
}

function nFor(cutoff: number, resolution: number): number {
  let n = 1;
  while (n * 2 * cutoff <= resolution && resolution % (n * 2) === 0) n *= 2;
  return n;
}

function cropSquare(image: RgbImage, side: number): RgbImage {
  const left = Math.floor((image.width - side) / 2);
  const top = Math.floor((image.height - side) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let r = 0; r < side; r++) {
    const from = ((top + r) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + side * 3), r * side * 3);
  }
  return { data: out, width: side, height: side };
}

/** [PSNR, SSIM, recognizer cosine to the ground truth] of each image. */
async function scores(
  images: readonly RgbImage[],
  truth: RgbImage,
  truthEmbedding: Float32Array,
): Promise<[number, number, number][]> {
  const embeddings = await recognizer.embed(images, TRAIN_FRAMING);
  return images.map((image, i) => [
    psnr(image, truth),
    ssim(image, truth),
    embeddingCosine(embeddings[i]!, truthEmbedding),
  ]);
}

/** Weights of ΔPSNR (dB), ΔSSIM and Δid in J (`--weights`). */
const WEIGHTS = args.weights!.split(',').map(Number) as [number, number, number];
if (WEIGHTS.length !== 3 || WEIGHTS.some((w) => !(w >= 0))) {
  throw new Error(`--weights needs three non-negative numbers (PSNR, SSIM, id), got ${args.weights}`);
}

function objective(g: readonly [number, number, number]): number {
  return WEIGHTS[0] * g[0] + WEIGHTS[1] * g[1] + WEIGHTS[2] * g[2];
}

type Gains = readonly [number, number, number];

/** Per metric, the mean of gain triples (0 for none). */
function meanOf(gains: readonly Gains[]): [number, number, number] {
  const sum: [number, number, number] = [0, 0, 0];
  for (const g of gains) for (let m = 0; m < 3; m++) sum[m]! += g[m]!;
  return sum.map((v) => v / Math.max(1, gains.length)) as [number, number, number];
}

function meanGains(group: readonly Sample[], k: number): [number, number, number] {
  return meanOf(group.map((s) => s.gains[k]!));
}

/**
 * Safe for a group of gain triples (one option over a cell or a split in it, or each face's own
 * option over a split): per metric, mean − z · SE ≥ −tolerance, with SE = the sample standard
 * deviation / √n (a single sample has none: with z > 0 it is safe only when its gain is exactly
 * 0). All gains exactly 0 (the input itself) are always safe.
 */
function passesMargin(gains: readonly Gains[], z: number): boolean {
  const mean = meanOf(gains);
  return mean.every((g, m) => {
    const squares = gains.reduce((sum, x) => sum + (x[m]! - g) ** 2, 0);
    const spread = gains.length < 2 ? Infinity : Math.sqrt(squares / (gains.length - 1));
    const exact = spread === 0 || (gains.length < 2 && g === 0);
    const se = z === 0 || exact ? 0 : (z * spread) / Math.sqrt(gains.length);
    return g - se >= -TOLERANCE[m]!;
  });
}

/** passesMargin for one option `k` over a group of samples. */
function isSafeWithMargin(group: readonly Sample[], k: number, z: number): boolean {
  return passesMargin(
    group.map((s) => s.gains[k]!),
    z,
  );
}

/** Split a group of samples by degradation split, keeping the splits of at least MIN_SPLIT_SAMPLES. */
function bySplit(group: readonly Sample[]): Sample[][] {
  return [...new Set(group.map((s) => s.split))]
    .map((name) => group.filter((s) => s.split === name))
    .filter((g) => g.length >= MIN_SPLIT_SAMPLES);
}

/**
 * The `cell` rule: each cell on its own takes the best mean J above the input's (0) among the
 * options safe for the cell and for every split in it (isSafeWithMargin); none safe and better:
 * the input itself (ties go to it).
 */
function chooseCell(
  inCell: readonly Sample[],
  optionCount: number,
  input: number,
  eligible: (k: number) => boolean,
  z: number,
): number {
  const splits = bySplit(inCell);
  // The input itself scores exactly 0 (its output is the input). An option must do better: a
  // tie goes to the input. Ties are options that cannot change this cell's samples, e.g.
  // attenuating the bands above the model's 64 px, which a 64 px training face does not have
  // while a 64-90 px face of the same row in a photo does (attenuated, it lost a little detail
  // against bicubic in every such cell; kept, it is the input exactly).
  let best = input;
  let bestScore = 0;
  for (let k = 0; k < optionCount; k++) {
    if (!eligible(k) || !isSafeWithMargin(inCell, k, z)) continue;
    if (!splits.every((group) => isSafeWithMargin(group, k, z))) continue;
    const score = objective(meanGains(inCell, k));
    if (score > bestScore) {
      best = k;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The `pooled` rule: the cells of one size row are chosen together, to the best total J of the
 * row, subject to the constraint the acceptance states: for every degradation split of the row
 * (at least MIN_SPLIT_SAMPLES faces), each mean gain over bicubic of that split's faces, each
 * with its own cell's option, minus z standard errors is >= 0 (strictly, every metric). A cell
 * rule asks this of every split inside every cell, so two mild-looking faces among twelve
 * severe ones kept the whole cell at the input; pooled, the severe cell may cost those two faces
 * what the split gains elsewhere, never more than the split's margin allows.
 *
 * Steepest ascent from the cell rule's choice: each round takes
 * the single (cell, option) change that raises the row's total J most and keeps every split
 * feasible, until none does. Deterministic (ties: lowest cell, then lowest option index).
 */
function choosePooled(
  rowCells: readonly (readonly Sample[])[],
  optionCount: number,
  input: number,
  eligible: (k: number) => boolean,
  z: number,
): number[] {
  const rowSamples = rowCells.flat();
  const cellOf = new Map<Sample, number>();
  rowCells.forEach((cell, j) => cell.forEach((s) => cellOf.set(s, j)));
  const splits = bySplit(rowSamples);
  // Every split of the row, each face with its own cell's option.
  const feasible = (assignment: readonly number[]): boolean =>
    splits.every((group) =>
      passesMargin(
        group.map((s) => s.gains[assignment[cellOf.get(s)!]!]!),
        z,
      ),
    );
  // Start from the cell rule's choice when it is feasible here (it usually is: safe in every
  // cell and split), else from the input everywhere (always feasible: every gain exactly 0).
  const byCell = rowCells.map((inCell) => chooseCell(inCell, optionCount, input, eligible, z));
  const chosen = feasible(byCell) ? byCell : rowCells.map(() => input);
  const cellScore = (j: number, k: number) =>
    rowCells[j]!.reduce((sum, s) => sum + objective(s.gains[k]!), 0);
  for (;;) {
    let bestMove: [number, number] | undefined;
    let bestDelta = 1e-9;
    rowCells.forEach((_, j) => {
      const current = cellScore(j, chosen[j]!);
      for (let k = 0; k < optionCount; k++) {
        if (k === chosen[j] || !eligible(k)) continue;
        const delta = cellScore(j, k) - current;
        if (delta <= bestDelta) continue;
        const trial = [...chosen];
        trial[j] = k;
        if (!feasible(trial)) continue;
        bestMove = [j, k];
        bestDelta = delta;
      }
    });
    if (!bestMove) return chosen;
    chosen[bestMove[0]] = bestMove[1];
  }
}

/** The splits that hold samples, in ALL_SPLITS order. */
function presentSplits(samples: readonly Sample[]): DegradationSplit[] {
  return ALL_SPLITS.filter((split) => samples.some((s) => s.split === split.name));
}

function numberList(value: string): number[] {
  return value.split(',').map(Number);
}

/** One value for every size row, or one per row (`--bins 2,8,8,8,8`). */
function perRow(value: string, rows: number, flag: string): number[] {
  const list = numberList(value);
  if (list.some((v) => !(v >= 0))) throw new Error(`${flag} wants non-negative numbers, got ${value}`);
  if (list.length === 1) return Array.from({ length: rows }, () => list[0]!);
  if (list.length !== rows)
    throw new Error(`${flag} wants 1 or ${rows} values (one per size row), got ${value}`);
  return list;
}

/** Row edges at the quantiles of the row's severities (bins of equal counts), deduplicated. */
function rowEdges(severities: number[], bins: number): number[] {
  const sorted = [...severities].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const at = (b * sorted.length) / bins;
    const lo = sorted[Math.max(0, Math.floor(at) - 1)];
    const hi = sorted[Math.min(sorted.length - 1, Math.floor(at))];
    if (lo === undefined || hi === undefined) continue;
    const edge = Number(((lo + hi) / 2).toFixed(3));
    if (edges.length === 0 || edge > edges.at(-1)!) edges.push(edge);
  }
  return edges;
}

function fit(
  samples: Sample[],
  options: Option[],
  sizes: number[],
  bins: readonly number[],
  z: readonly number[],
  rule: Rule = RULE,
): Fitted {
  // The input itself: safe by construction, and the cells' fallback.
  const input = inputOptionIndex(options);
  // Rows by the estimated (effective) face size, the nearest row: the chooser's cell for a face
  // at a row's size (between rows it hedges toward the input, sizeHedgedCell in choose.ts).
  const rowOf = (s: Sample) =>
    calibrationBin(s.estimate, { sizes, severityEdges: sizes.map(() => []) }).sizeBin;
  const severityEdges = sizes.map((_, i) =>
    rowEdges(
      samples.filter((s) => rowOf(s) === i).map((s) => severityOf(s.estimate)),
      bins[i]!,
    ),
  );
  const grid = { sizes, severityEdges };
  const cells: CalibrationCell[][] = [];
  const chosen: number[][] = [];
  sizes.forEach((_, i) => {
    const rowCells: Sample[][] = [];
    for (let j = 0; j <= severityEdges[i]!.length; j++) {
      const inCell = samples.filter((s) => {
        const bin = calibrationBin(s.estimate, grid);
        return bin.sizeBin === i && bin.severityBin === j;
      });
      rowCells.push(inCell);
    }
    const eligible = (k: number) =>
      fullInputAbove === undefined || sizes[i]! <= fullInputAbove || options[k]!.inputWeight === 1;
    const rowChosen =
      rule === 'pooled'
        ? choosePooled(rowCells, options.length, input, eligible, z[i]!)
        : rowCells.map((inCell) => chooseCell(inCell, options.length, input, eligible, z[i]!));
    const row: CalibrationCell[] = rowChosen.map((k, j) => {
      const { attenuateDetail, ...option } = options[k]!;
      return { ...option, ...(attenuateDetail ? {} : { attenuateDetail }), samples: rowCells[j]!.length };
    });
    cells.push(row);
    chosen.push(rowChosen);
  });
  return { table: { sizes, severityEdges, cells, provenance: {} }, chosen };
}

/**
 * Leave-half-the-faces-out check of margins z and bin counts, on the training samples only: each
 * repeat draws half the faces, fits the table on them (bins included) and applies it to the other
 * half. The held-out gains of the chosen options are pooled over repeats per input size and split,
 * and a (size, split) whose pooled mean gain is below 0 (any metric, strictly) is a violation:
 * what a table fitted that way would most likely lose on new faces. Printed per bin count (every
 * z), then per size row the (bins, z) with the fewest violations in the row, then the highest
 * held-out mean J of the row, among configurations that restore some face of the row (a row kept
 * whole as the input loses nothing by construction, and would otherwise win every row with one
 * tiny held-out loss). Rows are fitted independently (their own edges and cells), so each row's
 * choice is the one the whole-table rule would make on that row alone.
 */
function crossValidate(
  samples: Sample[],
  options: Option[],
  sizes: number[],
  binCounts: number[],
  zs: number[],
): void {
  const faces = [...new Set(samples.map((s) => s.id))].sort();
  const repeats = Number(args['cv-repeats']);
  const lines = [
    `Leave-half-out over ${faces.length} train faces, ${repeats} repeats` +
      (fullInputAbove === undefined ? '' : `, input weight 1 above ${fullInputAbove} px`),
  ];
  const rowBest = sizes.map(
    () => undefined as { bins: number; z: number; violations: number; j: number } | undefined,
  );
  for (const bins of binCounts) {
    lines.push(
      '',
      `### ${bins} bin${bins === 1 ? '' : 's'}`,
      '',
      '| z | violations (size split: metrics below 0) | held-out mean gains (dB, SSIM, id) | mean J | J per size row | faces kept as input |',
      '| ---: | --- | --- | ---: | --- | ---: |',
    );
    let best: { z: number; violations: number; j: number } | undefined;
    for (const z of zs) {
      const pooled = new Map<string, [number, number, number, number]>();
      let kept = 0;
      let total = 0;
      for (let r = 0; r < repeats; r++) {
        const random = new SeededRandom(deriveSeed(Number(args.seed), 'cross-validate', r));
        const order = [...faces];
        for (let i = order.length - 1; i > 0; i--) {
          const j = random.integer(0, i);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const trainFaces = new Set(order.slice(0, Math.floor(order.length / 2)));
        const fitted = fit(
          samples.filter((s) => trainFaces.has(s.id)),
          options,
          sizes,
          sizes.map(() => bins),
          sizes.map(() => z),
        );
        for (const sample of samples.filter((s) => !trainFaces.has(s.id))) {
          const k = chosenFor(fitted, sample);
          const o = options[k]!;
          if (isInputOption(o)) kept++;
          total++;
          const key = `${sample.size} ${sample.split}`;
          const acc = pooled.get(key) ?? [0, 0, 0, 0];
          for (let m = 0; m < 3; m++) acc[m]! += sample.gains[k]![m]!;
          acc[3]! += 1;
          pooled.set(key, acc);
        }
      }
      const violations: string[] = [];
      const overall = [0, 0, 0];
      let count = 0;
      const rowJ: string[] = [];
      sizes.forEach((size, i) => {
        const rowSum = [0, 0, 0];
        let rowCount = 0;
        let rowViolations = 0;
        for (const split of ALL_SPLITS) {
          const acc = pooled.get(`${size} ${split.name}`);
          if (!acc) continue;
          const mean = [acc[0]! / acc[3]!, acc[1]! / acc[3]!, acc[2]! / acc[3]!];
          for (let m = 0; m < 3; m++) {
            overall[m]! += acc[m]!;
            rowSum[m]! += acc[m]!;
          }
          count += acc[3]!;
          rowCount += acc[3]!;
          const below = ['PSNR', 'SSIM', 'ID'].filter((_, m) => mean[m]! < -TOLERANCE[m]!);
          if (below.length > 0) {
            violations.push(`${size} ${split.name}: ${below.join('+')} (${fmtGains(mean)})`);
            rowViolations++;
          }
        }
        const j = objective(rowSum.map((v) => v / Math.max(1, rowCount)) as [number, number, number]);
        rowJ.push(`${size}: ${j.toFixed(2)}`);
        const current = rowBest[i];
        // A configuration that keeps every face of the row as it is (J exactly 0) has no held-out
        // loss by construction; it is the fallback, not a candidate.
        if (j === 0 && current) return;
        if (
          !current ||
          current.j === 0 ||
          rowViolations < current.violations ||
          (rowViolations === current.violations && j > current.j)
        ) {
          rowBest[i] = { bins, z, violations: rowViolations, j };
        }
      });
      const mean = overall.map((v) => v / count) as [number, number, number];
      const j = objective(mean);
      if (
        !best ||
        violations.length < best.violations ||
        (violations.length === best.violations && j > best.j)
      ) {
        best = { z, violations: violations.length, j };
      }
      lines.push(
        `| ${z} | ${violations.length === 0 ? 'none' : violations.join('; ')} | ${fmtGains(mean)} | ${j.toFixed(3)} | ${rowJ.join(', ')} | ${((100 * kept) / total).toFixed(0)} % |`,
      );
    }
    if (best) {
      lines.push(
        '',
        `Fewest held-out violations, then the highest mean J: z = ${best.z} (fit the table with --bins ${bins} --margin ${best.z}).`,
      );
    }
  }
  lines.push(
    '',
    '### Per size row',
    '',
    '| size | bins | z | violations | held-out mean J |',
    '| ---: | ---: | ---: | ---: | ---: |',
  );
  sizes.forEach((size, i) => {
    const b = rowBest[i]!;
    lines.push(`| ${size} | ${b.bins} | ${b.z} | ${b.violations} | ${b.j.toFixed(2)} |`);
  });
  lines.push(
    '',
    `Per row: fit the table with --bins ${rowBest.map((b) => b!.bins).join(',')} --margin ${rowBest.map((b) => b!.z).join(',')}.`,
  );
  console.log(lines.join('\n'));
}

/**
 * The option index the fitted table takes for a sample: its nearest row's cell, by hard bin
 * edges. The chooser takes the same for samples estimated at a row's size, except near the edge
 * of a bin that keeps faces whole, where it ramps toward that bin (severityHedgedCell), and
 * between rows (sizeHedgedCell): the cross-validation scores the table's cells, not those ramps.
 */
function chosenFor(fitted: Fitted, sample: Sample): number {
  const bin = calibrationBin(sample.estimate, fitted.table);
  return fitted.chosen[bin.sizeBin]![bin.severityBin]!;
}

async function writeTable(table: CalibrationTable, file: string): Promise<void> {
  const text = `/**
 * The \`auto\` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns; per row, upper edges of severityOf:
 * JPEG blocking + coarse noise / 20, or - fine noise / 8 under 37.9 px, + 4 x the DCT zero
 * share); each names a QUALITY_LADDER step, the input weight and the detail weight of the fusion,
 * and the number of training samples it was fitted on. Provenance at the end.
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = ${JSON.stringify(table, null, 2)};
`;
  await writeFile(file, text);
}

const CSV_HEAD =
  'id,size,split,noise_est,blur_est,jpeg_est,coarse_noise_est,ac_zeros_est,colour_noise_est,face_size_est,step,input_weight,detail_weight,attenuate_detail,d_psnr,d_ssim,d_id';
/**
 * Estimate columns that older files lack, and the estimates they hold (read as absent; main
 * refuses such a file without --reestimate, as the engine's severity uses them).
 */
const LATER_ESTIMATE_COLUMNS = { ac_zeros_est: 'acZeros', colour_noise_est: 'colourNoise' } as const;

function samplesCsv(samples: Sample[], options: Option[]): string {
  const lines = [CSV_HEAD];
  for (const s of samples) {
    options.forEach((option, k) => {
      const g = s.gains[k]!;
      lines.push(
        [
          s.id,
          s.size,
          s.split,
          s.estimate.noise.toFixed(3),
          s.estimate.blur.toFixed(4),
          s.estimate.jpeg.toFixed(4),
          s.estimate.coarseNoise?.toFixed(3) ?? '',
          s.estimate.acZeros?.toFixed(4) ?? '',
          s.estimate.colourNoise?.toFixed(3) ?? '',
          s.estimate.faceSize,
          option.step,
          option.inputWeight,
          option.detailWeight,
          option.attenuateDetail ? 1 : 0,
          g[0].toFixed(4),
          g[1].toFixed(5),
          g[2].toFixed(6),
        ].join(','),
      );
    });
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Samples and options back from samples.csv (rows grouped per sample, options in one order).
 * Columns are read by name: files written before a later estimate column read it as absent
 * (`missingEstimates`).
 */
function parseSamples(text: string): { options: Option[]; samples: Sample[]; missingEstimates: string[] } {
  const lines = text.trim().split('\n');
  const header = lines[0]!.split(',');
  const expected = CSV_HEAD.split(',');
  const required = expected.filter((name) => !(name in LATER_ESTIMATE_COLUMNS));
  if (required.some((name) => !header.includes(name)) || header.some((name) => !expected.includes(name))) {
    throw new Error(`not a samples.csv of this script: ${lines[0]}`);
  }
  const column = new Map(header.map((name, i) => [name, i]));
  const options: Option[] = [];
  const optionIndex = new Map<string, number>();
  const samples = new Map<string, Sample>();
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    const field = (name: string): string | undefined => {
      const i = column.get(name);
      return i === undefined ? undefined : fields[i];
    };
    const [step, iw, dw, att] = ['step', 'input_weight', 'detail_weight', 'attenuate_detail'].map(field);
    const key = `${step},${iw},${dw},${att}`;
    if (!optionIndex.has(key)) {
      optionIndex.set(key, options.length);
      options.push({
        step: Number(step),
        inputWeight: Number(iw),
        detailWeight: Number(dw),
        attenuateDetail: att === '1',
      });
    }
    const sampleKey = `${field('id')}@${field('size')}@${field('split')}`;
    let sample = samples.get(sampleKey);
    if (!sample) {
      const acZeros = field('ac_zeros_est');
      const colourNoise = field('colour_noise_est');
      sample = {
        id: field('id')!,
        size: Number(field('size')),
        split: field('split')!,
        estimate: {
          noise: Number(field('noise_est')),
          blur: Number(field('blur_est')),
          jpeg: Number(field('jpeg_est')),
          ...(field('coarse_noise_est') ? { coarseNoise: Number(field('coarse_noise_est')) } : {}),
          ...(acZeros ? { acZeros: Number(acZeros) } : {}),
          ...(colourNoise ? { colourNoise: Number(colourNoise) } : {}),
          faceSize: Number(field('face_size_est')),
        },
        gains: [],
      };
      samples.set(sampleKey, sample);
    }
    sample.gains[optionIndex.get(key)!] = [
      Number(field('d_psnr')),
      Number(field('d_ssim')),
      Number(field('d_id')),
    ];
  }
  // Missing: a later column absent from the header, or empty for some sample (written without
  // that estimate).
  const all = [...samples.values()];
  const missingEstimates = Object.entries(LATER_ESTIMATE_COLUMNS)
    .filter(([, estimate]) => all.some((s) => s.estimate[estimate] === undefined))
    .map(([column]) => column);
  return { options, samples: all, missingEstimates };
}

/** The provenance of the table.md next to a samples.csv (kept on a refit). */
async function readProvenance(samplesFile: string): Promise<CalibrationTable['provenance']> {
  try {
    const text = await readFile(path.join(path.dirname(samplesFile), 'table.md'), 'utf8');
    const json = /## Provenance\s+```json\n([\s\S]*?)\n```/.exec(text)?.[1];
    return json ? (JSON.parse(json) as CalibrationTable['provenance']) : {};
  } catch {
    return {};
  }
}

function fmtGains(g: readonly number[]): string {
  return `${g[0]!.toFixed(2)}, ${g[1]!.toFixed(4)}, ${g[2]!.toFixed(5)}`;
}

function tableMarkdown(fitted: Fitted, samples: Sample[], options: Option[]): string {
  const { table } = fitted;
  const lines = [
    '# `auto` calibration table',
    '',
    'Written by `scripts/calibrate-quality.ts` on UTKFace **train/** faces (provenance below).',
    'Each cell: severity range; ladder step (cut-off px, τ) / input weight / detail weight; training',
    'samples; their mean gains over bicubic with the chosen option (ΔPSNR dB, ΔSSIM, Δid).',
    '',
  ];
  table.sizes.forEach((size, i) => {
    lines.push(
      `**${size} px**`,
      '',
      '| severity | choice | samples | mean gains |',
      '| --- | --- | ---: | --- |',
    );
    const edges = table.severityEdges[i]!;
    table.cells[i]!.forEach((cell, j) => {
      const range = `${j === 0 ? '' : `${edges[j - 1]} ≤ `}s${j < edges.length ? ` < ${edges[j]}` : ''}`;
      const ladder = QUALITY_LADDER[cell.step]!;
      const inCell = samples.filter((s) => {
        const bin = calibrationBin(s.estimate, table);
        return bin.sizeBin === i && bin.severityBin === j;
      });
      const mean = meanGains(inCell, fitted.chosen[i]![j]!);
      lines.push(
        `| ${range} | ${cell.step} (${ladder.cutoff}, ${ladder.tau}) / ${cell.inputWeight} / ${cell.detailWeight}${cell.attenuateDetail === false ? ' (unattenuated)' : ''} | ${cell.samples} | ${fmtGains(mean)} |`,
      );
    });
    lines.push('');
  });
  lines.push(
    '## In-sample gains per size and split',
    '',
    'Mean gains over bicubic (ΔPSNR dB, ΔSSIM, Δid) of the fitted table on its own training',
    'samples, per input size and degradation split (count in brackets). In-sample: an optimistic',
    'reading; the held-out check is `dr2e eval` on val/ (docs/quality/README.md).',
    '',
    `| size | ${presentSplits(samples)
      .map((s) => s.name)
      .join(' | ')} |`,
    `| --- | ${presentSplits(samples)
      .map(() => '---')
      .join(' | ')} |`,
  );
  for (const size of table.sizes) {
    const row = presentSplits(samples).map((split) => {
      const group = samples.filter((s) => s.size === size && s.split === split.name);
      if (group.length === 0) return '';
      const sum = [0, 0, 0];
      for (const s of group) {
        const g = s.gains[chosenFor(fitted, s)]!;
        for (let m = 0; m < 3; m++) sum[m]! += g[m]!;
      }
      return `${fmtGains(sum.map((v) => v / group.length))} (${group.length})`;
    });
    lines.push(`| ${size} | ${row.join(' | ')} |`);
  }
  lines.push('', `Options per sample: ${options.length}.`);
  lines.push('', '## Provenance', '', '```json', JSON.stringify(table.provenance, null, 2), '```', '');
  return lines.join('\n');
}

// The training faces are framed like the model's own training crops (its manifest's framing).
let TRAIN_FRAMING: FaceFraming = FFHQ_FRAMING;
const recognizer = await FaceRecognizer.load(DEFAULT_RECOGNIZER, 1);
try {
  await main();
} finally {
  await recognizer.dispose();
}
