/**
 * The detector's graphs in worker threads (detector-threads.ts): the same detections as in this
 * thread, errors that come back as errors, a stopped thread replaced, and no process kept
 * alive by idle threads.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import { BLAZEFACE_TILE_LENGTH } from '../../gpu-task/src/photo/blazeface.js';
import { DetectorThreads } from '../../gpu-task/src/photo/detector-threads.js';
import { FaceDetector, blazeFaceModelPath } from '../../gpu-task/src/photo/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GRAPHS = { back: blazeFaceModelPath(), front: blazeFaceModelPath('front') };

/** A 2-face photo made from the samples: faces of 160 and 60 px on a flat ground. */
async function twoFacePhoto() {
  const face = async (file: string, side: number) => {
    const { image } = await decodeImageToRgb(
      new Uint8Array(await readFile(path.join(here, '..', '..', 'samples', file))),
    );
    return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(side, side)
      .png()
      .toBuffer();
  };
  const { data, info } = await sharp({
    create: { width: 900, height: 600, channels: 3, background: '#6a7a5a' },
  })
    .composite([
      { input: await face('sample-mild.jpg', 160), left: 120, top: 200 },
      { input: await face('sample-medium.jpg', 60), left: 600, top: 300 },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** One zero tile in shared memory, as the detector's own batches travel. */
const sharedTile = (): Float32Array => new Float32Array(new SharedArrayBuffer(BLAZEFACE_TILE_LENGTH * 4));

/** The pool's threads as they are now, to stop them as a crash would (white box). */
const workersOf = (threads: DetectorThreads): { worker: { terminate(): Promise<number> } }[] =>
  (threads as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads;

describe('DetectorThreads', () => {
  it('finds the very faces the graphs find in this thread, whatever the threads and batch', async () => {
    const photo = await twoFacePhoto();
    const inPlace = await FaceDetector.load(undefined, 1);
    const threaded = await FaceDetector.load(undefined, 2);
    const threadedSmallBatches = await FaceDetector.load(undefined, 3, 2);
    try {
      const expected = await inPlace.detect(photo);
      expect(expected.length).toBeGreaterThan(0);
      expect(await threaded.detect(photo)).toEqual(expected);
      expect(await threadedSmallBatches.detect(photo)).toEqual(expected);
      // Two photos at once through the same threads.
      const [a, b] = await Promise.all([threaded.detect(photo), threaded.detect(photo)]);
      expect(a).toEqual(expected);
      expect(b).toEqual(expected);
    } finally {
      await inPlace.dispose();
      await threaded.dispose();
      await threadedSmallBatches.dispose();
    }
  });

  it("returns a run's error as a rejection and keeps working", async () => {
    const threads = await DetectorThreads.start(
      { back: blazeFaceModelPath('vendored'), front: GRAPHS.front },
      2,
    );
    try {
      // The vendored graph takes one tile per run.
      await expect(
        threads.back.runBatch(new Float32Array(2 * BLAZEFACE_TILE_LENGTH), [0.5, 0.5]),
      ).rejects.toThrow(/face detector: .*1 tile/);
      expect(await threads.back.run(new Float32Array(BLAZEFACE_TILE_LENGTH), 0.5)).toEqual([]);
    } finally {
      await threads.dispose();
    }
    await expect(threads.back.run(new Float32Array(BLAZEFACE_TILE_LENGTH), 0.5)).rejects.toThrow(/disposed/);
  });

  it('replaces a thread that stopped, and fails its waiting runs with a clear error', async () => {
    const threads = await DetectorThreads.start(GRAPHS, 2);
    try {
      const tile = sharedTile();
      const workers = workersOf(threads);
      // Stop the threads first, then send the runs (they reach the threads before the pool sees
      // them stop), so no session is running when a thread stops: a test fork that stopped them
      // mid-run aborted twice under load ("terminate called after throwing an instance of
      // Napi::Error"), most likely onnxruntime-node's callback landing in the stopped thread.
      const stopping = workers.map((t) => t.worker.terminate());
      const waiting = Promise.all([threads.back.run(tile, 0.5), threads.back.run(tile, 0.5)]).catch(
        (error: unknown) => error,
      );
      await Promise.all(stopping);
      expect(await waiting).toEqual(new Error("the face detector's thread stopped (exit code 1)"));
      expect(threads.size).toBe(0);
      expect(await threads.back.run(tile, 0.5)).toEqual([]);
      expect(threads.size).toBe(2);
    } finally {
      await threads.dispose();
    }
  });

  it('runs on a live thread when another stops while one is being replaced', async () => {
    const threads = await DetectorThreads.start(GRAPHS, 2);
    try {
      const tile = sharedTile();
      const workers = workersOf(threads);
      await workers[0]!.worker.terminate();
      const run = threads.back.run(tile, 0.5); // starts a replacement, which takes a while
      await workers[1]!.worker.terminate();
      expect(await run).toEqual([]);
      expect(threads.size).toBe(2);
    } finally {
      await threads.dispose();
    }
  });

  it("refuses a file that is not a BlazeFace graph with the thread's reason", async () => {
    const other = path.join(here, '..', '..', 'gpu-task', 'models', 'tiny', 'denoiser.onnx');
    await expect(DetectorThreads.start({ back: other, front: GRAPHS.front }, 2)).rejects.toThrow(
      /not a BlazeFace graph/,
    );
  });

  it('keeps no process alive once idle', async () => {
    const fixture = path.join(here, 'fixtures', 'detector-left-loaded.ts');
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout });
      });
    });
    expect(run.stdout).toBe('faces=0\n');
    expect(run.code).toBe(0);
  });
});
