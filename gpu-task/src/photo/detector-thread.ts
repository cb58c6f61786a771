/**
 * One of the face detector's threads (detector-threads.ts): the back- and front-camera BlazeFace
 * graphs in single-threaded sessions, running the tiles the main thread sends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlazeFaceModel } from './blazeface.js';
import type {
  DetectorThreadRequest,
  DetectorThreadResponse,
  DetectorThreadSetup,
} from './detector-threads.js';

const port = parentPort;
if (!port) throw new Error('detector-thread.ts runs as a worker thread (see detector-threads.ts)');
const setup = workerData as DetectorThreadSetup;
const send = (message: DetectorThreadResponse): void => port.postMessage(message);
const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

let graphs: { back: BlazeFaceModel; front: BlazeFaceModel };
try {
  const back = await BlazeFaceModel.load(setup.back, 1);
  graphs = {
    back,
    front: await BlazeFaceModel.load(setup.front, 1).catch(async (error: unknown) => {
      await back.dispose();
      throw error;
    }),
  };
} catch (error) {
  send({ type: 'load_failed', message: describe(error) });
  process.exit(0);
}
// onnxruntime refuses tensors on shared memory: tiles are copied into this thread's own buffer
// (a memory copy, well under a millisecond a batch). Requests run one at a time, in order.
let own = new Float32Array(0);
let queue: Promise<void> = Promise.resolve();

async function handle(request: DetectorThreadRequest): Promise<void> {
  if (request.type === 'dispose') {
    await Promise.all([graphs.back.dispose(), graphs.front.dispose()]).catch(() => undefined);
    process.exit(0);
  }
  const { id, graph, tiles, thresholds } = request;
  let input = tiles;
  if (tiles.buffer instanceof SharedArrayBuffer) {
    if (own.length < tiles.length) own = new Float32Array(tiles.length);
    own.set(tiles);
    input = own.subarray(0, tiles.length);
  }
  try {
    send({ type: 'result', id, detections: await graphs[graph].runBatch(input, thresholds) });
  } catch (error) {
    send({ type: 'error', id, message: describe(error) });
  }
}

port.on('message', (request: DetectorThreadRequest) => {
  queue = queue.then(() => handle(request));
});
send({
  type: 'ready',
  back: { inputSize: graphs.back.inputSize, maxBatch: graphs.back.maxBatch },
  front: { inputSize: graphs.front.inputSize, maxBatch: graphs.front.maxBatch },
});
