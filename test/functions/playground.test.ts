/**
 * The playground as the API serves it (`app.request`): the page at `/` and `/playground` with a
 * strict CSP and no inline code, the hashed bundle, the AWS variant (polls; CSP names the
 * bucket; through the Lambda adapter too), the committed bundle matching its sources, and the settings form's schema reading
 * against the real OpenAPI document.
 */
import { readFile } from 'node:fs/promises';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appOptionsFromConfig } from '../../functions/src/app.js';
import { buildOpenApiDocument } from '../../functions/src/openapi.js';
import {
  buildPlaygroundAssets,
  GENERATED_MODULE,
  generatedModuleText,
} from '../../functions/src/playground/build.js';
import {
  choicesOf,
  CONTROLS,
  schemaAt,
  type JsonSchema,
} from '../../functions/src/playground/client/options.js';
import { PLAYGROUND_SCRIPT } from '../../functions/src/playground/assets.generated.js';
import { PLAYGROUND_SCRIPT_PATH, PLAYGROUND_STYLES_PATH } from '../../functions/src/playground/routes.js';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { json, KEY_A, localHarness, type LocalHarness } from './helpers.js';

let h: LocalHarness;

afterEach(async () => {
  await h.close();
});

describe('local mode', () => {
  beforeEach(async () => {
    h = await localHarness();
  });

  it.each(['/', '/playground'])(
    'serves the page at %s with a strict CSP and no inline code',
    async (path) => {
      // Act
      const response = await h.call('GET', path, { key: null });
      const html = await response.text();

      // Assess
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("style-src 'self';");
      expect(csp).toContain("connect-src 'self';");
      expect(csp).not.toContain('unsafe-inline');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(html).toContain(`<script type="module" src="${PLAYGROUND_SCRIPT_PATH}"></script>`);
      expect(html).toContain(`href="${PLAYGROUND_STYLES_PATH}"`);
      expect(html).not.toMatch(/<script>|<style|style="|\son[a-z]+="/);
      expect(html).toContain('data-progress="events"');
      // Every form control has a label.
      for (const [, id] of html.matchAll(/<(?:input|select)[^>]*\bid="([^"]+)"/g)) {
        expect(html, `label for #${id}`).toMatch(
          new RegExp(`for="${id}"|<label[^>]*>\\s*<input[^>]*id="${id}"`),
        );
      }
    },
  );

  it('serves the bundled script and styles with long caching', async () => {
    // Act
    const script = await h.call('GET', PLAYGROUND_SCRIPT_PATH, { key: null });
    const styles = await h.call('GET', PLAYGROUND_STYLES_PATH, { key: null });
    const stale = await h.call('GET', '/playground/app-000000000000.js', { key: null });

    // Assess
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect(await script.text()).toContain('/v1/jobs');
    expect(styles.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await styles.text()).toContain('.compare');
    expect(stale.status).toBe(404);
  });
});

describe('AWS mode', () => {
  it('polls instead of streaming, allows only this bucket in connect-src, and sends event snapshots', async () => {
    // Prepare
    const config = loadRuntimeConfig({
      DR2E_MODE: 'aws',
      AWS_REGION: 'eu-west-1',
      DR2E_BUCKET: 'dr2e-data-123',
      DR2E_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/q',
      DR2E_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/1/dlq',
      DR2E_WEBHOOK_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/webhooks',
      DR2E_WEBHOOK_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/1/webhooks-dlq',
      DR2E_TENANTS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:t',
    });
    const storageOrigins = appOptionsFromConfig(config).storageOrigins;
    h = await localHarness({ app: { mode: 'aws', storageOrigins } });

    // Act
    const page = await h.call('GET', '/', { key: null });
    const created = (await json(await h.call('POST', '/v1/jobs', { json: {} }))) as { id: string };
    const events = await (await h.call('GET', `/v1/jobs/${created.id}/events`)).text();

    // Assess
    expect(await page.text()).toContain('data-progress="poll"');
    expect(page.headers.get('content-security-policy')).toContain(
      "connect-src 'self' https://dr2e-data-123.s3.eu-west-1.amazonaws.com https://dr2e-data-123.s3.amazonaws.com;",
    );
    expect(events.match(/^event: /gm)).toHaveLength(1);
    expect(events).toContain('retry: 2000');
  });
});

