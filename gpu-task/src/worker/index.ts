/**
 * The GPU worker: claims queued jobs, runs them through the engine (in a worker thread) and
 * records the outcome. `main.ts` is the ECS task's entry point; the local stack builds the same
 * worker through `createWorker`. Import this module, not the files beside it.
 */
export {
  DEFAULT_WORKER_SETTINGS,
  Dr2eWorker,
  type RestoreEngine,
  type WorkerOptions,
  type WorkerServices,
  type WorkerSettings,
} from './worker.js';
export {
  createWorker,
  type CreateWorkerOptions,
  loadWorkerEngine,
  workerSettingsFromConfig,
} from './runtime.js';
export { ThreadedEngine } from './threaded-engine.js';
