/**
 * `npm run demo`: restores the sample faces through the real HTTP flow, as a client would.
 *
 * 1. Starts the local stack in this process (API + worker on 127.0.0.1, data in
 *    `DR2E_DATA_DIR`, default `.data`), or uses a running one given `--url` (and `--key`, else
 *    `DR2E_API_KEYS`' first key, else the key kept in the data dir).
 * 2. Starts a webhook receiver on 127.0.0.1 that verifies every delivery's Standard Webhooks
 *    signature with the tenant's secret (`GET /v1/tenant`).
 * 3. For each image (`samples/*.jpg`, or the files given as arguments): `POST /v1/jobs` (preset
 *    from the file name when it says mild/medium/severe; `aligned: true` for the samples, which
 *    are aligned face crops, and with `--aligned`; whole photos otherwise), upload through the
 *    presigned form,
 *    poll until done, wait for the signed `job.succeeded` webhook, download the result through
 *    its signed link into the output folder (`--out`, default `.data/demo-output`).
 * 4. Prints where the outputs are and the verified webhook events.
 *
 * A job without a face found (`no_face_detected`: the photo was only enlarged) counts as a
 * failure of the demo.
 *
 * Usage: `npm run demo [-- [--url URL] [--key KEY] [--out DIR] [--aligned] [images...]]`
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  Dr2eClient,
  localConfig,
  startLocalStack,
  type LocalStack,
  startWebhookReceiver,
} from '../gpu-task/src/local/index.js';
import {
  FIXED_PRESETS,
  type FixedPreset,
  type JobView,
  type WebhookEvent,
  createJsonLogger,
} from '../shared/src/index.js';

const repoRoot = path.resolve(import.meta.dirname, '..');

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
};

interface DemoResult {
  file: string;
  job: JobView;
  output?: string;
  webhook?: WebhookEvent;
  webhookId?: string;
  seconds: number;
}

async function sampleFiles(): Promise<string[]> {
  const dir = path.join(repoRoot, 'samples');
  const names = (await readdir(dir)).filter((name) => path.extname(name).toLowerCase() in CONTENT_TYPES);
  return names.sort().map((name) => path.join(dir, name));
}

function presetFor(file: string): FixedPreset {
  const match = new RegExp(`(${FIXED_PRESETS.join('|')})`, 'i').exec(path.basename(file));
  return (match?.[1]?.toLowerCase() as FixedPreset | undefined) ?? 'medium';
}

/** How many faces a finished job found, restored and kept, and its warnings, in words. */
function faceSummary(job: JobView): string {
  const faces = job.output?.faces ?? [];
  const kept = faces.filter((face) => face.settings?.kept).length;
  const warnings = job.output?.warnings ?? [];
  const found = `${faces.length} face${faces.length === 1 ? '' : 's'}`;
  const how = faces.length === 0 ? '' : ` (${faces.length - kept} restored, ${kept} kept as they were)`;
  return `${found}${how}${warnings.length > 0 ? `; warnings: ${warnings.join(', ')}` : ''}`;
}

