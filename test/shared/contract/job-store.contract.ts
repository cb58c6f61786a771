/**
 * Behaviour every JobStore adapter must have. Run by `local.test.ts` and `aws.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InvalidTransitionError,
  NotFoundError,
  PreconditionFailedError,
  ValidationError,
} from '../../../shared/src/errors.js';
import { DELETED_JOB_CODE, mutateJob, transitionJob } from '../../../shared/src/job.js';
import type { JobStore } from '../../../shared/src/ports/job-store.js';
import type { Job } from '../../../shared/src/schemas.js';
import { BASE_TIME, sampleJob } from '../helpers/jobs.js';

export interface JobStoreContractOptions {
  makeStore: () => Promise<JobStore>;
  /**
   * Whether the backing store enforces conditional writes, which is what keeps truly
   * concurrent writers apart. False for s3rver, which ignores If-Match / If-None-Match.
   */
  enforcesConditionalWrites: boolean;
  /**
   * A store and a way to write and read a job record's raw text behind its back (a corrupt
   * record, one written by a newer version).
   */
  makeStoreWithRawWrites: () => Promise<{
    store: JobStore;
    writeRawRecord: (jobId: string, text: string) => Promise<void>;
    readRawRecord: (jobId: string) => Promise<string>;
  }>;
}

