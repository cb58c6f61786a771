/**
 * Value parsers and option groups shared by the `dr2e` commands. Choices and defaults come from
 * the domain's one list of each (shared/src/restore-options.ts) and the engine's, so the help
 * never names a value the API or the engine would refuse.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEVICES, RESTORE_DEFAULTS, dropUndefined, type Device } from '../../../shared/src/index.js';

/**
 * An integer in [min, max], refusing anything else (`1.5`, `2x`, an empty value).
 *
 * @example
 * ```ts
 * command.option('--steps <K>', 'respaced diffusion steps', integer('steps', 2));
 * ```
 */
export function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) {
      // An open range reads "at least 2", not "between 2 and 9007199254740991"; the value is
      // echoed as typed (a 20-digit seed would print rounded).
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      throw new InvalidArgumentError(`${name} must be ${range}, got ${value.trim()}`);
    }
    return parsed;
  };
}

/**
 * A path that is not empty: `-o "$OUT"` with OUT unset would otherwise write into the current
 * folder without a word.
 */
export function nonEmptyPath(name: string) {
  return (value: string): string => {
    if (value.trim() === '')
      throw new InvalidArgumentError(`${name} is empty (an unset variable?): name a folder, e.g. -o out`);
    return value;
  };
}

/** A decimal number from 0 to 1 (`0.3`, `.5`, `1`; not `0x1`, `1e-1`). */
export function fraction(name: string) {
  return (value: string): number => {
    const parsed = Number(value.trim());
    // Number() also reads hexadecimal and exponents: `--fidelity 0x1` ran at 1.
    if (!/^(\d+\.?\d*|\.\d+)$/.test(value.trim()) || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
      throw new InvalidArgumentError(`${name} must be a number from 0 to 1, got "${value}"`);
    }
    return parsed;
  };
}

/** A comma-separated list of integers, each checked like `integer`. */
export function integerList(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const one = integer(name, min, max);
  return (value: string): number[] => {
    const items = value.split(',').map((v) => v.trim());
    if (items.some((v) => v === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list, got "${value}"`);
    return items.map(one);
  };
}

/** A comma-separated list of names from `allowed` (or `none` for an empty list where `allowNone`). */
export function nameList(name: string, allowed: readonly string[], allowNone = false) {
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

/** An explicit DR2 setting: low-pass factor N, output step tau and optionally start step omega. */
export interface Dr2Setting {
  n: number;
  tau: number;
  omega?: number;
}

/** DR2 settings `N:tau[:omega]`, comma-separated. */
export function settingList(value: string): Dr2Setting[] {
  return value.split(',').map((item) => {
    const match = /^\s*(\d+):(\d+)(?::(\d+))?\s*$/.exec(item);
    if (!match)
      throw new InvalidArgumentError(`settings must be N:tau or N:tau:omega, comma-separated; got "${item}"`);
    return dropUndefined({
      n: Number(match[1]),
      tau: Number(match[2]),
      omega: match[3] ? Number(match[3]) : undefined,
    });
  });
}

/** The execution device option of every command that runs models. */
export function deviceOption(help = 'execution provider'): Option {
  return new Option('--provider <device>', help).choices([...DEVICES]).default(RESTORE_DEFAULTS.device);
}

/** What `--model`, `--enhancer`, `--provider`, `--threads` and `--batch` parse to. */
export interface EngineCliOptions {
  model?: string;
  enhancer?: string;
  device: Device;
  threads?: number;
  batch: number;
}

/**
 * Adds the options of a command that loads and runs the engine: `--model`, `--enhancer`,
 * `--provider`, `--threads` and `--batch` (whose meaning and default differ per command).
 * Read them back with {@link engineCliOptions}.
 */
export function addEngineOptions(command: Command, batch: { help: string; default: number }): Command {
  return command
    .option('--model <manifest>', 'pipeline or denoiser manifest (default: the embedded model)')
    .option('--enhancer <manifest|none>', "enhancer manifest, or 'none' for DR2 output only")
    .addOption(deviceOption())
    .option(
      '--threads <n>',
      'CPU threads per model call (default: onnxruntime decides)',
      integer('threads', 1, 256),
    )
    .option('--batch <B>', batch.help, integer('batch', 1, 256), batch.default);
}

/** The engine options of a command's parsed options (see {@link addEngineOptions}). */
export function engineCliOptions(opts: Record<string, unknown>): EngineCliOptions {
  return dropUndefined({
    model: opts.model as string | undefined,
    enhancer: opts.enhancer as string | undefined,
    device: opts.provider as Device,
    threads: opts.threads as number | undefined,
    batch: opts.batch as number,
  });
}
