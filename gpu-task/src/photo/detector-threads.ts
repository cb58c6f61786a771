/**
 * The face detector's BlazeFace graphs in worker threads: a single-threaded onnxruntime session
 * of each graph per thread, the tiles of a photo spread over the threads.
 *
 * Why threads, not onnxruntime's intra-op threads: onnxruntime-node runs a session on the
 * JavaScript thread that calls it, so two sessions in one thread run one after the other; and
 * within one run a 256 px tile leaves a second intra-op thread little to do in the graph's thin
 * late layers, where it spins waiting. On the 2-core development VM a session with 2 intra-op
 * threads took 3.9-4.1 ms a tile (batches of 4-8) and 7.8-8.2 ms of CPU, a single-threaded one
 * 6.0 ms of CPU; with two threads bench:photo's detect phase went from 620-625 to 502-543 ms and
 * the photo stage used 0.4 s less CPU (docs/benchmarks). The main thread meanwhile cuts the
 * next tiles.
 *
 * Tiles travel in shared memory when the caller's buffer is a SharedArrayBuffer (the detector's
 * own batches), else as a copy. A thread answers its requests in order. Idle threads do not keep
 * the process alive; a thread that stops is replaced at the next request.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleThread } from '../engine/core.js';
import type { RawDetection, TileRunner } from './blazeface.js';

/** The graph files every thread loads. */
export interface DetectorThreadSetup {
  back: string;
  front: string;
}

/** Which graph a request runs on. */
export type DetectorGraph = keyof DetectorThreadSetup;

/** A graph's shape as the thread loaded it. */
export interface GraphShape {
  inputSize: number;
  maxBatch: number;
}

export type DetectorThreadRequest =
  | { type: 'run'; id: number; graph: DetectorGraph; tiles: Float32Array; thresholds: number[] }
  | { type: 'dispose' };

export type DetectorThreadResponse =
  | { type: 'ready'; back: GraphShape; front: GraphShape }
  | { type: 'load_failed'; message: string }
  | { type: 'result'; id: number; detections: RawDetection[][] }
  | { type: 'error'; id: number; message: string };

interface Waiting {
  resolve: (detections: RawDetection[][]) => void;
  reject: (error: Error) => void;
}

/** One detector thread and the requests it has not answered yet. */
class DetectorThread {
  private readonly waiting = new Map<number, Waiting>();
  private stopped = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Start a thread and wait until its graphs are loaded. */
  static start(
    setup: DetectorThreadSetup,
  ): Promise<{ thread: DetectorThread; back: GraphShape; front: GraphShape }> {
    const worker = startModuleThread(import.meta.url, 'detector-thread', setup);
    const thread = new DetectorThread(worker);
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new Error(`the face detector's thread stopped while loading its graphs (exit code ${code})`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.once('message', (message: DetectorThreadResponse) => {
        worker.off('exit', onExit);
        worker.off('error', reject);
        if (message.type !== 'ready') {
          void worker.terminate();
          reject(new Error(message.type === 'load_failed' ? message.message : `unexpected ${message.type}`));
          return;
        }
        thread.listen();
        worker.unref();
        resolve({ thread, back: message.back, front: message.front });
      });
    });
  }

  /** Requests sent and not yet answered. */
  get load(): number {
    return this.waiting.size;
  }

  /** Whether the thread has stopped (it takes no more requests). */
  get alive(): boolean {
    return !this.stopped;
  }

  run(
    id: number,
    graph: DetectorGraph,
    tiles: Float32Array,
    thresholds: number[],
  ): Promise<RawDetection[][]> {
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(new Error("the face detector's thread has stopped"));
        return;
      }
      if (this.waiting.size === 0) this.worker.ref(); // a caller awaits: keep the process alive
      this.waiting.set(id, { resolve, reject });
      const request: DetectorThreadRequest = { type: 'run', id, graph, tiles, thresholds };
      if (tiles.buffer instanceof SharedArrayBuffer) this.worker.postMessage(request);
      else this.worker.postMessage(request, [tiles.buffer as ArrayBuffer]);
    });
  }

  async dispose(): Promise<void> {
    if (!this.stopped) this.worker.postMessage({ type: 'dispose' } satisfies DetectorThreadRequest);
    this.worker.ref();
    await this.exited;
  }

  private listen(): void {
    this.worker.on('message', (message: DetectorThreadResponse) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const waiting = this.waiting.get(message.id);
      if (!waiting) return;
      this.settled(message.id);
      if (message.type === 'result') waiting.resolve(message.detections);
      else waiting.reject(new Error(`face detector: ${message.message}`));
    });
    this.worker.on('exit', (code) => {
      this.stopped = true;
      const error = new Error(`the face detector's thread stopped (exit code ${code})`);
      for (const { reject } of this.waiting.values()) reject(error);
      this.waiting.clear();
    });
    // An uncaught error ends the thread; 'exit' above answers its requests.
    this.worker.on('error', () => undefined);
  }

  private settled(id: number): void {
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker.unref();
  }
}

