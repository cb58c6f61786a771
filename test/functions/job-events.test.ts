/**
 * `GET /v1/jobs/{id}/events` through `app.request` on the local adapters: the events of a job's
 * life in order and the terminal event that ends the stream, a finished job's single event, a
 * deleted job, the client going away (the route stops reading the store), tenancy (another
 * tenant's job is a 404 before any stream), the AWS snapshot mode, and the OpenAPI entry.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventStreamParser, type ParsedEvent } from '../../functions/src/playground/client/sse.js';
import { blobKeys, mutateJob, recordProgress, transitionJob, type Job } from '../../shared/src/index.js';
import { json, KEY_A, KEY_B, localHarness, type LocalHarness } from './helpers.js';

let h: LocalHarness;

beforeEach(async () => {
  h = await localHarness({ app: { jobEvents: { pollIntervalMs: 5, keepAliveMs: 60_000 } } });
});

afterEach(async () => {
  await h.close();
});

async function createJob(key = KEY_A): Promise<string> {
  const response = await h.call('POST', '/v1/jobs', { json: { preset: 'mild' }, key });
  expect(response.status).toBe(201);
  return ((await json(response)) as { id: string }).id;
}

const change = (id: string, update: (job: Job) => Job) => mutateJob(h.services.jobs, id, update);

/** Reads a stream's events one at a time. */
class EventReader {
  private readonly reader: ReadableStreamDefaultReader<string>;
  private readonly parser = new EventStreamParser();
  private readonly pending: ParsedEvent[] = [];
  ended = false;

