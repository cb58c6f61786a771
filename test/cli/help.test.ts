import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEVICES,
  FIXED_PRESETS,
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  MAX_SEED,
  OUTPUT_FORMATS,
  PRESETS,
  RESTORE_DEFAULTS,
  UPSCALE_FACTORS,
} from '../../shared/src/index.js';
import { runCli } from './cli-io.js';

/** The help text of one option, joined onto one line (commander wraps long descriptions). */
function optionHelp(help: string, flag: string): string {
  const lines = help.split('\n');
  const start = lines.findIndex((line) => line.trimStart().startsWith(flag));
  expect(start, `${flag} in the help`).toBeGreaterThanOrEqual(0);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => /^\s+-/.test(line));
  return [lines[start], ...rest.slice(0, end < 0 ? rest.length : end)].map((l) => (l ?? '').trim()).join(' ');
}

describe('dr2e help', () => {
  it("lists restore's choices and defaults from the one source of each", async () => {
    // Act
    const { status, stdout } = await runCli(['restore', '--help']);
    // Assess
    expect(status).toBe(0);
    const preset = optionHelp(stdout, '--preset');
    expect(preset).toContain(`choices: ${PRESETS.map((p) => `"${p}"`).join(', ')}`);
    expect(preset).toContain(FIXED_PRESETS.join(', '));
    expect(preset).toContain(`default ${RESTORE_DEFAULTS.preset}`);
    expect(optionHelp(stdout, '--fidelity')).toContain(String(RESTORE_DEFAULTS.fidelity));
    expect(optionHelp(stdout, '--steps')).toContain(`default ${RESTORE_DEFAULTS.steps}`);
    expect(optionHelp(stdout, '--provider')).toContain(
      `choices: ${DEVICES.map((d) => `"${d}"`).join(', ')}, default: "${RESTORE_DEFAULTS.device}"`,
    );
    expect(optionHelp(stdout, '--format')).toContain(
      `choices: ${OUTPUT_FORMATS.map((f) => `"${f}"`).join(', ')}, default: "${RESTORE_DEFAULTS.format}"`,
    );
    expect(optionHelp(stdout, '--upscale')).toContain(
      `choices: ${UPSCALE_FACTORS.map((f) => `"${f}"`).join(', ')}, default: "${RESTORE_DEFAULTS.upscale}"`,
    );
    expect(optionHelp(stdout, '--max-faces')).toContain(`default ${RESTORE_DEFAULTS.maxFaces}`);
  });

  it('offers the same devices to every command that runs models', async () => {
    for (const command of ['verify-trace', 'eval']) {
      const { stdout } = await runCli([command, '--help']);
      expect(optionHelp(stdout, '--provider')).toContain(DEVICES.map((d) => `"${d}"`).join(', '));
    }
  });
});

describe('dr2e restore face limits', () => {
  it.each([
    ['--max-faces', '0', `max-faces must be between 1 and ${MAX_FACES_LIMIT}`],
    ['--max-faces', String(MAX_FACES_LIMIT + 1), `max-faces must be between 1 and ${MAX_FACES_LIMIT}`],
    ['--min-face', String(MAX_MIN_FACE + 1), `min-face must be between 0 and ${MAX_MIN_FACE}`],
  ])('refuses %s %s with the job API bounds, before reading any file', async (flag, value, message) => {
    // Act
    const { status, stderr } = await runCli(['restore', 'no-such-photo.jpg', flag, value]);
    // Assess
    expect(status).toBe(2);
    expect(stderr).toContain(message);
  });
});

describe('dr2e restore --seed', () => {
  it("takes every seed the job API takes, so an API job's seed can be replayed", async () => {
    // Act: the largest API seed is accepted (the run then fails on the missing file, not the seed).
    const largest = await runCli([
      'restore',
      'no-such-photo.jpg',
      '-o',
      'unused',
      '--seed',
      String(MAX_SEED),
    ]);
    const beyond = await runCli([
      'restore',
      'no-such-photo.jpg',
      '-o',
      'unused',
      '--seed',
      String(MAX_SEED + 1),
    ]);
    // Assess
    expect(largest.stderr).not.toContain('seed must be');
    expect(beyond.status).toBe(2);
    expect(beyond.stderr).toContain(`seed must be between 0 and ${MAX_SEED}`);
  });
});

describe('dr2e restore option values', () => {
  it.each([
    [['--steps', '0'], 'steps must be at least 2, got 0'],
    [['--fidelity', '0x1'], 'fidelity must be a number from 0 to 1, got "0x1"'],
    [['--fidelity', '1e-1'], 'fidelity must be a number from 0 to 1, got "1e-1"'],
    [['--seed', '99999999999999999999'], 'got 99999999999999999999'],
  ])('refuses %j, saying what it takes and echoing the value as typed', async (flags, message) => {
    // Act
    const { status, stderr } = await runCli(['restore', 'no-such-photo.jpg', '-o', 'unused', ...flags]);
    // Assess
    expect(status).toBe(2);
    expect(stderr).toContain(message);
  });

  it('refuses an empty output folder (an unset variable) instead of writing into the current folder', async () => {
    // Act
    const { status, stderr } = await runCli(['restore', 'no-such-photo.jpg', '-o', '']);
    // Assess
    expect(status).toBe(2);
    expect(stderr).toContain('output folder is empty');
  });
});

describe('dr2e restore of a file whose name starts with a dash', () => {
  it('says to write it as ./-name when commander takes it for an option', async () => {
    // Prepare: such a file in the current folder
    const before = process.cwd();
    const dir = await mkdtemp(path.join(tmpdir(), 'dr2e-dash-'));
    await writeFile(path.join(dir, '-dash.jpg'), 'x');
    process.chdir(dir);
    try {
      // Act
      const { status, stderr } = await runCli(['restore', '-dash.jpg', '-o', 'out']);
      const other = await runCli(['restore', '-nosuch.jpg', '-o', 'out']);
      // Assess
      expect(status).toBe(2);
      expect(stderr).toContain('hint: to restore the file -dash.jpg, write it as ./-dash.jpg');
      expect(other.stderr).not.toContain('hint:');
    } finally {
      process.chdir(before);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
