/**
 * Which usage ledger the operator's usage report reads. Explicit choices first, then the
 * environment the services run with (shared/runtime/config.ts):
 *
 * 1. `--bucket <name> [--prefix usage/]`: the S3 ledger of that bucket (default S3 client, so
 *    credentials and region come from the usual AWS environment or profile);
 * 2. `--data-dir <dir>`: the disk ledger under `<dir>/usage` (what `npm start` writes);
 * 3. `DR2E_MODE=aws` with `DR2E_BUCKET`: that bucket's ledger. Only these two variables: an
 *    operator on a laptop has no queue URLs or tenants secret to set;
 * 4. `DR2E_DATA_DIR` set (local mode): that data dir.
 *
 * Anything else is refused with {@link UsageStoreError}, and so is a data dir that does not
 * exist. The local default data dir (`.data`) is deliberately not used unasked: a checkout's
 * leftover local usage must never pass for a deployment's invoice.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { S3UsageLedger } from '../../../shared/adapters/aws/index.js';
import { DiskUsageLedger } from '../../../shared/adapters/local/index.js';
import type { UsageLedger } from '../../../shared/src/index.js';
import { RuntimeConfigSchema } from '../../../shared/runtime/index.js';

/** The usage store could not be determined, or the choices contradict each other. */
export class UsageStoreError extends Error {
  override readonly name = 'UsageStoreError';
}

/** The store options of `tenants usage`. */
export interface UsageStoreOptions {
  bucket?: string;
  /** Key prefix of the records in the bucket (default `usage/`, as the services write). */
  prefix?: string;
  dataDir?: string;
}

/** A ledger ready to read, what it is (for the report's header), and how to release it. */
export interface OpenedUsageStore {
  ledger: UsageLedger;
  /** E.g. `s3://my-bucket/usage/` or `/home/me/.data/usage`. */
  description: string;
  close(): void;
}

/** Replacements for tests: the environment and the S3 client (a stand-in server's). */
export interface UsageStoreDependencies {
  env?: Record<string, string | undefined>;
  /** Called with the region from `AWS_REGION` (if set); the caller's client is not destroyed. */
  s3Client?: (region: string | undefined) => S3Client;
}

const HOW_TO_CHOOSE =
  'pass --bucket <name> (AWS) or --data-dir <dir> (local), or set DR2E_MODE=aws with DR2E_BUCKET, or DR2E_DATA_DIR';

/** Only the variables that locate the ledger, validated as the services validate them. */
const UsageStoreEnvSchema = RuntimeConfigSchema.pick({
  DR2E_MODE: true,
  DR2E_BUCKET: true,
  AWS_REGION: true,
});

/**
 * Opens the usage ledger the options or the environment name.
 *
 * @throws {UsageStoreError} when none is named, both a bucket and a data dir are, `--prefix` is
 * given for a data dir, the data dir does not exist, `DR2E_MODE=aws` lacks `DR2E_BUCKET`, or
 * `DR2E_MODE` is invalid.
 *
 * @example
 * ```ts
 * const store = openUsageStore({ bucket: 'dr2e-prod-data' });
 * try {
 *   console.log(await store.ledger.tenantIds());
 * } finally {
 *   store.close();
 * }
 * ```
 */
export function openUsageStore(
  options: UsageStoreOptions,
  dependencies: UsageStoreDependencies = {},
): OpenedUsageStore {
  const env = dependencies.env ?? process.env;
  if (options.bucket !== undefined && options.dataDir !== undefined) {
    throw new UsageStoreError('choose one usage store: --bucket or --data-dir, not both');
  }
  if (options.dataDir !== undefined) {
    if (options.prefix !== undefined) throw new UsageStoreError('--prefix applies to --bucket only');
    return diskStore(options.dataDir);
  }
  const parsed = UsageStoreEnvSchema.safeParse({
    DR2E_MODE: env.DR2E_MODE || undefined,
    DR2E_BUCKET: env.DR2E_BUCKET || undefined,
    AWS_REGION: env.AWS_REGION || undefined,
  });
  if (!parsed.success) throw new UsageStoreError(`DR2E_MODE must be local or aws: ${HOW_TO_CHOOSE}`);
  const config = parsed.data;
  const bucket = options.bucket ?? (config.DR2E_MODE === 'aws' ? config.DR2E_BUCKET : undefined);
  if (bucket !== undefined) {
    return s3Store(bucket, options.prefix ?? 'usage/', config.AWS_REGION, dependencies.s3Client);
  }
  if (config.DR2E_MODE === 'aws') {
    throw new UsageStoreError(`DR2E_MODE=aws but DR2E_BUCKET is not set: ${HOW_TO_CHOOSE}`);
  }
  if (options.prefix !== undefined) throw new UsageStoreError('--prefix applies to --bucket only');
  const dataDir = env.DR2E_DATA_DIR;
  if (!dataDir) throw new UsageStoreError(`no usage store given: ${HOW_TO_CHOOSE}`);
  return diskStore(dataDir);
}

/** The disk ledger where createServices puts it in local mode. */
function diskStore(dataDir: string): OpenedUsageStore {
  // A mistyped path would otherwise read as "no usage": refuse it. A data dir without `usage/`
  // is fine (nothing finished yet).
  if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageStoreError(`no data dir at ${path.resolve(dataDir)}`);
  }
  const dir = path.resolve(dataDir, 'usage');
  return { ledger: new DiskUsageLedger({ dir }), description: dir, close: () => undefined };
}

function s3Store(
  bucket: string,
  prefix: string,
  region: string | undefined,
  makeClient: UsageStoreDependencies['s3Client'],
): OpenedUsageStore {
  if (bucket === '') throw new UsageStoreError('--bucket needs a bucket name');
  // The ledger's keys are `<prefix><tenant>/...`: a prefix without its slash would match
  // neighbouring folders (`usage` also lists `usage-archive/`).
  const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const client = makeClient ? makeClient(region) : new S3Client(region ? { region } : {});
  return {
    // Billing reads the records themselves: a day total is checked for which records it covers,
    // not for its sums, and the API's role may write it (it keeps them for the quota checks).
    ledger: new S3UsageLedger({ client, bucket, prefix: folder, dayTotalsPrefix: false }),
    description: `s3://${bucket}/${folder}`,
    // Only a client made here is ours to release (its sockets would keep the process alive).
    close: () => {
      if (!makeClient) client.destroy();
    },
  };
}
