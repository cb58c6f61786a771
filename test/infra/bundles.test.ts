/**
 * The Lambda bundles that `cdk synth` builds with the local esbuild are self-contained: each
 * loads in a plain Node process from its asset folder (no node_modules next to it) and answers
 * as the entry point should. Runs offline: `/healthz`, a request without a key and an S3 event
 * for a non-input key touch no AWS service.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeSynthOutputs, resourcesOfType, synthDr2e, type Synthesized } from './helpers.js';

let synth: Synthesized;
let bundles: Record<'http' | 'dispatcher', string>;

/** Runs `script` as an ES module in a fresh Node process with the bundle's Lambda-like environment. */
function runInNode(script: string): unknown {
  const output = execFileSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH ?? '',
      DR2E_MODE: 'aws',
      DR2E_BUCKET: 'dr2e-test-bucket',
      DR2E_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
      DR2E_DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq',
      DR2E_WEBHOOK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/webhooks',
      DR2E_WEBHOOK_DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-dlq',
      DR2E_TENANTS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants',
      DR2E_LOG_LEVEL: 'error',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
    },
  });
  const lastLine = output.trim().split('\n').at(-1) ?? '';
  return JSON.parse(lastLine);
}

function apiGatewayEvent(method: string, rawPath: string): Record<string, unknown> {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: { host: 'abc.execute-api.us-east-1.amazonaws.com' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.5', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

afterAll(removeSynthOutputs);

beforeAll(() => {
  // Prepare: a synth with real bundling (esbuild from node_modules, no Docker).
  synth = synthDr2e({ bundle: true });
  const found: Partial<Record<'http' | 'dispatcher', string>> = {};
  for (const [id, fn] of resourcesOfType(synth.template, 'AWS::Lambda::Function')) {
    const assetPath = fn.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') continue;
    if (id.startsWith('ApiHttpFunction')) found.http = path.join(synth.outdir, assetPath, 'index.mjs');
    if (id.startsWith('ApiDispatcherFunction'))
      found.dispatcher = path.join(synth.outdir, assetPath, 'index.mjs');
  }
  if (!found.http || !found.dispatcher) throw new Error('Lambda assets not found in the cloud assembly');
  bundles = { http: found.http, dispatcher: found.dispatcher };
}, 120_000);

describe('Lambda bundles', () => {
  it('are single ES modules with source maps and no native modules beside them', () => {
    for (const file of Object.values(bundles)) {
      expect(existsSync(file)).toBe(true);
      expect(readdirSync(path.dirname(file)).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    }
  });

  it('API: answers /healthz and refuses a request without an API key', () => {
    // Act
    const result = runInNode(`
      const { handler } = await import(${JSON.stringify(pathToFileURL(bundles.http).href)});
      const health = await handler(${JSON.stringify(apiGatewayEvent('GET', '/healthz'))}, {});
      const jobs = await handler(${JSON.stringify(apiGatewayEvent('GET', '/v1/jobs'))}, {});
      console.log(JSON.stringify({ health: [health.statusCode, JSON.parse(health.body)], jobs: jobs.statusCode }));
    `) as { health: [number, { status: string; mode: string }]; jobs: number };
    // Assess
    expect(result.health[0]).toBe(200);
    expect(result.health[1]).toMatchObject({ status: 'ok', mode: 'aws' });
    expect(result.jobs).toBe(401);
  });

  it('dispatcher: ignores objects that are not job inputs', () => {
    const event = {
      Records: [
        { eventName: 'ObjectCreated:Post', s3: { object: { key: 'tenants/acme/jobs/job_x/restored.png' } } },
      ],
    };
    const result = runInNode(`
      const { handler } = await import(${JSON.stringify(pathToFileURL(bundles.dispatcher).href)});
      console.log(JSON.stringify(await handler(${JSON.stringify(event)})));
    `) as { results: { outcome: string }[] };
    expect(result.results.map((r) => r.outcome)).toEqual(['skipped']);
  });
});
