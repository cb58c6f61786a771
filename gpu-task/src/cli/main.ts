/**
 * The `dr2e` command line: `restore` (files and folders), `verify-trace` (reference fixtures)
 * and `info` (a model's manifest). `main` returns an exit status instead of exiting, so tests
 * call it in-process.
 *
 * Exit statuses: 0 success, 1 some work failed (a file, a fixture over tolerance), 2 bad usage
 * (unknown flag, invalid value, inconsistent DR2 parameters, unusable model).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EngineError, InvalidParametersError } from '../engine/errors.js';
import { DEVICES, type Device } from '../engine/model/providers.js';
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

class UsageError extends Error {}

function buildProgram(io: CommandIo, setStatus: (status: number) => void): Command {
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
      new Option('--preset <name>', 'DR2 strength preset (paper demo values)').choices([
        'mild',
        'medium',
        'severe',
      ]),
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
    .option('--batch <B>', 'images per model call', integer('batch', 1, 256), 1)
    .addOption(
      new Option('--format <format>', 'output format').choices(['png', 'jpeg', 'webp']).default('png'),
    )
    .option('--quality <q>', 'JPEG/WebP quality', integer('quality', 1, 100))
    .addOption(
      new Option('--fit <mode>', 'non-square inputs: pad (keep all) or crop (centre square)')
        .choices(['pad', 'crop'])
        .default('pad'),
    )
    .option('-r, --recursive', 'descend into sub-folders', false)
    .option('--max-megapixels <mp>', 'refuse larger images (default 50)', integer('max-megapixels', 1, 1000))
    .option('-q, --quiet', 'no progress output', false)
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (inputs: string[], opts: Record<string, unknown>) => {
      const params = {
        ...(opts.preset !== undefined ? { preset: opts.preset as string } : {}),
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
  const program = buildProgram(io, (s) => {
    status = s;
  });
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
