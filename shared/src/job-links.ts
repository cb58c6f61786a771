/**
 * Signed download links for a job's results: the restored photo, the DR2 output and, when the
 * job kept them, each face's aligned crops. The API's job view and both webhook senders (API
 * and worker) sign through this one function so their payloads always agree.
 */
import { blobKeys } from './blob-keys.js';
import { resolvePhotoOptions, type JobViewLinks } from './job.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Job } from './schemas.js';

/**
 * Signs GET links (valid `ttlSeconds`) for every stored result of the job; none while it has no
 * output. Signing is local for both stores (no request per link), so a 20-face job costs 42
 * signatures, not 42 round trips.
 *
 * @example
 * ```ts
 * const view = toJobView(job, await signJobLinks(blobs, job, 3600));
 * view.output?.faces?.[0]?.crops?.restored.url; // with params.output.faces
 * ```
 */
export async function signJobLinks(blobs: BlobStore, job: Job, ttlSeconds: number): Promise<JobViewLinks> {
  const output = job.output;
  if (!output) return {};
  const sign = (key: string) => blobs.createDownloadUrl(key, ttlSeconds);
  const [restored, dr2, faces] = await Promise.all([
    sign(output.restoredKey),
    output.dr2Key ? sign(output.dr2Key) : undefined,
    Promise.all(
      (output.faces ?? []).map(async (face) => {
        if (!face.crops) return undefined;
        const [input, restoredFace] = await Promise.all([
          sign(face.crops.inputKey),
          sign(face.crops.restoredKey),
        ]);
        return { input, restored: restoredFace };
      }),
    ),
  ]);
  return {
    restored,
    ...(dr2 ? { dr2 } : {}),
    ...(faces.some((crops) => crops !== undefined) ? { faces } : {}),
  };
}

/**
 * Every face crop key a job has or may still get: those recorded on its output and, when it
 * keeps crops, every index a worker could write (up to `maxFaces`), for deleting a job's files
 * while a worker may still be writing them.
 *
 * @example faceCropKeys(job) // ['tenants/t/jobs/job_.../faces/0-input.png', '.../faces/0-restored.png', ...]
 */
export function faceCropKeys(job: Job): string[] {
  const keys = new Set<string>();
  for (const face of job.output?.faces ?? []) {
    if (face.crops) keys.add(face.crops.inputKey).add(face.crops.restoredKey);
  }
  if (job.params.output.faces) {
    for (let index = 0; index < resolvePhotoOptions(job.params).maxFaces; index++) {
      keys.add(blobKeys.faceInput(job.tenantId, job.id, index));
      keys.add(blobKeys.faceRestored(job.tenantId, job.id, index));
    }
  }
  return [...keys];
}