  constructor(response: Response) {
    if (!response.body) throw new Error('no body');
    this.reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event, or undefined when the stream ended. */
  async next(): Promise<ParsedEvent | undefined> {
    while (this.pending.length === 0) {
      const { value, done } = await this.reader.read();
      if (done) {
        this.ended = true;
        return undefined;
      }
      this.pending.push(...this.parser.push(value));
    }
    return this.pending.shift();
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

const body = (event: ParsedEvent | undefined) => JSON.parse(event?.data ?? 'null') as Record<string, unknown>;

describe('GET /v1/jobs/{id}/events', () => {
  it('sends status and progress changes in order, then the terminal event, then ends', async () => {
    // Prepare
    const id = await createJob();
    const tenant = (await h.services.tenants.authenticate(KEY_A))?.id ?? '';
    const restoredKey = blobKeys.restored(tenant, id, 'png');
    const at = () => new Date();
    const steps: ((job: Job) => Job)[] = [
      (job) => transitionJob(job, { to: 'uploaded', at: at() }),
      (job) => transitionJob(job, { to: 'queued', at: at() }),
      (job) => transitionJob(job, { to: 'running', at: at(), progress: { step: 0, total: 3 } }),
      (job) => recordProgress(job, { step: 1, total: 3 }, at()),
      (job) => recordProgress(job, { step: 2, total: 3 }, at()),
      (job) =>
        transitionJob(job, {
          to: 'succeeded',
          at: at(),
          output: { restoredKey, format: 'png', width: 64, height: 64 },
          usage: { images: 1, modelSeconds: 1.5 },
        }),
    ];

    // Act: one change at a time, each after the event of the previous one arrived.
    const response = await h.call('GET', `/v1/jobs/${id}/events`);
    const reader = new EventReader(response);
    const events = [await reader.next()];
    for (const step of steps) {
      await change(id, step);
      events.push(await reader.next());
    }
    const after = await reader.next();

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(events.map((event) => [event?.event, body(event).status])).toEqual([
      ['status', 'created'],
      ['status', 'uploaded'],
      ['status', 'queued'],
      ['status', 'running'],
      ['progress', 'running'],
      ['progress', 'running'],
      ['job.succeeded', 'succeeded'],
    ]);
    expect(events.slice(4, 6).map((event) => body(event).progress)).toEqual([
      { step: 1, total: 3 },
      { step: 2, total: 3 },
    ]);
    const ids = events.map((event) => Number(event?.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const final = body(events[6]) as { output?: { restored?: { url: string } }; usage?: unknown };
    expect(final.output?.restored?.url).toContain('/local-download');
    expect(final.usage).toEqual({ images: 1, modelSeconds: 1.5 });
    expect(after).toBeUndefined();
    expect(reader.ended).toBe(true);
  });

  it('sends only the terminal event for a job that already ended', async () => {
    // Prepare
    const id = await createJob();
    await change(id, (job) => transitionJob(job, { to: 'uploaded', at: new Date() }));
    await change(id, (job) => transitionJob(job, { to: 'queued', at: new Date() }));
    await change(id, (job) => transitionJob(job, { to: 'running', at: new Date() }));
    await change(id, (job) =>
      transitionJob(job, {
        to: 'failed',
        at: new Date(),
        error: { code: 'not_an_image', message: 'the upload is not an image' },
      }),
    );

    // Act
    const reader = new EventReader(await h.call('GET', `/v1/jobs/${id}/events`));
    const first = await reader.next();
    const second = await reader.next();

    // Assess
    expect(first?.event).toBe('job.failed');
    expect(body(first).error).toEqual({ code: 'not_an_image', message: 'the upload is not an image' });
    expect(second).toBeUndefined();
  });

  it('ends with an error event when the job is deleted while watched', async () => {
    // Prepare
    const id = await createJob();
    const reader = new EventReader(await h.call('GET', `/v1/jobs/${id}/events`));
    await reader.next();

    // Act
    expect((await h.call('DELETE', `/v1/jobs/${id}`)).status).toBe(204);
    const event = await reader.next();

    // Assess
    expect(event?.event).toBe('error');
    expect(body(event)).toMatchObject({ error: { code: 'not_found' } });
    expect(await reader.next()).toBeUndefined();
  });

  it('stops reading the job store once the client disconnects', async () => {
    // Prepare
    const id = await createJob();
    const reads = vi.spyOn(h.services.jobs, 'get');
    const reader = new EventReader(await h.call('GET', `/v1/jobs/${id}/events`));
    await reader.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const whileOpen = reads.mock.calls.length;

    // Act
    await reader.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const atCancel = reads.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 150));

    // Assess: it was polling while open (5 ms interval), and not at all after the cancel.
    expect(whileOpen).toBeGreaterThan(2);
    expect(reads.mock.calls.length).toBe(atCancel);
  });

  it("answers 404 for another tenant's job and an unknown id, 401 without a key, before any stream", async () => {
    // Prepare
    const id = await createJob(KEY_A);

    // Act
    const other = await h.call('GET', `/v1/jobs/${id}/events`, { key: KEY_B });
    const unknown = await h.call('GET', '/v1/jobs/job_01ARZ3NDEKTSV4RRFFQ69G5FAV/events');
    const anonymous = await h.call('GET', `/v1/jobs/${id}/events`, { key: null });

    // Assess
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await json(other)).toMatchObject({ error: { code: 'not_found' } });
    expect(unknown.status).toBe(404);
    expect(anonymous.status).toBe(401);
  });

  it('sends keep-alive comments while nothing changes', async () => {
    // Prepare
    const quiet = await localHarness({ app: { jobEvents: { pollIntervalMs: 5, keepAliveMs: 20 } } });
    try {
      const response = await quiet.call('POST', '/v1/jobs', { json: {} });
      const { id } = (await json(response)) as { id: string };

      // Act
      const stream = await quiet.call('GET', `/v1/jobs/${id}/events`);
      const reader = stream.body?.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes(': keep-alive')) text += (await reader?.read())?.value ?? '';
      await reader?.cancel();

      // Assess
      expect(text.startsWith('event: status\n')).toBe(true);
    } finally {
      await quiet.close();
    }
  });

  it('with maxStreamMs 0 (the AWS setting) sends one snapshot with a retry hint and ends', async () => {
    // Prepare
    const snapshot = await localHarness({ app: { jobEvents: { maxStreamMs: 0 } } });
    try {
      const response = await snapshot.call('POST', '/v1/jobs', { json: {} });
      const { id } = (await json(response)) as { id: string };

      // Act
      const text = await (await snapshot.call('GET', `/v1/jobs/${id}/events`)).text();

      // Assess
      expect(text).toMatch(/^event: status\nid: 1\nretry: 2000\ndata: \{.*"status":"created".*\}\n\n$/);
    } finally {
      await snapshot.close();
    }
  });

  it('is documented in the OpenAPI document', async () => {
    // Act
    const doc = (await json(await h.call('GET', '/openapi.json', { key: null }))) as {
      paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, unknown> }> } }>;
    };

    // Assess
    const operation = doc.paths['/v1/jobs/{id}/events']?.get;
    expect(operation?.responses['200']?.content).toHaveProperty('text/event-stream');
    expect(operation?.responses['404']?.content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/Error' } },
    });
  });
});
