/**
 * The `dr2e` command line: `restore` (files and folders), `verify-trace` (reference fixtures),
 * `eval` (synthetic-degradation evaluation and (N, tau) sweep) and `eval-basis` (the identity
 * proxy's eigenface basis). `main` returns an exit status instead of exiting, so tests
 * call it in-process.
 *
 * Exit statuses: 0 success, 1 some work failed (a file, a fixture over tolerance), 2 bad usage
 * (unknown flag, invalid value, inconsistent DR2 parameters, unusable model).
 */
import { existsSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  AUTO_PRESET,
  BACKGROUND_MODES,
  FIXED_PRESETS,
  INPUT_LIMITS,
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  OUTPUT_FORMATS,
  PRESETS,
  MAX_SEED,
  RESTORE_DEFAULTS,
  UPSCALE_FACTORS,
  dropUndefined,
  type BackgroundMode,
  type Device,
  type Preset,
  type OutputFormat,
  type UpscaleFactor,
} from '../../../shared/src/index.js';
import {
  DEFAULT_FIT,
  EngineError,
  FIT_MODES,
  type FitMode,
  INPUT_FRAMING_MODES,
  type InputFramingMode,
  InvalidParametersError,
} from '../engine/index.js';
import {
  DEFAULT_EIGENFACE_COMPONENTS,
  DEFAULT_EIGENFACE_SIZE,
  DEGRADATION_SPLITS,
  runEval,
  runEvalBasis,
} from './eval-command.js';
import {
  addEngineOptions,
  deviceOption,
  type Dr2Setting,
  engineCliOptions,
  fraction,
  integer,
  integerList,
  nameList,
  nonEmptyPath,
  settingList,
} from './options.js';
import {
  DEFAULT_SCENE_OPTIONS,
  PHOTO_REGIONS,
  type PhotoRegion,
  runEvalPhotos,
} from './eval-photos-command.js';
import { type CommandIo, precheckParams, runRestore } from './restore-command.js';
import { OutputFolderError } from './output-folder.js';
import { ignoreReaderGone } from './closed-pipes.js';
import { runVerifyTrace } from './verify-trace-command.js';

/** Seeds of the evaluation and model-building commands (31 bits); `restore` takes the API's (MAX_SEED). */
const MAX_CLI_SEED = 2 ** 31 - 1;

/** eval-photos options that shape synthetic scenes only (their commander keys and flags). */
const SYNTHETIC_SCENE_FLAGS = {
  prefix: '--prefix',
  background: '--background',
  faces: '--faces',
  size: '--size',
  faceSides: '--face-sides',
  maxAngle: '--max-angle',
} as const;

/** The command line as a copy-pastable string. */
/** `WIDTHxHEIGHT` in pixels. */
function photoSize(value: string): number[] {
  const match = /^(\d+)x(\d+)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`size must be WIDTHxHEIGHT, got "${value}"`);
  return [Number(match[1]), Number(match[2])];
}

