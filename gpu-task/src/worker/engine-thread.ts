/**
 * Runs inside the engine's worker thread (see threaded-engine.ts): loads the engine, answers
 * `restore` requests one at a time, reports each sampler step, and aborts a call between steps
 * when the main thread raises the shared abort flag to that call's id.
 *
 * A flag in shared memory instead of a message: the thread's event loop rarely turns while a
 * batch runs (onnxruntime's session.run occupies this thread), so a message could sit unread
 * until the batch ends; the flag is read at every step.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Dr2eEngine, type Dr2eEngineOptions, type EngineImageInput, EngineError } from '../engine/index.js';
import type {
  EngineThreadRequest,
  EngineThreadResponse,
  SerializedEngineError,
  ThreadRestoreOptions,
} from './threaded-engine.js';

interface EngineThreadData {
  options: Dr2eEngineOptions;
  abortFlag: SharedArrayBuffer;
}

function serializeError(error: unknown): SerializedEngineError {
  if (error instanceof EngineError) {
    return { name: error.name, code: error.code, message: error.message, retryable: error.retryable };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    name: error instanceof Error ? error.name : 'Error',
    code: 'internal_error',
    message,
    retryable: true,
  };
}

async function run(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('engine-thread.ts must run in a worker thread');
  const data = workerData as EngineThreadData;
  const abortFlag = new Int32Array(data.abortFlag);
  const post = (message: EngineThreadResponse) => port.postMessage(message);

  let engine: Dr2eEngine;
  try {
    engine = await Dr2eEngine.load(data.options);
  } catch (error) {
    post({ type: 'load_failed', error: serializeError(error) });
    return;
  }
  // Before `ready`: the first photo job after a cold start should not wait for the detector,
  // and an install without a working detector should not start taking jobs.
  try {
    await engine.loadFaceDetector();
  } catch (error) {
    // The detector's error is the one to report, whatever disposing the engine says.
    await engine.dispose().catch(() => undefined);
    post({ type: 'load_failed', error: serializeError(error) });
    return;
  }
  post({
    type: 'ready',
    name: engine.name,
    resolution: engine.resolution,
    outputSize: engine.outputSize,
    autoCalibrated: engine.autoCalibrated,
  });

  let queue = Promise.resolve();
  port.on('message', (request: EngineThreadRequest) => {
    if (request.type === 'dispose') {
      queue = queue.then(async () => {
        await engine.dispose();
        port.close();
      });
      return;
    }
    queue = queue.then(() => restore(engine, request.callId, request.inputs, request.options));
  });

  async function restore(
    target: Dr2eEngine,
    callId: number,
    inputs: EngineImageInput[],
    options: ThreadRestoreOptions,
  ): Promise<void> {
    const controller = new AbortController();
    const checkAbort = () => {
      if (Atomics.load(abortFlag, 0) === callId) controller.abort(new Error('aborted by the worker'));
    };
    try {
      checkAbort();
      const results = await target.restoreImages(inputs, {
        ...options,
        signal: controller.signal,
        onStep: (progress) => {
          post({ type: 'step', callId, progress });
          checkAbort();
        },
      });
      // Structured clone copies the encoded images (a few hundred KB): simpler and safer than
      // transferring buffers sharp may pool.
      post({
        type: 'result',
        callId,
        results: results.map((result) =>
          result.ok ? result : { id: result.id, ok: false as const, error: serializeError(result.error) },
        ),
      });
    } catch (error) {
      post({ type: 'error', callId, error: serializeError(error) });
    }
  }
}

void run();
