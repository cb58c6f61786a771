/**
 * The engine in a worker thread, behind the same `restoreImages` call.
 *
 * onnxruntime-node's `session.run` occupies the JavaScript thread that calls it, so with the
 * engine on the main thread the event loop turns about once per sampler step: lease renewals,
 * progress writes, cancel checks and webhook deliveries advance one I/O hop per step, and in
 * `npm start` every API request waits for a step. In its own thread the engine computes while
 * the main thread keeps all of that moving.
 *
 * Steps come back as messages (`onStep` is called on the main thread, not awaited by the
 * sampler); aborting sets a flag in shared memory that the thread reads at every step, so a
 * cancel takes effect at the next step boundary.
 */
import type { Worker } from 'node:worker_threads';
import {
  type Dr2eEngineOptions,
  type EngineImageInput,
  type ImageRestoration,
  type RestoreImagesOptions,
  type RestoreProgress,
  EngineError,
  startModuleThread,
} from '../engine/index.js';
import type { RestoreEngine } from './worker.js';

/** An engine error as it crosses the thread boundary. */
export interface SerializedEngineError {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
}

/** The options of `restoreImages` that cross the boundary (the callbacks stay on this side). */
export type ThreadRestoreOptions = Omit<RestoreImagesOptions, 'onStep' | 'signal'>;

export type EngineThreadRequest =
  | { type: 'restore'; callId: number; inputs: EngineImageInput[]; options: ThreadRestoreOptions }
  | { type: 'dispose' };

type SerializedRestoration =
  Extract<ImageRestoration, { ok: true }> | { id: string; ok: false; error: SerializedEngineError };

export type EngineThreadResponse =
  | { type: 'ready'; name: string; resolution: number; outputSize: number; autoCalibrated: boolean }
  | { type: 'load_failed'; error: SerializedEngineError }
  | { type: 'step'; callId: number; progress: RestoreProgress }
  | { type: 'result'; callId: number; results: SerializedRestoration[] }
  | { type: 'error'; callId: number; error: SerializedEngineError };

/** An engine error raised in the engine thread, with its original code and retryability. */
export class RemoteEngineError extends EngineError {
  readonly code: string;
  override readonly retryable: boolean;

  constructor(error: SerializedEngineError) {
    super(error.message);
    this.code = error.code;
    this.retryable = error.retryable;
    this.name = error.name;
  }
}

/** The engine thread stopped (crash, out of memory); everything in flight fails, retryably. */
export class EngineThreadExitedError extends EngineError {
  readonly code = 'engine_unavailable';
  override readonly retryable = true;
}

interface PendingCall {
  resolve: (results: ImageRestoration[]) => void;
  reject: (error: Error) => void;
  onStep: RestoreImagesOptions['onStep'];
}

/**
 * @example
 * ```ts
 * const engine = await ThreadedEngine.start({ device: 'cuda' });
 * const results = await engine.restoreImages(inputs, { params: { steps: 100 }, batchSize: 4 });
 * await engine.dispose();
 * ```
 */
export class ThreadedEngine implements RestoreEngine {
  private readonly pending = new Map<number, PendingCall>();
  private readonly abortFlag: Int32Array;
  private nextCallId = 1;
  private exited: Error | undefined;
  private readonly exitListeners: ((error: Error) => void)[] = [];

  private constructor(
    private readonly thread: Worker,
    abortFlag: SharedArrayBuffer,
    /** Pipeline name of the loaded model. */
    readonly name: string,
    readonly resolution: number,
    readonly outputSize: number,
    /** Whether `auto`'s calibration was fitted on this model (Dr2eEngine.autoCalibrated). */
    readonly autoCalibrated: boolean,
  ) {
    this.abortFlag = new Int32Array(abortFlag);
    thread.on('message', (message: EngineThreadResponse) => this.onMessage(message));
    thread.on('error', (error) => this.handleExit(error));
    thread.on('exit', (code) =>
      this.handleExit(new EngineThreadExitedError(`engine thread exited with code ${code}`)),
    );
  }

