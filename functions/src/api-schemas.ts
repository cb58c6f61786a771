/**
 * Request and response schemas of the HTTP API that are not domain schemas (those live in
 * `shared/src/schemas.ts`). Routes validate with them and `openapi.ts` generates the OpenAPI
 * document from them, so the documentation cannot drift from the code.
 */
import { z } from 'zod';
import {
  MAX_PAGE_SIZE,
  DEFAULT_PAGE_SIZE,
  JOB_STATUSES,
  JobViewSchema,
  WebhookDeliverySchema,
  WebhookStatusSchema,
} from '../../shared/src/index.js';

/** Every error answer: `{ error: { code, message, details? } }`. */
export const ErrorResponseSchema = z.strictObject({
  error: z.strictObject({
    code: z
      .string()
      .meta({ description: 'Stable machine-readable code, e.g. `not_found`, `validation_failed`.' }),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** A presigned POST: send `fields` then the file (field `file`, last) as multipart/form-data. */
export const UploadFormSchema = z
  .strictObject({
    url: z.string(),
    fields: z.record(z.string(), z.string()),
    maxBytes: z.int().positive(),
    expiresAt: z.iso.datetime(),
  })
  .meta({
    description:
      'Presigned POST upload. Send multipart/form-data to `url` with every entry of `fields`, then a ' +
      '`Content-Type` field with the image MIME type when `fields` has none, then the file in the field ' +
      '`file` (last). Storage refuses files over `maxBytes`, other content types, and expired forms.',
  });

/** Body of `201`/`200` answers to `POST /v1/jobs`. */
export const CreateJobResponseSchema = z.strictObject({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  upload: UploadFormSchema.optional().meta({
    description: 'Present while the job waits for its input (status `created`).',
  }),
});

/** A job as the API shows it: the public view plus its webhook delivery state and attempts. */
export const JobResponseSchema = JobViewSchema.extend({
  webhookDeliveries: z
    .array(WebhookDeliverySchema)
    .meta({ description: 'Delivery attempts of the terminal event, oldest first (the newest 50).' }),
  webhookStatus: WebhookStatusSchema.optional().meta({
    description:
      'Where the terminal webhook stands: `pending` while attempts remain (retries with backoff for about 27 hours), ' +
      '`delivered`, or `failed` (then `POST /v1/jobs/{id}/webhook/redeliver` sends it again).',
  }),
});

/** A page of jobs, newest first. */
export const JobListResponseSchema = z.strictObject({
  jobs: z.array(JobResponseSchema),
  nextCursor: z.string().optional().meta({
    description:
      'Pass as `cursor` for the next page; absent on the last. With a `status` filter a page may hold fewer jobs than `limit`, even none, and still have one (a call reads at most 200 jobs).',
  }),
});

/** Query of `GET /v1/jobs`. */
export const ListJobsQuerySchema = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(DEFAULT_PAGE_SIZE)
    .meta({ description: `Page size, 1 to ${MAX_PAGE_SIZE}.` }),
  cursor: z.string().max(200).optional().meta({ description: '`nextCursor` of the previous page.' }),
  status: z.enum(JOB_STATUSES).optional().meta({ description: 'Only jobs in this status.' }),
});

const dateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** Query of `GET /v1/usage` (ISO dates or date-times; `to` is exclusive). */
export const UsageQuerySchema = z.strictObject({
  from: dateOrDateTime.optional().meta({
    description:
      'Start (inclusive). Default: the first day of this month (UTC); with `to` alone, the first day of ' +
      'the month `to` ends in (`to=2026-12-01` means November) where that is earlier.',
  }),
  to: dateOrDateTime.optional().meta({
    description:
      'End (exclusive). A date means its midnight UTC. Default: the first day of next month (UTC), so the ' +
      'period holds everything recorded so far; with `from` alone on or after that day, one calendar month ' +
      'after `from`. A period longer than 400 days is refused (400).',
  }),
});

/** Body of `GET /v1/usage`. */
export const UsageResponseSchema = z.strictObject({
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  jobs: z.int().min(0).meta({
    description:
      'Metered jobs that finished in the period: succeeded ones, and ones canceled while a worker ran them or failed with `engine_timeout` (model seconds only).',
  }),
  images: z.int().min(0).meta({ description: 'Photos restored.' }),
  faces: z
    .int()
    .min(0)
    .meta({
      description:
        'Faces restored by the model: a photo with no face counts 0, a group photo one per restored ' +
        'face; a face `auto` kept as it was (`settings.kept`) counts 0.',
    }),
  modelSeconds: z
    .number()
    .min(0)
    .meta({ description: 'Model time (detection, DR2, enhancer), each job its share of its batch.' }),
});

/** Body of `GET /healthz`. */
export const HealthResponseSchema = z.strictObject({
  status: z.literal('ok'),
  mode: z.enum(['local', 'aws']),
  version: z.string(),
});

/** Body of `GET /v1/tenant`: who the key belongs to and the secret that signs its webhooks. */
export const TenantResponseSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  webhookSecret: z
    .string()
    .meta({ description: 'Standard Webhooks secret (`whsec_...`) to verify deliveries.' }),
});
