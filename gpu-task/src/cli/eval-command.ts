/**
 * `dr2e eval`: measure DR2E against bicubic upsampling and the enhancer alone on synthetic
 * degradations of clean faces (tables, CSV, example strips), or sweep (N, τ) with `--sweep`;
 * and `dr2e eval-basis`: fit the eigenface basis of the identity proxy.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  Dr2eEngine,
  InvalidParametersError,
  cutSquare,
  decodeImageToRgb,
  FFHQ_FRAMING,
  packageRoot,
  type Device,
  type Dr2ParamsRequest,
} from '../engine/index.js';
import {
  listCleanFaces,
  DEFAULT_RECOGNIZER,
  FaceRecognizer,
  DEGRADATION_SPLITS,
  degradationSplit,
  DEFAULT_EIGENFACE_COMPONENTS,
  DEFAULT_EIGENFACE_SIZE,
  type EigenfaceBasis,
  faceVector,
  fitEigenfaces,
  loadEigenfaceBasis,
  saveEigenfaceBasis,
  type CleanFraming,
  type Dr2Config,
  loadGroundTruth,
  runEvaluation,
  runSweep,
  writeEvaluationReport,
  writeSweepReport,
} from '../eval/index.js';
import type { CommandIo } from './restore-command.js';

/** The committed eigenface basis (UTKFace train split), used when `--basis` is not given. */
export function defaultBasisFile(): string {
  return path.join(packageRoot(), 'gpu-task', 'eval-assets', 'eigenfaces-utkface-train-32.json');
}

export interface EvalCommandOptions {
  clean: string;
  prefix?: string;
  limit?: number;
  seed: number;
  scales: number[];
  /** Input face sizes (px) beside the downscaling factors. */
  sizes?: number[];
  splits: string[];
  presets: string[];
  /** Baselines beside bicubic: 'enhancer' (enhancer only), 'dr2' (DR2's coarse output per fixed setting). */
  baselines?: string[];
  /** Extra explicit settings (N, τ, optional ω). */
  settings: { n: number; tau: number; omega?: number }[];
  steps?: number;
  model?: string;
  enhancer?: string;
  device: Device;
  threads?: number;
  batch: number;
  examples: number;
  /** Basis file, 'none', or undefined for the committed default (skipped with a note when absent). */
  basis?: string;
  /** Face recognizer ONNX file, 'none', or undefined for the committed default (eval/recognizer.ts). */
  recognizer?: string;
  cleanFraming: CleanFraming;
  out: string;
  sweep: boolean;
  sweepScale: number;
  sweepSplit: string;
  sweepNs: number[];
  sweepTaus: number[];
  sweepExample: number;
  quiet: boolean;
  /** The command line as typed, recorded in the reports. */
  commandLine: string;
}

function settingsToConfigs(options: EvalCommandOptions): Dr2Config[] {
  const configs: Dr2Config[] = options.presets.map((preset) => ({ label: preset, request: { preset } }));
  for (const s of options.settings) {
    const request: Dr2ParamsRequest = {
      n: s.n,
      tau: s.tau,
      ...(s.omega !== undefined ? { omega: s.omega } : {}),
    };
    configs.push({ label: `N=${s.n} τ=${s.tau}${s.omega !== undefined ? ` ω=${s.omega}` : ''}`, request });
  }
  return configs;
}

async function resolveBasis(
  option: string | undefined,
  io: CommandIo,
): Promise<{ basis: EigenfaceBasis | null; file: string | null }> {
  if (option === 'none') return { basis: null, file: null };
  const file = option ?? defaultBasisFile();
  if (!existsSync(file)) {
    if (option !== undefined) throw new InvalidParametersError(`eigenface basis not found: ${file}`);
    io.stderr.write(
      `note: no eigenface basis at ${file}; the identity proxy is skipped (make one with dr2e eval-basis)\n`,
    );
    return { basis: null, file: null };
  }
  return { basis: await loadEigenfaceBasis(file), file: path.relative(process.cwd(), file) || file };
}

/**
 * Run `dr2e eval`. Returns the exit status (0 when the reports were written).
 *
 * @example
 * ```ts
 * await runEval({ clean: 'faces/', limit: 8, scales: [8], splits: ['severe'], presets: ['severe'], ... }, io);
 * ```
 */