async function apiKeyFor(dataDir: string, given: string | undefined): Promise<string> {
  if (given) return given;
  const configured = (process.env.DR2E_API_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .find(Boolean);
  if (configured) return configured;
  try {
    return (await readFile(path.join(dataDir, 'local-api-key'), 'utf8')).trim();
  } catch {
    throw new Error('no API key: pass --key, set DR2E_API_KEYS, or run the stack once so it writes one');
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string', default: '600' },
      aligned: { type: 'boolean', default: false },
    },
  });
  const config = localConfig({ ...process.env, PORT: process.env.PORT ?? '0' });
  const outDir = path.resolve(values.out ?? path.join(config.DR2E_DATA_DIR, 'demo-output'));
  const files = positionals.length > 0 ? positionals.map((file) => path.resolve(file)) : await sampleFiles();
  // The samples are aligned face crops (detection would look for a face inside the face).
  const aligned = values.aligned || positionals.length === 0;
  const timeoutMs = Number(values.timeout) * 1000;

  let stack: LocalStack | undefined;
  let baseUrl = values.url ?? process.env.DR2E_URL;
  let apiKey: string;
  if (baseUrl) {
    apiKey = await apiKeyFor(config.DR2E_DATA_DIR, values.key ?? process.env.DR2E_KEY);
    console.log(`Using the running stack at ${baseUrl}`);
  } else {
    console.log('Starting the local stack (API + worker, default model)...');
    stack = await startLocalStack({
      env: { ...process.env, PORT: process.env.PORT ?? '0' },
      // The stack's JSON logs would bury the demo's output; warnings and errors still show.
      log: createJsonLogger({
        level: process.env.DR2E_LOG_LEVEL === 'debug' ? 'debug' : 'warn',
        base: { service: 'local' },
      }),
    });
    baseUrl = stack.url;
    apiKey = await apiKeyFor(config.DR2E_DATA_DIR, values.key ?? stack.generatedApiKey);
    console.log(`Local stack on ${baseUrl} (data in ${path.resolve(config.DR2E_DATA_DIR)})`);
  }

  const client = new Dr2eClient({ baseUrl, apiKey });
  const tenant = await client.tenant();
  const receiver = await startWebhookReceiver({ secret: tenant.webhookSecret });
  console.log(
    `Webhook receiver on ${receiver.url} (verifies signatures with tenant ${tenant.id}'s secret)\n`,
  );
  await mkdir(outDir, { recursive: true });

  const results: DemoResult[] = [];
  try {
    // Submit everything first, as a busy app would: jobs with the same schedule share a batch.
    const submitted = [];
    for (const file of files) {
      const name = path.basename(file);
      const contentType = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      const bytes = new Uint8Array(await readFile(file));
      const created = await client.createJob({
        preset: presetFor(file),
        ...(aligned ? { aligned: true } : {}),
        output: { format: 'png' },
        webhook: { url: receiver.url, events: ['job.succeeded', 'job.failed', 'job.canceled'] },
      });
      const uploadStatus = await client.upload(created.upload, bytes, contentType, name);
      if (uploadStatus >= 300) throw new Error(`upload of ${name} refused with HTTP ${uploadStatus}`);
      console.log(
        `${name}: job ${created.id} created and uploaded (${bytes.length} bytes, preset ${presetFor(file)})`,
      );
      submitted.push({ file, name, id: created.id, started: Date.now() });
    }
    console.log('\nWaiting for the results (polling GET /v1/jobs/{id}) and the webhooks...');
    for (const entry of await Promise.all(
      submitted.map(async ({ file, name, id, started }) => {
        const job = await client.waitForJob(id, { timeoutMs });
        const result: DemoResult = { file, job, seconds: (Date.now() - started) / 1000 };
        const webhook = await receiver
          .waitFor((event) => event.data.id === id, 30_000)
          .catch(() => undefined);
        if (webhook) {
          result.webhook = webhook;
          const delivery = receiver.received.find((received) => received.event === webhook);
          if (delivery?.id) result.webhookId = delivery.id;
        }
        const link = job.output?.restored?.url;
        if (job.status === 'succeeded' && link) {
          const extension = job.output?.format === 'jpeg' ? 'jpg' : (job.output?.format ?? 'png');
          const output = path.join(outDir, `${path.parse(name).name}.restored.${extension}`);
          // The signed link is the credential: no API key on this request.
          await writeFile(output, await client.download(link));
          result.output = output;
        }
        const error = job.error ? ` (${job.error.code}: ${job.error.message})` : '';
        console.log(
          `  ${name}: ${job.status}${error} after ${result.seconds.toFixed(1)} s${job.status === 'succeeded' ? `, ${faceSummary(job)}` : ''}`,
        );
        return result;
      }),
    )) {
      results.push(entry);
    }
  } finally {
    await receiver.close();
    await stack?.close('demo finished');
  }

  console.log('\nOutputs:');
  for (const result of results) {
    console.log(`  ${path.basename(result.file)} -> ${result.output ?? `(none: ${result.job.status})`}`);
  }
  console.log('\nVerified webhook events:');
  for (const entry of receiver.received) {
    console.log(
      entry.verified && entry.event
        ? `  ${entry.event.type} for ${entry.event.data.id} (webhook-id ${entry.id}, signature verified)`
        : `  REJECTED delivery ${entry.id ?? '(no id)'}: ${entry.error}`,
    );
  }
  const failed = results.filter((result) => result.job.status !== 'succeeded' || !result.webhook);
  const faceless = results.filter((result) => result.job.output?.warnings?.includes('no_face_detected'));
  const rejected = receiver.received.filter((entry) => !entry.verified);
  if (failed.length > 0 || rejected.length > 0 || faceless.length > 0) {
    console.log(
      `\n${failed.length} job(s) without a result or webhook, ${faceless.length} without a face found (only enlarged; pass --aligned for aligned face crops), ${rejected.length} unverified delivery(ies).`,
    );
    process.exitCode = 1;
  } else {
    console.log(`\nAll ${results.length} jobs succeeded with their webhooks verified; outputs in ${outDir}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
