/**
 * Local adapters (filesystem, `node:fs`) for running the whole service on one machine.
 */
export * from './disk-job-store.js';
export * from './disk-usage-ledger.js';
export * from './fs-blob-store.js';
export { atomicWriteFile, encodePathSegment, withLock } from './fs-util.js';
export * from './local-queue.js';