export async function runEval(options: EvalCommandOptions, io: CommandIo): Promise<number> {
  const log = (line: string): void => {
    if (!options.quiet) io.stderr.write(`${line}\n`);
  };
  const splits = options.splits.map(degradationSplit);
  const configs = settingsToConfigs(options);
  if (!options.sweep && configs.length === 0) {
    throw new InvalidParametersError(
      'no DR2 setting to evaluate: give --presets and/or --n with --tau (or --settings)',
    );
  }
  const { basis, file: basisFile } = await resolveBasis(options.basis, io);
  const faces = await listCleanFaces(options.clean, {
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
  });
  const loadStart = performance.now();
  const engine = await Dr2eEngine.load({
    ...(options.model !== undefined ? { model: options.model } : {}),
    ...(options.enhancer !== undefined ? { enhancer: options.enhancer } : {}),
    device: options.device,
    ...(options.threads !== undefined ? { intraOpThreads: options.threads } : {}),
  });
  let recognizer: FaceRecognizer | null = null;
  try {
    if (options.recognizer !== 'none' && !options.sweep) {
      recognizer = await FaceRecognizer.load(options.recognizer ?? DEFAULT_RECOGNIZER, options.threads ?? 1);
    }
    log(
      `model ${engine.name} (${engine.resolution}px -> ${engine.outputSize}px) loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s; ` +
        `${faces.length} clean faces from ${options.clean}${options.prefix ? ` (${options.prefix})` : ''}`,
    );
    for (const scale of options.sweep ? [options.sweepScale] : options.scales) {
      if (engine.outputSize % scale !== 0 || engine.outputSize / scale < 2) {
        throw new InvalidParametersError(
          `scale x${scale} does not divide the evaluation size ${engine.outputSize} (leaving at least 2 px)`,
        );
      }
    }
    const truth = await loadGroundTruth(faces, engine.outputSize, {
      basis,
      framing: options.cleanFraming,
      ...(engine.framing ? { modelFraming: engine.framing } : {}),
    });
    const common = {
      seed: options.seed,
      ...(options.steps !== undefined ? { steps: options.steps } : {}),
      batch: options.batch,
      basis,
      onProgress: log,
    };
    let written: string[];
    if (options.sweep) {
      const sweep = await runSweep(engine, truth, {
        ...common,
        scale: options.sweepScale,
        split: degradationSplit(options.sweepSplit),
        ns: options.sweepNs,
        taus: options.sweepTaus,
        exampleIndex: options.sweepExample,
      });
      written = await writeSweepReport(sweep, options.commandLine, path.resolve(options.out));
      io.stdout.write(
        `sweep of ${sweep.scores.length - 2} settings on ${faces.length} faces in ${(sweep.seconds / 60).toFixed(1)} min\n`,
      );
    } else {
      const result = await runEvaluation(engine, truth, {
        ...common,
        // The ground truths are in the model's framing (FFHQ-aligned faces are cut to it first).
        recognizer: recognizer ? { recognizer, framing: engine.framing ?? FFHQ_FRAMING } : null,
        scales: options.scales,
        ...(options.sizes ? { sizes: options.sizes } : {}),
        splits,
        configs,
        examples: options.examples,
        baselines: {
          enhancer: (options.baselines ?? ['enhancer']).includes('enhancer'),
          dr2: (options.baselines ?? ['enhancer']).includes('dr2'),
        },
      });
      written = await writeEvaluationReport(
        result,
        {
          command: options.commandLine,
          model: {
            name: engine.name,
            resolution: engine.resolution,
            outputSize: engine.outputSize,
            enhancer: engine.enhancer !== null,
          },
          cleanSource: `${options.clean}${options.prefix ? ` (${options.prefix})` : ''}`,
          images: faces.length,
          seed: options.seed,
          basis: basisFile,
          recognizer: recognizer ? recognizer.name : null,
          splits,
        },
        path.resolve(options.out),
      );
      io.stdout.write(
        `evaluated ${faces.length} faces x ${result.splits.length} (scale, split) in ${(result.seconds / 60).toFixed(1)} min\n`,
      );
    }
    io.stdout.write(`wrote ${written.length} files under ${path.resolve(options.out)}\n`);
    return 0;
  } finally {
    try {
      await engine.dispose();
    } finally {
      await recognizer?.dispose();
    }
  }
}

export interface EvalBasisOptions {
  train: string;
  prefix?: string;
  limit?: number;
  size: number;
  components: number;
  seed: number;
  out: string;
  quiet: boolean;
  commandLine: string;
}

/**
 * Run `dr2e eval-basis`: fit the eigenface basis from clean training faces and save it.
 * Refuses a `val/` prefix: the basis must never see the evaluation faces.
 */
export async function runEvalBasis(options: EvalBasisOptions, io: CommandIo): Promise<number> {
  if (options.prefix && /(^|\/)val(\/|$)/.test(options.prefix)) {
    throw new InvalidParametersError('the eigenface basis must be fitted on training faces, not on val/');
  }
  const faces = await listCleanFaces(options.train, {
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
  });
  const start = performance.now();
  const vectors: Float32Array[] = [];
  for (const face of faces) {
    const { image } = await decodeImageToRgb(await face.read());
    const side = Math.min(image.width, image.height);
    const square =
      image.width === image.height
        ? image
        : cutSquare(image, {
            left: Math.floor((image.width - side) / 2),
            top: Math.floor((image.height - side) / 2),
            side,
          });
    vectors.push(faceVector(square, options.size));
  }
  if (!options.quiet)
    io.stderr.write(
      `decoded ${vectors.length} faces in ${((performance.now() - start) / 1000).toFixed(1)} s; fitting...\n`,
    );
  const basis = fitEigenfaces(vectors, options.size, { components: options.components, seed: options.seed });
  const out = path.resolve(options.out);
  await saveEigenfaceBasis(basis, out, {
    name: path.basename(out, '.json'),
    trainImages: vectors.length,
    source: `${options.train}${options.prefix ? ` (${options.prefix})` : ''}`,
    command: options.commandLine,
    license: {
      name: 'derived from UTKFace: non-commercial research use only',
      commercialUse: false,
      notes:
        'A PCA basis of UTKFace training faces; it inherits the UTKFace terms (see ../shared/README.md).',
    },
  });
  const captured = basis.eigenvalues.reduce((a, b) => a + b, 0);
  io.stdout.write(
    `eigenface basis: ${options.components} components of ${options.size}x${options.size} from ${vectors.length} faces, ` +
      `variance captured ${captured.toFixed(1)}, in ${((performance.now() - start) / 1000).toFixed(1)} s -> ${out}\n`,
  );
  return 0;
}

export { DEFAULT_EIGENFACE_COMPONENTS, DEFAULT_EIGENFACE_SIZE, DEGRADATION_SPLITS };
