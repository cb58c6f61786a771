/**
 * The dr2e HTTP API as a Hono app, built from ports only, so the same app runs in Lambda
 * (`entry/lambda-http.ts`), on Node (`entry/node-server.ts`, `npm start`) and in tests
 * (`app.request(...)`). Handlers use Web-standard APIs only (Request, Response, URL,
 * crypto.subtle, streams).
 *
 * Routes (see `GET /openapi.json` for the schemas):
 * - `GET /healthz`, `GET /openapi.json` (no auth);
 * - `POST /v1/jobs`, `GET /v1/jobs`, `GET|DELETE /v1/jobs/{id}`, `POST /v1/jobs/{id}/start`,
 *   `POST /v1/jobs/{id}/upload`, `POST /v1/jobs/{id}/cancel`, `POST /v1/jobs/{id}/webhook/redeliver`,
 *   `GET /v1/usage`, `GET /v1/tenant` (Bearer API key);
 * - `GET /v1/jobs/{id}/events` (server-sent events; see routes/job-events.ts);
 * - `GET /` and `/playground`: the web playground (see playground/routes.ts);
 * - local mode only: `POST /local-upload`, `GET /local-download` (signed forms and links).
 *
 * Every error is JSON `{ error: { code, message, details? } }`.
 *
 * @example
 * ```ts
 * const services = await createServices(loadRuntimeConfig());
 * const app = createApp(services, appOptionsFromConfig(services.config));
 * const response = await app.request('/v1/jobs', {
 *   method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ preset: 'medium' }),
 * });
 * // 201 { id: 'job_...', status: 'created', upload: { url, fields, maxBytes, expiresAt } }
 * ```
 */
import { Hono } from 'hono';
import type { FilesystemBlobStore } from '../../shared/adapters/local/index.js';
import { defaultTenantLimits, type RuntimeConfig, type Services } from '../../shared/runtime/index.js';
import {
  DEFAULT_TENANT_LIMITS,
  INPUT_LIMITS,
  type TenantLimits,
  silentLogger,
  type Logger,
  JobWebhooks,
  type JobNotifier,
  countingFinishedJobs,
} from '../../shared/src/index.js';
import { bearerAuth, type AuthVariables } from './http/auth.js';
import { rateLimit } from './http/rate-limit.js';
import { JobAdmission } from './services/admission.js';
import { jsonErrorHandler, jsonNotFound } from './http/errors.js';
import { playgroundRoutes, s3BucketOrigins } from './playground/routes.js';
import { accountRoutes } from './routes/account.js';
import { jobEventRoutes, type JobEventRoutesOptions } from './routes/job-events.js';
import { jobRoutes } from './routes/jobs.js';
import { DEFAULT_MAX_CONCURRENT_UPLOADS, localBlobRoutes } from './routes/local-blobs.js';
import { systemRoutes } from './routes/system.js';
import { Dispatcher } from './services/dispatch.js';
import { JobService } from './services/jobs.js';
import { CreatedJobExpiry, DEFAULT_CREATED_JOB_TTL_SECONDS } from './services/expiry.js';
import { DEFAULT_IMAGE_GEOMETRY_LIMITS, UPLOAD_CONTENT_TYPES } from './services/uploads.js';

/** The ports the API uses (a subset of {@link Services}). */
export type AppServices = Pick<
  Services,
  | 'blobs'
  | 'jobs'
  | 'queue'
  | 'webhookQueue'
  | 'usage'
  | 'tenants'
  | 'clock'
  | 'webhookSender'
  | 'webhookTargets'
> &
  Partial<Pick<Services, 'limits' | 'jobMetrics'>> & {
    /** Local mode: enables `/local-upload` and `/local-download`, verified with this store's secret. */
    localBlobs?: Pick<
      FilesystemBlobStore,
      'verifyUploadForm' | 'verifyDownloadUrl' | 'importFile' | 'uploadTempDir' | 'claimUpload'
    >;
  };

