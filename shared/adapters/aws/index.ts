/** AWS adapters (S3, SQS) of the dr2e ports. Clients are injected, never created here. */
export * from './emf-job-metrics.js';
export * from './s3-blob-store.js';
export * from './s3-errors.js';
export * from './s3-job-store.js';
export * from './s3-usage-ledger.js';
export * from './secrets-tenant-directory.js';
export * from './sqs-queue.js';
