/**
 * The dr2e service domain: job lifecycle, schemas, errors, ports, webhook signing and API-key
 * hashing, plus what the API and the GPU task both need: the structured JSON logger and
 * image-format sniffing from magic bytes. Web-standard APIs only (no AWS SDK, no `node:*`), so
 * it runs in Lambda, Node and edge runtimes. Adapters live in `shared/adapters/local` and
 * `shared/adapters/aws`. Code outside `shared/` imports this module, never the files beside it.
 */
export * from './api-keys.js';
export * from './blob-keys.js';
export * from './cached-usage-sums.js';
export * from './clock.js';
export * from './encoding.js';
export * from './errors.js';
export * from './face-schemas.js';
export * from './fetch-webhook-sender.js';
export * from './ids.js';
export { findBmffTruncation } from './image/bmff.js';
export * from './image/formats.js';
export * from './job.js';
export * from './job-outcome.js';
export * from './job-links.js';
export * from './job-pages.js';
export * from './log.js';
export * from './memory-usage-ledger.js';
export * from './objects.js';
export type * from './ports/index.js';
export * from './restore-options.js';
export * from './schemas.js';
export * from './slot-release.js';
export * from './stored-records.js';
export * from './sleep.js';
export * from './tenant-limits.js';
export * from './tenants.js';
export * from './tenant-secret.js';
export * from './webhook-target.js';
export * from './webhooks.js';
export * from './webhook-delivery.js';
export * from './webhook-delivery-loop.js';
