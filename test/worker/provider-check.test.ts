/**
 * The worker's start-up execution-provider check: a one-node model runs on the CPU provider; a
 * provider that cannot load gives a reason, and the worker process then exits 78 with one clear
 * log line before it takes any job (on ECS it also marks itself unhealthy for the health check).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkExecutionProvider,
  markUnhealthy,
  PROVIDER_UNAVAILABLE_EXIT_CODE,
  UNHEALTHY_FILE,
} from '../../gpu-task/src/worker/provider-check.js';
import { HEALTH_CHECK_COMMAND, UNHEALTHY_FILE as INFRA_UNHEALTHY_FILE } from '../../infra/lib/workers.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** True when this machine has onnxruntime-node's CUDA provider library installed. */
function cudaProviderInstalled(): boolean {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return existsSync(path.join(pkg, 'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so'));
}

describe('execution provider check', () => {
  it('runs the one-node model on the CPU provider', async () => {
    // Act
    const check = await checkExecutionProvider('cpu');
    // Assess
    expect(check).toMatchObject({ ok: true, device: 'cpu' });
  });

  it.skipIf(cudaProviderInstalled())('reports why the CUDA provider cannot run here', async () => {
    // Act
    const check = await checkExecutionProvider('cuda');
    // Assess
    expect(check.ok).toBe(false);
    expect(!check.ok && check.reason).toContain('libonnxruntime_providers_cuda.so');
  });

  it('writes the reason where the health check prints it', async () => {
    // Prepare
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-unhealthy-'));
    const file = path.join(dir, 'unhealthy');
    // Act
    await markUnhealthy('execution provider cuda unavailable: libcudnn.so.9 not found', file);
    // Assess
    expect(await readFile(file, 'utf8')).toBe(
      'execution provider cuda unavailable: libcudnn.so.9 not found\n',
    );
    expect(INFRA_UNHEALTHY_FILE).toBe(UNHEALTHY_FILE);
    expect(HEALTH_CHECK_COMMAND).toMatch(
      /^if test -f \/tmp\/dr2e-worker-unhealthy; then cat .*; exit 1; fi;/,
    );
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(cudaProviderInstalled())(
    'makes the worker process exit 78 with one clear line before it takes a job',
    async () => {
      // Prepare
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-provider-'));
      // Act
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'gpu-task/src/worker/main.ts'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '',
          DR2E_MODE: 'local',
          DR2E_DEVICE: 'cuda',
          DR2E_DATA_DIR: dataDir,
          DR2E_API_KEYS: 'dr2e_sk_provider_check_test',
        },
      });
      // Assess
      const lines = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const failure = lines.find(
        (line) => line.msg === 'execution provider unavailable: this worker takes no job',
      );
      expect(result.status).toBe(PROVIDER_UNAVAILABLE_EXIT_CODE);
      expect(failure).toMatchObject({ level: 'error', device: 'cuda', exitCode: 78 });
      expect(String(failure?.reason)).toContain('libonnxruntime_providers_cuda.so');
      expect(lines.map((line) => line.msg)).not.toContain('worker process ready');
      await rm(dataDir, { recursive: true, force: true });
    },
    70_000,
  );
});
