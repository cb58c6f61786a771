/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas the routes validate
 * with (`z.toJSONSchema`, JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Only the
 * operations' prose is written here; no schema is duplicated by hand.
 *
 * @example
 * ```ts
 * const doc = buildOpenApiDocument({ version: '0.1.0', serverUrl: 'https://api.example.com' });
 * doc.paths['/v1/jobs'].post.responses['201'];
 * ```
 */
import { z } from 'zod';
import { CreateJobRequestSchema, IdempotencyKeySchema, WebhookEventSchema } from '../../shared/src/index.js';
import {
  CreateJobResponseSchema,
  ErrorResponseSchema,
  HealthResponseSchema,
  JobListResponseSchema,
  JobResponseSchema,
  ListJobsQuerySchema,
  TenantResponseSchema,
  UsageQuerySchema,
  UsageResponseSchema,
} from './api-schemas.js';

type JsonObject = Record<string, unknown>;

const COMPONENT_REF = (id: string) => `#/components/schemas/${id}`;

/** Component schemas, generated once per process. */
function componentSchemas(): Record<string, JsonObject> {
  const requests = z.registry<{ id: string }>();
  requests.add(CreateJobRequestSchema, { id: 'CreateJobRequest' });
  const responses = z.registry<{ id: string }>();
  responses.add(ErrorResponseSchema, { id: 'Error' });
  responses.add(CreateJobResponseSchema, { id: 'CreateJobResponse' });
  responses.add(JobResponseSchema, { id: 'Job' });
  responses.add(JobListResponseSchema, { id: 'JobList' });
  responses.add(UsageResponseSchema, { id: 'Usage' });
  responses.add(HealthResponseSchema, { id: 'Health' });
  responses.add(TenantResponseSchema, { id: 'Tenant' });
  responses.add(WebhookEventSchema, { id: 'WebhookEvent' });
  // Requests as clients may send them (defaults optional); responses as the API writes them.
  const input = z.toJSONSchema(requests, { io: 'input', uri: COMPONENT_REF, unrepresentable: 'any' });
  const output = z.toJSONSchema(responses, { io: 'output', uri: COMPONENT_REF, unrepresentable: 'any' });
  const schemas: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries({ ...input.schemas, ...output.schemas })) {
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonObject;
    schemas[id] = rest;
  }
  return schemas;
}

/** Query parameters from a flat zod object (one parameter per property). */
function queryParameters(schema: z.ZodObject): JsonObject[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonObject>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: 'query',
      required: (json.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

const ref = (id: string) => ({ $ref: COMPONENT_REF(id) });
const json = (id: string) => ({ 'application/json': { schema: ref(id) } });
const error = (description: string) => ({ description, content: json('Error') });
/** Headers of every authenticated answer (IETF draft-ietf-httpapi-ratelimit-headers-07). */
const rateLimitHeaders = {
  'RateLimit-Limit': {
    description: "Requests the key's bucket holds (its burst) for this kind of request.",
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': { description: 'Requests left in the bucket now.', schema: { type: 'integer' } },
  'RateLimit-Reset': { description: 'Seconds until the bucket is full again.', schema: { type: 'integer' } },
  'RateLimit-Policy': {
    description:
      'The bucket as `<burst>;w=<seconds to refill>`, e.g. `100;w=10` for 10/s with bursts of 100.',
    schema: { type: 'string' },
  },
};
const tooManyRequests = {
  description:
    'A per-key limit was hit; retry after `Retry-After` seconds. `rate_limited`: the token bucket of job ' +
    'creations (default 10/s, burst 100) or of other requests (50/s, burst 500) is empty. ' +
    '`too_many_jobs_in_flight` (creates only): the key has its maximum of unfinished jobs (default 50). ' +
    '`monthly_quota_in_flight` (creates only): the images left of the monthly quota are held by the ' +
    "key's unfinished jobs; retry when they finish (then, if they succeeded, the quota is used up) or " +
    'cancel jobs that will not be uploaded. ' +
    "`monthly_quota_exceeded` (creates only): the key's monthly image or model-seconds quota is used up " +
    '(`details.quotaKind`: `images` or `modelSeconds`); `Retry-After` runs to the start of the next month (UTC).',
  headers: {
    'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
    ...rateLimitHeaders,
  },
  content: json('Error'),
};
const standardErrors = {
  '401': error('Missing or unknown API key (`WWW-Authenticate: Bearer`).'),
  '429': tooManyRequests,
  '500': error('Internal error (no details are exposed).'),
};
const jobIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^job_[0-9A-HJKMNP-TV-Z]{26}$' },
};

/** The Standard Webhooks headers of every delivery (shared/src/webhooks.ts). */
const webhookHeaders = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: "The event's id: the same on every retry and redelivery, so a receiver deduplicates on it.",
    schema: { type: 'string' },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description:
      'Unix seconds when this attempt was sent; refuse one far from your clock (5 minutes) against replays.',
    schema: { type: 'string', pattern: '^\\d+$' },
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      'Space-separated `v1,<base64>` entries, each an HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<raw body>` ' +
      "keyed by the base64-decoded part of the tenant's secret after `whsec_` (`GET /v1/tenant`); one matching " +
      'entry verifies it. Any Standard Webhooks library does this.',
    schema: { type: 'string' },
  },
];

