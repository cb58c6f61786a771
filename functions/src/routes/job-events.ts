/**
 * `GET /v1/jobs/{id}/events`: a job's status and progress as server-sent events, ending with one
 * terminal event, so a page or an app can show "step i of n" without polling.
 *
 * Events (`data` is JSON):
 * - `status`: the job view (as `GET /v1/jobs/{id}`), first on connect, then on every status change;
 * - `progress`: `{ id, status, progress: { step, total } }` when only the progress moved;
 * - `job.succeeded` | `job.failed` | `job.canceled`: the final job view (signed output links or
 *   the error), then the stream ends;
 * - `error`: `{ error: { code, message } }` when the job disappears (deleted), then the stream ends.
 *
 * Every event's `id` is the job record's version. The route watches the job store (it reads the
 * record every `pollIntervalMs`; no store here can push changes), so one open stream costs one
 * read per interval, and it stops reading as soon as the client disconnects. A stream ends after
 * `maxStreamMs` without a terminal event; clients reconnect (the first event repeats the state).
 *
 * Behind API Gateway's HTTP API the response is buffered until it ends, so the AWS deployment
 * sets `maxStreamMs` to 0: one snapshot event and a `retry` hint (an `EventSource` then polls).
 * The playground polls `GET /v1/jobs/{id}` there instead.
 */
import { Hono } from 'hono';
import {
  sleep,
  isTerminalStatus,
  webhookEventTypeFor,
  type BlobStore,
  type JobStore,
  type Job,
} from '../../../shared/src/index.js';
import type { AuthVariables } from '../http/auth.js';
import { formatServerSentComment, formatServerSentEvent, type ServerSentEvent } from '../http/sse.js';
import { getTenantJob, isDeletedJob, jobResponse } from '../services/job-views.js';

export interface JobEventRoutesOptions {
  jobs: JobStore;
  blobs: BlobStore;
  downloadUrlTtlSeconds: number;
  /**
   * Reads the job a stream starts from (default: the tenant's record as stored). The app passes
   * `JobService.get`, so a job that waited too long for its upload is expired first, as
   * `GET /v1/jobs/{id}` does, instead of streaming `created` forever.
   */
  load?: (tenantId: string, jobId: string) => Promise<Job>;
  /** How often the job record is read (default 500 ms). */
  pollIntervalMs?: number;
  /** Longest stream before the server ends it (default 10 min; 0: one snapshot, then end). */
  maxStreamMs?: number;
  /** Comment lines at this interval keep idle proxies from closing the stream (default 15 s). */
  keepAliveMs?: number;
  /** `retry` hint sent with the first event (default 2000 ms). */
  retryMs?: number;
}

export const DEFAULT_JOB_EVENTS_POLL_MS = 500;
export const DEFAULT_JOB_EVENTS_MAX_STREAM_MS = 10 * 60_000;
const DEFAULT_KEEP_ALIVE_MS = 15_000;
const DEFAULT_RETRY_MS = 2_000;

/**
 * @example
 * ```ts
 * app.route('/v1/jobs', jobEventRoutes({ jobs, blobs, downloadUrlTtlSeconds: 3600 }));
 * // curl -N -H "Authorization: Bearer $KEY" $URL/v1/jobs/job_.../events
 * ```
 */
export function jobEventRoutes(options: JobEventRoutesOptions): Hono<{ Variables: AuthVariables }> {
  const routes = new Hono<{ Variables: AuthVariables }>();
  routes.get('/:id/events', async (c) => {
    // Answered as JSON errors before the stream starts: unknown, deleted or another tenant's job.
    const load = options.load ?? ((tenantId, jobId) => getTenantJob(options.jobs, tenantId, jobId));
    const first = await load(c.var.tenant.id, c.req.param('id'));
    const stream = jobEventStream(first, c.var.tenant.id, options);
    return new Response(stream.pipeThrough(new TextEncoderStream()), {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // nginx and similar proxies would otherwise hold the events back.
        'x-accel-buffering': 'no',
      },
    });
  });
  return routes;
}

/** The events of one job from its current record until a terminal state, the limit or a cancel. */
function jobEventStream(
  first: Job,
  tenantId: string,
  options: JobEventRoutesOptions,
): ReadableStream<string> {
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_JOB_EVENTS_POLL_MS;
  const maxStreamMs = options.maxStreamMs ?? DEFAULT_JOB_EVENTS_MAX_STREAM_MS;
  const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
  const stop = new AbortController();
  const view = (job: Job) => jobResponse(options.blobs, job, options.downloadUrlTtlSeconds);

  return new ReadableStream<string>({
    async start(controller) {
      const send = (message: ServerSentEvent) => controller.enqueue(formatServerSentEvent(message));
      const deadline = Date.now() + maxStreamMs;
      try {
        let last = first;
        if (isTerminalStatus(first.status)) {
          send(await terminalEvent(first, view));
          return;
        }
        send({
          event: 'status',
          id: String(first.version),
          retryMs: options.retryMs ?? DEFAULT_RETRY_MS,
          data: await view(first),
        });
        let lastWrite = Date.now();
        while (Date.now() < deadline) {
          await sleep(Math.min(pollIntervalMs, Math.max(0, deadline - Date.now())), stop.signal);
          if (stop.signal.aborted) return;
          const job = await options.jobs.get(first.id);
          if (stop.signal.aborted) return;
          if (!job || job.tenantId !== tenantId || isDeletedJob(job)) {
            send({
              event: 'error',
              data: { error: { code: 'not_found', message: `job ${first.id} not found` } },
            });
            return;
          }
          const message = changeEvent(last, job);
          if (message) {
            send(isTerminalStatus(job.status) ? await terminalEvent(job, view) : await message(view));
            lastWrite = Date.now();
            last = job;
            if (isTerminalStatus(job.status)) return;
          } else if (Date.now() - lastWrite >= keepAliveMs) {
            controller.enqueue(formatServerSentComment('keep-alive'));
            lastWrite = Date.now();
          }
        }
      } catch (error) {
        if (!stop.signal.aborted) controller.error(error);
        return;
      } finally {
        if (!stop.signal.aborted) {
          stop.abort();
          try {
            controller.close();
          } catch {
            // Already errored above.
          }
        }
      }
    },
    cancel() {
      // The client went away: stop reading the store at once.
      stop.abort();
    },
  });
}

type View = (job: Job) => Promise<unknown>;

/** The event for a change from `before` to `after`, or undefined when nothing a client sees moved. */
function changeEvent(before: Job, after: Job): ((view: View) => Promise<ServerSentEvent>) | undefined {
  const id = String(after.version);
  if (after.status !== before.status) {
    return async (view) => ({ event: 'status', id, data: await view(after) });
  }
  const moved =
    after.progress?.step !== before.progress?.step || after.progress?.total !== before.progress?.total;
  if (moved && after.progress) {
    const progress = after.progress;
    return () =>
      Promise.resolve({ event: 'progress', id, data: { id: after.id, status: after.status, progress } });
  }
  return undefined;
}

async function terminalEvent(job: Job, view: View): Promise<ServerSentEvent> {
  return {
    event: webhookEventTypeFor(job.status) ?? job.status,
    id: String(job.version),
    data: await view(job),
  };
}