export interface AppOptions {
  mode: 'local' | 'aws';
  /** Model name recorded on new jobs (part of the batch key). */
  model: string;
  uploadMaxBytes: number;
  uploadUrlTtlSeconds: number;
  downloadUrlTtlSeconds: number;
  uploadContentTypes: readonly string[];
  /** Cap of JSON request bodies (default 64 KiB). */
  maxJsonBodyBytes: number;
  version: string;
  logger: Logger;
  /**
   * Replaces the webhook notifier of API cancels and dispatcher rejections (and with it their
   * job metrics).
   */
  notifier?: JobNotifier;
  /** Log one line per request (default true). */
  accessLog: boolean;
  /** Tuning of `GET /v1/jobs/{id}/events` (tests poll faster). */
  jobEvents?: Pick<JobEventRoutesOptions, 'pollIntervalMs' | 'maxStreamMs' | 'keepAliveMs'>;
  /** Origins of the storage the browser talks to (presigned uploads, output links), for the playground's CSP. */
  storageOrigins?: readonly string[];
  /** Jobs left `created` this long expire (`DR2E_CREATED_JOB_TTL_SECONDS`, default 24 h). */
  createdJobTtlSeconds: number;
  /** Longest accepted aspect ratio of an `aligned` face crop (`DR2E_MAX_ASPECT_RATIO`, default 4). */
  maxAspectRatio: number;
  /** Per-tenant limits of tenants without overrides (enforced when the services have `limits`). */
  defaultLimits: TenantLimits;
  /** Local mode: uploads streaming at once before `/local-upload` answers 503 (default 16). */
  maxConcurrentUploads: number;
}

/** Defaults for everything not taken from the configuration. */
export const DEFAULT_APP_OPTIONS: AppOptions = {
  mode: 'local',
  model: 'dr2e-default',
  uploadMaxBytes: INPUT_LIMITS.maxFileBytes,
  uploadUrlTtlSeconds: 900,
  downloadUrlTtlSeconds: 3600,
  uploadContentTypes: UPLOAD_CONTENT_TYPES,
  maxJsonBodyBytes: 64 * 1024,
  version: '0.1.0',
  logger: silentLogger,
  accessLog: true,
  createdJobTtlSeconds: DEFAULT_CREATED_JOB_TTL_SECONDS,
  maxAspectRatio: DEFAULT_IMAGE_GEOMETRY_LIMITS.maxAspectRatio,
  defaultLimits: DEFAULT_TENANT_LIMITS,
  maxConcurrentUploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
};

/** App options from the runtime configuration (limits, TTLs, mode), plus `extra`. */
export function appOptionsFromConfig(
  config: RuntimeConfig,
  extra: Partial<AppOptions> = {},
): Partial<AppOptions> {
  return {
    mode: config.DR2E_MODE,
    uploadMaxBytes: config.DR2E_UPLOAD_MAX_BYTES,
    uploadUrlTtlSeconds: config.DR2E_UPLOAD_URL_TTL_SECONDS,
    downloadUrlTtlSeconds: config.DR2E_DOWNLOAD_URL_TTL_SECONDS,
    ...(config.DR2E_MODE === 'aws' && config.DR2E_BUCKET
      ? { storageOrigins: s3BucketOrigins(config.DR2E_BUCKET, config.AWS_REGION) }
      : {}),
    createdJobTtlSeconds: config.DR2E_CREATED_JOB_TTL_SECONDS,
    maxAspectRatio: config.DR2E_MAX_ASPECT_RATIO,
    defaultLimits: defaultTenantLimits(config),
    ...extra,
  };
}

/**
 * The webhook producer of the API and the dispatcher: queues the terminal event of the jobs they
 * make terminal, and redeliveries (the delivery consumer sends them).
 */
export function createJobWebhooks(services: AppServices, options: Pick<AppOptions, 'logger'>): JobWebhooks {
  return new JobWebhooks({
    jobs: services.jobs,
    queue: services.webhookQueue,
    clock: services.clock,
    logger: options.logger.child({ component: 'webhooks' }),
  });
}

/**
 * The dispatcher over the services (used by the app's upload and start routes and by the S3
 * event handler).
 *
 * @example
 * ```ts
 * const dispatcher = createDispatcher(services, { uploadMaxBytes: config.DR2E_UPLOAD_MAX_BYTES });
 * await dispatcher.handleObjectCreated(key);
 * ```
 */
export function createDispatcher(services: AppServices, options: Partial<AppOptions> = {}): Dispatcher {
  const resolved = { ...DEFAULT_APP_OPTIONS, ...options };
  const notifier =
    resolved.notifier ?? countingFinishedJobs(createJobWebhooks(services, resolved), services.jobMetrics);
  return new Dispatcher({
    blobs: services.blobs,
    jobs: services.jobs,
    queue: services.queue,
    clock: services.clock,
    maxUploadBytes: resolved.uploadMaxBytes,
    imageGeometry: { ...DEFAULT_IMAGE_GEOMETRY_LIMITS, maxAspectRatio: resolved.maxAspectRatio },
    expiry: createExpiry(services, { ...resolved, notifier }),
    notifier,
    logger: resolved.logger.child({ component: 'dispatcher' }),
  });
}

/**
 * Expiry of jobs left `created` (used by the API, the dispatcher and the scheduled sweeps; see
 * services/expiry.ts). Without a `notifier`, the job webhooks over the services'.
 */
