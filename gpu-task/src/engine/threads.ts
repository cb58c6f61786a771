/**
 * Starting a worker thread on a module of this code base, compiled or not.
 */
import { Worker } from 'node:worker_threads';

/**
 * A worker thread running the module `name` that lies beside `callerUrl` (the caller's
 * `import.meta.url`): the compiled `name.js` when the caller is compiled, or, when it runs as
 * TypeScript (`node --import tsx`, vitest), `name.ts` through tsx's loader, which worker threads
 * do not inherit from `--import`.
 *
 * @example
 * ```ts
 * const thread = startModuleThread(import.meta.url, 'engine-thread', { options });
 * ```
 */
export function startModuleThread(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
