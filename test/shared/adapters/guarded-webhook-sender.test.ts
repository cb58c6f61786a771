/**
 * The guarded sender over real sockets on 127.0.0.1: refusals (with an injected resolver for
 * names), a real delivery in local mode with a verifiable signature, the pinned address, no
 * redirects, the timeout and the response cap.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GuardedWebhookSender,
  NodeWebhookTargetChecker,
  vetWebhookTarget,
  type HostResolver,
} from '../../../shared/adapters/node/guarded-webhook-sender.js';
import { isFinalWebhookFailure } from '../../../shared/src/webhook-delivery.js';
import { generateWebhookSecret, verifyWebhook } from '../../../shared/src/webhooks.js';
import type { WebhookEvent } from '../../../shared/src/schemas.js';
import { classifyIpAddress, WebhookTargetRefusedError } from '../../../shared/src/webhook-target.js';

const secret = generateWebhookSecret();

const event: WebhookEvent = {
  type: 'job.succeeded',
  timestamp: '2025-01-01T00:00:00.000Z',
  data: {
    id: 'job_01JGFJJZ000000000000000000',
    status: 'succeeded',
    model: 'dr2e-test',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    timestamps: { created: '2025-01-01T00:00:00.000Z' },
    attempts: 1,
    params: { preset: 'medium', steps: 100, seed: 1, output: { format: 'png', keepDr2: false } },
  },
};

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];

/** A receiver on 127.0.0.1 answering with `respond` and recording what it got. */
async function startReceiver(
  respond: (request: IncomingMessage, response: ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      respond(request, response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, received };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const send = (sender: GuardedWebhookSender, url: string) =>
  sender.send({ url, payload: event, secret, messageId: 'msg_test_succeeded' });

describe('GuardedWebhookSender refusals', () => {
  const production = new GuardedWebhookSender({
    policy: { mode: 'aws', allowHosts: [] },
    // Names used below resolve to private addresses; nothing here may reach the network.
    resolve: async (host) =>
      ({ 'internal.example.com': ['10.0.0.7'], 'mixed.example.com': ['93.184.216.34', '::ffff:10.0.0.1'] })[
        host
      ] ?? [],
  });

  it.each([
    'http://127.0.0.1/hook',
    'https://127.0.0.1/hook',
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.1/hook',
    'https://[::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://internal.example.com/hook',
    'https://mixed.example.com/hook',
    'https://localhost/hook',
  ])('refuses %s in production without sending', async (url) => {
    // Act
    const result = await send(production, url);
    // Assess
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.error).toMatch(/^refused \((forbidden_address|forbidden_host|scheme_not_allowed)\)/);
  });

  it('reports a name that does not resolve at delivery as a failure to retry, not a final refusal', async () => {
    // Prepare: the receiver's name resolved when the job was created; now the resolver fails
    const flaky = new GuardedWebhookSender({
      policy: { mode: 'aws', allowHosts: [] },
      resolve: async () => {
        throw Object.assign(new Error('temporary failure'), { code: 'EAI_AGAIN' });
      },
    });
    const empty = new GuardedWebhookSender({
      policy: { mode: 'aws', allowHosts: [] },
      resolve: async () => [],
    });
    // Act
    const timedOut = await send(flaky, 'https://hooks.example.com/dr2e');
    const noRecord = await send(empty, 'https://hooks.example.com/dr2e');
    // Assess
    expect(timedOut).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^unresolvable host: .*EAI_AGAIN/),
    });
    expect(isFinalWebhookFailure(timedOut)).toBe(false);
    expect(isFinalWebhookFailure(noRecord)).toBe(false);
    expect(isFinalWebhookFailure(await send(production, 'https://internal.example.com/hook'))).toBe(true);
  });

  it('refuses a loopback receiver that really listens, in production mode', async () => {
    // Prepare
    const receiver = await startReceiver();
    // Act
    const result = await send(production, `https://127.0.0.1:${receiver.port}/hook`);
    // Assess
    expect(result.ok).toBe(false);
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses localhost names that resolve to a private address in local mode', async () => {
    // Prepare
    const sender = new GuardedWebhookSender({
      policy: { mode: 'local', allowHosts: [] },
      resolve: async () => ['10.0.0.1'],
    });
    // Act
    const result = await send(sender, 'http://localhost:9/hook');
    // Assess
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('forbidden_address') });
  });
});

