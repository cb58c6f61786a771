export type * from './blob-store.js';
export type * from './job-store.js';
export type * from './job-queue.js';
export type * from './limit-store.js';
export type * from './webhook-queue.js';
export type * from './webhook-sender.js';
export type * from './usage-ledger.js';
export type * from './tenant-directory.js';
export type { Clock } from '../clock.js';
