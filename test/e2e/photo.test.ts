/**
 * Whole photos through the local stack (`npm start`: API, worker, engine thread with the tiny
 * model) over real HTTP: a group photo and a photo without faces from `../shared`, uploaded
 * through signed forms, restored in one engine call, reported in the job view and the signed
 * webhook with their faces and face crops, and metered by faces and model seconds.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dr2eClient, LocalStack, WebhookReceiver } from '../../gpu-task/src/local/index.js';
import type { FaceView, JobView } from '../../shared/src/index.js';
import { sharedDir } from '../engine/helpers/fixture-paths.js';
import { isPng } from '../worker/helpers/images.js';
import { API_KEY, connect, LogLines, startStack, submit, tempDataDir } from './helpers/stack.js';

const photosDir = path.join(sharedDir, 'data', 'whole-photos');
const GROUP = path.join(photosDir, 'insightface_t1_group.jpg');
const NO_FACE = path.join(photosDir, 'insightface_view_noface.jpg');
const photosPresent = existsSync(GROUP) && existsSync(NO_FACE);

let data: Awaited<ReturnType<typeof tempDataDir>>;
let stack: LocalStack | undefined;
let client: Dr2eClient;
let receiver: WebhookReceiver | undefined;

beforeEach(async () => {
  data = await tempDataDir();
});
afterEach(async () => {
  await receiver?.close();
  await stack?.close();
  stack = undefined;
  await data.remove();
});

/** Width and height of a photo as displayed (EXIF orientation applied). */
async function displaySize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  const meta = await sharp(bytes).metadata();
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: (swap ? meta.height : meta.width) ?? 0, height: (swap ? meta.width : meta.height) ?? 0 };
}

function boxInside(face: FaceView, size: { width: number; height: number }): boolean {
  const [x, y, w, h] = face.box;
  return w > 0 && h > 0 && x + w > 0 && y + h > 0 && x < size.width && y < size.height;
}

describe('whole photos through the local API', () => {
  if (!photosPresent) it.skip(`skipped: ${photosDir} is absent (set DR2E_SHARED_DIR)`, () => undefined);

  it.runIf(photosPresent)(
    'restores a group photo and a photo without faces: faces, crops, warnings, webhook and usage',
    async () => {
      // Prepare: the stack with the tiny model in its engine thread, photos of the same options
      // (one engine call), crops asked for on the group photo only.
      stack = await startStack(data.dir, new LogLines(), { workerSettings: { batchWindowMs: 500 } });
      ({ client, receiver } = await connect(stack.url));
      const group = new Uint8Array(await readFile(GROUP));
      const noFace = new Uint8Array(await readFile(NO_FACE));
      const photo = { aligned: false, upscale: 2 };

      // Act
      const groupJob = await submit(
        client,
        receiver,
        group,
        { ...photo, output: { faces: true } },
        'image/jpeg',
      );
      const noFaceJob = await submit(client, receiver, noFace, photo, 'image/jpeg');
      const [groupView, noFaceView] = (await Promise.all([
        client.waitForJob(groupJob.id, { timeoutMs: 120_000 }),
        client.waitForJob(noFaceJob.id, { timeoutMs: 120_000 }),
      ])) as JobView[];
      const event = await receiver.waitFor((e) => e.data.id === groupJob.id && e.type === 'job.succeeded');
      const restored = await client.download(groupView?.output?.restored?.url ?? '');
      const usage = (await (
        await fetch(`${stack.url}/v1/usage`, { headers: { authorization: `Bearer ${API_KEY}` } })
      ).json()) as Record<string, number>;

      // Assess: the group photo, whole, twice the size, every face listed with its crops.
      const groupSize = await displaySize(group);
      expect(groupView).toMatchObject({ status: 'succeeded', params: { upscale: 2, aligned: false } });
      expect(groupView?.output).toMatchObject({ width: groupSize.width * 2, height: groupSize.height * 2 });
      expect(await displaySize(restored)).toEqual({
        width: groupSize.width * 2,
        height: groupSize.height * 2,
      });
      const faces = groupView?.output?.faces ?? [];
      expect(faces).toHaveLength(6);
      expect(groupView?.output?.warnings).toEqual([]);
      // the background's report (the group photo reads clean: only enlarged), in the webhook too
      expect(groupView?.output?.background).toEqual({ noise: expect.any(Number), denoised: false });
      expect(groupView?.output?.background?.noise).toBeLessThan(4);
      expect(event.data.output?.background).toEqual(groupView?.output?.background);
      for (const face of faces) {
        expect(boxInside(face, groupSize)).toBe(true);
        expect(face.score).toBeGreaterThan(0);
        expect(face.landmarks.length).toBeGreaterThanOrEqual(4);
        expect(isPng(await client.download(face.crops?.input.url ?? ''))).toBe(true);
        expect(isPng(await client.download(face.crops?.restored.url ?? ''))).toBe(true);
      }
      expect(groupView?.usage).toMatchObject({ images: 1, faces: 6 });
      // the webhook carries the same faces, with crop links of its own
      expect(event.data.output?.faces?.map((face) => face.box)).toEqual(faces.map((face) => face.box));
      expect(event.data.output?.faces?.every((face) => face.crops?.restored.url)).toBe(true);
      // the photo without a face: a success, upscaled, no face billed
      const noFaceSize = await displaySize(noFace);
      expect(noFaceView).toMatchObject({
        status: 'succeeded',
        output: {
          width: noFaceSize.width * 2,
          height: noFaceSize.height * 2,
          faces: [],
          skippedFaces: [],
          warnings: ['no_face_detected'],
        },
        usage: { images: 1, faces: 0 },
      });
      // Its detection is metered (how long it took is a benchmark's business, not this test's:
      // on a busy machine one detection can outlast a small group's whole run).
      expect(noFaceView?.usage?.modelSeconds).toBeGreaterThan(0);
      expect(usage).toMatchObject({ jobs: 2, images: 2, faces: 6 });
      // the tenant's total is the two jobs' model time, to the ledger's rounding
      expect(usage.modelSeconds).toBeCloseTo(
        (groupView?.usage?.modelSeconds ?? Number.NaN) + (noFaceView?.usage?.modelSeconds ?? Number.NaN),
        2,
      );
    },
    180_000,
  );
});