function quoteCommand(argv: readonly string[]): string {
  return ['dr2e', ...argv]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

class UsageError extends Error {}

function buildProgram(
  io: CommandIo,
  setStatus: (status: number) => void,
  argv: readonly string[] = [],
): Command {
  const program = new Command('dr2e')
    .description('DR2E blind face restoration: diffusion-based degradation removal (DR2) plus enhancement')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });

  const restore = program
    .command('restore')
    .description('restore face images (files or folders) into an output folder')
    .argument('<inputs...>', 'image files or folders (folders: image extensions only)')
    .requiredOption(
      '-o, --output <dir>',
      'output folder; writes <dir>/<basename>.<ext> (.png unless --format)',
      nonEmptyPath('output folder'),
    )
    .addOption(
      new Option(
        '--preset <name>',
        `DR2 strength: ${AUTO_PRESET} chooses per face from its estimated degradation, ` +
          `${FIXED_PRESETS.join(', ')} remove more and more (default ${RESTORE_DEFAULTS.preset})`,
      ).choices([...PRESETS]),
    )
    .option(
      '--fidelity <f>',
      `with ${AUTO_PRESET}: 0..1, ${RESTORE_DEFAULTS.fidelity} (default) = automatic, ` +
        'higher keeps more of the input, lower trusts the prior more ' +
        '(faces under 38 px found in a photo lean toward their input: 0.5 acts as 0.7)',
      fraction('fidelity'),
    )
    .option(
      '--n <N>',
      'low-pass factor N (power of two dividing the model resolution)',
      integer('N', 1, 4096),
    )
    .option('--tau <tau>', 'output step tau (index into the --steps schedule)', integer('tau', 0))
    .option('--omega <omega>', 'start step omega (default from N and tau)', integer('omega', 1))
    .option(
      '--steps <K>',
      `respaced diffusion steps (default ${RESTORE_DEFAULTS.steps}; 100 is the paper's "every 10 steps")`,
      integer('steps', 2),
    )
    .option(
      '--seed <seed>',
      "noise seed for every image (random and reported when absent; an API job's seed replays it)",
      integer('seed', 0, MAX_SEED),
    )
    .option('--save-dr2', "also write DR2's coarse output as <basename>.dr2.<ext>", false);
  addEngineOptions(restore, {
    help: 'files per engine call (all their faces share sampler runs; with --aligned, images per model call)',
    default: 1,
  })
    .addOption(
      new Option('--format <format>', 'output format')
        .choices([...OUTPUT_FORMATS])
        .default(RESTORE_DEFAULTS.format),
    )
    .option('--quality <q>', 'JPEG/WebP quality', integer('quality', 1, 100))
    .addOption(
      new Option('--fit <mode>', 'non-square inputs: pad (keep all) or crop (centre square)')
        .choices([...FIT_MODES])
        .default(DEFAULT_FIT),
    )
    .addOption(
      new Option('--upscale <factor>', 'output size = input size x factor (capped by the megapixel limit)')
        .choices(UPSCALE_FACTORS.map(String))
        .default(String(RESTORE_DEFAULTS.upscale)),
    )
    .option(
      '--aligned',
      "inputs are aligned face crops (FFHQ or the model's framing): no detection, each restored whole",
      false,
    )
    .option(
      '--max-faces <n>',
      `faces restored per photo, largest first (default ${RESTORE_DEFAULTS.maxFaces})`,
      integer('max-faces', 1, MAX_FACES_LIMIT),
    )
    .option(
      '--min-face <px>',
      'skip faces whose box side is below this (input pixels)',
      integer('min-face', 0, MAX_MIN_FACE),
    )
    .addOption(
      new Option(
        '--background <mode>',
        'whole photos: denoise (a noisy photo is denoised around its faces; a clean one is only enlarged) or keep (only enlarged)',
      )
        .choices([...BACKGROUND_MODES])
        .default(RESTORE_DEFAULTS.background),
    )
    .option(
      '--save-faces',
      'also write each aligned input face and restored face as <basename>.face<i>.input.png and .face<i>.png',
      false,
    )
    .addOption(
      new Option(
        '--input-framing <mode>',
        "with --aligned: framing of the crops: auto (square crops are FFHQ-aligned), ffhq, or model (already the model's framing); implies --aligned",
      ).choices([...INPUT_FRAMING_MODES]),
    )
    .option(
      '-r, --recursive',
      'descend into sub-folders (a folder with no image at its top level is descended into anyway); outputs keep the sub-folder layout',
      false,
    )
    .option(
      '--max-megapixels <mp>',
      `refuse larger images (default ${INPUT_LIMITS.maxInputPixels / 1e6})`,
      integer('max-megapixels', 1, 1000),
    )
    .option(
      '--commercial-use',
      'the use is commercial: refuse weights licensed for non-commercial use only (the embedded default model is) and detect faces without RetinaFace (README, "Licences")',
      false,
    )
    .option('-q, --quiet', 'no progress output', false)
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (inputs: string[], opts: Record<string, unknown>) => {
      const params = dropUndefined({
        preset: opts.preset as string | undefined,
        fidelity: opts.fidelity as number | undefined,
        n: opts.n as number | undefined,
        tau: opts.tau as number | undefined,
        omega: opts.omega as number | undefined,
        steps: opts.steps as number | undefined,
      });
      precheckParams(params);
      const inputFraming = opts.inputFraming as InputFramingMode | undefined;
      setStatus(
        await runRestore(
          dropUndefined({
            inputs,
            output: opts.output as string,
            params,
            seed: opts.seed as number | undefined,
            saveDr2: opts.saveDr2 as boolean,
            ...engineCliOptions(opts),
            format: opts.format as OutputFormat,
            quality: opts.quality as number | undefined,
            fit: opts.fit as FitMode,
            inputFraming,
            upscale: Number(opts.upscale) as UpscaleFactor,
            aligned: (opts.aligned as boolean) || inputFraming !== undefined,
            maxFaces: opts.maxFaces as number | undefined,
            minFace: opts.minFace as number | undefined,
            background: opts.background as BackgroundMode,
            saveFaces: opts.saveFaces as boolean,
            recursive: opts.recursive as boolean,
            maxMegapixels: opts.maxMegapixels as number | undefined,
            commercialUse: opts.commercialUse as boolean,
            quiet: opts.quiet as boolean,
            json: opts.json as boolean,
          }),
          io,
        ),
      );
    });

  program
    .command('verify-trace')
    .description('check the engine against a reference fixture (schedule, lowpass or trace)')
    .argument('<dir>', 'fixture directory with case.json')
    .addOption(deviceOption('execution provider for trace denoisers'))
    .option('--verbose', 'print per-array / per-step details', false)
    .action(async (dir: string, opts: { provider: Device; verbose: boolean }) => {
      setStatus(await runVerifyTrace(dir, opts, io));
    });

  const splitNames = Object.keys(DEGRADATION_SPLITS);
  const evaluation = program
    .command('eval')
    .description(
      'measure DR2E, the enhancer alone and bicubic upsampling on synthetic degradations of clean faces (or sweep N, tau)',
    )
    .requiredOption('--clean <path>', 'clean faces: a folder of images or a .tar archive')
    .option('--prefix <path>', 'only faces under this path inside the folder or archive (e.g. val/)')
    .option('--limit <N>', 'evaluate N faces, evenly spaced over the sorted names', integer('limit', 1))
    .option(
      '--seed <seed>',
      'seed of the degradations and of the DR2 noise',
      integer('seed', 0, MAX_CLI_SEED),
      0,
    )
    .option(
      '--scales <list>',
      "downsampling factors r of the evaluation size, or 'none' (default 4,8,16 unless --sizes)",
      (value: string) => (value.trim() === 'none' ? [] : integerList('scales', 1, 64)(value)),
    )
    .option(
      '--sizes <list>',
      'input face sizes in px (e.g. 16,32,64,128,256): measured at max(output size, size)',
      integerList('sizes', 2, 4096),
    )
    .option(
      '--splits <list>',
      `degradation splits (${splitNames.join(', ')})`,
      nameList('split', splitNames),
      splitNames,
    )
    .option(
      '--presets <list>',
      `DR2 presets to evaluate (${AUTO_PRESET}: per-face choice and fusion), or 'none'`,
      nameList('preset', [...PRESETS], true),
      [...PRESETS],
    )
    .option(
      '--baselines <list>',
      "baselines beside bicubic: enhancer (the enhancer alone), dr2 (DR2's coarse output per fixed setting), or 'none'",
      nameList('baseline', ['enhancer', 'dr2'], true),
      ['enhancer'],
    )
    .option('--n <N>', 'an extra explicit setting: low-pass factor N (with --tau)', integer('N', 1, 4096))
    .option('--tau <tau>', 'an extra explicit setting: output step tau (with --n)', integer('tau', 0))
    .option('--omega <omega>', 'omega of the explicit setting (default from N and tau)', integer('omega', 1))
    .option('--settings <list>', 'more explicit settings, N:tau[:omega] comma-separated', settingList)
    .option(
      '--steps <K>',
      `respaced diffusion steps (default ${RESTORE_DEFAULTS.steps})`,
      integer('steps', 2),
    );
  addEngineOptions(evaluation, { help: 'images per model call', default: 8 })
    .option('--examples <n>', 'example rows in each strip', integer('examples', 0, 64), 4)
    .option(
      '--basis <file|none>',
      'eigenface basis for the identity proxy (default: the committed UTKFace-train basis)',
    )
    .option(
      '--recognizer <file.onnx|none>',
      'face recognizer of the ID cos metric (default: the committed MobileFace, gpu-task/eval-assets/recognizer)',
    )
    .addOption(
      new Option(
        '--clean-framing <mode>',
        "framing of the clean faces: model (like the model's crops) or ffhq (cut to the model's framing first)",
      )
        .choices(['model', 'ffhq'])
        .default('model'),
    )
    .requiredOption('-o, --out <dir>', 'output folder for the reports', nonEmptyPath('output folder'))
    .option('--sweep', 'sweep (N, tau) on one scale and split instead of the table', false)
    .option('--sweep-scale <r>', 'downsampling factor of the sweep', integer('sweep-scale', 1, 64), 8)
    .addOption(new Option('--sweep-split <name>', 'split of the sweep').choices(splitNames).default('medium'))
    .option('--sweep-n <list>', 'N values of the sweep', integerList('sweep-n', 1, 4096), [1, 2, 4, 8, 16])
    .option(
      '--sweep-tau <list>',
      'tau values of the sweep',
      integerList('sweep-tau', 0),
      [10, 20, 30, 40, 50, 60],
    )
    .option(
      '--sweep-example <i>',
      'index of the face shown in the sweep grids',
      integer('sweep-example', 0),
      0,
    )
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts: Record<string, unknown>) => {
      if ((opts.n === undefined) !== (opts.tau === undefined)) {
        throw new UsageError('--n and --tau go together (an explicit DR2 setting needs both)');
      }
      const settings: Dr2Setting[] = [
        ...(opts.n !== undefined
          ? [
              dropUndefined({
                n: opts.n as number,
                tau: opts.tau as number,
                omega: opts.omega as number | undefined,
              }),
            ]
          : []),
        ...((opts.settings as Dr2Setting[] | undefined) ?? []),
      ];
      for (const s of settings) precheckParams(s);
      for (const n of opts.sweepN as number[]) precheckParams({ n });
      setStatus(
        await runEval(
          dropUndefined({
            clean: opts.clean as string,
            prefix: opts.prefix as string | undefined,
            limit: opts.limit as number | undefined,
            seed: opts.seed as number,
            scales: (opts.scales as number[] | undefined) ?? (opts.sizes !== undefined ? [] : [4, 8, 16]),
            sizes: opts.sizes as number[] | undefined,
            splits: opts.splits as string[],
            presets: opts.presets as string[],
            baselines: opts.baselines as string[],
            settings,
            steps: opts.steps as number | undefined,
            ...engineCliOptions(opts),
            examples: opts.examples as number,
            basis: opts.basis as string | undefined,
            recognizer: opts.recognizer as string | undefined,
            cleanFraming: opts.cleanFraming as 'model' | 'ffhq',
            out: opts.out as string,
            sweep: opts.sweep as boolean,
            sweepScale: opts.sweepScale as number,
            sweepSplit: opts.sweepSplit as string,
            sweepNs: opts.sweepN as number[],
            sweepTaus: opts.sweepTau as number[],
            sweepExample: opts.sweepExample as number,
            quiet: opts.quiet as boolean,
            commandLine: quoteCommand(argv),
          }),
          io,
        ),
      );
    });

  const photos = program
    .command('eval-photos')
    .description(
      'whole-photo evaluation: synthetic (or real) degraded group photos through the photo pipeline vs bicubic of the whole photo',
    )
    .option('--clean <path>', 'clean faces of synthetic scenes: a folder of images or a .tar archive')
    .option(
      '--photo <files...>',
      'instead of --clean: clean real photos, each degraded whole at 1/upscale of its size (--limit draws per split, taken in turn); their faces are found on the clean photo',
    )
    .option('--prefix <path>', 'only faces under this path inside the folder or archive (e.g. val/)')
    .option('--limit <N>', 'photos per split', integer('limit', 1, 1000), 8)
    .option('--faces <n>', 'faces per photo', integer('faces', 1, 12), DEFAULT_SCENE_OPTIONS.faces)
    .option('--size <WxH>', 'photo size in pixels (the pipeline input)', photoSize, [
      DEFAULT_SCENE_OPTIONS.width,
      DEFAULT_SCENE_OPTIONS.height,
    ])
    .option(
      '--face-sides <min,max>',
      'face crop side range in photo pixels',
      integerList('face-sides', 8, 4096),
      [DEFAULT_SCENE_OPTIONS.minSide, DEFAULT_SCENE_OPTIONS.maxSide],
    )
    .option('--max-angle <deg>', 'largest face rotation in degrees', integer('max-angle', 0, 90), 25)
    .addOption(new Option('--upscale <factor>', 'output = photo x upscale').choices(['2', '4']).default('4'))
    .option(
      '--background <file|synthetic>',
      'a photo without faces to cut backgrounds from, or synthetic',
      'synthetic',
    )
    .option(
      '--seed <seed>',
      'seed of the scenes, degradations and DR2 noise',
      integer('seed', 0, 2 ** 31 - 1),
      0,
    )
    .option(
      '--splits <list>',
      `degradation splits (${splitNames.join(', ')})`,
      nameList('split', splitNames),
      splitNames,
    )
    .addOption(
      new Option('--preset <name>', `DR2 preset (default: ${AUTO_PRESET}, as restore)`).choices([...PRESETS]),
    )
    .option('--fidelity <f>', `with ${AUTO_PRESET}: 0..1`, fraction('fidelity'))
    .option('--steps <K>', 'respaced diffusion steps', integer('steps', 2));
  addEngineOptions(photos, { help: 'photos per pipeline call', default: 4 })
    .option('--examples <n>', 'example faces in each strip', integer('examples', 0, 64), 6)
    .option('--basis <file|none>', 'eigenface basis of the identity proxy (default: the committed one)')
    .option(
      '--recognizer <file.onnx|none>',
      'face recognizer of the recognizer cos metric (default: the committed one)',
    )
    .addOption(
      new Option(
        '--region <square>',
        "face region measured: the clean crop's square, or the FFHQ-aligned square around it (1.6x wider)",
      )
        .choices([...PHOTO_REGIONS])
        .default('crop'),
    )
    .addOption(
      new Option('--background-mode <mode>', "the pipeline's background, as restore's --background")
        .choices([...BACKGROUND_MODES])
        .default(RESTORE_DEFAULTS.background),
    )
    .option(
      '--commercial-use',
      "evaluate as a commercial deployment runs: refuse non-commercial weights (the embedded default model's) and find faces without RetinaFace",
      false,
    )
    .requiredOption('-o, --out <dir>', 'output folder for the reports', nonEmptyPath('output folder'))
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts: Record<string, unknown>) => {
      if (opts.photo !== undefined) {
        // Real photos are their own scenes: the synthetic scenes' options would be ignored.
        const synthetic = Object.entries(SYNTHETIC_SCENE_FLAGS)
          .filter(([key]) => photos.getOptionValueSource(key) === 'cli')
          .map(([, flag]) => flag);
        if (synthetic.length > 0) {
          throw new UsageError(
            `${synthetic.join(', ')} shape synthetic scenes; --photo scenes are the photos themselves`,
          );
        }
      }
      const [width, height] = opts.size as number[];
      const sides = opts.faceSides as number[];
      if (sides.length !== 2) throw new UsageError('--face-sides takes two numbers: min,max');
      precheckParams(
        dropUndefined({
          preset: opts.preset as Preset | undefined,
          fidelity: opts.fidelity as number | undefined,
        }),
      );
      setStatus(
        await runEvalPhotos(
          {
            ...(opts.clean !== undefined ? { clean: opts.clean as string } : {}),
            ...(opts.photo !== undefined ? { realPhotos: opts.photo as string[] } : {}),
            ...(opts.prefix !== undefined ? { prefix: opts.prefix as string } : {}),
            photos: opts.limit as number,
            seed: opts.seed as number,
            splits: opts.splits as string[],
            scene: {
              width: width!,
              height: height!,
              upscale: Number(opts.upscale),
              faces: opts.faces as number,
              minSide: sides[0]!,
              maxSide: sides[1]!,
              maxAngle: ((opts.maxAngle as number) * Math.PI) / 180,
            },
            background: opts.background as string,
            params: dropUndefined({
              preset: opts.preset as Preset | undefined,
              fidelity: opts.fidelity as number | undefined,
              steps: opts.steps as number | undefined,
            }),
            ...engineCliOptions(opts),
            examples: opts.examples as number,
            ...(opts.basis !== undefined ? { basis: opts.basis as string } : {}),
            ...(opts.recognizer !== undefined ? { recognizer: opts.recognizer as string } : {}),
            region: opts.region as PhotoRegion,
            backgroundMode: opts.backgroundMode as BackgroundMode,
            commercialUse: opts.commercialUse as boolean,
            out: opts.out as string,
            quiet: opts.quiet as boolean,
            commandLine: quoteCommand(argv),
          },
          io,
        ),
      );
    });

  program
    .command('eval-basis')
    .description("fit the eigenface basis of eval's identity proxy from clean TRAINING faces")
    .requiredOption('--train <path>', 'training faces: a folder or a .tar archive')
    .option('--prefix <path>', 'only faces under this path (e.g. train/); val/ is refused')
    .option('--limit <N>', 'use N faces, evenly spaced over the sorted names', integer('limit', 2))
    .option('--size <px>', 'side of the face vectors', integer('size', 8, 128), DEFAULT_EIGENFACE_SIZE)
    .option(
      '--components <k>',
      'principal components kept',
      integer('components', 1, 1024),
      DEFAULT_EIGENFACE_COMPONENTS,
    )
    .option('--seed <seed>', 'seed of the iteration start', integer('seed', 0, MAX_CLI_SEED), 0)
    .requiredOption(
      '-o, --out <file.json>',
      'basis header to write (the .bin goes beside it)',
      nonEmptyPath('output file'),
    )
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts: Record<string, unknown>) => {
      setStatus(
        await runEvalBasis(
          dropUndefined({
            train: opts.train as string,
            prefix: opts.prefix as string | undefined,
            limit: opts.limit as number | undefined,
            size: opts.size as number,
            components: opts.components as number,
            seed: opts.seed as number,
            out: opts.out as string,
            quiet: opts.quiet as boolean,
            commandLine: quoteCommand(argv),
          }),
          io,
        ),
      );
    });

  return program;
}

