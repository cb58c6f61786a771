/**
 * End-to-end fixtures: the API on 127.0.0.1 (in this process), workers in this process or as
 * real child processes (`gpu-task/src/worker/main.ts`), a data directory they share, a client
 * and a webhook receiver that verifies signatures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApiServer, type ApiServer } from '../../../functions/src/index.js';
import {
  Dr2eClient,
  startLocalStack,
  type LocalStack,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../../gpu-task/src/local/index.js';
import { createJsonLogger } from '../../../shared/src/index.js';
import type { RestoreEngine, WorkerSettings } from '../../../gpu-task/src/worker/index.js';
import { loadRuntimeConfig } from '../../../shared/runtime/index.js';
import { TINY_MODEL } from '../../worker/helpers/worker-env.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
export const API_KEY = 'dr2e_sk_e2e-test-key-0123456789abcdef';

/** Parsed JSON log lines, with a way to wait for one. */
export class LogLines {
  readonly lines: Record<string, unknown>[] = [];

  push(text: string): void {
    for (const raw of text.split('\n')) {
      if (!raw.trim().startsWith('{')) continue;
      try {
        this.lines.push(JSON.parse(raw) as Record<string, unknown>);
      } catch {
        // A partial line; the writer flushes whole lines, so this is noise from elsewhere.
      }
    }
  }

  /** Lines with this `msg` (and, when given, this job id). */
  find(msg: string, jobId?: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.msg === msg && (jobId === undefined || line.jobId === jobId));
  }
}

/** Base environment of a local-mode process on `dataDir`. */
export function localEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DR2E_MODE: 'local',
    DR2E_DATA_DIR: dataDir,
    DR2E_API_KEYS: API_KEY,
    DR2E_MODEL: TINY_MODEL,
    DR2E_LOG_LEVEL: 'debug',
    ...extra,
  };
}

export async function tempDataDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-e2e-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The API alone (no worker), on a free port, logging into `logs`. */
export async function startApi(
  dataDir: string,
  logs: LogLines,
  extra: Record<string, string> = {},
): Promise<ApiServer> {
  const config = loadRuntimeConfig({ ...localEnv(dataDir, extra), PORT: '0' });
  return startApiServer({
    config,
    logger: createJsonLogger({ level: 'debug', base: { service: 'api' }, write: (line) => logs.push(line) }),
  });
}

/** API and worker in this process (the `npm start` stack) with test settings. */
export async function startStack(
  dataDir: string,
  logs: LogLines,
  options: {
    engine?: RestoreEngine;
    workerSettings?: Partial<WorkerSettings>;
    env?: Record<string, string>;
  } = {},
): Promise<LocalStack> {
  return startLocalStack({
    env: { ...localEnv(dataDir, options.env), PORT: '0' },
    log: createJsonLogger({ level: 'debug', write: (line) => logs.push(line) }),
    ...(options.engine ? { engine: options.engine } : {}),
    workerSettings: {
      pollWaitSeconds: 0.2,
      batchWindowMs: 100,
      progressIntervalMs: 0,
      retryBackoff: { baseMs: 0, maxMs: 0, jitter: 0 },
      ...options.workerSettings,
    },
    // Three attempts without waits (the schedule itself is tested with a fake clock).
    webhookSchedule: { delaysMs: [0, 0], jitter: 0 },
  });
}

/** A worker as a real child process (`node --import tsx gpu-task/src/worker/main.ts`). */
export interface WorkerProcess {
  child: ChildProcess;
  logs: LogLines;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the worker logged that it is ready (model loaded, loop started). */
  ready: Promise<void>;
}

export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const logs = new LogLines();
  const child = spawn(process.execPath, ['--import', 'tsx', 'gpu-task/src/worker/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const end = buffered.lastIndexOf('\n');
    if (end >= 0) {
      logs.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
    }
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      logs.push(buffered);
      resolve({ code, signal });
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (logs.find('worker started').length > 0) {
        clearInterval(timer);
        resolve();
      }
    }, 25);
    void exited.then(({ code }) => {
      clearInterval(timer);
      reject(new Error(`worker exited (${code}) before it was ready: ${stderr.slice(-2000)}`));
    });
  });
  ready.catch(() => undefined);
  return { child, logs, exited, ready };
}

/** Client and receiver for the tenant of {@link API_KEY}. */
export async function connect(url: string): Promise<{ client: Dr2eClient; receiver: WebhookReceiver }> {
  const client = new Dr2eClient({ baseUrl: url, apiKey: API_KEY });
  const tenant = await client.tenant();
  const receiver = await startWebhookReceiver({ secret: tenant.webhookSecret });
  return { client, receiver };
}

/**
 * Creates a job subscribed to every event and uploads `bytes` through its signed form. Jobs are
 * `aligned` (the pattern images stand in for aligned face crops) and run a fixed schedule unless
 * `request` says otherwise.
 */
export async function submit(
  client: Dr2eClient,
  receiver: WebhookReceiver,
  bytes: Uint8Array,
  request: Record<string, unknown> = {},
  contentType = 'image/png',
): Promise<{ id: string; uploadStatus: number }> {
  // A fixed schedule (the paper's mild setting on the 10-step schedule: three sampler steps)
  // unless the request picks one: the tests count steps, and `auto` would choose per image.
  const picksSchedule = ['preset', 'n', 'tau', 'omega'].some((key) => key in request);
  const created = await client.createJob({
    steps: 10,
    ...(picksSchedule ? {} : { n: 4, tau: 2, omega: 4 }),
    aligned: true,
    ...request,
    webhook: { url: receiver.url, events: ['job.succeeded', 'job.failed', 'job.canceled'] },
  });
  const uploadStatus = await client.upload(created.upload, bytes, contentType);
  return { id: created.id, uploadStatus };
}
