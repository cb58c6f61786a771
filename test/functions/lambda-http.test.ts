/**
 * The app behind `hono/aws-lambda` (as `entry/lambda-http.ts` serves it): API Gateway HTTP API
 * v2 events in, proxy results out, JSON bodies read (plain and base64) and JSON errors out.
 */
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_A, localHarness, type LocalHarness } from './helpers.js';

let h: LocalHarness;

beforeEach(async () => {
  h = await localHarness();
});

afterEach(async () => {
  await h.close();
});

function httpApiEvent(
  method: string,
  rawPath: string,
  options: { body?: string; base64?: boolean; headers?: Record<string, string> } = {},
) {
  const body =
    options.body === undefined
      ? null
      : options.base64
        ? Buffer.from(options.body).toString('base64')
        : options.body;
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: {
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      ...(options.body === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(options.body.length) }),
      ...options.headers,
    },
    body,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2025:00:00:00 +0000',
      timeEpoch: 1735689600000,
    },
  };
  // Only the fields API Gateway always sends; the type also lists optional authorizer data.
  return event as unknown as LambdaEvent;
}

describe('Lambda HTTP handler (API Gateway HTTP API v2)', () => {
  it.each([false, true])('creates a job from a JSON body (base64: %s)', async (base64) => {
    // Prepare
    const handler = handle(h.app);
    const event = httpApiEvent('POST', '/v1/jobs', {
      body: JSON.stringify({ preset: 'severe' }),
      base64,
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    // Act
    const result = await handler(event);
    // Assess
    expect(result.statusCode).toBe(201);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'created', upload: { url: expect.any(String) } });
  });

  it('answers 401 as JSON with WWW-Authenticate', async () => {
    // Act
    const result = await handle(h.app)(httpApiEvent('GET', '/v1/jobs'));
    // Assess
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['www-authenticate']).toMatch(/^Bearer/);
    expect(JSON.parse(result.body).error.code).toBe('unauthorized');
  });
});