/**
 * `count` detector threads, each with both graphs; `back` and `front` run tiles on whichever
 * thread has the fewest waiting.
 *
 * @example
 * ```ts
 * const threads = await DetectorThreads.start({ back: blazeFaceModelPath(), front: blazeFaceModelPath('front') }, 2);
 * const [first, second] = await threads.back.runBatch(sharedTiles, [0.7, 0.7]);
 * await threads.dispose();
 * ```
 */
export class DetectorThreads {
  readonly back: TileRunner;
  readonly front: TileRunner;
  private nextId = 0;
  private replacing: Promise<void> | null = null;
  private disposed = false;

  private constructor(
    private readonly setup: DetectorThreadSetup,
    /** Threads asked for; stopped ones are replaced up to this many. */
    private readonly count: number,
    private threads: DetectorThread[],
    shapes: { back: GraphShape; front: GraphShape },
  ) {
    this.back = this.runner('back', shapes.back);
    this.front = this.runner('front', shapes.front);
  }

  static async start(setup: DetectorThreadSetup, count: number): Promise<DetectorThreads> {
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`detector threads must be a whole number >= 1, got ${count}`);
    const started = await Promise.allSettled(
      Array.from({ length: count }, () => DetectorThread.start(setup)),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const ready = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed) {
      await Promise.all(ready.map(({ thread }) => thread.dispose()));
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    const [first] = ready;
    return new DetectorThreads(
      setup,
      count,
      ready.map(({ thread }) => thread),
      { back: first!.back, front: first!.front },
    );
  }

  /** Threads now running (for tests and logs). */
  get size(): number {
    return this.threads.filter((t) => t.alive).length;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.replacing?.catch(() => undefined);
    await Promise.all(this.threads.map((t) => t.dispose()));
  }

  private runner(graph: DetectorGraph, shape: GraphShape): TileRunner {
    const tileLength = shape.inputSize * shape.inputSize * 3;
    return {
      inputSize: shape.inputSize,
      tileLength,
      maxBatch: shape.maxBatch,
      run: async (tile, threshold) =>
        (await this.dispatch(graph, tile.subarray(0, tileLength), [threshold]))[0]!,
      // The thread's session checks the count against the graph and the buffer's length.
      runBatch: (tiles, thresholds) =>
        this.dispatch(graph, tiles.subarray(0, thresholds.length * tileLength), [...thresholds]),
    };
  }

  private async dispatch(
    graph: DetectorGraph,
    tiles: Float32Array,
    thresholds: number[],
  ): Promise<RawDetection[][]> {
    if (this.disposed) throw new Error('the face detector has been disposed');
    // Another thread may stop while one is being replaced: look again until all are running.
    while (this.threads.length === 0 || this.threads.some((t) => !t.alive)) await this.replaceStopped();
    const thread = this.threads.reduce((best, t) => (t.load < best.load ? t : best));
    // Shared tiles are read in place; others go over as a copy of exactly the tiles.
    const sent = tiles.buffer instanceof SharedArrayBuffer ? tiles : tiles.slice();
    return thread.run(this.nextId++, graph, sent, thresholds);
  }

  /**
   * Start threads in place of stopped ones (one replacement at a time, however many ask). The
   * threads that start are kept even if others fail; with none running at all, the failure is
   * the caller's.
   */
  private replaceStopped(): Promise<void> {
    this.replacing ??= (async () => {
      const alive = this.threads.filter((t) => t.alive);
      const started = await Promise.allSettled(
        Array.from({ length: this.count - alive.length }, () => DetectorThread.start(this.setup)),
      );
      const fresh = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.thread] : []));
      if (this.disposed) {
        await Promise.all(fresh.map((t) => t.dispose()));
        return;
      }
      this.threads = [...alive, ...fresh];
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (this.threads.length === 0) {
        throw failed?.reason instanceof Error
          ? failed.reason
          : new Error("the face detector's threads could not start");
      }
    })().finally(() => {
      this.replacing = null;
    });
    return this.replacing;
  }
}
