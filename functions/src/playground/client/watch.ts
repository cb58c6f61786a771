/**
 * Follows a job until it ends: server-sent events from `GET /v1/jobs/{id}/events` read through
 * `fetch` (key in the header), falling back to polling `GET /v1/jobs/{id}` when the stream is
 * unavailable or ends early (a proxy cut it, the server's time limit).
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

async function poll(
  api: PlaygroundApi,
  id: string,
  onUpdate: (update: JobUpdate) => void,
): Promise<PlaygroundJob> {
  for (;;) {
    const job = await api.getJob(id);
    if (TERMINAL.has(job.status)) return job;
    onUpdate({ status: job.status, progress: job.progress, via: 'poll' });
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
