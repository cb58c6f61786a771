/**
 * Per-tenant limits over real HTTP (issue 12, item 4): concurrent clients against the Node
 * server on 127.0.0.1 with the local (disk) limit store. The creation bucket admits exactly its
 * burst and answers the rest 429 with `Retry-After` and `RateLimit-*` headers, while another
 * tenant is unaffected; the cap on jobs in flight and the monthly quota refuse at creation and
 * free up when jobs finish; the defaults apply with no configuration.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, newJobId, silentLogger } from '../../shared/src/index.js';
import { loadRuntimeConfig } from '../../shared/runtime/index.js';
import { startApiServer, type ApiServer } from '../../functions/src/entry/node-server.js';
import { buildOpenApiDocument } from '../../functions/src/openapi.js';
import { KEY_A, KEY_B } from './helpers.js';

let server: ApiServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  server = undefined;
  dir = undefined;
});

/** Records that key A's tenant used `images` images and `modelSeconds` this month (one finished job). */
async function recordUsed(api: ApiServer, images: number, modelSeconds = 1): Promise<void> {
  const tenantId = (await api.services.tenants.authenticate(KEY_A))?.id ?? '';
  await api.services.usage.record({ tenantId, jobId: newJobId(), at: new Date(), images, modelSeconds });
}

/** Restart the API with `limits` for tenant A in tenants.json (as an operator edits it). */
async function restartWithTenantALimits(api: ApiServer, limits: Record<string, unknown>): Promise<ApiServer> {
  const tenantId = (await api.services.tenants.authenticate(KEY_A))?.id ?? '';
  const dataDir = dir ?? '';
  const file = path.join(dataDir, 'tenants.json');
  const stored = JSON.parse(await (await import('node:fs/promises')).readFile(file, 'utf8'));
  await writeFile(file, JSON.stringify({ ...stored, limits: { [tenantId]: limits } }));
  await api.close();
  server = await startApiServer({
    config: loadRuntimeConfig({
      DR2E_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      DR2E_API_KEYS: `${KEY_A},${KEY_B}`,
    }),
    logger: silentLogger,
    app: { accessLog: false },
  });
  return server;
}

async function start(
  env: Record<string, string> = {},
  clock = new ManualClock(Date.now()),
): Promise<ApiServer> {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-limits-api-'));
  server = await startApiServer({
    config: loadRuntimeConfig({
      DR2E_DATA_DIR: dir,
      PORT: '0',
      HOST: '127.0.0.1',
      DR2E_API_KEYS: `${KEY_A},${KEY_B}`,
      ...env,
    }),
    overrides: { clock },
    logger: silentLogger,
    app: { accessLog: false },
  });
  return server;
}

function create(api: ApiServer, key: string, body: unknown = {}, idempotencyKey?: string): Promise<Response> {
  return fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    },
    body: JSON.stringify(body),
  });
}

