import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/src/clock.js';
import { ExpiredError, InvalidSignatureError, ValidationError } from '../../shared/src/errors.js';
import { FetchWebhookSender } from '../../shared/src/fetch-webhook-sender.js';
import { toJobView } from '../../shared/src/job.js';
import type { WebhookEvent } from '../../shared/src/schemas.js';
import {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  webhookSecretKey,
} from '../../shared/src/webhooks.js';
import { sampleJob } from './helpers/jobs.js';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const timestamp = 1614265330;
const body = '{"test": 2432232314}';
const sentAt = new Date(timestamp * 1000);

describe('Standard Webhooks signing', () => {
  it('matches an HMAC computed independently with node:crypto', async () => {
    const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
      .update(`${id}.${timestamp}.${body}`)
      .digest('base64');
    expect(await signWebhook({ id, timestamp, body, secret })).toBe(`v1,${expected}`);
  });

  it('matches the example vector published with the Standard Webhooks libraries', async () => {
    expect(await signWebhook({ id, timestamp: sentAt, body, secret })).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('verifies its own headers, from a Headers object or a plain record', async () => {
    const headers = await webhookHeaders({ id, timestamp: sentAt, body, secret });
    expect(headers['webhook-timestamp']).toBe(String(timestamp));
    const result = await verifyWebhook({ secret, headers: new Headers({ ...headers }), body, now: sentAt });
    expect(result).toEqual({ id, timestamp: sentAt });
    const upper = {
      'Webhook-Id': id,
      'Webhook-Timestamp': headers['webhook-timestamp'],
      'Webhook-Signature': headers['webhook-signature'],
    };
    await expect(verifyWebhook({ secret, headers: upper, body, now: sentAt })).resolves.toEqual({
      id,
      timestamp: sentAt,
    });
  });

  it('refuses a tampered body, id or timestamp', async () => {
    const headers = await webhookHeaders({ id, timestamp: sentAt, body, secret });
    await expect(
      verifyWebhook({ secret, headers, body: body.replace('2432', '2433'), now: sentAt }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
    await expect(
      verifyWebhook({ secret, headers: { ...headers, 'webhook-id': 'msg_other' }, body, now: sentAt }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
    await expect(
      verifyWebhook({
        secret,
        headers: { ...headers, 'webhook-timestamp': String(timestamp + 1) },
        body,
        now: sentAt,
      }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
  });

  it('refuses a signature made with another secret', async () => {
    const headers = await webhookHeaders({ id, timestamp: sentAt, body, secret: generateWebhookSecret() });
    await expect(verifyWebhook({ secret, headers, body, now: sentAt })).rejects.toBeInstanceOf(
      InvalidSignatureError,
    );
  });

  it('refuses timestamps outside the tolerance, either way', async () => {
    const headers = await webhookHeaders({ id, timestamp: sentAt, body, secret });
    const late = new Date(sentAt.getTime() + 301_000);
    const early = new Date(sentAt.getTime() - 301_000);
    await expect(verifyWebhook({ secret, headers, body, now: late })).rejects.toBeInstanceOf(ExpiredError);
    await expect(verifyWebhook({ secret, headers, body, now: early })).rejects.toBeInstanceOf(ExpiredError);
    await expect(
      verifyWebhook({ secret, headers, body, now: new Date(sentAt.getTime() + 299_000) }),
    ).resolves.toEqual({ id, timestamp: sentAt });
    await expect(verifyWebhook({ secret, headers, body, now: late, toleranceSeconds: 600 })).resolves.toEqual(
      { id, timestamp: sentAt },
    );
  });

  it('accepts any matching entry among several signatures, and any of several secrets', async () => {
    const current = generateWebhookSecret();
    const valid = await signWebhook({ id, timestamp, body, secret: current });
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': `v2,whatever v1,bm90IGl0 ${valid}`,
    };
    await expect(verifyWebhook({ secret: current, headers, body, now: sentAt })).resolves.toEqual({
      id,
      timestamp: sentAt,
    });
    await expect(verifyWebhook({ secret: [secret, current], headers, body, now: sentAt })).resolves.toEqual({
      id,
      timestamp: sentAt,
    });
  });

  it('refuses missing or malformed headers', async () => {
    await expect(verifyWebhook({ secret, headers: {}, body, now: sentAt })).rejects.toBeInstanceOf(
      InvalidSignatureError,
    );
    const headers = { 'webhook-id': id, 'webhook-timestamp': 'soon', 'webhook-signature': 'v1,xx' };
    await expect(verifyWebhook({ secret, headers, body, now: sentAt })).rejects.toBeInstanceOf(
      InvalidSignatureError,
    );
  });

  it('generates whsec_ secrets of 32 random bytes and refuses malformed ones', () => {
    const a = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhookSecretKey(a)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(a);
    expect(() => webhookSecretKey('whsec_!!!')).toThrow(ValidationError);
    expect(() => webhookSecretKey('whsec_')).toThrow(ValidationError);
  });
});

describe('FetchWebhookSender', () => {
  const job = { ...sampleJob(), status: 'canceled' as const };
  const event: WebhookEvent = { type: 'job.canceled', timestamp: sentAt.toISOString(), data: toJobView(job) };

  it('POSTs the JSON event with headers a receiver can verify', async () => {
    // Prepare
    let captured: Request | undefined;
    const clock = new ManualClock(sentAt);
    const sender = new FetchWebhookSender({
      clock,
      fetch: async (input, init) => {
        captured = new Request(input, init);
        return new Response(null, { status: 204 });
      },
    });
    // Act
    const result = await sender.send({
      url: 'https://hooks.example/dr2e',
      payload: event,
      secret,
      messageId: id,
    });
    // Assess
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(captured?.method).toBe('POST');
    expect(captured?.headers.get('content-type')).toBe('application/json');
    const received = await captured!.text();
    expect(JSON.parse(received)).toEqual(event);
    await expect(
      verifyWebhook({ secret, headers: captured!.headers, body: received, now: sentAt }),
    ).resolves.toEqual({
      id,
      timestamp: sentAt,
    });
  });

  it('reports non-2xx answers and network errors without throwing', async () => {
    const failing = new FetchWebhookSender({ fetch: async () => new Response('nope', { status: 500 }) });
    const unreachable = new FetchWebhookSender({
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const request = { url: 'https://hooks.example/dr2e', payload: event, secret, messageId: id };
    expect(await failing.send(request)).toMatchObject({ ok: false, status: 500 });
    const result = await unreachable.send(request);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('fetch failed');
  });
});
