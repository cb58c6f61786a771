/**
 * {@link JobStore} on a local directory: one JSON file per job, written atomically, with every
 * create and compare-and-set under the store's lock (in-process and across processes).
 *
 * Layout under `dir`:
 * - `jobs/<jobId>.json`: the record;
 * - `idempotency/<tenant>/<sha256(key)>.json`: `{ "jobId": ... }`, the key's claim;
 * - `tenants/<tenant>/<inverted jobId>`: empty markers whose sorted names list a tenant's jobs
 *   newest first (see `invertSortableId`).
 */
import path from 'node:path';
import { sha256Hex } from '../../src/encoding.js';
import { ConflictError, NotFoundError, PreconditionFailedError, ValidationError } from '../../src/errors.js';
import { invertSortableId, isJobId, jobIdFloor } from '../../src/ids.js';
import { checkJobWrite, checkNewJob, isDeletedJob } from '../../src/job.js';
import { decodeJobCursor, encodeJobCursor, pageSize } from '../../src/job-pages.js';
import type { CreateJobResult, JobPage, JobStore, ListJobsOptions } from '../../src/ports/job-store.js';
import { JobSchema, parseWith, type Job } from '../../src/schemas.js';
import { readStoredRecord, type StoredRecord, withUnknownFields } from '../../src/stored-records.js';
import { atomicWriteFile, encodePathSegment, listFiles, readJsonIfExists, withLock } from './fs-util.js';

export interface DiskJobStoreOptions {
  /** Directory of the store (created on first write). */
  dir: string;
}

/**
 * @example
 * ```ts
 * const jobs = new DiskJobStore({ dir: '.data/jobs' });
 * const { job } = await jobs.create(newJob({ ... }));
 * ```
 */
export class DiskJobStore implements JobStore {
  private readonly dir: string;

  constructor(options: DiskJobStoreOptions) {
    this.dir = path.resolve(options.dir);
  }

  private locked<T>(action: () => Promise<T>): Promise<T> {
    return withLock(path.join(this.dir, '.lock'), action);
  }

  private jobPath(jobId: string): string {
    if (!isJobId(jobId)) throw new NotFoundError(`job ${jobId} not found`);
    return path.join(this.dir, 'jobs', `${jobId}.json`);
  }

  private async idempotencyPath(tenantId: string, idempotencyKey: string): Promise<string> {
    return path.join(
      this.dir,
      'idempotency',
      encodePathSegment(tenantId),
      `${await sha256Hex(idempotencyKey)}.json`,
    );
  }

  private async read(jobId: string): Promise<Job | undefined> {
    return (await this.readRecord(jobId))?.value;
  }

  /** The record with the fields a newer writer added set aside (stored-records.ts). */
  private async readRecord(jobId: string): Promise<StoredRecord<Job> | undefined> {
    const raw = await readJsonIfExists(this.jobPath(jobId));
    return raw === undefined ? undefined : readStoredRecord(JobSchema, raw, `stored job ${jobId}`);
  }

  async create(job: Job): Promise<CreateJobResult> {
    checkNewJob(job);
    const valid = parseWith(JobSchema, job, 'job');
    return this.locked(async () => {
      if (valid.idempotencyKey !== undefined) {
        const claimPath = await this.idempotencyPath(valid.tenantId, valid.idempotencyKey);
        const claim = (await readJsonIfExists(claimPath)) as { jobId: string } | undefined;
        const earlier = claim ? await this.read(claim.jobId) : undefined;
        if (earlier) return { created: false, job: earlier };
      }
      if ((await readJsonIfExists(this.jobPath(valid.id))) !== undefined) {
        throw new ConflictError(`job ${valid.id} already exists`);
      }
      await atomicWriteFile(this.jobPath(valid.id), JSON.stringify(valid));
      if (valid.idempotencyKey !== undefined) {
        const claimPath = await this.idempotencyPath(valid.tenantId, valid.idempotencyKey);
        await atomicWriteFile(claimPath, JSON.stringify({ jobId: valid.id }));
      }
      await atomicWriteFile(
        path.join(this.dir, 'tenants', encodePathSegment(valid.tenantId), invertSortableId(valid.id)),
        '',
      );
      return { created: true, job: valid };
    });
  }

  async get(jobId: string): Promise<Job | undefined> {
    if (!isJobId(jobId)) return undefined;
    return this.read(jobId);
  }

  async update(next: Job, expectedVersion: number): Promise<Job> {
    const stored = parseWith(JobSchema, { ...next, version: expectedVersion + 1 }, 'job');
    return this.locked(async () => {
      const record = await this.readRecord(next.id);
      if (!record) throw new NotFoundError(`job ${next.id} not found`);
      const current = record.value;
      if (current.tenantId !== stored.tenantId) throw new ValidationError('a job cannot change tenant');
      if (current.version !== expectedVersion) {
        throw new PreconditionFailedError(
          `job ${next.id} is at version ${current.version}, not ${expectedVersion}`,
          { details: { currentVersion: current.version, expectedVersion } },
        );
      }
      checkJobWrite(current, next);
      await atomicWriteFile(
        this.jobPath(next.id),
        JSON.stringify(withUnknownFields(stored, record, { none: isDeletedJob(stored) })),
      );
      return stored;
    });
  }

  async listByTenant(tenantId: string, options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = pageSize(options);
    const after =
      options.cursor === undefined ? undefined : invertSortableId(decodeJobCursor(options.cursor));
    const markers = (await listFiles(path.join(this.dir, 'tenants', encodePathSegment(tenantId)))).filter(
      (name) => after === undefined || name > after,
    );
    const jobs: Job[] = [];
    let index = 0;
    for (; index < markers.length && jobs.length < limit; index++) {
      const job = await this.read(invertSortableId(markers[index] ?? ''));
      if (job && job.tenantId === tenantId) jobs.push(job);
    }
    const last = jobs.at(-1);
    return index < markers.length && last ? { jobs, nextCursor: encodeJobCursor(last.id) } : { jobs };
  }

  async listCreatedBetween(from: Date, to: Date, options: ListJobsOptions = {}): Promise<JobPage> {
    const limit = pageSize(options);
    const after = options.cursor === undefined ? undefined : decodeJobCursor(options.cursor);
    const [start, end] = [jobIdFloor(from), jobIdFloor(to)];
    // File names sort as ids do, by creation time.
    const ids = (await listFiles(path.join(this.dir, 'jobs')))
      .map((name) => name.replace(/\.json$/, ''))
      .filter((id) => isJobId(id) && id >= start && id < end && (after === undefined || id > after));
    const jobs: Job[] = [];
    let index = 0;
    let lastId: string | undefined;
    for (; index < ids.length && jobs.length < limit; index++) {
      lastId = ids[index] ?? '';
      // A record that does not parse is left out (see the port): one must not stop a sweep.
      const job = await this.read(lastId).catch((error: unknown) => {
        if (error instanceof ValidationError || error instanceof SyntaxError) return undefined;
        throw error;
      });
      if (job) jobs.push(job);
    }
    return index < ids.length && lastId ? { jobs, nextCursor: encodeJobCursor(lastId) } : { jobs };
  }

  async findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined> {
    const claim = (await readJsonIfExists(await this.idempotencyPath(tenantId, idempotencyKey))) as
      { jobId: string } | undefined;
    return claim ? this.get(claim.jobId) : undefined;
  }
}
