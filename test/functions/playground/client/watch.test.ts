/**
 * The playground follows a job through a dropped connection: the network going away (or the
 * server restarting) while a job runs says nothing about the job, which goes on, so the page
 * keeps polling until it answers instead of reporting a failure.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlaygroundApi } from '../../../../functions/src/playground/client/api.js';
import { watchJob, type JobUpdate } from '../../../../functions/src/playground/client/watch.js';

const BASE = 'http://api.test';

function jobResponse(status: string): Response {
  return new Response(JSON.stringify({ id: 'job_1', status, timestamps: {}, params: {}, attempts: 1 }), {
    headers: { 'content-type': 'application/json' },
  });
}

describe('watchJob', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('keeps polling through a dropped connection and a 503, and resolves with the finished job', async () => {
    // Prepare: the events stream and two polls fail as a lost network does, one poll meets a
    // restarting server, then the job is seen running and finished.
    const answers: (() => Response)[] = [
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => new Response('unavailable', { status: 503 }),
      () => jobResponse('running'),
      () => jobResponse('succeeded'),
    ];
    const fetchMock = vi.fn(() => {
      const next = answers.shift();
      if (!next) throw new Error('more requests than the test expected');
      return Promise.resolve().then(next);
    });
    vi.stubGlobal('fetch', fetchMock);
    const updates: JobUpdate[] = [];

    // Act
    const watching = watchJob(new PlaygroundApi(BASE, 'key'), 'job_1', 'events', (update) =>
      updates.push(update),
    );
    const settled = watching.then(
      (job) => ({ job }),
      (error: unknown) => ({ error }),
    );
    await vi.advanceTimersByTimeAsync(60_000);
    const outcome = await settled;

    // Assess
    expect(outcome).toEqual({ job: expect.objectContaining({ status: 'succeeded' }) });
    expect(updates.map((update) => update.status)).toEqual([
      'reconnecting',
      'reconnecting',
      'reconnecting',
      'running',
    ]);
    expect(fetchMock).toHaveBeenCalledTimes(6);
  });

  it('still ends at a refusal about the job itself (404)', async () => {
    // Prepare
    vi.stubGlobal(
      'fetch',
      vi.fn(() =>
        Promise.resolve(
          new Response(JSON.stringify({ error: { code: 'not_found', message: 'no such job' } }), {
            status: 404,
          }),
        ),
      ),
    );

    // Act
    const outcome = watchJob(new PlaygroundApi(BASE, 'key'), 'job_1', 'poll', () => undefined).catch(
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(await outcome).toMatchObject({ code: 'not_found', status: 404 });
  });
});
