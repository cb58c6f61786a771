/**
 * Transparent huge pages for the process's large buffers: the entry points relaunch themselves
 * once with glibc's `glibc.malloc.hugetlb=1` tunable, which makes malloc ask the kernel for
 * 2 MiB pages (madvise(MADV_HUGEPAGE)) on the memory it maps.
 *
 * Why: the photo stage works on buffers of tens to hundreds of MB (a 12 MP photo's pixels,
 * a 48 MP output's difference image, libvips' and onnxruntime's own) that
 * glibc maps fresh from the kernel, and each 4 KiB page costs a fault when first touched: about
 * 10 µs on the 2-core VMs this project is measured on, so decoding a 12 MP JPEG paid 90 ms for
 * its 36 MB of pixels. With huge pages one fault maps 2 MiB. Measured with `npm run
 * bench:photo` (docs/benchmarks): decode 145-150 → 70-109 ms, added by the photo stage
 * 1115-1134 → 917-1017 ms, the first photo of a process 0.1-0.6 s faster, `dr2e restore` of one
 * 12 MP photo 5.7 → 4.7-5.0 s, peak memory unchanged.
 *
 * Many kernels (this project's VMs', and many distributions' defaults) give huge pages only to
 * memory that asks for them (`madvise` in /sys/kernel/mm/transparent_hugepage/enabled); under
 * `always` the kernel gives them anyway, under `never` not at all, and in either case nothing
 * is relaunched.
 * glibc reads its tunables only when a process starts, hence the relaunch. The worker's image
 * sets the variable in its environment instead (gpu-task/Dockerfile).
 *
 * `DR2E_HUGE_PAGES=off` keeps the process as it was started (for A/B measurements, or a host
 * where huge pages misbehave).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The glibc tunable (glibc 2.35 and later) that makes malloc advise huge pages. */
export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

/** The environment variable that turns the relaunch off (`off`). */
export const HUGE_PAGES_SWITCH = 'DR2E_HUGE_PAGES';

/** The kernel's transparent huge page mode, or null where it cannot be read (not Linux). */
export type ThpMode = 'always' | 'madvise' | 'never';

/** What the process knows about its platform, for hugePagesDecision. */
export interface HostFacts {
  platform: NodeJS.Platform;
  /** glibc's version ("2.36"), or undefined under another C library (musl) or OS. */
  glibcVersion: string | undefined;
  thpMode: ThpMode | null;
}

/** Whether to relaunch, and if not, why not (for logs and tests). */
export type HugePagesDecision =
  | { relaunch: true; env: NodeJS.ProcessEnv }
  | {
      relaunch: false;
      reason:
        | 'turned_off'
        | 'already_set'
        | 'debugging'
        | 'not_glibc'
        | 'glibc_too_old'
        | 'kernel_always'
        | 'kernel_never';
    };

/** Oldest glibc that knows `glibc.malloc.hugetlb`. */
const MIN_GLIBC: readonly [number, number] = [2, 35];

/** Node flags whose session belongs to the process started with them (a debugger, a profile). */
const PROCESS_BOUND_FLAGS = /^--(inspect|inspect-brk|inspect-wait|cpu-prof|heap-prof)(=|$)/;

/**
 * Decide whether a process started with `env` and Node flags `execArgv` on `host` (read only
 * when the environment leaves the question open: reading it costs a few ms) should relaunch
 * itself with the tunable, and with which environment (other tunables kept). A process being
 * debugged or profiled is not relaunched: the debugger or profile would get the idle parent.
 *
 * @example
 * ```ts
 * hugePagesDecision({}, () => ({ platform: 'linux', glibcVersion: '2.36', thpMode: 'madvise' }));
 * // { relaunch: true, env: { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } }
 * ```
 */