/**
 * Run the CLI with `argv` (without node and script). Returns the exit status.
 *
 * @example
 * ```ts
 * const status = await main(['restore', 'faces/', '-o', 'out', '--preset', 'severe']);
 * ```
 */
export async function main(
  argv: readonly string[],
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  ignoreReaderGone(io.stdout);
  ignoreReaderGone(io.stderr);
  let status = 0;
  const program = buildProgram(
    io,
    (s) => {
      status = s;
    },
    argv,
  );
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // A file whose name starts with a dash reads as an option; say how to name it.
      const dashed = /^error: unknown option '(-.*)'/.exec(error.message)?.[1];
      if (error.code === 'commander.unknownOption' && dashed && existsSync(dashed)) {
        io.stderr.write(`hint: to restore the file ${dashed}, write it as ./${dashed}\n`);
      }
      // --help and --version exit with 0; commander has already printed the message.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (
      error instanceof InvalidParametersError ||
      error instanceof UsageError ||
      error instanceof OutputFolderError
    ) {
      io.stderr.write(`dr2e: ${error.message}\n`);
      return 2;
    }
    if (error instanceof EngineError) {
      io.stderr.write(`dr2e: ${error.code}: ${error.message}\n`);
      return 2;
    }
    io.stderr.write(
      `dr2e: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