describe('GuardedWebhookSender deliveries (local mode, http to loopback)', () => {
  const policy = { mode: 'local' as const, allowHosts: [] };

  it('delivers a signed event that the receiver can verify', async () => {
    // Prepare
    const receiver = await startReceiver();
    const sender = new GuardedWebhookSender({ policy });
    // Act
    const result = await send(sender, `http://127.0.0.1:${receiver.port}/hook`);
    // Assess
    expect(result).toMatchObject({ ok: true, status: 200 });
    const [delivery] = receiver.received;
    expect(delivery?.headers['content-type']).toBe('application/json');
    const verified = await verifyWebhook({
      secret,
      headers: delivery?.headers as Record<string, string>,
      body: delivery?.body ?? '',
    });
    expect(verified.id).toBe('msg_test_succeeded');
    expect(JSON.parse(delivery?.body ?? '{}')).toEqual(event);
  });

  it('vets localhost through the system resolver as loopback only', async () => {
    // Act
    const verdict = await vetWebhookTarget('http://localhost:8080/hook', policy);
    // Assess
    expect('addresses' in verdict && verdict.addresses.map((a) => classifyIpAddress(a))).toEqual(
      expect.arrayContaining(['loopback']),
    );
    expect(
      'addresses' in verdict && verdict.addresses.every((a) => classifyIpAddress(a) === 'loopback'),
    ).toBe(true);
  });

  it('delivers to localhost', async () => {
    // Prepare
    const receiver = await startReceiver();
    const sender = new GuardedWebhookSender({ policy, resolve: async () => ['127.0.0.1'] });
    // Act
    const result = await send(sender, `http://localhost:${receiver.port}/hook`);
    // Assess
    expect(result.ok).toBe(true);
    expect(receiver.received[0]?.headers.host).toBe(`localhost:${receiver.port}`);
  });

  it('connects to the vetted address, not to whatever a second lookup would say', async () => {
    // Prepare: the name exists only in the injected resolver, so only the pinned address can be used.
    const receiver = await startReceiver();
    let lookups = 0;
    const resolve: HostResolver = async () => {
      lookups += 1;
      return ['127.0.0.1'];
    };
    const sender = new GuardedWebhookSender({ policy, resolve });
    // Act
    const result = await send(sender, `http://dr2e-pinned.localhost:${receiver.port}/hook`);
    // Assess
    expect(result.ok).toBe(true);
    expect(lookups).toBe(1);
    expect(receiver.received[0]?.headers.host).toBe(`dr2e-pinned.localhost:${receiver.port}`);
  });

  it('does not follow redirects', async () => {
    // Prepare
    const target = await startReceiver();
    const redirecting = await startReceiver((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${target.port}/elsewhere` });
      res.end();
    });
    const sender = new GuardedWebhookSender({ policy });
    // Act
    const result = await send(sender, `http://127.0.0.1:${redirecting.port}/hook`);
    // Assess
    expect(result).toMatchObject({ ok: false, status: 307, error: 'redirect not followed' });
    expect(target.received).toHaveLength(0);
  });

  it('gives up after the timeout without throwing', async () => {
    // Prepare: a receiver that never answers.
    const receiver = await startReceiver(() => undefined);
    const sender = new GuardedWebhookSender({ policy, timeoutMs: 200 });
    // Act
    const result = await send(sender, `http://127.0.0.1:${receiver.port}/hook`);
    // Assess
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/timed out/);
  });

  it('reads at most the response cap of an endless answer and reports the status', async () => {
    // Prepare: 200 followed by a body that never ends.
    const receiver = await startReceiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 97);
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(timer));
    });
    const sender = new GuardedWebhookSender({ policy, maxResponseBytes: 64 * 1024, timeoutMs: 5000 });
    // Act
    const result = await send(sender, `http://127.0.0.1:${receiver.port}/hook`);
    // Assess
    expect(result).toMatchObject({ ok: true, status: 200 });
  });

  it('reports a receiver that is not listening as a failed delivery', async () => {
    // Prepare: a port that was free a moment ago.
    const receiver = await startReceiver();
    const port = receiver.port;
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    const sender = new GuardedWebhookSender({ policy });
    // Act
    const result = await send(sender, `http://127.0.0.1:${port}/hook`);
    // Assess
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/ECONNREFUSED/);
  });
});

describe('NodeWebhookTargetChecker', () => {
  it('refuses a name resolving to a private address and names the reason', async () => {
    // Prepare
    const checker = new NodeWebhookTargetChecker({ mode: 'aws', allowHosts: [] }, async () => [
      '192.168.0.10',
    ]);
    // Act
    const error = await checker.assertAllowed('https://printer.example.com/').catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(WebhookTargetRefusedError);
    expect((error as Error).message).toMatch(/forbidden_address.*private/);
  });

  it('refuses a name that does not resolve', async () => {
    // Prepare
    const checker = new NodeWebhookTargetChecker({ mode: 'aws', allowHosts: [] }, async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    });
    // Act / Assess
    await expect(checker.assertAllowed('https://nowhere.example.com/')).rejects.toMatchObject({
      details: { reason: 'unresolvable_host' },
    });
  });

  it('accepts a public name', async () => {
    // Prepare
    const checker = new NodeWebhookTargetChecker({ mode: 'aws', allowHosts: [] }, async () => [
      '93.184.216.34',
    ]);
    // Act / Assess
    await expect(checker.assertAllowed('https://hooks.example.com/dr2e')).resolves.toBeUndefined();
  });
});