export function hugePagesDecision(
  env: NodeJS.ProcessEnv,
  host: () => HostFacts,
  execArgv: readonly string[] = [],
): HugePagesDecision {
  if (env[HUGE_PAGES_SWITCH]?.trim().toLowerCase() === 'off')
    return { relaunch: false, reason: 'turned_off' };
  const tunables = env.GLIBC_TUNABLES ?? '';
  // Set by the user (whatever value) or by this relaunch: the child must not relaunch again.
  if (tunables.split(':').some((t) => t.startsWith('glibc.malloc.hugetlb='))) {
    return { relaunch: false, reason: 'already_set' };
  }
  const flags = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.some((flag) => PROCESS_BOUND_FLAGS.test(flag))) return { relaunch: false, reason: 'debugging' };
  const facts = host();
  if (facts.platform !== 'linux' || facts.glibcVersion === undefined)
    return { relaunch: false, reason: 'not_glibc' };
  const [major = 0, minor = 0] = facts.glibcVersion.split('.').map(Number);
  if (major < MIN_GLIBC[0] || (major === MIN_GLIBC[0] && minor < MIN_GLIBC[1])) {
    return { relaunch: false, reason: 'glibc_too_old' };
  }
  if (facts.thpMode === 'always') return { relaunch: false, reason: 'kernel_always' };
  if (facts.thpMode !== 'madvise') return { relaunch: false, reason: 'kernel_never' };
  return {
    relaunch: true,
    env: { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${HUGE_PAGES_TUNABLE}` : HUGE_PAGES_TUNABLE },
  };
}

/** The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise] never"). */
export function parseThpMode(text: string): ThpMode | null {
  const chosen = /\[(always|madvise|never)\]/.exec(text);
  return chosen ? (chosen[1] as ThpMode) : null;
}

/** This process's platform facts (reads one sysfs file; about 7 ms for the glibc version). */
export function currentHost(): HostFacts {
  let thpMode: ThpMode | null = null;
  if (process.platform === 'linux') {
    try {
      thpMode = parseThpMode(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
    } catch {
      thpMode = null; // no sysfs (a sandbox): treated as `never`
    }
  }
  // Node's diagnostic report names the C library's version in its header (glibc only).
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } } | undefined;
  const version = report?.header?.glibcVersionRuntime;
  return {
    platform: process.platform,
    glibcVersion: typeof version === 'string' ? version : undefined,
    thpMode,
  };
}

/** Whether this process runs with the tunable (set by the relaunch, the image, or the user). */
export function hugePagesRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.GLIBC_TUNABLES ?? '').split(':').includes(HUGE_PAGES_TUNABLE);
}

/** Signals passed on to the relaunched child. */
const PASSED_ON: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Relaunch this process (same Node, flags, script and arguments) with the tunable when
 * hugePagesDecision says so, and wait for it: resolves to the exit code the caller should exit
 * with, or null when the caller should go on and do its work itself.
 *
 * The child shares the terminal and the process group. SIGINT, SIGTERM and SIGHUP sent to this
 * process are passed on; one sent to the whole group (Ctrl-C in a terminal, a supervisor that
 * signals the group) therefore reaches the child twice within milliseconds, which a program
 * that counts its signals must take as one (the local stack does). A child ended by a signal
 * ends this process by the same signal. A child that cannot be started (no memory for a second
 * process, say) is no reason to fail: the caller goes on without huge pages.
 *
 * @example
 * ```ts
 * const exitCode = await relaunchWithHugePages();
 * if (exitCode !== null) process.exitCode = exitCode;
 * else await main();
 * ```
 */
export async function relaunchWithHugePages(
  host: () => HostFacts = currentHost,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | null> {
  const decision = hugePagesDecision(env, host, process.execArgv);
  if (!decision.relaunch) return null;
  let child: ChildProcess | null = null;
  // Listening before the child exists: a signal in between would otherwise end this process
  // and leave the child running.
  const forward = (signal: NodeJS.Signals): void => {
    child?.kill(signal);
  };
  const stopListening = (): void => {
    for (const signal of PASSED_ON) process.off(signal, forward);
  };
  for (const signal of PASSED_ON) process.on(signal, forward);
  try {
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: decision.env,
    });
  } catch {
    // Node throws (rather than emitting 'error') for some failures to start, such as ENOMEM.
    stopListening();
    return null;
  }
  const started = child;
  return new Promise<number | null>((resolve) => {
    started.once('error', () => {
      stopListening();
      resolve(null);
    });
    started.once('exit', (code, signal) => {
      stopListening();
      if (signal) {
        // Ended by a signal: end the same way, so a shell or supervisor sees what happened.
        process.kill(process.pid, signal);
        resolve(128 + (os.constants.signals[signal] ?? 0));
        return;
      }
      resolve(code ?? 1);
    });
  });
}
