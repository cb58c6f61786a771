/**
 * `npm run bench:api`: create-job latency and throughput of the local server over real HTTP,
 * swept over client concurrency (default 1, 16, 64, 200 concurrent creates).
 *
 * Starts the Node API (local adapters, fresh temp data dir, port 0) in this process, then for
 * each concurrency keeps that many clients busy creating jobs (`POST /v1/jobs`, each answered
 * with a signed upload form) for `--seconds` (or `--requests` in total), after `--warmup`
 * untimed requests. Prints the machine, then per level p50/p90/p99/max latency and jobs/s.
 *
 *   npm run bench:api                                  # the sweep, 5 s per level
 *   npm run bench:api -- --concurrency 16 --seconds 10 # one level
 *   npm run bench:api -- --sweep 1,8,32 --requests 2000
 *
 * What it measures: the API with its per-key limits (raised so that nothing is refused, but
 * still counted in the disk limit store), the local job store (JSON files) and upload-form
 * signing; not S3/SQS/DynamoDB. Client and server share this machine's CPUs. Each level uses
 * its own tenant, so one level's jobs in flight do not slow the next.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { startApiServer } from '../src/entry/node-server.js';
import { silentLogger } from '../../shared/src/index.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string' },
    sweep: { type: 'string', default: '1,16,64,200' },
    seconds: { type: 'string', default: '5' },
    requests: { type: 'string' },
    warmup: { type: 'string', default: '50' },
  },
});
const levels = (values.concurrency ?? values.sweep).split(',').map(Number);
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
  const keys = levels.map((_, i) => `dr2e_sk_bench_level_${i}_${Date.now()}`);
  const server = await startApiServer({
    config: loadRuntimeConfig({
      DR2E_DATA_DIR: dir,
      PORT: '0',
      HOST: '127.0.0.1',
      DR2E_API_KEYS: keys.join(','),
      // Raised so no request is refused; the counters are still kept.
      DR2E_CREATE_RATE_PER_SECOND: '100000',
      DR2E_CREATE_BURST: '1000000',
      DR2E_MAX_JOBS_IN_FLIGHT: '1000000',
    }),
    logger: silentLogger,
    app: { accessLog: false },
  });
  const body = JSON.stringify({ preset: 'medium', output: { format: 'webp' } });
  const createJob = async (key: string): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body,
    });
    await response.arrayBuffer();
    if (response.status !== 201) throw new Error(`unexpected status ${response.status}`);
    return performance.now() - started;
  };

  try {
    const cpus = os.cpus();
    console.log(
      `machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    );
    console.log(
      `setup:   local server on 127.0.0.1 (local adapters, data dir in ${os.tmpdir()}), clients in the same process`,
    );
    console.log('concurrency | requests | seconds | p50 ms | p90 ms | p99 ms | max ms | jobs/s');
    console.log('---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:');
    for (const [index, concurrency] of levels.entries()) {
      const key = keys[index] ?? '';
      for (let i = 0; i < warmup; i++) await createJob(key);
      const latencies: number[] = [];
      let sent = 0;
      const deadline = performance.now() + seconds * 1000;
      const started = performance.now();
      const client = async () => {
        while (sent < maxRequests && (values.requests !== undefined || performance.now() < deadline)) {
          sent += 1;
          latencies.push(await createJob(key));
        }
      };
      await Promise.all(Array.from({ length: concurrency }, client));
      const elapsed = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const ms = (value: number) => value.toFixed(1);
      console.log(
        [
          concurrency,
          latencies.length,
          elapsed.toFixed(1),
          ms(percentile(latencies, 50)),
          ms(percentile(latencies, 90)),
          ms(percentile(latencies, 99)),
          ms(latencies.at(-1) ?? Number.NaN),
          (latencies.length / elapsed).toFixed(1),
        ].join(' | '),
      );
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
