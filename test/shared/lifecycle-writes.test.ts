/**
 * Every job status write goes through the lifecycle (shared/src/job.ts): no source file
 * outside it builds a job record with a `status` by hand, and the check every job store makes
 * (`checkJobWrite`) refuses a status change that `transitionJob` did not produce from the
 * stored status. The job store contract suite runs that check against each adapter.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../shared/src/errors.js';
import { checkJobWrite, checkNewJob, recordProgress, transitionJob } from '../../shared/src/job.js';
import { sampleJob } from './helpers/jobs.js';
import { findStatusWrites, scanStatusWrites } from './helpers/status-writes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LIFECYCLE_MODULE = 'shared/src/job.ts';
const SOURCE_DIRS = ['shared', 'functions', 'gpu-task', 'infra', 'scripts'];

describe('status writes in the source tree', () => {
  it('happen only in the lifecycle module', async () => {
    const { files, writes } = await scanStatusWrites(ROOT, SOURCE_DIRS, [LIFECYCLE_MODULE]);
    // An empty or wrongly rooted scan must not pass for a clean one.
    expect(files).toBeGreaterThan(100);
    expect(writes.map((write) => `${write.file}:${write.line}: ${write.code}`)).toEqual([]);
  });

  it('include the lifecycle module itself (the scan sees transitionJob write status)', async () => {
    const { writes } = await scanStatusWrites(ROOT, ['shared/src'], []);
    expect(writes.map((write) => write.file)).toContain(LIFECYCLE_MODULE);
  });
});

describe('the status write scan', () => {
  const scan = (code: string) => findStatusWrites('sample.ts', code).map((write) => write.line);

  it('flags the hand-written failed record the dispatcher used to write', () => {
    const bypass = [
      'const iso = at.toISOString();',
      'return {',
      '  ...uploaded,',
      "  status: 'failed',",
      '  error,',
      '  updatedAt: iso,',
      '  timestamps: { ...uploaded.timestamps, failed: iso },',
      '};',
    ].join('\n');
    expect(scan(bypass)).toEqual([2]);
  });

  it('flags spreads with a status literal, assignments and Object.assign', () => {
    expect(scan("const failed = { ...job, status: 'failed' as const, error };")).toEqual([1]);
    expect(scan("job.status = 'canceled';")).toEqual([1]);
    expect(scan("job['status'] = next;")).toEqual([1]);
    expect(scan("Object.assign(job, { status: 'running' });")).toEqual([1]);
    expect(scan('const next = { ...job, status, updatedAt: now };')).toEqual([1]);
  });

  it('passes views, HTTP bodies, delivery records and schemas', () => {
    expect(scan("return c.json({ status: 'ok' as const, mode });")).toEqual([]);
    expect(scan('return { id: job.id, status: job.status, ...(upload ? { upload } : {}) };')).toEqual([]);
    expect(scan('log.info("sent", { status: result.status, ...extra });')).toEqual([]);
    expect(scan('const S = z.object({ status: z.enum(JOB_STATUSES), updatedAt: iso });')).toEqual([]);
    expect(scan('if (job.status === "queued") run(job);')).toEqual([]);
  });
});

describe('checkJobWrite (the check every job store makes)', () => {
  const at = new Date(Date.UTC(2025, 0, 1, 13, 0, 0));
  const created = sampleJob();

  it('takes a transition, and a chain of them, from the stored status', () => {
    const uploaded = transitionJob(created, { to: 'uploaded', at });
    expect(() => checkJobWrite(created, uploaded)).not.toThrow();
    expect(() => checkJobWrite(created, transitionJob(uploaded, { to: 'queued', at }))).not.toThrow();
    const failed = transitionJob(uploaded, {
      to: 'failed',
      at,
      error: { code: 'not_an_image', message: 'x' },
    });
    expect(() => checkJobWrite(created, failed)).not.toThrow();
    // A chain continued after one of its records was stored passes through the stored status.
    const queued = transitionJob(uploaded, { to: 'queued', at });
    const storedQueued = structuredClone(queued);
    expect(() => checkJobWrite(storedQueued, transitionJob(queued, { to: 'running', at }))).not.toThrow();
    expect(() => checkJobWrite(storedQueued, transitionJob(uploaded, { to: 'canceled', at }))).toThrow(
      InvalidTransitionError,
    );
  });

  it('takes writes that keep the status', () => {
    const running = [
      { to: 'uploaded', at },
      { to: 'queued', at },
      { to: 'running', at },
    ].reduce((job, change) => transitionJob(job, change as { to: 'running'; at: Date }), created);
    expect(() => checkJobWrite(running, recordProgress(running, { step: 1, total: 3 }, at))).not.toThrow();
    expect(() => checkJobWrite(running, { ...running, updatedAt: at.toISOString() })).not.toThrow();
  });

  it('refuses a status set by hand, even to an allowed next status', () => {
    const uploaded = transitionJob(created, { to: 'uploaded', at });
    const byHand = { ...uploaded, status: 'queued' as const };
    expect(() => checkJobWrite(uploaded, byHand)).toThrow(InvalidTransitionError);
    // A copy of a transition's result is no longer the lifecycle's record.
    expect(() => checkJobWrite(created, { ...uploaded })).toThrow(InvalidTransitionError);
  });

  it('refuses a transition made from another status than the stored one', () => {
    const uploaded = transitionJob(created, { to: 'uploaded', at });
    const canceled = transitionJob(created, { to: 'canceled', at });
    expect(() => checkJobWrite(uploaded, canceled)).toThrow(
      /is "uploaded", but this change went created -> canceled/,
    );
  });

  it('lets a new job start only in created', () => {
    expect(() => checkNewJob(created)).not.toThrow();
    expect(() => checkNewJob({ ...created, status: 'succeeded' })).toThrow(InvalidTransitionError);
  });
});