/** The webhook a job's `webhook.url` receives when the job finishes (OpenAPI 3.1 `webhooks`). */
const jobFinishedWebhook = {
  post: {
    operationId: 'jobFinished',
    summary: 'A job finished: `job.succeeded`, `job.failed` or `job.canceled`',
    description:
      "Sent once per job, for its terminal status, to the job's `webhook.url` when `webhook.events` holds " +
      'that event. `data` is the job as `GET /v1/jobs/{id}` shows it then, without its webhook fields, so ' +
      'signed links in it expire as that view says. Any non-2xx answer, timeout (5 s by default) or network error is ' +
      'retried 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later with the same `webhook-id`; `410 Gone` ' +
      "stops the retries. `POST /v1/jobs/{id}/webhook/redeliver` sends it again; the job's `webhookStatus` " +
      'shows where delivery stands.',
    parameters: webhookHeaders,
    requestBody: { required: true, content: json('WebhookEvent') },
    responses: {
      '2XX': { description: 'Received; nothing more is sent for this event.' },
      '410': { description: 'The endpoint is gone for good: no more attempts for this event.' },
    },
  },
};

export interface OpenApiOptions {
  version: string;
  /** Absolute base URL listed under `servers` (omitted when unknown). */
  serverUrl?: string;
}

let cachedSchemas: Record<string, JsonObject> | undefined;

