/**
 * Relaunching with glibc's huge-page tunable (gpu-task/src/launch): when it is done, what the
 * relaunched process sees, and that the relaunch is invisible to whoever started the program
 * (output, exit code, SIGTERM, death by a signal).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  HUGE_PAGES_TUNABLE,
  hugePagesDecision,
  hugePagesRequested,
  parseThpMode,
  type HostFacts,
} from '../../gpu-task/src/launch/index.js';

const MADVISE_HOST: HostFacts = { platform: 'linux', glibcVersion: '2.36', thpMode: 'madvise' };
const on = (host: HostFacts) => (): HostFacts => host;

describe('hugePagesDecision', () => {
  it('relaunches with the tunable on glibc 2.35+ under a madvise kernel, keeping the rest of the environment', () => {
    const decision = hugePagesDecision({ PATH: '/bin' }, on(MADVISE_HOST));
    expect(decision).toEqual({ relaunch: true, env: { PATH: '/bin', GLIBC_TUNABLES: HUGE_PAGES_TUNABLE } });
  });

  it("appends to the user's own tunables", () => {
    const decision = hugePagesDecision({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, on(MADVISE_HOST));
    expect(decision.relaunch && decision.env.GLIBC_TUNABLES).toBe(
      `glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}`,
    );
  });

  it.each([
    [
      'the relaunched child (tunable set)',
      { GLIBC_TUNABLES: HUGE_PAGES_TUNABLE },
      MADVISE_HOST,
      'already_set',
    ],
    [
      'a user who chose another value',
      { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' },
      MADVISE_HOST,
      'already_set',
    ],
    ['DR2E_HUGE_PAGES=off', { DR2E_HUGE_PAGES: 'off' }, MADVISE_HOST, 'turned_off'],
    ['DR2E_HUGE_PAGES=OFF', { DR2E_HUGE_PAGES: ' OFF ' }, MADVISE_HOST, 'turned_off'],
    ['macOS', {}, { ...MADVISE_HOST, platform: 'darwin', glibcVersion: undefined }, 'not_glibc'],
    ['musl (Alpine)', {}, { ...MADVISE_HOST, glibcVersion: undefined }, 'not_glibc'],
    ['glibc 2.34', {}, { ...MADVISE_HOST, glibcVersion: '2.34' }, 'glibc_too_old'],
    ['glibc 1.99', {}, { ...MADVISE_HOST, glibcVersion: '1.99' }, 'glibc_too_old'],
    ['a kernel that always gives huge pages', {}, { ...MADVISE_HOST, thpMode: 'always' }, 'kernel_always'],
    ['a kernel that never does', {}, { ...MADVISE_HOST, thpMode: 'never' }, 'kernel_never'],
    ['no sysfs', {}, { ...MADVISE_HOST, thpMode: null }, 'kernel_never'],
  ] as const)('does not relaunch %s', (_, env, host, reason) => {
    expect(hugePagesDecision(env, on(host))).toEqual({ relaunch: false, reason });
  });

  it.each([
    ['--inspect', ['--inspect'], {}],
    ['--inspect-brk=9229', ['--inspect-brk=9229'], {}],
    ['--cpu-prof', ['--import', 'tsx', '--cpu-prof'], {}],
    ['NODE_OPTIONS=--inspect', [], { NODE_OPTIONS: '--max-old-space-size=4096 --inspect' }],
  ])(
    'does not relaunch a process started with %s (its debugger or profile would get the idle parent)',
    (_, execArgv, env) => {
      expect(hugePagesDecision(env, on(MADVISE_HOST), execArgv)).toEqual({
        relaunch: false,
        reason: 'debugging',
      });
    },
  );

  it('reads the host only when the environment leaves the question open', () => {
    const host = (): HostFacts => {
      throw new Error('read');
    };
    expect(hugePagesDecision({ DR2E_HUGE_PAGES: 'off' }, host).relaunch).toBe(false);
    expect(hugePagesDecision({ GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }, host).relaunch).toBe(false);
    expect(() => hugePagesDecision({}, host)).toThrow('read');
  });

  it('relaunches on glibc 3.0 and 2.40 (versions compare as numbers)', () => {
    expect(hugePagesDecision({}, on({ ...MADVISE_HOST, glibcVersion: '3.0' })).relaunch).toBe(true);
    expect(hugePagesDecision({}, on({ ...MADVISE_HOST, glibcVersion: '2.40' })).relaunch).toBe(true);
  });
});

describe('parseThpMode and hugePagesRequested', () => {
  it('reads the bracketed mode of the sysfs file', () => {
    expect(parseThpMode('always [madvise] never\n')).toBe('madvise');
    expect(parseThpMode('[always] madvise never\n')).toBe('always');
    expect(parseThpMode('always madvise [never]\n')).toBe('never');
    expect(parseThpMode('')).toBeNull();
  });

  it('sees the tunable among others', () => {
    expect(hugePagesRequested({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}` })).toBe(
      true,
    );
    expect(hugePagesRequested({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' })).toBe(false);
    expect(hugePagesRequested({})).toBe(false);
  });
});

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'relaunching.ts');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

/** Run the fixture program; `onLine` sees its output lines and the process. */
function runFixture(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onLine: (line: string, child: ReturnType<typeof spawn>) => void = () => undefined,
  { ownGroup = false }: { ownGroup?: boolean } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { GLIBC_TUNABLES: _, DR2E_HUGE_PAGES: __, ...base } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
      // Its own process group, to be signalled as a terminal or supervisor signals a group.
      detached: ownGroup,
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      for (const line of chunk.split('\n')) if (line) onLine(line, child);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout }));
  });
}

describe('relaunchWithHugePages', () => {
  it("runs the program once, in a child with the tunable, with the child's output and exit code", async () => {
    const run = await runFixture(['exit', '3'], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    expect(run.stdout).toBe(`tunables=glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}\n`);
    expect(run.code).toBe(3);
  });

  it('does not relaunch when turned off', async () => {
    const run = await runFixture(['exit', '0'], { DR2E_HUGE_PAGES: 'off' });
    expect(run.stdout).toBe('tunables=none\n');
    expect(run.code).toBe(0);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'passes %s sent to it alone on, so the program drains and exits as it would alone',
    async (signal) => {
      const run = await runFixture(['drain'], {}, (line, child) => {
        if (line === 'ready') child.kill(signal);
      });
      expect(run.stdout.split('\n')).toContain(`drained ${signal}`);
      expect(run.code).toBe(0);
      expect(run.signal).toBeNull();
    },
  );

  it('delivers a signal sent to the whole group twice within 300 ms, which the program takes as one', async () => {
    const run = await runFixture(
      ['drain'],
      {},
      (line, child) => {
        if (line === 'ready') process.kill(-child.pid!, 'SIGTERM');
      },
      { ownGroup: true },
    );
    expect(run.stdout.split('\n').filter((l) => l.startsWith('drained'))).toEqual(['drained SIGTERM']);
    expect(run.code).toBe(0);
  });

  it('ends by the signal that ended the child', async () => {
    const run = await runFixture(['signal', 'SIGUSR2']);
    expect(run.stdout).toContain(`tunables=${HUGE_PAGES_TUNABLE}`);
    expect(run.signal).toBe('SIGUSR2');
  });
});
