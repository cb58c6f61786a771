/**
 * {@link JobStore} on S3: each job is a JSON object, and every write is conditional so
 * concurrent writers (API cancel, worker progress) cannot overwrite each other.
 *
 * - create: `PutObject` with `If-None-Match: *` (fails if the id exists);
 * - update: read the object and its ETag, check `version`, then `PutObject` with `If-Match:
 *   <ETag>`: a write by anyone in between makes S3 answer 412 (or 409 on a race between
 *   conditional writes), which becomes {@link PreconditionFailedError};
 * - idempotency: a claim object `idempotency/<tenant>/<sha256(key)>.json` created with
 *   `If-None-Match: *` after the job; the loser of a race deletes its job and returns the
 *   winner's;
 * - listing: empty marker objects `tenants/<tenant>/<inverted id>` whose ascending key order is
 *   newest-first job order.
 *
 * The explicit existence and version checks before each conditional write give the same
 * answers on stores without conditional writes (test stand-ins); the conditional headers are
 * what makes concurrent writers safe on S3.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { sha256Hex, utf8Decode, utf8Encode } from '../../src/encoding.js';
import { ConflictError, NotFoundError, PreconditionFailedError, ValidationError } from '../../src/errors.js';
import { invertSortableId, isJobId, jobIdFloor } from '../../src/ids.js';
import { checkJobWrite, checkNewJob, isDeletedJob } from '../../src/job.js';
import { decodeJobCursor, encodeJobCursor, pageSize } from '../../src/job-pages.js';
import type { CreateJobResult, JobPage, JobStore, ListJobsOptions } from '../../src/ports/job-store.js';
import { JobSchema, parseWith, type Job } from '../../src/schemas.js';
import { readStoredRecord, type StoredRecord, withUnknownFields } from '../../src/stored-records.js';
import { isConditionalWriteConflict, isNotFound, readError } from './s3-errors.js';

export interface S3JobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix of the store's objects (default `job-store/`). */
  prefix?: string;
}

/** Percent-encoding plus encoded dots and stars: any tenant id as one key segment. */
function keySegment(value: string): string {
  return encodeURIComponent(value).replace(/\./g, '%2E').replace(/\*/g, '%2A');
}