/** The OpenAPI 3.1 document (a plain JSON-serialisable object). */
export function buildOpenApiDocument(
  options: OpenApiOptions,
): JsonObject & { paths: Record<string, JsonObject> } {
  cachedSchemas ??= componentSchemas();
  const idempotencyKey = z.toJSONSchema(IdempotencyKeySchema) as JsonObject;
  delete idempotencyKey.$schema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'DR2E face restoration API',
      version: options.version,
      description:
        'Create a job, upload the photo straight to storage with the returned presigned form, then poll ' +
        'the job or receive a signed webhook (Standard Webhooks). Errors are JSON: `{ "error": { "code", ' +
        '"message", "details"? } }`. Each API key has limits (request rates as token buckets, jobs in ' +
        'flight, an optional monthly quota): every `/v1` answer carries `RateLimit-*` headers and a refusal ' +
        'is `429` with `Retry-After`.',
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    security: [{ bearerAuth: [] }],
    components: {
      headers: rateLimitHeaders,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'API key (`dr2e_sk_...`).' },
      },
      schemas: cachedSchemas,
    },
    webhooks: { jobFinished: jobFinishedWebhook },
    paths: {
      '/v1/jobs': {
        post: {
          operationId: 'createJob',
          summary: 'Create a restoration job and get a presigned upload form',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description:
                'Retry-safe creation: the same key with the same body returns the first job (200); the same ' +
                'key with a different body is refused (422 `idempotency_key_reused`). Bodies are compared after ' +
                'defaults are applied, `webhook.events` as a set, and `fidelity: 0.5` beside `preset: "auto"` ' +
                'as left out; without a preset the model default runs, so `{}`, `{"preset":"auto"}` and ' +
                '`{"fidelity":0.5}` are three different bodies.',
              schema: idempotencyKey,
            },
          ],
          requestBody: { required: false, content: json('CreateJobRequest') },
          responses: {
            '201': {
              description: 'Created; upload the input with `upload`.',
              headers: rateLimitHeaders,
              content: json('CreateJobResponse'),
            },
            '200': {
              description: 'Replayed (same Idempotency-Key and body).',
              content: json('CreateJobResponse'),
            },
            '400': error(
              'Invalid body (`validation_failed`, `invalid_json`) or webhook URL refused (`webhook_target_refused`).',
            ),
            '403': error(
              "`tenant_suspended`: the operator suspended this key's account; new jobs are refused, existing jobs, results and usage stay readable.",
            ),
            '413': error('Body larger than the JSON limit.'),
            '415': error('Body is not application/json.'),
            '409': error(
              'The job created with this Idempotency-Key was deleted (`idempotency_key_deleted`).',
            ),
            '422': error('Idempotency-Key reused with a different body.'),
            ...standardErrors,
          },
        },
        get: {
          operationId: 'listJobs',
          summary: "List the tenant's jobs, newest first",
          parameters: queryParameters(ListJobsQuerySchema),
          responses: {
            '200': { description: 'A page of jobs.', content: json('JobList') },
            '400': error('Bad query.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          operationId: 'getJob',
          summary: 'Status, progress, timings, error, signed output links and webhook deliveries',
          parameters: [jobIdParameter],
          responses: {
            '200': { description: 'The job.', content: json('Job') },
            '404': error('No such job for this tenant.'),
            ...standardErrors,
          },
        },
        delete: {
          operationId: 'deleteJob',
          summary: "Delete the job's input and outputs (a running job is canceled first)",
          parameters: [jobIdParameter],
          responses: {
            '204': {
              description: 'Deleted; the job now reads as 404 and its pending webhook attempts stop.',
            },
            '404': error('No such job.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}/events': {
        get: {
          operationId: 'jobEvents',
          summary: 'Follow a job: status and progress as server-sent events, then the terminal event',
          description:
            'A `text/event-stream`. Send the key in `Authorization` (with `fetch`; `EventSource` cannot send ' +
            'headers). Events, each with `id` = the job record version and JSON `data`: `status` (the `Job`; ' +
            'first on connect, then on every status change), `progress` (`{ id, status, progress: { step, ' +
            'total } }`), then one of `job.succeeded`, `job.failed`, `job.canceled` (the final `Job`, with ' +
            'signed output links or the error) and the stream ends; `error` (`Error` body) if the job is ' +
            'deleted meanwhile. Comment lines keep idle connections open. The server ends a stream after 10 ' +
            'minutes; reconnecting repeats the current state. In the AWS deployment (API Gateway buffers ' +
            'responses) the stream is one `status` snapshot with `retry: 2000`: poll `GET /v1/jobs/{id}` there.',
          parameters: [jobIdParameter],
          responses: {
            '200': {
              description: 'The event stream.',
              content: {
                'text/event-stream': {
                  schema: { type: 'string' },
                  example:
                    'event: status\nid: 4\ndata: {"id":"job_...","status":"running",...}\n\n' +
                    'event: progress\nid: 5\ndata: {"id":"job_...","status":"running","progress":{"step":1,"total":100}}\n\n' +
                    'event: job.succeeded\nid: 104\ndata: {"id":"job_...","status":"succeeded",...}\n\n',
                },
              },
            },
            '404': error('No such job for this tenant.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}/start': {
        post: {
          operationId: 'startJob',
          summary: 'Queue the job now (uploads already trigger this; safe to repeat)',
          parameters: [jobIdParameter],
          responses: {
            '202': { description: 'Queued by this call.', content: json('Job') },
            '200': {
              description: 'Already queued, running or rejected; nothing sent.',
              content: json('Job'),
            },
            '403': error(
              "`tenant_suspended`: the operator suspended this key's account; its waiting jobs are not started.",
            ),
            '404': error('No such job.'),
            '409': error('`upload_missing` (nothing uploaded yet) or `job_finished`.'),
            '503': error('`dispatch_failed`: the queue is unavailable; retry.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}/upload': {
        post: {
          operationId: 'newUploadForm',
          summary: 'A new upload form for a job still waiting for its input (e.g. the first form expired)',
          description:
            'Each form has its own storage key. The first upload that arrives (through any form still valid) ' +
            "becomes the job's input; uploads arriving after that are deleted and never change what runs. " +
            'Jobs left `created` expire (status `canceled`, error `upload_expired`) after ' +
            '`DR2E_CREATED_JOB_TTL_SECONDS` (default 24 h).',
          parameters: [jobIdParameter],
          responses: {
            '200': { description: 'A fresh form.', content: json('CreateJobResponse') },
            '403': error("`tenant_suspended`: the operator suspended this key's account."),
            '404': error('No such job.'),
            '409': error('`upload_closed`: the job accepted an input already, finished, or expired.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}/cancel': {
        post: {
          operationId: 'cancelJob',
          summary: 'Cancel a job that has not finished (queues the `job.canceled` webhook)',
          parameters: [jobIdParameter],
          responses: {
            '200': { description: 'The canceled job.', content: json('Job') },
            '404': error('No such job.'),
            '409': error('`invalid_transition`: the job already succeeded or failed.'),
            ...standardErrors,
          },
        },
      },
      '/v1/jobs/{id}/webhook/redeliver': {
        post: {
          operationId: 'redeliverJobWebhook',
          summary: "Send the job's terminal webhook event again",
          description:
            "Starts a new round of delivery attempts of the event of the job's terminal status " +
            '(`job.succeeded`, `job.failed` or `job.canceled`), with the same `webhook-id` as before, so ' +
            'a receiver that already processed it can drop it. Attempts follow the usual schedule ' +
            '(5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h apart); `webhookStatus` on the job shows progress.',
          parameters: [jobIdParameter],
          responses: {
            '202': { description: 'Queued; the job with its new `webhookStatus`.', content: json('Job') },
            '404': error('No such job.'),
            '409': error(
              '`webhook_not_redeliverable`: the job has not finished, or its webhook does not subscribe to its event.',
            ),
            ...standardErrors,
          },
        },
      },
      '/v1/usage': {
        get: {
          operationId: 'getUsage',
          summary: 'Images restored and model seconds used in a period',
          description:
            'Totals of the metered jobs that finished in the period: succeeded jobs (their images, faces ' +
            'and model seconds), jobs canceled while a worker ran them (their model seconds until the ' +
            'cancel, with 0 images and 0 faces), and jobs failed with `engine_timeout` (the model seconds ' +
            'they took, 0 images and 0 faces). Jobs canceled before they ran, and other failed jobs, count nothing.',
          parameters: queryParameters(UsageQuerySchema),
          responses: {
            '200': { description: 'Totals.', content: json('Usage') },
            '400': error('Bad dates.'),
            ...standardErrors,
          },
        },
      },
      '/v1/tenant': {
        get: {
          operationId: 'getTenant',
          summary: 'The tenant of the API key and its webhook signing secret',
          responses: { '200': { description: 'The tenant.', content: json('Tenant') }, ...standardErrors },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness (no authentication)',
          security: [],
          responses: { '200': { description: 'Up.', content: json('Health') } },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1 document.' } },
        },
      },
    },
  };
}
