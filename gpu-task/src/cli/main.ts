/**
 * The `dr2e` command line: `restore` (files and folders), `verify-trace` (reference fixtures),
 * `eval` (synthetic-degradation evaluation and (N, tau) sweep) and `eval-basis` (the identity
 * proxy's eigenface basis). `main` returns an exit status instead of exiting, so tests
 * call it in-process.
 *
 * Exit statuses: 0 success, 1 some work failed (a file, a fixture over tolerance), 2 bad usage
 * (unknown flag, invalid value, inconsistent DR2 parameters, unusable model).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  EngineError,
  InvalidParametersError,
  DEVICES,
  type Device,
  INPUT_FRAMING_MODES,
  type InputFramingMode,
  DR2_PRESET_NAMES,
} from '../engine/index.js';
import {
  DEFAULT_EIGENFACE_COMPONENTS,
  DEFAULT_EIGENFACE_SIZE,
  DEGRADATION_SPLITS,
  runEval,
  runEvalBasis,
} from './eval-command.js';
import { type CommandIo, precheckParams, runRestore } from './restore-command.js';
import { runVerifyTrace } from './verify-trace-command.js';

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${parsed}`);
    }
    return parsed;
  };
}

/** A comma-separated list of integers, each checked like `integer`. */
function fraction(name: string) {
  return (value: string): number => {
    const parsed = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
      throw new InvalidArgumentError(`${name} must be a number from 0 to 1, got "${value}"`);
    }
    return parsed;
  };
}