  /** Starts the thread and loads the model in it (manifests and checksums are verified). */
  static async start(options: Dr2eEngineOptions): Promise<ThreadedEngine> {
    const abortFlag = new SharedArrayBuffer(4);
    const thread = spawnEngineThread({ options, abortFlag });
    const listeners: {
      message?: (message: EngineThreadResponse) => void;
      error?: (error: Error) => void;
      exit?: (code: number) => void;
    } = {};
    const ready = await new Promise<Extract<EngineThreadResponse, { type: 'ready' }>>((resolve, reject) => {
      listeners.message = (message) => {
        if (message.type === 'ready') resolve(message);
        else if (message.type === 'load_failed') reject(new RemoteEngineError(message.error));
      };
      listeners.error = reject;
      listeners.exit = (code) =>
        reject(new EngineThreadExitedError(`engine thread exited with code ${code}`));
      thread.on('message', listeners.message);
      thread.on('error', listeners.error);
      thread.on('exit', listeners.exit);
    }).catch(async (error: unknown) => {
      await thread.terminate();
      throw error;
    });
    // Only our own listeners: the Worker keeps its port referenced through listener bookkeeping.
    if (listeners.message) thread.off('message', listeners.message);
    if (listeners.error) thread.off('error', listeners.error);
    if (listeners.exit) thread.off('exit', listeners.exit);
    return new ThreadedEngine(
      thread,
      abortFlag,
      ready.name,
      ready.resolution,
      ready.outputSize,
      ready.autoCalibrated,
    );
  }

  /** Called once if the thread dies; the worker process should then stop and be replaced. */
  onExit(listener: (error: Error) => void): void {
    this.exitListeners.push(listener);
  }

  private handleExit(error: Error): void {
    if (this.exited) return;
    this.exited = error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    for (const listener of this.exitListeners) listener(error);
  }

  restoreImages(
    inputs: readonly EngineImageInput[],
    options: RestoreImagesOptions = {},
  ): Promise<ImageRestoration[]> {
    if (this.exited) return Promise.reject(this.exited);
    const callId = this.nextCallId++;
    const { onStep, signal, ...rest } = options;
    return new Promise<ImageRestoration[]>((resolve, reject) => {
      this.pending.set(callId, { resolve, reject, onStep });
      const abort = () => Atomics.store(this.abortFlag, 0, callId);
      if (signal?.aborted) abort();
      signal?.addEventListener('abort', abort, { once: true });
      const request: EngineThreadRequest = {
        type: 'restore',
        callId,
        inputs: inputs.map((input) => ({ ...input })),
        options: rest,
      };
      this.thread.postMessage(request);
    });
  }

  private onMessage(message: EngineThreadResponse): void {
    if (message.type === 'ready' || message.type === 'load_failed') return;
    const call = this.pending.get(message.callId);
    if (!call) return;
    switch (message.type) {
      case 'step':
        void Promise.resolve(call.onStep?.(message.progress)).catch(() => undefined);
        return;
      case 'result':
        this.pending.delete(message.callId);
        call.resolve(
          message.results.map((result) =>
            result.ok ? result : { id: result.id, ok: false, error: new RemoteEngineError(result.error) },
          ),
        );
        return;
      case 'error':
        this.pending.delete(message.callId);
        call.reject(new RemoteEngineError(message.error));
        return;
    }
  }

  /** Releases the model and ends the thread. */
  async dispose(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.thread.once('exit', () => resolve()));
    this.exitListeners.length = 0;
    this.exited = new EngineThreadExitedError('engine disposed');
    this.thread.postMessage({ type: 'dispose' } satisfies EngineThreadRequest);
    // A model that does not release within 10 s is not worth waiting for at shutdown.
    const timer = setTimeout(() => void this.thread.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The thread running engine-thread (compiled or TypeScript, see startModuleThread). */
function spawnEngineThread(workerData: { options: Dr2eEngineOptions; abortFlag: SharedArrayBuffer }): Worker {
  return startModuleThread(import.meta.url, 'engine-thread', workerData);
}
