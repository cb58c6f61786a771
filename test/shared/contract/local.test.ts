/** The adapter contracts run against the local (filesystem) family. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { DiskJobStore } from '../../../shared/adapters/local/disk-job-store.js';
import { FilesystemBlobStore } from '../../../shared/adapters/local/fs-blob-store.js';
import { DiskUsageLedger } from '../../../shared/adapters/local/disk-usage-ledger.js';
import { LocalQueue } from '../../../shared/adapters/local/local-queue.js';
import { InMemoryUsageLedger } from '../../../shared/src/memory-usage-ledger.js';
import { JobQueueMessageSchema } from '../../../shared/src/schemas.js';
import { startLocalBlobRoutes, type LocalBlobRoutes } from '../helpers/local-api.js';
import { describeBlobStoreContract } from './blob-store.contract.js';
import { describeJobQueueContract } from './job-queue.contract.js';
import { describeJobStoreContract } from './job-store.contract.js';
import { describeUsageLedgerContract } from './usage-ledger.contract.js';

let root: string;
let routes: LocalBlobRoutes;
let counter = 0;
const fresh = (name: string) => path.join(root, `${name}-${++counter}`);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dr2e-local-contract-'));
  routes = await startLocalBlobRoutes();
});

afterAll(async () => {
  await routes?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describeBlobStoreContract('local filesystem', {
  enforcesUploadPolicy: true,
  makeStore: async () => {
    const store = new FilesystemBlobStore({
      rootDir: fresh('blobs'),
      signingSecret: 'contract-test-signing-secret',
      uploadUrl: `${routes.baseUrl}/local-upload`,
      downloadUrl: `${routes.baseUrl}/local-download`,
    });
    routes.use(store);
    return store;
  },
});

describeJobStoreContract('local disk', {
  enforcesConditionalWrites: true,
  makeStore: async () => new DiskJobStore({ dir: fresh('jobs') }),
  makeStoreWithRawWrites: async () => {
    const dir = fresh('jobs');
    const store = new DiskJobStore({ dir });
    return {
      store,
      writeRawRecord: async (jobId, text) => {
        await mkdir(path.join(dir, 'jobs'), { recursive: true });
        await writeFile(path.join(dir, 'jobs', `${jobId}.json`), text);
      },
      readRawRecord: (jobId) => readFile(path.join(dir, 'jobs', `${jobId}.json`), 'utf8'),
    };
  },
});

describeJobQueueContract('local durable queue', {
  makeQueue: async (maxReceives, onUnreadable) => {
    const dir = fresh('queues');
    const queue = new LocalQueue({
      dir,
      name: 'jobs',
      schema: JobQueueMessageSchema,
      maxReceives: 2,
      pollIntervalMs: 20,
      onUnreadable,
    });
    // Bypasses send()'s validation, as a foreign producer would.
    const sendRaw = async (text: string) => void (await queue.append(JSON.parse(text) as unknown, 0));
    return { queue, maxReceives, sendRaw };
  },
});

describeUsageLedgerContract('local disk', {
  enforcesConditionalWrites: true,
  makeLedger: async () => new DiskUsageLedger({ dir: fresh('usage') }),
});

describeUsageLedgerContract('in memory', {
  enforcesConditionalWrites: true,
  makeLedger: async () => new InMemoryUsageLedger(),
});
