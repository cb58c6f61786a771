/** Job records for tests. */
import { blobKeys } from '../../../shared/src/blob-keys.js';
import { newJobId } from '../../../shared/src/ids.js';
import { newJob, type NewJobInput } from '../../../shared/src/job.js';
import type { Job } from '../../../shared/src/schemas.js';

export const BASE_TIME = Date.UTC(2025, 0, 1, 12, 0, 0);

/** A `created` job of `tenantId`, created `offsetSeconds` after {@link BASE_TIME}. */
export function sampleJob(tenantId = 'tenant-a', offsetSeconds = 0, extra: Partial<NewJobInput> = {}): Job {
  const at = new Date(BASE_TIME + offsetSeconds * 1000);
  const id = newJobId(at);
  return newJob({
    id,
    tenantId,
    model: 'dr2e-test',
    params: { preset: 'medium', steps: 100, seed: 7, output: { format: 'png', keepDr2: false } },
    inputKey: blobKeys.input(tenantId, id),
    at,
    ...extra,
  });
}