function integerList(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const one = integer(name, min, max);
  return (value: string): number[] => {
    const items = value.split(',').map((v) => v.trim());
    if (items.some((v) => v === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list, got "${value}"`);
    return items.map(one);
  };
}

/** A comma-separated list of names from `allowed` (or `none` for an empty list where `allowNone`). */
function nameList(name: string, allowed: readonly string[], allowNone = false) {
  return (value: string): string[] => {
    if (allowNone && value.trim() === 'none') return [];
    const items = value.split(',').map((v) => v.trim());
    const unknown = items.filter((v) => !allowed.includes(v));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(
        `unknown ${name} ${unknown.join(', ')} (choose from ${allowed.join(', ')})`,
      );
    }
    return items;
  };
}

/** DR2 settings `N:tau[:omega]`, comma-separated. */
function settingList(value: string): { n: number; tau: number; omega?: number }[] {
  return value.split(',').map((item) => {
    const match = /^\s*(\d+):(\d+)(?::(\d+))?\s*$/.exec(item);
    if (!match)
      throw new InvalidArgumentError(`settings must be N:tau or N:tau:omega, comma-separated; got "${item}"`);
    return { n: Number(match[1]), tau: Number(match[2]), ...(match[3] ? { omega: Number(match[3]) } : {}) };
  });
}

/** The command line as a copy-pastable string. */
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

  program
    .command('restore')
    .description('restore face images (files or folders) into an output folder')
    .argument('<inputs...>', 'image files or folders (folders: image extensions only)')
    .requiredOption('-o, --output <dir>', 'output folder; writes <dir>/<basename>.png')
    .addOption(
      new Option(
        '--preset <name>',
        'DR2 strength: auto (default; per face from its estimated degradation) or a fixed preset',
      ).choices([...DR2_PRESET_NAMES]),
    )
    .option(
      '--fidelity <f>',
      'with auto: 0..1, 0.5 = automatic, higher keeps more of the input, lower trusts the prior more',
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
      'respaced diffusion steps (100 = the paper\'s "every 10 steps")',
      integer('steps', 2),
    )
    .option(
      '--seed <seed>',
      'noise seed for every image (random and reported when absent)',
      integer('seed', 0, 2 ** 31 - 1),
    )
    .option('--save-dr2', "also write DR2's coarse output as <basename>.dr2.<ext>", false)
    .option('--model <manifest>', 'pipeline or denoiser manifest (default: the embedded model)')
    .option('--enhancer <manifest|none>', "enhancer manifest, or 'none' for DR2 output only")
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default('cpu'))
    .option(
      '--threads <n>',
      'CPU threads per model call (default: onnxruntime decides)',
      integer('threads', 1, 256),
    )
    .option(
      '--batch <B>',
      'files per engine call (all their faces share sampler runs; with --aligned, images per model call)',
      integer('batch', 1, 256),
      1,
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['png', 'jpeg', 'webp']).default('png'),
    )
    .option('--quality <q>', 'JPEG/WebP quality', integer('quality', 1, 100))
    .addOption(
      new Option('--fit <mode>', 'non-square inputs: pad (keep all) or crop (centre square)')
        .choices(['pad', 'crop'])
        .default('pad'),
    )
    .addOption(
      new Option('--upscale <factor>', 'output size = input size x factor (capped by the megapixel limit)')
        .choices(['1', '2', '4'])
        .default('2'),
    )
    .option(
      '--aligned',
      "inputs are aligned face crops (FFHQ or the model's framing): no detection, each restored whole",
      false,
    )
    .option(
      '--max-faces <n>',
      'faces restored per photo, largest first (default 20)',
      integer('max-faces', 0, 1000),
    )
    .option(
      '--min-face <px>',
      'skip faces whose box side is below this (input pixels)',
      integer('min-face', 0, 100000),
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
    .option('-r, --recursive', 'descend into sub-folders', false)
    .option('--max-megapixels <mp>', 'refuse larger images (default 50)', integer('max-megapixels', 1, 1000))
    .option('-q, --quiet', 'no progress output', false)
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (inputs: string[], opts: Record<string, unknown>) => {
      const params = {
        ...(opts.preset !== undefined ? { preset: opts.preset as string } : {}),
        ...(opts.fidelity !== undefined ? { fidelity: opts.fidelity as number } : {}),
        ...(opts.n !== undefined ? { n: opts.n as number } : {}),
        ...(opts.tau !== undefined ? { tau: opts.tau as number } : {}),
        ...(opts.omega !== undefined ? { omega: opts.omega as number } : {}),
        ...(opts.steps !== undefined ? { steps: opts.steps as number } : {}),
      };
      precheckParams(params);
      setStatus(
        await runRestore(
          {
            inputs,
            output: opts.output as string,
            params,
            ...(opts.seed !== undefined ? { seed: opts.seed as number } : {}),
            saveDr2: opts.saveDr2 as boolean,
            ...(opts.model !== undefined ? { model: opts.model as string } : {}),
            ...(opts.enhancer !== undefined ? { enhancer: opts.enhancer as string } : {}),
            device: opts.provider as Device,
            ...(opts.threads !== undefined ? { threads: opts.threads as number } : {}),
            batch: opts.batch as number,
            format: opts.format as 'png' | 'jpeg' | 'webp',
            ...(opts.quality !== undefined ? { quality: opts.quality as number } : {}),
            fit: opts.fit as 'pad' | 'crop',
            ...(opts.inputFraming !== undefined
              ? { inputFraming: opts.inputFraming as InputFramingMode }
              : {}),
            upscale: Number(opts.upscale) as 1 | 2 | 4,
            aligned: (opts.aligned as boolean) || opts.inputFraming !== undefined,
            ...(opts.maxFaces !== undefined ? { maxFaces: opts.maxFaces as number } : {}),
            ...(opts.minFace !== undefined ? { minFace: opts.minFace as number } : {}),
            saveFaces: opts.saveFaces as boolean,
            recursive: opts.recursive as boolean,
            ...(opts.maxMegapixels !== undefined ? { maxMegapixels: opts.maxMegapixels as number } : {}),
            quiet: opts.quiet as boolean,
            json: opts.json as boolean,
          },
          io,
        ),
      );
    });

  program
    .command('verify-trace')
    .description('check the engine against a reference fixture (schedule, lowpass or trace)')
    .argument('<dir>', 'fixture directory with case.json')
    .addOption(
      new Option('--provider <device>', 'execution provider for trace denoisers')
        .choices([...DEVICES])
        .default('cpu'),
    )
    .option('--verbose', 'print per-array / per-step details', false)
    .action(async (dir: string, opts: { provider: Device; verbose: boolean }) => {
      setStatus(await runVerifyTrace(dir, opts, io));
    });

  const splitNames = Object.keys(DEGRADATION_SPLITS);
  program
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
      integer('seed', 0, 2 ** 31 - 1),
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
      "DR2 presets to evaluate (auto: per-face choice and fusion), or 'none'",
      nameList('preset', [...DR2_PRESET_NAMES], true),
      [...DR2_PRESET_NAMES],
    )
    .option('--n <N>', 'an extra explicit setting: low-pass factor N (with --tau)', integer('N', 1, 4096))
    .option('--tau <tau>', 'an extra explicit setting: output step tau (with --n)', integer('tau', 0))
    .option('--omega <omega>', 'omega of the explicit setting (default from N and tau)', integer('omega', 1))
    .option('--settings <list>', 'more explicit settings, N:tau[:omega] comma-separated', settingList)
    .option('--steps <K>', 'respaced diffusion steps', integer('steps', 2))
    .option('--model <manifest>', 'pipeline or denoiser manifest (default: the embedded model)')
    .option('--enhancer <manifest|none>', "enhancer manifest, or 'none'")
    .addOption(new Option('--provider <device>', 'execution provider').choices([...DEVICES]).default('cpu'))
    .option('--threads <n>', 'CPU threads per model call', integer('threads', 1, 256))
    .option('--batch <B>', 'images per model call', integer('batch', 1, 256), 8)
    .option('--examples <n>', 'example rows in each strip', integer('examples', 0, 64), 4)
    .option(
      '--basis <file|none>',
      'eigenface basis for the identity proxy (default: the committed UTKFace-train basis)',
    )
    .addOption(
      new Option(
        '--clean-framing <mode>',
        "framing of the clean faces: model (like the model's crops) or ffhq (cut to the model's framing first)",
      )
        .choices(['model', 'ffhq'])
        .default('model'),
    )
    .requiredOption('-o, --out <dir>', 'output folder for the reports')
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
      const settings = [
        ...(opts.n !== undefined
          ? [
              {
                n: opts.n as number,
                tau: opts.tau as number,
                ...(opts.omega !== undefined ? { omega: opts.omega as number } : {}),
              },
            ]
          : []),
        ...((opts.settings as { n: number; tau: number; omega?: number }[] | undefined) ?? []),
      ];
      for (const s of settings) precheckParams(s);
      for (const n of opts.sweepN as number[]) precheckParams({ n });
      setStatus(
        await runEval(
          {
            clean: opts.clean as string,
            ...(opts.prefix !== undefined ? { prefix: opts.prefix as string } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit as number } : {}),
            seed: opts.seed as number,
            scales: (opts.scales as number[] | undefined) ?? (opts.sizes !== undefined ? [] : [4, 8, 16]),
            ...(opts.sizes !== undefined ? { sizes: opts.sizes as number[] } : {}),
            splits: opts.splits as string[],
            presets: opts.presets as string[],
            settings,
            ...(opts.steps !== undefined ? { steps: opts.steps as number } : {}),
            ...(opts.model !== undefined ? { model: opts.model as string } : {}),
            ...(opts.enhancer !== undefined ? { enhancer: opts.enhancer as string } : {}),
            device: opts.provider as Device,
            ...(opts.threads !== undefined ? { threads: opts.threads as number } : {}),
            batch: opts.batch as number,
            examples: opts.examples as number,
            ...(opts.basis !== undefined ? { basis: opts.basis as string } : {}),
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
    .option('--seed <seed>', 'seed of the iteration start', integer('seed', 0, 2 ** 31 - 1), 0)
    .requiredOption('-o, --out <file.json>', 'basis header to write (the .bin goes beside it)')
    .option('-q, --quiet', 'no progress output', false)
    .action(async (opts: Record<string, unknown>) => {
      setStatus(
        await runEvalBasis(
          {
            train: opts.train as string,
            ...(opts.prefix !== undefined ? { prefix: opts.prefix as string } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit as number } : {}),
            size: opts.size as number,
            components: opts.components as number,
            seed: opts.seed as number,
            out: opts.out as string,
            quiet: opts.quiet as boolean,
            commandLine: quoteCommand(argv),
          },
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
      // --help and --version exit with 0; commander has already printed the message.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof InvalidParametersError || error instanceof UsageError) {
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
