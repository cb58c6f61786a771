/**
 * The worker as a real process (`gpu-task/src/worker/main.ts`, local mode) next to the API on
 * 127.0.0.1, sharing one data directory: killed with SIGKILL in the middle of a batch and
 * started again, every job finishes exactly once; on SIGTERM it finishes the running batch, or
 * releases it at the deadline, and exits 0; a model it must refuse leaves every job queued.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../functions/src/index.js';
import type { Dr2eClient, WebhookReceiver } from '../../gpu-task/src/local/index.js';
import { patternPng } from '../worker/helpers/images.js';
import { waitFor } from '../worker/helpers/worker-env.js';
import {
  API_KEY,
  REPO_ROOT,
  connect,
  localEnv,
  LogLines,
  startApi,
  startWorkerProcess,
  submit,
  tempDataDir,
  type WorkerProcess,
} from './helpers/stack.js';

let data: Awaited<ReturnType<typeof tempDataDir>>;
let api: ApiServer;
let client: Dr2eClient;
let receiver: WebhookReceiver;
const workers: WorkerProcess[] = [];

beforeEach(async () => {
  data = await tempDataDir();
  api = await startApi(data.dir, new LogLines());
  ({ client, receiver } = await connect(api.url));
});
afterEach(async () => {
  for (const worker of workers.splice(0)) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await worker.exited;
  }
  await receiver.close();
  await api.close();
  await data.remove();
});

/** A worker process on the shared data dir, with a 4 s lease and 1 s polls. */
function worker(extra: Record<string, string> = {}): WorkerProcess {
  const started = startWorkerProcess(
    localEnv(data.dir, {
      DR2E_PUBLIC_URL: api.url,
      DR2E_VISIBILITY_TIMEOUT_SECONDS: '4',
      DR2E_POLL_WAIT_SECONDS: '1',
      DR2E_BATCH_SIZE: '4',
      DR2E_SHUTDOWN_DEADLINE_SECONDS: '20',
      ...extra,
    }),
  );
  workers.push(started);
  return started;
}

/** The embedded default model, licensed for non-commercial use only (UTKFace). */
const DEFAULT_MODEL = path.join(REPO_ROOT, 'gpu-task', 'models', 'default', 'pipeline.json');

/** About 60 model calls: a few seconds for a batch of four on the tiny model. */
const SLOW = { n: 4, tau: 10, omega: 70, steps: 100 };

describe('worker killed mid-batch', () => {
  it('finishes every job exactly once after a restart', async () => {
    // Prepare: four jobs queued before the first worker starts, so they form one batch.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await submit(client, receiver, await patternPng(i + 1), SLOW)).id);
    const first = worker();
    await first.ready;
    await waitFor(
      async () => {
        const jobs = await Promise.all(ids.map((id) => client.getJob(id)));
        return jobs.every((job) => job.status === 'running' && (job.progress?.step ?? 0) >= 3);
      },
      30_000,
      'all four mid-batch',
    );

    // Act: kill it without warning, then start a new one.
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    const second = worker();
    const done = await Promise.all(ids.map((id) => client.waitForJob(id, { timeoutMs: 60_000 })));
    await new Promise((resolve) => setTimeout(resolve, 1500)); // room for any stray duplicate
    second.child.kill('SIGTERM');
    const stopped = await second.exited;

    // Assess: all succeeded, each restored and announced once, by the second worker.
    expect(killed.signal).toBe('SIGKILL');
    expect(first.logs.find('job succeeded')).toHaveLength(0);
    for (const job of done) {
      expect(job.status).toBe('succeeded');
      expect(job.attempts).toBe(2);
      expect(second.logs.find('job succeeded', job.id)).toHaveLength(1);
      await receiver.waitFor((e) => e.data.id === job.id && e.type === 'job.succeeded');
      expect(receiver.eventsFor(job.id).map((event) => event.type)).toEqual(['job.succeeded']);
      expect((await client.download(job.output?.restored?.url ?? '')).length).toBeGreaterThan(0);
    }
    expect(receiver.received.every((entry) => entry.verified)).toBe(true);
    const usage = (await (
      await fetch(`${api.url}/v1/usage`, { headers: { authorization: `Bearer ${API_KEY}` } })
    ).json()) as { jobs: number; images: number };
    expect(usage).toMatchObject({ jobs: 4, images: 4 });
    const stats = await api.services.queue.stats();
    expect(stats.visible + stats.inFlight).toBe(0);
    expect(stopped.code).toBe(0);
  });
});

describe('SIGTERM', () => {
  it('finishes the running batch before the deadline and exits 0', async () => {
    // Prepare
    const proc = worker();
    await proc.ready;
    const { id } = await submit(client, receiver, await patternPng(1), SLOW);
    await waitFor(async () => ((await client.getJob(id)).progress?.step ?? 0) >= 1, 30_000, 'running');

    // Act
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;

    // Assess
    expect(exit.code).toBe(0);
    expect((await client.getJob(id)).status).toBe('succeeded');
    expect(proc.logs.find('shutdown started')).toHaveLength(1);
    expect(receiver.eventsFor(id).map((event) => event.type)).toEqual(['job.succeeded']);
  });

  it('puts the job back in the queue when the batch would outlast the deadline, and exits 0', async () => {
    // Prepare: about 900 model calls (far longer than the 2 s deadline).
    const proc = worker({ DR2E_SHUTDOWN_DEADLINE_SECONDS: '2' });
    await proc.ready;
    const { id } = await submit(client, receiver, await patternPng(1), {
      n: 4,
      tau: 10,
      omega: 900,
      steps: 1000,
    });
    await waitFor(async () => ((await client.getJob(id)).progress?.step ?? 0) >= 1, 30_000, 'running');

    // Act
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;

    // Assess: queued again with the reason, its message visible at once for the next worker.
    expect(exit.code).toBe(0);
    const job = await client.getJob(id);
    expect(job.status).toBe('queued');
    expect(job.error?.code).toBe('worker_shutdown');
    expect((await api.services.queue.stats()).visible).toBe(1);
    expect(receiver.eventsFor(id)).toEqual([]);
  });
});

describe('a model the worker must refuse', () => {
  it('takes no job and exits 78 naming the licence when commercial use is declared and the weights are non-commercial', async () => {
    // Prepare: the embedded default (UTKFace, non-commercial) under DR2E_COMMERCIAL_USE
    const { id } = await submit(client, receiver, await patternPng(1));
    const proc = worker({ DR2E_COMMERCIAL_USE: 'true', DR2E_MODEL: DEFAULT_MODEL });
    // Act
    const exit = await proc.exited;
    // Assess: one error line with the code, the job still queued for a worker that may run it
    expect(exit.code).toBe(78);
    const refused = proc.logs.find('model refused at start: this worker takes no job');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ errorCode: 'non_commercial_weights', exitCode: 78 });
    expect(String(refused[0]?.error)).toMatch(/UTKFace: non-commercial research use only/);
    expect((await client.getJob(id)).status).toBe('queued');
  });
});