export class S3JobStore implements JobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3JobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'job-store/';
  }

  private jobKey(jobId: string): string {
    return `${this.prefix}jobs/${jobId}.json`;
  }

  private tenantPrefix(tenantId: string): string {
    return `${this.prefix}tenants/${keySegment(tenantId)}/`;
  }

  private async claimKey(tenantId: string, idempotencyKey: string): Promise<string> {
    return `${this.prefix}idempotency/${keySegment(tenantId)}/${await sha256Hex(idempotencyKey)}.json`;
  }

  /** Object text and ETag, or undefined when missing. */
  private async readObject(key: string): Promise<{ text: string; etag: string | undefined } | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      return { text: utf8Decode(bytes), etag: response.ETag };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw readError(error, key);
    }
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** PutObject of JSON with a condition; a lost condition returns false. */
  private async conditionalPut(
    key: string,
    body: string,
    condition: { IfNoneMatch?: '*'; IfMatch?: string },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: utf8Encode(body),
          ContentType: 'application/json',
          ...condition,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalWriteConflict(error)) return false;
      throw error;
    }
  }

  /** The record (fields a newer writer added set aside: stored-records.ts) and its ETag. */
  private async readJob(
    jobId: string,
  ): Promise<{ job: Job; record: StoredRecord<Job>; etag: string | undefined } | undefined> {
    const object = await this.readObject(this.jobKey(jobId));
    if (!object) return undefined;
    const record = readStoredRecord(JobSchema, JSON.parse(object.text), `stored job ${jobId}`);
    return { job: record.value, record, etag: object.etag };
  }

  private async readClaim(claimKey: string): Promise<Job | undefined> {
    const claim = await this.readObject(claimKey);
    if (!claim) return undefined;
    const { jobId } = JSON.parse(claim.text) as { jobId: string };
    return (await this.readJob(jobId))?.job;
  }

  async create(job: Job): Promise<CreateJobResult> {
    checkNewJob(job);
    const valid = parseWith(JobSchema, job, 'job');
    const claimKey =
      valid.idempotencyKey === undefined
        ? undefined
        : await this.claimKey(valid.tenantId, valid.idempotencyKey);
    if (claimKey) {
      const earlier = await this.readClaim(claimKey);
      if (earlier) return { created: false, job: earlier };
    }
    const jobKey = this.jobKey(valid.id);
    if (
      (await this.exists(jobKey)) ||
      !(await this.conditionalPut(jobKey, JSON.stringify(valid), { IfNoneMatch: '*' }))
    ) {
      throw new ConflictError(`job ${valid.id} already exists`);
    }
    if (
      claimKey &&
      !(await this.conditionalPut(claimKey, JSON.stringify({ jobId: valid.id }), { IfNoneMatch: '*' }))
    ) {
      // Another request with the same key won between our check and our claim: undo our job.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: jobKey }));
      const winner = await this.readClaim(claimKey);
      if (winner) return { created: false, job: winner };
      throw new ConflictError('idempotency key is being used by a concurrent request; retry');
    }
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.tenantPrefix(valid.tenantId) + invertSortableId(valid.id),
        Body: new Uint8Array(),
      }),
    );
    return { created: true, job: valid };
  }

  async get(jobId: string): Promise<Job | undefined> {
    if (!isJobId(jobId)) return undefined;
    return (await this.readJob(jobId))?.job;
  }

  async update(next: Job, expectedVersion: number): Promise<Job> {
    const stored = parseWith(JobSchema, { ...next, version: expectedVersion + 1 }, 'job');
    const current = isJobId(next.id) ? await this.readJob(next.id) : undefined;
    if (!current) throw new NotFoundError(`job ${next.id} not found`);
    if (current.job.tenantId !== stored.tenantId) throw new ValidationError('a job cannot change tenant');
    const conflict = () =>
      new PreconditionFailedError(`job ${next.id} changed since version ${expectedVersion}`, {
        details: { currentVersion: current.job.version, expectedVersion },
      });
    if (current.job.version !== expectedVersion || current.etag === undefined) throw conflict();
    checkJobWrite(current.job, next);
    if (
      !(await this.conditionalPut(
        this.jobKey(next.id),
        JSON.stringify(withUnknownFields(stored, current.record, { none: isDeletedJob(stored) })),
        {
          IfMatch: current.etag,
        },
      ))
    ) {
      throw conflict();
    }
    return stored;
  }

  async listByTenant(tenantId: string, options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = pageSize(options);
    const prefix = this.tenantPrefix(tenantId);
    const startAfter =
      options.cursor === undefined ? undefined : prefix + invertSortableId(decodeJobCursor(options.cursor));
    // ListObjects (v1) with Marker pages exactly like v2's StartAfter; v1 because s3rver, the
    // test stand-in, fails v2 requests that carry MaxKeys.
    const listing = await this.client.send(
      new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: startAfter, MaxKeys: limit }),
    );
    const ids = (listing.Contents ?? [])
      .map((object) => invertSortableId((object.Key ?? '').slice(prefix.length)))
      .filter(isJobId);
    const jobs = (await Promise.all(ids.map((id) => this.get(id)))).filter(
      (job): job is Job => job !== undefined && job.tenantId === tenantId,
    );
    const lastId = ids.at(-1);
    return listing.IsTruncated && lastId ? { jobs, nextCursor: encodeJobCursor(lastId) } : { jobs };
  }

  async listCreatedBetween(from: Date, to: Date, options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = pageSize(options);
    const prefix = `${this.prefix}jobs/`;
    // Job ids sort by creation time: the listing starts at the range's first possible id.
    const marker =
      options.cursor === undefined
        ? prefix + jobIdFloor(from)
        : `${prefix}${decodeJobCursor(options.cursor)}.json`;
    const end = jobIdFloor(to);
    const listing = await this.client.send(
      new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: marker, MaxKeys: limit }),
    );
    const names = (listing.Contents ?? []).map((object) => (object.Key ?? '').slice(prefix.length));
    const inRange = names.map((name) => name.replace(/\.json$/, '')).filter((id) => isJobId(id));
    const ids = inRange.filter((id) => id < end);
    const jobs = (await Promise.all(ids.map((id) => this.get(id).catch(unlessUnreadable)))).filter(
      (job): job is Job => job !== undefined,
    );
    const lastId = ids.at(-1);
    const more = listing.IsTruncated === true && ids.length === inRange.length;
    return more && lastId ? { jobs, nextCursor: encodeJobCursor(lastId) } : { jobs };
  }

  async findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined> {
    return this.readClaim(await this.claimKey(tenantId, idempotencyKey));
  }
}

/**
 * Leaves a record that does not parse out of a time-range listing (the sweeps it serves cannot
 * act on it, and one such record must not stop them; `get` still reports it). Other errors
 * (the store unavailable) propagate.
 */
function unlessUnreadable(error: unknown): undefined {
  // ValidationError: JSON that is not a job; SyntaxError: not JSON at all.
  if (error instanceof ValidationError || error instanceof SyntaxError) return undefined;
  throw error;
}