describe('rate limits per API key', () => {
  it('admits the burst of 30 concurrent creates, refuses the rest with headers, and leaves another tenant alone', async () => {
    // Prepare: 1 create/s with bursts of 8 for everyone
    const api = await start({ DR2E_CREATE_RATE_PER_SECOND: '1', DR2E_CREATE_BURST: '8' });
    // Act: two tenants' clients at once
    const [a, b] = await Promise.all([
      Promise.all(Array.from({ length: 30 }, () => create(api, KEY_A))),
      Promise.all(Array.from({ length: 5 }, () => create(api, KEY_B))),
    ]);
    // Assess
    const statuses = a.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(8);
    expect(statuses.filter((s) => s === 429)).toHaveLength(22);
    expect(b.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const refused = a.find((r) => r.status === 429);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused?.headers.get('ratelimit-limit')).toBe('8');
    expect(refused?.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused?.headers.get('ratelimit-policy')).toBe('8;w=8');
    expect(Number(refused?.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect(await refused?.json()).toMatchObject({
      error: { code: 'rate_limited', details: { limit: 'create', ratePerSecond: 1, burst: 8 } },
    });
    const admitted = a.find((r) => r.status === 201);
    expect(admitted?.headers.get('ratelimit-limit')).toBe('8');
    expect(Number(admitted?.headers.get('ratelimit-remaining'))).toBeLessThan(8);
  });

  it('refills: after Retry-After seconds the key may create again', async () => {
    // Prepare
    const clock = new ManualClock(Date.now());
    const api = await start({ DR2E_CREATE_RATE_PER_SECOND: '0.5', DR2E_CREATE_BURST: '1' }, clock);
    await create(api, KEY_A);
    const refused = await create(api, KEY_A);
    // Act
    clock.advance(Number(refused.headers.get('retry-after')) * 1000);
    const later = await create(api, KEY_A);
    // Assess
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(later.status).toBe(201);
  });

  it('limits other requests with their own bucket, so polling does not use up creates', async () => {
    // Prepare
    const api = await start({ DR2E_REQUEST_RATE_PER_SECOND: '1', DR2E_REQUEST_BURST: '3' });
    const get = () => fetch(`${api.url}/v1/jobs`, { headers: { authorization: `Bearer ${KEY_A}` } });
    // Act
    const reads = await Promise.all(Array.from({ length: 6 }, get));
    const created = await create(api, KEY_A);
    // Assess
    expect(reads.map((r) => r.status).sort()).toEqual([200, 200, 200, 429, 429, 429]);
    expect(created.status).toBe(201);
  });
});

describe('jobs in flight and monthly quota', () => {
  it('caps unfinished jobs per key and frees a slot when a job finishes', async () => {
    // Prepare
    const api = await start({ DR2E_MAX_JOBS_IN_FLIGHT: '3' });
    const first = await Promise.all(Array.from({ length: 5 }, () => create(api, KEY_A)));
    const ids = await Promise.all(
      first.filter((r) => r.status === 201).map(async (r) => (await r.json()).id as string),
    );
    // Act
    const full = await create(api, KEY_A);
    const other = await create(api, KEY_B);
    await fetch(`${api.url}/v1/jobs/${ids[0]}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const afterCancel = await create(api, KEY_A);
    // Assess
    expect(ids).toHaveLength(3);
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(await full.json()).toMatchObject({
      error: { code: 'too_many_jobs_in_flight', details: { inFlight: 3, maxJobsInFlight: 3 } },
    });
    expect(other.status).toBe(201);
    expect(afterCancel.status).toBe(201);
  });

  it('refuses creates once the monthly image quota is used, and says when it renews', async () => {
    // Prepare
    const api = await start({ DR2E_MONTHLY_IMAGE_QUOTA: '3' });
    await recordUsed(api, 3);
    // Act
    const over = await create(api, KEY_A);
    const otherTenant = await create(api, KEY_B);
    // Assess: Retry-After runs to the next month (UTC)
    const now = new Date();
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeCloseTo((nextMonth - now.getTime()) / 1000, -2);
    expect(await over.json()).toMatchObject({
      error: { code: 'monthly_quota_exceeded', details: { quota: 3, used: 3, inFlight: 0 } },
    });
    expect(otherTenant.status).toBe(201);
  });

  it('tells a key whose unfinished jobs hold the images left to retry soon, not next month', async () => {
    // Prepare: 2 of 3 images used, the last one held by a job not uploaded yet
    const api = await start({ DR2E_MONTHLY_IMAGE_QUOTA: '3' });
    await recordUsed(api, 2);
    const held = await create(api, KEY_A);
    const heldId = ((await held.json()) as { id: string }).id;
    // Act
    const whileHeld = await create(api, KEY_A);
    await fetch(`${api.url}/v1/jobs/${heldId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const afterCancel = await create(api, KEY_A);
    // Assess
    expect(held.status).toBe(201);
    expect(whileHeld.status).toBe(429);
    expect(whileHeld.headers.get('retry-after')).toBe('5');
    expect(await whileHeld.json()).toMatchObject({
      error: { code: 'monthly_quota_in_flight', details: { quota: 3, used: 2, inFlight: 1 } },
    });
    expect(afterCancel.status).toBe(201);
  });

  it('admits no more than the quota leaves when creates race for it', async () => {
    // Prepare: 3 images a month, room for 50 jobs in flight, no rate limit in the way
    const api = await start({
      DR2E_MONTHLY_IMAGE_QUOTA: '3',
      DR2E_MAX_JOBS_IN_FLIGHT: '50',
      DR2E_CREATE_BURST: '100',
    });
    // Act: 12 creates at once (each reads the same usage before any takes its slot)
    const responses = await Promise.all(Array.from({ length: 12 }, () => create(api, KEY_A)));
    // Assess
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    const refused = responses.find((r) => r.status === 429);
    expect(await refused?.json()).toMatchObject({
      error: { code: 'monthly_quota_in_flight', details: { quota: 3, used: 0, inFlight: 3 } },
    });
  });

  it('expires abandoned jobs that hold every slot when a new create needs one', async () => {
    // Prepare: two jobs never uploaded, then a day and a half without reading them
    const clock = new ManualClock(Date.now());
    const api = await start({ DR2E_MAX_JOBS_IN_FLIGHT: '2' }, clock);
    const abandoned = await Promise.all([create(api, KEY_A), create(api, KEY_A)]);
    const ids = await Promise.all(abandoned.map(async (r) => ((await r.json()) as { id: string }).id));
    clock.advance(36 * 3600 * 1000);
    // Act
    const fresh = await create(api, KEY_A);
    // Assess
    expect(fresh.status).toBe(201);
    for (const id of ids) {
      expect(await api.services.jobs.get(id)).toMatchObject({
        status: 'canceled',
        error: { code: 'upload_expired' },
      });
    }
  });

  it('does not sweep when nothing a sweep frees could lift the refusal, and sweeps a tenant at most once a minute', async () => {
    // Prepare: the month's 2 images used; then a cap of in-flight jobs reached with fresh jobs
    const clock = new ManualClock(Date.now());
    const api = await start({ DR2E_MONTHLY_IMAGE_QUOTA: '2', DR2E_MAX_JOBS_IN_FLIGHT: '1' }, clock);
    await recordUsed(api, 2);
    const listed = vi.spyOn(api.services.jobs, 'listByTenant');
    // Act
    const quotaRefusals = [await create(api, KEY_A), await create(api, KEY_A)];
    const sweepsWhenUsedUp = listed.mock.calls.length;
    expect((await create(api, KEY_B)).status).toBe(201);
    const capRefusals = [await create(api, KEY_B), await create(api, KEY_B), await create(api, KEY_B)];
    // Assess
    expect(quotaRefusals.map((r) => r.status)).toEqual([429, 429]);
    expect(sweepsWhenUsedUp).toBe(0);
    expect(capRefusals.map((r) => r.status)).toEqual([429, 429, 429]);
    expect(listed.mock.calls.length).toBe(1);
  });

  it('refuses creates once the month’s model seconds reach the quota', async () => {
    // Prepare: a 10 s quota; 9 s used
    const api = await start({ DR2E_MONTHLY_MODEL_SECONDS_QUOTA: '10' });
    await recordUsed(api, 1, 9);
    // Act
    const under = await create(api, KEY_A);
    await recordUsed(api, 1, 1.5);
    const over = await create(api, KEY_A);
    const otherTenant = await create(api, KEY_B);
    // Assess
    expect(under.status).toBe(201);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(3600);
    expect(await over.json()).toMatchObject({
      error: {
        code: 'monthly_quota_exceeded',
        details: { quotaKind: 'modelSeconds', quota: 10, used: 10.5 },
      },
    });
    expect(otherTenant.status).toBe(201);
  });

  it('refuses new jobs and upload forms of a suspended tenant and still lets it read its jobs', async () => {
    // Prepare: a job made before the operator suspends tenant A, with an Idempotency-Key
    const before = await start();
    const made = (await (await create(before, KEY_A, {}, 'k-1')).json()) as { id: string };
    const api = await restartWithTenantALimits(before, { suspended: true });
    // Act
    const refused = await create(api, KEY_A);
    const replayed = await create(api, KEY_A, {}, 'k-1');
    const started = await fetch(`${api.url}/v1/jobs/${made.id}/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const read = await fetch(`${api.url}/v1/jobs/${made.id}`, {
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const newForm = await fetch(`${api.url}/v1/jobs/${made.id}/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    const otherTenant = await create(api, KEY_B);
    // Assess
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'tenant_suspended' } });
    expect(read.status).toBe(200);
    expect(newForm.status).toBe(403);
    expect([replayed.status, started.status]).toEqual([403, 403]);
    expect(otherTenant.status).toBe(201);
    // Every answer a suspended tenant got is one the OpenAPI document lists for its route
    const answered: [string, string, number][] = [
      ['/v1/jobs', 'post', refused.status],
      ['/v1/jobs/{id}/start', 'post', started.status],
      ['/v1/jobs/{id}', 'get', read.status],
      ['/v1/jobs/{id}/upload', 'post', newForm.status],
    ];
    const doc = buildOpenApiDocument({ version: 'test' }) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const undocumented = answered.filter(
      ([route, method, status]) => !(String(status) in (doc.paths[route]?.[method]?.responses ?? {})),
    );
    expect(undocumented).toEqual([]);
  });

  it("applies a tenant's own limits from tenants.json over the defaults", async () => {
    // Prepare: learn tenant A's id, then restart with an override for it
    const api = await restartWithTenantALimits(await start(), { maxJobsInFlight: 1 });
    // Act
    const statuses = [
      (await create(api, KEY_A)).status,
      (await create(api, KEY_A)).status,
      (await create(api, KEY_B)).status,
    ];
    // Assess
    expect(statuses).toEqual([201, 429, 201]);
  });

  it('has defaults out of the box: 10/s with bursts of 100, 50 jobs in flight', async () => {
    // Prepare
    const api = await start();
    // Act
    const created = await create(api, KEY_A);
    // Assess
    expect(created.status).toBe(201);
    expect(created.headers.get('ratelimit-limit')).toBe('100');
    expect(created.headers.get('ratelimit-policy')).toBe('100;w=10');
    expect(created.headers.get('ratelimit-remaining')).toBe('99');
  });

  it('documents 429, Retry-After and the RateLimit headers in the OpenAPI document', () => {
    const doc = buildOpenApiDocument({ version: 'test' }) as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>
      >;
    };
    const tooMany = doc.paths['/v1/jobs']?.post?.responses['429'];
    expect(Object.keys(tooMany?.headers ?? {})).toEqual(
      expect.arrayContaining([
        'Retry-After',
        'RateLimit-Limit',
        'RateLimit-Remaining',
        'RateLimit-Reset',
        'RateLimit-Policy',
      ]),
    );
    expect(doc.paths['/v1/jobs/{id}']?.get?.responses['429']).toMatchObject({
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    });
  });
});