export function describeJobStoreContract(family: string, options: JobStoreContractOptions): void {
  describe(`JobStore contract: ${family}`, () => {
    it('creates a job and reads it back unchanged', async () => {
      const store = await options.makeStore();
      const job = sampleJob();
      const result = await store.create(job);
      expect(result).toEqual({ created: true, job });
      expect(await store.get(job.id)).toEqual(job);
    });

    it('answers undefined for unknown ids and for text that is not a job id', async () => {
      const store = await options.makeStore();
      expect(await store.get(sampleJob().id)).toBeUndefined();
      expect(await store.get('../../etc/passwd')).toBeUndefined();
    });

    it('refuses a second job with the same id', async () => {
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      await expect(store.create({ ...job, tenantId: 'tenant-b' })).rejects.toBeInstanceOf(ConflictError);
      expect((await store.get(job.id))?.tenantId).toBe('tenant-a');
    });

    it('writes an update at the expected version and bumps the version', async () => {
      // Prepare
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      // Act
      const uploaded = await store.update(
        transitionJob(job, { to: 'uploaded', at: new Date(), input: { bytes: 5 } }),
        job.version,
      );
      // Assess
      expect(uploaded.version).toBe(job.version + 1);
      expect(uploaded.status).toBe('uploaded');
      expect(await store.get(job.id)).toEqual(uploaded);
    });

    it('refuses an update from a stale version and keeps the stored record', async () => {
      // Prepare
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      const canceled = await store.update(
        transitionJob(job, { to: 'canceled', at: new Date() }),
        job.version,
      );
      // Act: a writer that still holds version 1
      const stale = store.update(transitionJob(job, { to: 'uploaded', at: new Date() }), job.version);
      // Assess
      await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(await store.get(job.id)).toEqual(canceled);
    });

    it('refuses a status change not made by the lifecycle and keeps the stored record', async () => {
      // Prepare
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      const at = new Date().toISOString();
      // Act + Assess, one write at a time: both are refused, and a second write left pending
      // while the first is asserted would reject unobserved (an unhandled rejection).
      const byHand = store.update(
        { ...job, status: 'failed', updatedAt: at, timestamps: { ...job.timestamps, failed: at } },
        job.version,
      );
      await expect(byHand).rejects.toBeInstanceOf(InvalidTransitionError);
      const uploaded = transitionJob(job, { to: 'uploaded', at: new Date() });
      const fromElsewhere = store.update(
        transitionJob(
          { ...uploaded, version: job.version },
          { to: 'failed', at: new Date(), error: { code: 'x', message: 'y' } },
        ),
        job.version,
      );
      await expect(fromElsewhere).rejects.toMatchObject({
        code: 'invalid_transition',
        from: 'created',
        to: 'failed',
      });
      expect(await store.get(job.id)).toEqual(job);
    });

    it('takes a chain of transitions from the stored status in one write, and writes that keep the status', async () => {
      // Prepare
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      const at = new Date();
      // Act
      const queued = await store.update(
        transitionJob(transitionJob(job, { to: 'uploaded', at }), { to: 'queued', at }),
        job.version,
      );
      const marked = await store.update(
        { ...queued, error: { code: 'enqueue_failed', message: 'retried', retryable: true } },
        queued.version,
      );
      // Assess
      expect(queued).toMatchObject({ status: 'queued', version: 2 });
      expect(marked).toMatchObject({ status: 'queued', version: 3, error: { code: 'enqueue_failed' } });
    });

    it('creates jobs only in status created', async () => {
      const store = await options.makeStore();
      const job = sampleJob();
      await expect(store.create({ ...job, status: 'queued' })).rejects.toBeInstanceOf(InvalidTransitionError);
      expect(await store.get(job.id)).toBeUndefined();
    });

    it('refuses an update of a job that does not exist', async () => {
      const store = await options.makeStore();
      const job = sampleJob();
      await expect(store.update(job, 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('walks a job through its lifecycle with read-modify-write', async () => {
      // Prepare
      const store = await options.makeStore();
      const job = sampleJob();
      await store.create(job);
      const at = new Date();
      // Act
      await mutateJob(store, job.id, (j) => transitionJob(j, { to: 'uploaded', at }));
      await mutateJob(store, job.id, (j) => transitionJob(j, { to: 'queued', at }));
      await mutateJob(store, job.id, (j) => transitionJob(j, { to: 'running', at }));
      const done = await mutateJob(store, job.id, (j) =>
        transitionJob(j, {
          to: 'succeeded',
          at,
          output: { restoredKey: 'out/restored.png', format: 'png' },
          usage: { images: 1, modelSeconds: 2.5 },
        }),
      );
      // Assess
      expect(done).toMatchObject({ status: 'succeeded', version: 5, attempts: 1 });
      expect(await store.get(job.id)).toEqual(done);
    });

    it.skipIf(!options.enforcesConditionalWrites)(
      'lets exactly one of two concurrent writers from the same version win',
      async () => {
        // Prepare
        const store = await options.makeStore();
        const job = sampleJob();
        await store.create(job);
        // Act
        const results = await Promise.allSettled([
          store.update(transitionJob(job, { to: 'uploaded', at: new Date() }), job.version),
          store.update(transitionJob(job, { to: 'canceled', at: new Date() }), job.version),
        ]);
        // Assess
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(PreconditionFailedError);
        expect((await store.get(job.id))?.version).toBe(2);
      },
    );

    it('returns the first job for a repeated idempotency key, per tenant', async () => {
      // Prepare
      const store = await options.makeStore();
      const first = sampleJob('tenant-a', 0, { idempotencyKey: 'order-42', requestFingerprint: 'f1' });
      const retry = sampleJob('tenant-a', 1, { idempotencyKey: 'order-42', requestFingerprint: 'f1' });
      const otherTenant = sampleJob('tenant-b', 2, { idempotencyKey: 'order-42' });
      // Act
      const created = await store.create(first);
      const repeated = await store.create(retry);
      const separate = await store.create(otherTenant);
      // Assess
      expect(created.created).toBe(true);
      expect(repeated).toEqual({ created: false, job: first });
      expect(await store.get(retry.id)).toBeUndefined();
      expect(separate.created).toBe(true);
      expect(await store.findByIdempotencyKey('tenant-a', 'order-42')).toEqual(first);
      expect((await store.findByIdempotencyKey('tenant-b', 'order-42'))?.id).toBe(otherTenant.id);
      expect(await store.findByIdempotencyKey('tenant-a', 'never-used')).toBeUndefined();
    });

    it('lists a tenant’s jobs newest first, page by page, without other tenants’ jobs', async () => {
      // Prepare
      const store = await options.makeStore();
      const mine: Job[] = [];
      for (let i = 0; i < 5; i++) {
        const job = sampleJob('tenant-list', i);
        mine.push(job);
        await store.create(job);
      }
      await store.create(sampleJob('tenant-other', 10));
      // Act
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listByTenant('tenant-list', { limit: 2, cursor });
        seen.push(...page.jobs.map((job) => job.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      // Assess
      expect(seen).toEqual(mine.map((job) => job.id).reverse());
      expect(pages).toBe(3);
      expect((await store.listByTenant('nobody')).jobs).toEqual([]);
    });

    it('lists every tenant’s jobs created in a time range, oldest first, page by page', async () => {
      // Prepare: jobs of two tenants at 0..6 minutes after BASE_TIME
      const store = await options.makeStore();
      const made: Job[] = [];
      for (let minute = 0; minute < 7; minute++) {
        const job = sampleJob(minute % 2 === 0 ? 'tenant-range-a' : 'tenant-range-b', minute * 60);
        made.push(job);
        await store.create(job);
      }
      const from = new Date(BASE_TIME + 60_000);
      const to = new Date(BASE_TIME + 5 * 60_000);
      // Act
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listCreatedBetween(from, to, { limit: 2, cursor });
        seen.push(...page.jobs.map((job) => job.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      // Assess: minutes 1-4, the end excluded, both tenants (a store that cannot look ahead may
      // end with an empty page)
      expect(seen).toEqual(made.slice(1, 5).map((job) => job.id));
      expect(pages).toBeGreaterThanOrEqual(2);
      expect(pages).toBeLessThanOrEqual(3);
      expect(
        (await store.listCreatedBetween(new Date(BASE_TIME - 3_600_000), new Date(BASE_TIME))).jobs,
      ).toEqual([]);
    });

    it('leaves a record that does not parse out of a time-range listing, instead of failing it', async () => {
      // Prepare: a good job, then two records that are not jobs at the next seconds
      const { store, writeRawRecord } = await options.makeStoreWithRawWrites();
      const good = sampleJob('tenant-corrupt', 0);
      await store.create(good);
      await writeRawRecord(sampleJob('tenant-corrupt', 1).id, '{"not":"a job"}');
      await writeRawRecord(sampleJob('tenant-corrupt', 2).id, 'not json at all');
      // Act
      const page = await store.listCreatedBetween(new Date(BASE_TIME), new Date(BASE_TIME + 10_000));
      // Assess
      expect(page.jobs.map((job) => job.id)).toEqual([good.id]);
    });

    it('reads a record a newer version wrote, with fields it does not know, keeps them through its updates and drops them with a deletion', async () => {
      // Prepare: a succeeded job as a newer GPU task stores it, with a field this version does not
      // know on the record, in its output's background report and in its usage
      const { store, writeRawRecord, readRawRecord } = await options.makeStoreWithRawWrites();
      const created = sampleJob('tenant-newer', 0);
      const known: Job = {
        ...created,
        status: 'succeeded',
        output: {
          restoredKey: `${created.id}/restored.png`,
          format: 'png',
          background: { noise: 3.5, denoised: false },
        },
        usage: { images: 1, faces: 1, modelSeconds: 1.25 },
      };
      const newer = {
        ...known,
        region: 'eu-west-1',
        input: { ...known.input, thumbnailKey: `${created.id}/thumbnail.jpg` },
        output: { ...known.output, background: { noise: 3.5, denoised: false, grain: 0.2 } },
        usage: { ...known.usage, gpuSeconds: 1.5 },
      };
      await writeRawRecord(known.id, JSON.stringify(newer));
      // Act: read it, list it, and update it as this version does (its usage is corrected)
      const read = await store.get(known.id);
      const listed = await store.listCreatedBetween(new Date(BASE_TIME), new Date(BASE_TIME + 10_000));
      const updated = await store.update(
        {
          ...read!,
          updatedAt: new Date(BASE_TIME + 5000).toISOString(),
          usage: { ...read!.usage!, modelSeconds: 2 },
        },
        read!.version,
      );
      // Assess: read with the fields this version knows, checked as strictly as before...
      expect(read).toEqual(known);
      expect(listed.jobs.map((job) => job.id)).toEqual([known.id]);
      expect(updated).not.toHaveProperty('region');
      // ...and stored with the newer fields kept where the update left their object as it was:
      // the record's own and the background's, not the usage's (it now describes other figures)
      const stored = JSON.parse(await readRawRecord(known.id)) as Record<string, unknown> & typeof newer;
      expect(stored.version).toBe(known.version + 1);
      expect(stored.region).toBe('eu-west-1');
      expect(stored.output.background).toEqual({ noise: 3.5, denoised: false, grain: 0.2 });
      expect(stored.input.thumbnailKey).toBe(`${created.id}/thumbnail.jpg`);
      expect(stored.usage).toEqual({ ...known.usage, modelSeconds: 2 });
      expect(await store.get(known.id)).toEqual(updated);
      // Act: then deleted as this version deletes a finished job (its output dropped, an error set)
      const { output: _output, ...rest } = updated;
      await store.update(
        {
          ...rest,
          updatedAt: new Date(BASE_TIME + 6000).toISOString(),
          error: { code: DELETED_JOB_CODE, message: 'deleted' },
        },
        updated.version,
      );
      // Assess: nothing the newer version wrote outlives the deletion, even in an object the
      // deletion left as it was
      const tombstone = JSON.parse(await readRawRecord(known.id)) as Record<string, unknown> & typeof newer;
      expect(tombstone).not.toHaveProperty('region');
      expect(tombstone).not.toHaveProperty('output');
      expect(tombstone.input).toEqual(known.input);
    });

    it('still refuses a stored record whose known fields are wrong', async () => {
      // Prepare: a newer record that also breaks a field this version knows
      const { store, writeRawRecord } = await options.makeStoreWithRawWrites();
      const job = sampleJob('tenant-newer', 1);
      await writeRawRecord(job.id, JSON.stringify({ ...job, region: 'eu-west-1', attempts: -1 }));
      // Act and assess
      await expect(store.get(job.id)).rejects.toThrow(/stored job .* at attempts/);
    });

    it('refuses a cursor it did not issue', async () => {
      const store = await options.makeStore();
      await expect(store.listByTenant('tenant-a', { cursor: 'garbage' })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.listByTenant('tenant-a', { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    });
  });
}
