/**
 * `npm run bench:api`: create-job latency and throughput of the local server over real HTTP.
 *
 * Starts the Node API (local adapters, fresh temp data dir, port 0) in this process, then keeps
 * `--concurrency` clients busy creating jobs (`POST /v1/jobs`, each answered with a signed
 * upload form) for `--seconds` (or `--requests` in total), after `--warmup` untimed requests.
 * Prints the machine, p50/p90/p99/max latency and requests per second.
 *
 *   npm run bench:api -- --concurrency 16 --seconds 10
 *
 * What it measures: the API and the local job store (JSON files with a lock, written per
 * create), not S3/SQS; client and server share this machine's CPUs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadRuntimeConfig } from '../../shared/runtime/config.js';
import { startApiServer } from '../src/entry/node-server.js';
import { silentLogger } from '../src/log.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    requests: { type: 'string' },
    warmup: { type: 'string', default: '50' },
  },
});
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const maxRequests = values.requests === undefined ? Number.POSITIVE_INFINITY : Number(values.requests);
const warmup = Number(values.warmup);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-bench-api-'));
  const server = await startApiServer({
    config: loadRuntimeConfig({ DR2E_DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1' }),
    logger: silentLogger,
    app: { accessLog: false },
  });
  const headers = {
    authorization: `Bearer ${server.services.generatedApiKey ?? ''}`,
    'content-type': 'application/json',
  };
  const body = JSON.stringify({ preset: 'medium', output: { format: 'webp' } });
  const createJob = async (): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers, body });
    await response.arrayBuffer();
    if (response.status !== 201) throw new Error(`unexpected status ${response.status}`);
    return performance.now() - started;
  };

  try {
    for (let i = 0; i < warmup; i++) await createJob();
    const latencies: number[] = [];
    let sent = 0;
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    const client = async () => {
      while (sent < maxRequests && (values.requests !== undefined || performance.now() < deadline)) {
        sent += 1;
        latencies.push(await createJob());
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const cpus = os.cpus();
    const ms = (value: number) => `${value.toFixed(2)} ms`;
    console.log(
      `machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    );
    console.log(
      `setup:   local server on 127.0.0.1 (local adapters, data dir in ${os.tmpdir()}), client in the same process`,
    );
    console.log(
      `load:    POST /v1/jobs, concurrency ${concurrency}, ${latencies.length} requests in ${elapsed.toFixed(1)} s (after ${warmup} warm-up)`,
    );
    console.log(
      `latency: p50 ${ms(percentile(latencies, 50))}, p90 ${ms(percentile(latencies, 90))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? Number.NaN)}`,
    );
    console.log(`throughput: ${(latencies.length / elapsed).toFixed(1)} jobs/s`);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
