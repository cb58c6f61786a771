/**
 * `/v1/jobs` routes: create (with presigned upload), read, list, start, cancel, delete. Thin:
 * validation with the shared zod schemas, then the {@link JobService}.
 */
import { Hono } from 'hono';
import {
  type BlobStore,
  CreateJobRequestSchema,
  IdempotencyKeySchema,
  parseWith,
} from '../../../shared/src/index.js';
import { ListJobsQuerySchema } from '../api-schemas.js';
import type { AuthVariables } from '../http/auth.js';
import { readJsonBody } from '../http/body.js';
import { jobResponse } from '../services/job-views.js';
import type { JobService } from '../services/jobs.js';

export interface JobRoutesOptions {
  jobService: JobService;
  blobs: BlobStore;
  maxJsonBodyBytes: number;
  downloadUrlTtlSeconds: number;
}

/**
 * @example
 * ```ts
 * app.route('/v1/jobs', jobRoutes({ jobService, blobs, maxJsonBodyBytes: 65536, downloadUrlTtlSeconds: 3600 }));
 * ```
 */
export function jobRoutes(options: JobRoutesOptions): Hono<{ Variables: AuthVariables }> {
  const { jobService, blobs } = options;
  const view = (job: Parameters<typeof jobResponse>[1]) =>
    jobResponse(blobs, job, options.downloadUrlTtlSeconds);
  const routes = new Hono<{ Variables: AuthVariables }>();

  routes.post('/', async (c) => {
    const request = parseWith(
      CreateJobRequestSchema,
      await readJsonBody(c.req.raw, options.maxJsonBodyBytes),
    );
    const header = c.req.header('idempotency-key');
    const idempotencyKey =
      header === undefined ? undefined : parseWith(IdempotencyKeySchema, header, 'Idempotency-Key header');
    const result = await jobService.create(c.var.tenant, request, idempotencyKey);
    c.header('Location', `/v1/jobs/${result.job.id}`);
    if (!result.created) c.header('Idempotent-Replayed', 'true');
    const body = {
      id: result.job.id,
      status: result.job.status,
      ...(result.upload ? { upload: result.upload } : {}),
    };
    return c.json(body, result.created ? 201 : 200);
  });

  routes.get('/', async (c) => {
    const query = parseWith(ListJobsQuerySchema, c.req.query(), 'query');
    const page = await jobService.list(c.var.tenant.id, {
      limit: query.limit,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      ...(query.status === undefined ? {} : { status: query.status }),
    });
    const jobs = await Promise.all(page.jobs.map(view));
    return c.json(page.nextCursor === undefined ? { jobs } : { jobs, nextCursor: page.nextCursor });
  });

  routes.get('/:id', async (c) =>
    c.json(await view(await jobService.get(c.var.tenant.id, c.req.param('id')))),
  );

  routes.post('/:id/start', async (c) => {
    const { job, queuedNow } = await jobService.start(c.var.tenant, c.req.param('id'));
    return c.json(await view(job), queuedNow ? 202 : 200);
  });

  routes.post('/:id/upload', async (c) => {
    const { job, upload } = await jobService.newUploadForm(c.var.tenant, c.req.param('id'));
    return c.json({ id: job.id, status: job.status, upload });
  });

  routes.post('/:id/cancel', async (c) =>
    c.json(await view(await jobService.cancel(c.var.tenant.id, c.req.param('id')))),
  );

  routes.post('/:id/webhook/redeliver', async (c) =>
    c.json(await view(await jobService.redeliverWebhook(c.var.tenant.id, c.req.param('id'))), 202),
  );

  routes.delete('/:id', async (c) => {
    await jobService.delete(c.var.tenant.id, c.req.param('id'));
    return c.body(null, 204);
  });

  return routes;
}
