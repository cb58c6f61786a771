/**
 * Follows a job until it ends: server-sent events from `GET /v1/jobs/{id}/events` read through
 * `fetch` (key in the header), falling back to polling `GET /v1/jobs/{id}` when the stream is
 * unavailable or ends early (a proxy cut it, the server's time limit). A poll that fails for a
 * reason that says nothing about the job (the network dropped, a 5xx, a 429) is tried again.
 */
import { ApiError, errorFrom, type PlaygroundApi, type PlaygroundJob } from './api.js';
import { EventStreamParser } from './sse.js';

export type ProgressMode = 'events' | 'poll';

/** What the page shows while a job runs. */
export interface JobUpdate {
  status: string;
  progress?: { step: number; total: number } | undefined;
  /** How the update arrived (shown in the page, checked by the browser tests). */
  via: 'events' | 'poll';
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const POLL_INTERVAL_MS = 1000;
/** Longest wait between polls while they keep failing (a phone out of coverage for a while). */
const MAX_RETRY_DELAY_MS = 10_000;

/** Resolves with the final job view (succeeded, failed or canceled). */
export async function watchJob(
  api: PlaygroundApi,
  id: string,
  mode: ProgressMode,
  onUpdate: (update: JobUpdate) => void,
): Promise<PlaygroundJob> {
  if (mode === 'events') {
    try {
      const final = await followEvents(api, id, onUpdate);
      if (final) return final;
    } catch (error) {
      // A refusal about the job itself (401, 404) is final; anything else: poll instead.
      if (error instanceof ApiError && (error.status === 401 || error.status === 404)) throw error;
    }
  }
  return poll(api, id, onUpdate);
}

async function followEvents(
  api: PlaygroundApi,
  id: string,
  onUpdate: (update: JobUpdate) => void,
): Promise<PlaygroundJob | undefined> {
  const response = await fetch(`${api.baseUrl}/v1/jobs/${encodeURIComponent(id)}/events`, {
    headers: { ...api.authHeaders(), accept: 'text/event-stream' },
    cache: 'no-store',
  });
  if (!response.ok) throw await errorFrom(response, 'GET /v1/jobs/{id}/events');
  if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    return undefined;
  }
  const parser = new EventStreamParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      for (const event of parser.push(value)) {
        const data = JSON.parse(event.data) as Partial<PlaygroundJob> & {
          error?: { code: string; message: string };
        };
        if (event.event === 'error' && data.error)
          throw new ApiError(data.error.code, data.error.message, 404);
        if (event.event.startsWith('job.')) return data as PlaygroundJob;
        if (typeof data.status === 'string') {
          onUpdate({ status: data.status, progress: data.progress, via: 'events' });
        }
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/**
 * Whether a failed poll says nothing about the job: `fetch` rejects with a TypeError when the
 * network drops or the server restarts, and a 5xx, 408 or 429 is the server's state. The job
 * runs on meanwhile, so ending the watch there told the user it had failed while it went on
 * (and was billed) with its result and its Cancel button gone from the page.
 */
function transient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 408 || error.status === 429;
  return error instanceof TypeError;
}

async function poll(
  api: PlaygroundApi,
  id: string,
  onUpdate: (update: JobUpdate) => void,
): Promise<PlaygroundJob> {
  let failures = 0;
  for (;;) {
    let job: PlaygroundJob;
    try {
      job = await api.getJob(id);
    } catch (error) {
      if (!transient(error)) throw error;
      failures += 1;
      onUpdate({ status: 'reconnecting', via: 'poll' });
      await sleep(Math.min(MAX_RETRY_DELAY_MS, POLL_INTERVAL_MS * 2 ** (failures - 1)));
      continue;
    }
    failures = 0;
    if (TERMINAL.has(job.status)) return job;
    onUpdate({ status: job.status, progress: job.progress, via: 'poll' });
    await sleep(POLL_INTERVAL_MS);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
