/**
 * {@link UsageLedger} on S3 (client injected): one small JSON object per finished job,
 *
 * `<prefix><tenant>/<at, ISO-8601>_<jobId>.json`  (default prefix `usage/`)
 *
 * written with `If-None-Match: *`, so recording a job again changes nothing (callers pass the
 * job's terminal timestamp as `at`, which does not change between retries). Keys sort by time,
 * so a sum lists from the range's start (`Marker`) and stops at its end, then reads the listed
 * objects a few at a time. Records never change once written, so each instance keeps those it
 * has read (up to `maxCachedRecords`): the quota check on every create (`JobAdmission`) lists the
 * month (1000 keys per request) but reads only the records finished since its last sum. A
 * high-volume deployment would still aggregate (e.g. per-day rollups). The tenants with usage are
 * the "folders" under the prefix (a listing with `Delimiter: '/'`), so listing them reads no
 * record.
 */
import {
  GetObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsCommandOutput,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { utf8Decode, utf8Encode } from '../../src/encoding.js';
import { assertUsageRecord, summarizeUsage } from '../../src/memory-usage-ledger.js';
import type { UsageLedger, UsageRecord, UsageSummary } from '../../src/ports/usage-ledger.js';
import { isConditionalWriteConflict, isNotFound } from './s3-errors.js';

export interface S3UsageLedgerOptions {
  client: S3Client;
  bucket: string;
  /** Default `usage/`. */
  prefix?: string;
  /** Objects read in parallel while summing (default 16). */
  readConcurrency?: number;
  /** Records kept in memory after a sum has read them (default 100,000: about 30 MB of heap). */
  maxCachedRecords?: number;
}

interface StoredUsage {
  tenantId: string;
  jobId: string;
  at: string;
  images: number;
  /** Absent in records written before photo mode. */
  faces?: number;
  modelSeconds: number;
}

function keySegment(value: string): string {
  return encodeURIComponent(value).replace(/\./g, '%2E').replace(/\*/g, '%2A');
}

/** The value of a key segment, or undefined for a segment {@link keySegment} did not write. */
function decodeKeySegment(segment: string): string | undefined {
  try {
    const value = decodeURIComponent(segment);
    return keySegment(value) === segment ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @example
 * ```ts
 * const usage = new S3UsageLedger({ client: s3, bucket: process.env.DR2E_BUCKET! });
 * await usage.record({ tenantId, jobId, at: new Date(job.timestamps.succeeded!), images: 1, faces: 3, modelSeconds: 3.2 });
 * ```
 */
export class S3UsageLedger implements UsageLedger {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly readConcurrency: number;
  private readonly maxCachedRecords: number;
  /**
   * Records already read, by key (write-once objects: a key's content never changes), kept as
   * [at ms, images, faces or -1, model seconds]: the tenant is the key's, the job id unused.
   */
  private readonly cache = new Map<string, [number, number, number, number]>();

  constructor(options: S3UsageLedgerOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'usage/';
    this.readConcurrency = options.readConcurrency ?? 16;
    this.maxCachedRecords = options.maxCachedRecords ?? 100_000;
  }

  private tenantPrefix(tenantId: string): string {
    return `${this.prefix}${keySegment(tenantId)}/`;
  }

  async record(entry: UsageRecord): Promise<void> {
    assertUsageRecord(entry);
    const stored: StoredUsage = {
      tenantId: entry.tenantId,
      jobId: entry.jobId,
      at: entry.at.toISOString(),
      images: entry.images,
      ...(entry.faces === undefined ? {} : { faces: entry.faces }),
      modelSeconds: entry.modelSeconds,
    };
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: `${this.tenantPrefix(entry.tenantId)}${stored.at}_${entry.jobId}.json`,
          Body: utf8Encode(JSON.stringify(stored)),
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      );
    } catch (error) {
      // Already recorded: the first record of a job wins.
      if (!isConditionalWriteConflict(error)) throw error;
    }
  }

  async sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary> {
    const prefix = this.tenantPrefix(tenantId);
    const end = `${prefix}${range.to.toISOString()}`;
    const keys: string[] = [];
    // Keys just before `from` sort below `<prefix><from ISO>`; start listing there.
    let marker: string | undefined = `${prefix}${range.from.toISOString()}`;
    for (;;) {
      const listing: ListObjectsCommandOutput = await this.client.send(
        new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: marker, MaxKeys: 1000 }),
      );
      const page: string[] = (listing.Contents ?? [])
        .map((object) => object.Key ?? '')
        .filter((key) => key !== '');
      let pastEnd = false;
      for (const key of page) {
        if (key >= end) {
          pastEnd = true;
          break;
        }
        keys.push(key);
      }
      const last: string | undefined = page.at(-1);
      if (pastEnd || !listing.IsTruncated || last === undefined) break;
      marker = last;
    }
    const records: UsageRecord[] = [];
    const unread: string[] = [];
    for (const key of keys) {
      const cached = this.cache.get(key);
      if (!cached) {
        unread.push(key);
        continue;
      }
      const [at, images, faces, modelSeconds] = cached;
      records.push({
        tenantId,
        jobId: '',
        at: new Date(at),
        images,
        ...(faces < 0 ? {} : { faces }),
        modelSeconds,
      });
    }
    for (let offset = 0; offset < unread.length; offset += this.readConcurrency) {
      const chunk = unread.slice(offset, offset + this.readConcurrency);
      const read = await Promise.all(chunk.map((key) => this.read(key)));
      read.forEach((stored, i) => {
        if (!stored) return;
        records.push({ ...stored, at: new Date(stored.at) });
        this.remember(chunk[i] as string, stored);
      });
    }
    return summarizeUsage(tenantId, range, records);
  }

  async tenantIds(): Promise<string[]> {
    const ids: string[] = [];
    let continuationToken: string | undefined;
    do {
      const listing: ListObjectsV2CommandOutput = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          Delimiter: '/',
          ContinuationToken: continuationToken,
        }),
      );
      for (const { Prefix: folder } of listing.CommonPrefixes ?? []) {
        // `<prefix><tenant>/`: objects beside the folders (no tenant segment) are not records.
        const tenantId = folder ? decodeKeySegment(folder.slice(this.prefix.length, -1)) : undefined;
        if (tenantId !== undefined && tenantId !== '') ids.push(tenantId);
      }
      continuationToken = listing.IsTruncated ? listing.NextContinuationToken : undefined;
    } while (continuationToken);
    return ids.sort();
  }

  private remember(key: string, stored: StoredUsage): void {
    const entry: [number, number, number, number] = [
      Date.parse(stored.at),
      stored.images,
      stored.faces ?? -1,
      stored.modelSeconds,
    ];
    // Oldest first out (a Map iterates in insertion order): a long-lived instance stays bounded.
    if (this.cache.size >= this.maxCachedRecords) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, entry);
  }

  private async read(key: string): Promise<StoredUsage | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      return JSON.parse(utf8Decode(bytes)) as StoredUsage;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