describe('behind API Gateway (hono/aws-lambda, as entry/lambda-http.ts serves it)', () => {
  function getEvent(rawPath: string, headers: Record<string, string> = {}): LambdaEvent {
    const host = 'abc123.execute-api.eu-west-1.amazonaws.com';
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath,
      rawQueryString: '',
      headers: { host, ...headers },
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        apiId: 'abc123',
        domainName: host,
        domainPrefix: 'abc123',
        http: {
          method: 'GET',
          path: rawPath,
          protocol: 'HTTP/1.1',
          sourceIp: '198.51.100.7',
          userAgent: 't',
        },
        requestId: 'req-1',
        routeKey: '$default',
        stage: '$default',
        time: '01/Jan/2025:00:00:00 +0000',
        timeEpoch: 1735689600000,
      },
    } as unknown as LambdaEvent;
  }

  it('serves the page, its script as text, and a one-event stream that ends (buffering cannot hold it)', async () => {
    // Prepare
    h = await localHarness({
      app: { mode: 'aws', storageOrigins: ['https://b.s3.eu-west-1.amazonaws.com'] },
    });
    const handler = handle(h.app);
    const created = (await json(await h.call('POST', '/v1/jobs', { json: {} }))) as { id: string };

    // Act
    const page = await handler(getEvent('/'));
    const script = await handler(getEvent(PLAYGROUND_SCRIPT_PATH));
    const events = await handler(
      getEvent(`/v1/jobs/${created.id}/events`, { authorization: `Bearer ${KEY_A}` }),
    );

    // Assess
    expect(page.statusCode).toBe(200);
    expect(page.isBase64Encoded).toBe(false);
    expect(page.body).toContain('data-progress="poll"');
    expect(page.headers?.['content-security-policy']).toContain('https://b.s3.eu-west-1.amazonaws.com');
    expect(script.statusCode).toBe(200);
    expect(script.body).toBe(PLAYGROUND_SCRIPT);
    expect(events.statusCode).toBe(200);
    // hono sends text/event-stream base64-encoded; API Gateway decodes it for the client.
    const stream = events.isBase64Encoded ? Buffer.from(events.body, 'base64').toString('utf8') : events.body;
    expect(stream.match(/^event: /gm)).toEqual(['event: ']);
    expect(stream).toContain('"status":"created"');
  });
});

describe('bundle and settings form', () => {
  it('the committed bundle is what the sources build to (run npm run build:playground)', async () => {
    // Act
    const rebuilt = generatedModuleText(await buildPlaygroundAssets());

    // Assess
    expect(await readFile(GENERATED_MODULE, 'utf8')).toBe(rebuilt);
  });

  it("finds the create request's parameters in the OpenAPI document", () => {
    // Prepare
    const doc = buildOpenApiDocument({ version: 'test' }) as unknown as {
      components: { schemas: Record<string, JsonSchema> };
    };
    const components = doc.components.schemas;
    const root = components.CreateJobRequest ?? {};

    // Act
    const preset = schemaAt(root, ['preset'], components);
    const format = schemaAt(root, ['output', 'format'], components);
    const keepDr2 = schemaAt(root, ['output', 'keepDr2'], components);
    const offered = CONTROLS.filter((control) => schemaAt(root, control.path, components));

    // Assess
    expect(choicesOf(preset ?? {})).toEqual(expect.arrayContaining(['mild', 'medium', 'severe']));
    expect(choicesOf(format ?? {})).toEqual(['png', 'jpeg', 'webp']);
    expect(keepDr2?.type).toBe('boolean');
    expect(schemaAt(root, ['nope'], components)).toBeUndefined();
    // Every control the page lists either exists in the API or is skipped; the basics exist.
    expect(offered.map((control) => control.path.join('.'))).toEqual(
      expect.arrayContaining(['preset', 'output.format', 'output.keepDr2']),
    );
  });
});