export function createExpiry(
  services: AppServices,
  options: Pick<AppOptions, 'createdJobTtlSeconds' | 'logger'> & { notifier?: JobNotifier },
): CreatedJobExpiry {
  return new CreatedJobExpiry({
    jobs: services.jobs,
    blobs: services.blobs,
    clock: services.clock,
    notifier:
      options.notifier ?? countingFinishedJobs(createJobWebhooks(services, options), services.jobMetrics),
    ttlSeconds: options.createdJobTtlSeconds,
    logger: options.logger.child({ component: 'expiry' }),
  });
}

/** Builds the API. `options` default to {@link DEFAULT_APP_OPTIONS}. */
export function createApp(services: AppServices, options: Partial<AppOptions> = {}): Hono {
  const resolved: AppOptions = { ...DEFAULT_APP_OPTIONS, ...options };
  const logger = resolved.logger;
  const webhooks = createJobWebhooks(services, resolved);
  const notifier = resolved.notifier ?? countingFinishedJobs(webhooks, services.jobMetrics);
  const dispatcher = createDispatcher(services, { ...resolved, notifier });
  const expiry = createExpiry(services, { ...resolved, notifier });
  const admission = services.limits
    ? new JobAdmission({
        limits: services.limits,
        usage: services.usage,
        defaults: resolved.defaultLimits,
        clock: services.clock,
        slotLeaseSeconds: resolved.createdJobTtlSeconds + 24 * 3600,
      })
    : undefined;
  const jobService = new JobService({
    expiry,
    ...(admission ? { admission } : {}),
    blobs: services.blobs,
    jobs: services.jobs,
    clock: services.clock,
    dispatcher,
    notifier,
    webhooks,
    webhookTargets: services.webhookTargets,
    model: resolved.model,
    uploadMaxBytes: resolved.uploadMaxBytes,
    uploadUrlTtlSeconds: resolved.uploadUrlTtlSeconds,
    uploadContentTypes: resolved.uploadContentTypes,
    ...(services.jobMetrics ? { metrics: services.jobMetrics } : {}),
    logger: logger.child({ component: 'jobs' }),
  });

  const app = new Hono<{ Variables: AuthVariables }>();
  app.onError(jsonErrorHandler(logger));
  app.notFound(jsonNotFound(() => app.routes));
  if (resolved.accessLog) {
    app.use(async (c, next) => {
      const started = performance.now();
      await next();
      // The job a request is about: from its path, or from Location for a create.
      const about = `${c.req.path} ${c.res.headers.get('location') ?? ''}`;
      const jobId = /\/v1\/jobs\/(job_[0-9A-Z]{26})/.exec(about)?.[1];
      logger.info('request', {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(jobId ? { jobId } : {}),
        ...(c.get('tenant') ? { tenantId: c.get('tenant').id } : {}),
      });
    });
  }

  app.route('/', systemRoutes({ mode: resolved.mode, version: resolved.version }));
  app.route('/', playgroundRoutes({ mode: resolved.mode, storageOrigins: resolved.storageOrigins ?? [] }));
  if (services.localBlobs) {
    app.route(
      '/',
      localBlobRoutes({
        signer: services.localBlobs,
        blobs: services.blobs,
        dispatcher,
        uploadMaxBytes: resolved.uploadMaxBytes,
        maxConcurrentUploads: resolved.maxConcurrentUploads,
        logger: logger.child({ component: 'local-blobs' }),
      }),
    );
  }
  app.use('/v1/*', bearerAuth(services.tenants));
  if (services.limits) {
    app.use(
      '/v1/*',
      rateLimit({
        limits: services.limits,
        defaults: resolved.defaultLimits,
        clock: services.clock,
        logger: logger.child({ component: 'rate-limit' }),
      }),
    );
  }
  app.route(
    '/v1/jobs',
    jobRoutes({
      jobService,
      blobs: services.blobs,
      maxJsonBodyBytes: resolved.maxJsonBodyBytes,
      downloadUrlTtlSeconds: resolved.downloadUrlTtlSeconds,
    }),
  );
  app.route(
    '/v1/jobs',
    jobEventRoutes({
      load: (tenantId, jobId) => jobService.get(tenantId, jobId),
      jobs: services.jobs,
      blobs: services.blobs,
      downloadUrlTtlSeconds: resolved.downloadUrlTtlSeconds,
      // HTTP API buffers Lambda responses: in AWS a stream is one snapshot (see job-events.ts).
      ...(resolved.mode === 'aws' ? { maxStreamMs: 0 } : {}),
      ...resolved.jobEvents,
    }),
  );
  app.route('/v1', accountRoutes({ usage: services.usage, clock: services.clock }));
  return app as unknown as Hono;
}
