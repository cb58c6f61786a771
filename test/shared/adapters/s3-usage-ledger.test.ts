/**
 * S3UsageLedger's day totals and day-by-day listing, on an in-memory bucket that lists, reads
 * and writes as S3 does (keys in order, 1000 a page): what a fresh instance (a Lambda cold
 * start) reads to sum a month, and that a sum stays exact whatever the totals say.
 */
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { DAY_TOTAL_AFTER_RECORDS, S3UsageLedger } from '../../../shared/adapters/aws/s3-usage-ledger.js';
import { utf8Decode, utf8Encode } from '../../../shared/src/encoding.js';
import { newJobId } from '../../../shared/src/ids.js';
import type { UsageRecord } from '../../../shared/src/ports/usage-ledger.js';

const JANUARY = { from: new Date(Date.UTC(2025, 0, 1)), to: new Date(Date.UTC(2025, 1, 1)) };
const FEBRUARY_FIRST = Date.UTC(2025, 1, 1, 9);

interface Sent {
  name: string;
  key: string;
}

/** A bucket in memory behind an S3 client's `send`; `refuse` makes a key answer 403. */
function memoryBucket(refuse: (key: string) => boolean = () => false) {
  const objects = new Map<string, Uint8Array>();
  const sent: Sent[] = [];
  const denied = () =>
    Object.assign(new Error('AccessDenied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  const client = {
    async send(command: { input: Record<string, unknown> }) {
      const input = command.input;
      if (command instanceof ListObjectsCommand) {
        const prefix = (input.Prefix as string | undefined) ?? '';
        const marker = (input.Marker as string | undefined) ?? '';
        const maxKeys = (input.MaxKeys as number | undefined) ?? 1000;
        sent.push({ name: 'List', key: prefix });
        const keys = [...objects.keys()].filter((key) => key.startsWith(prefix) && key > marker).sort();
        return {
          Contents: keys.slice(0, maxKeys).map((Key) => ({ Key })),
          IsTruncated: keys.length > maxKeys,
        };
      }
      const key = input.Key as string;
      if (command instanceof GetObjectCommand) {
        sent.push({ name: 'Get', key });
        if (refuse(key)) throw denied();
        const body = objects.get(key);
        if (!body)
          throw Object.assign(new Error('NoSuchKey'), {
            name: 'NoSuchKey',
            $metadata: { httpStatusCode: 404 },
          });
        return { Body: { transformToByteArray: async () => body } };
      }
      if (command instanceof PutObjectCommand) {
        sent.push({ name: 'Put', key });
        if (refuse(key)) throw denied();
        objects.set(key, input.Body as Uint8Array);
        return {};
      }
      throw new Error(`unexpected ${command.constructor.name}`);
    },
  };
  return { client: client as unknown as S3Client, objects, sent };
}

/** A record of `acme` at `at` with a fresh job id (1 image, 2 faces, 0.5 s). */
function usage(at: number, counts: Partial<UsageRecord> = {}): UsageRecord {
  return {
    tenantId: 'acme',
    jobId: newJobId(new Date(at)),
    at: new Date(at),
    images: 1,
    faces: 2,
    modelSeconds: 0.5,
    ...counts,
  };
}

/** `count` records on each of these January days, an hour apart from 01:00. */
async function recordDays(ledger: S3UsageLedger, days: number[], count: number): Promise<void> {
  for (const day of days) {
    for (let i = 0; i < count; i++) await ledger.record(usage(Date.UTC(2025, 0, day, 1 + (i % 22), i)));
  }
}

const recordReads = (sent: Sent[]) => sent.filter((c) => c.name === 'Get' && c.key.startsWith('usage/'));
const totalReads = (sent: Sent[]) => sent.filter((c) => c.name === 'Get' && c.key.startsWith('usage-days/'));
const totalWrites = (sent: Sent[]) => sent.filter((c) => c.name === 'Put' && c.key.startsWith('usage-days/'));

describe('S3UsageLedger day totals', () => {
  it('lets a fresh instance sum a finished month from one object per day, to the same totals', async () => {
    // Prepare: 3 days of 30 records, summed once by a warm instance (which writes the totals).
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    const warm = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    await recordDays(warm, [3, 10, 17], 30);
    const expected = await warm.sum('acme', JANUARY);
    bucket.sent.length = 0;
    // Act
    const fresh = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    // Assess
    expect(expected).toMatchObject({ jobs: 90, images: 90, faces: 180 });
    expect(expected.modelSeconds).toBeCloseTo(45, 9);
    expect(fresh).toEqual(expected);
    expect(recordReads(bucket.sent)).toEqual([]);
    expect(totalReads(bucket.sent).map((c) => c.key)).toEqual([
      'usage-days/acme/2025-01-03.json',
      'usage-days/acme/2025-01-10.json',
      'usage-days/acme/2025-01-17.json',
    ]);
    expect(totalWrites(bucket.sent)).toEqual([]);
  });

  it("still bills a record recorded after its day was totalled, before or after the total's last record", async () => {
    // Prepare: a totalled day, then two late records of that day: one sorting inside the total
    // (a redelivered message recorded a job that finished at 00:30), one after it.
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    const warm = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    await recordDays(warm, [3], 25);
    await warm.sum('acme', JANUARY);
    await warm.record(usage(Date.UTC(2025, 0, 3, 0, 30), { faces: 7 }));
    await warm.record(usage(Date.UTC(2025, 0, 3, 23, 59), { images: 3, faces: 0 }));
    // Act
    const fresh = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    const warmAgain = await warm.sum('acme', JANUARY);
    bucket.sent.length = 0;
    const nextFresh = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum(
      'acme',
      JANUARY,
    );
    // Assess: every sum counts all 27; the rewritten total then covers them all.
    for (const summary of [fresh, warmAgain, nextFresh]) {
      expect(summary).toMatchObject({ jobs: 27, images: 29, faces: 57 });
      expect(summary.modelSeconds).toBeCloseTo(13.5, 9);
    }
    expect(recordReads(bucket.sent)).toEqual([]);
  });

  it('ignores a damaged, inflated or foreign total and sums the records', async () => {
    // Prepare: one day's total replaced by each kind of bad object in turn.
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    await recordDays(new S3UsageLedger({ client: bucket.client, bucket: 'b', now }), [5], 21);
    const good = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    const key = 'usage-days/acme/2025-01-05.json';
    const stored = JSON.parse(utf8Decode(bucket.objects.get(key) as Uint8Array)) as Record<string, unknown>;
    const bad = [
      '{"version":1,"tenantId":"acme"',
      JSON.stringify({ ...stored, jobs: 1, images: 10_000 }),
      JSON.stringify({ ...stored, tenantId: 'other' }),
      JSON.stringify({ ...stored, day: '2025-01-06' }),
      JSON.stringify({ ...stored, modelSeconds: -1 }),
    ];
    for (const body of bad) {
      bucket.objects.set(key, utf8Encode(body));
      // Act
      const summary = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum(
        'acme',
        JANUARY,
      );
      // Assess
      expect(summary, body).toEqual(good);
    }
    expect(good).toMatchObject({ jobs: 21, images: 21, faces: 42 });
  });

  it(`writes the current day's total only once ${DAY_TOTAL_AFTER_RECORDS} records are beyond it`, async () => {
    // Prepare: the sums run on January 20th, 23:30 (records at 01:00-19:00, all settled).
    const bucket = memoryBucket();
    const now = () => Date.UTC(2025, 0, 20, 23, 30);
    const ledger = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    await recordDays(ledger, [20], DAY_TOTAL_AFTER_RECORDS - 1);
    // Act
    const before = await ledger.sum('acme', JANUARY);
    const writesBefore = totalWrites(bucket.sent).length;
    await ledger.record(usage(Date.UTC(2025, 0, 20, 17)));
    const after = await ledger.sum('acme', JANUARY);
    // Assess
    expect([before.jobs, after.jobs]).toEqual([DAY_TOTAL_AFTER_RECORDS - 1, DAY_TOTAL_AFTER_RECORDS]);
    expect(writesBefore).toBe(0);
    expect(totalWrites(bucket.sent).map((c) => c.key)).toEqual(['usage-days/acme/2025-01-20.json']);
  });

  it('leaves records of the last 15 minutes out of a total, so one recorded late does not void it', async () => {
    // Prepare: 25 records of today, the last 3 within SETTLE_MS of now; a sum writes the total.
    const bucket = memoryBucket();
    const now = () => Date.UTC(2025, 0, 20, 12, 0);
    const ledger = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    for (let i = 0; i < 22; i++) await ledger.record(usage(Date.UTC(2025, 0, 20, 9, i)));
    for (const minute of [50, 52, 55]) await ledger.record(usage(Date.UTC(2025, 0, 20, 11, minute)));
    await ledger.sum('acme', JANUARY);
    // Act: a job that finished at 11:51 has its usage recorded only now; a fresh instance sums.
    await ledger.record(usage(Date.UTC(2025, 0, 20, 11, 51)));
    bucket.sent.length = 0;
    const fresh = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    // Assess: the total (09:00-09:21) still holds; only the four recent records are read.
    expect(fresh.jobs).toBe(26);
    expect(recordReads(bucket.sent)).toHaveLength(4);
  });

  it('reads a day again when a record it covered was deleted and another took its place in the count', async () => {
    // Prepare: a totalled day; then one of its records is deleted and a late one lands inside it.
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    await recordDays(new S3UsageLedger({ client: bucket.client, bucket: 'b', now }), [6], 21);
    await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    const removed = [...bucket.objects.keys()].find((key) => key.startsWith('usage/acme/2025-01-06T05'));
    bucket.objects.delete(removed ?? '');
    await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).record(
      usage(Date.UTC(2025, 0, 6, 5, 30), { images: 7 }),
    );
    // Act
    const summary = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    // Assess: 21 records, one of them of 7 images
    expect(removed).toBeDefined();
    expect(summary).toMatchObject({ jobs: 21, images: 27 });
  });

  it('counts only the records it wrote: other objects in a tenant folder are not usage', async () => {
    // Prepare: records beside a note, a record-like name without a job id, and a broken record.
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    const ledger = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    await recordDays(ledger, [9], 2);
    bucket.objects.set('usage/acme/2025-01-09T10:00:00.000Z_notes.json', utf8Encode('{"images":100}'));
    bucket.objects.set('usage/acme/2025-01-09-readme.txt', utf8Encode('hello'));
    const broken = `usage/acme/2025-01-09T11:00:00.000Z_${newJobId(new Date(Date.UTC(2025, 0, 9, 11)))}.json`;
    bucket.objects.set(broken, utf8Encode('{"at":"2025-01-09T11:00:00.000Z","images":"many"}'));
    // Act
    const summary = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', JANUARY);
    // Assess
    expect(summary).toMatchObject({ jobs: 2, images: 2, faces: 4 });
    expect(summary.modelSeconds).toBeCloseTo(1, 9);
  });

  it('lists day by day only the days up to today, not the rest of the month', async () => {
    // Prepare: 1,200 records on the first three days of January; today is the 3rd.
    const bucket = memoryBucket();
    const now = () => Date.UTC(2025, 0, 3, 23);
    const ledger = new S3UsageLedger({ client: bucket.client, bucket: 'b', now, dayTotalsPrefix: false });
    await recordDays(ledger, [1, 2, 3], 400);
    bucket.sent.length = 0;
    // Act
    const summary = await ledger.sum('acme', JANUARY);
    // Assess: the first page, then the 3rd's listing, and one for everything after today.
    expect(summary.jobs).toBe(1200);
    expect(bucket.sent.filter((c) => c.name === 'List').map((c) => c.key)).toEqual([
      'usage/acme/',
      'usage/acme/2025-01-03',
      'usage/acme/',
    ]);
  });

  it('sums a range that starts or ends within a day from the records of those days', async () => {
    // Prepare: totals for three whole days.
    const bucket = memoryBucket();
    const now = () => FEBRUARY_FIRST;
    const ledger = new S3UsageLedger({ client: bucket.client, bucket: 'b', now });
    await recordDays(ledger, [3, 4, 5], 22);
    await ledger.sum('acme', JANUARY);
    // Act: from 3 January 12:00 to 5 January 06:00 (records at 01:00-22:00 each day).
    const part = { from: new Date(Date.UTC(2025, 0, 3, 12)), to: new Date(Date.UTC(2025, 0, 5, 6)) };
    const fresh = await new S3UsageLedger({ client: bucket.client, bucket: 'b', now }).sum('acme', part);
    const warm = await ledger.sum('acme', part);
    // Assess: 11 (12:00-22:00) + 22 + 5 (01:00-05:00)
    expect(fresh.jobs).toBe(38);
    expect(warm.jobs).toBe(38);
  });

  it('lists a month of more than 1000 records day by day and misses none', async () => {
    // Prepare: 2,480 records, 80 on each day of January, written straight into the bucket.
    const bucket = memoryBucket();
    const writer = new S3UsageLedger({ client: bucket.client, bucket: 'b', dayTotalsPrefix: false });
    await recordDays(
      writer,
      Array.from({ length: 31 }, (_, i) => i + 1),
      80,
    );
    bucket.sent.length = 0;
    // Act
    const summary = await new S3UsageLedger({
      client: bucket.client,
      bucket: 'b',
      now: () => FEBRUARY_FIRST,
    }).sum('acme', JANUARY);
    // Assess: the first page, then one listing per remaining day
    expect(summary.jobs).toBe(2480);
    const lists = bucket.sent.filter((c) => c.name === 'List').map((c) => c.key);
    expect(lists[0]).toBe('usage/acme/');
    expect(lists).toContain('usage/acme/2025-01-31');
    // Each key listed once: every day's total covers its 80 records.
    const totals = [...bucket.objects]
      .filter(([key]) => key.startsWith('usage-days/'))
      .map(([, body]) => (JSON.parse(utf8Decode(body)) as { jobs: number }).jobs);
    expect(totals).toEqual(Array.from({ length: 31 }, () => 80));
  });

  it('sums right, and reports, when day totals can be neither read nor written', async () => {
    // Prepare: a role without access to usage-days/.
    const bucket = memoryBucket((key) => key.startsWith('usage-days/'));
    const errors: string[] = [];
    const ledger = new S3UsageLedger({
      client: bucket.client,
      bucket: 'b',
      now: () => FEBRUARY_FIRST,
      onDayTotalError: (error, { key, action }) => errors.push(`${action} ${key} ${(error as Error).name}`),
    });
    await recordDays(ledger, [8], 3);
    // Act
    const summary = await ledger.sum('acme', JANUARY);
    // Assess
    expect(summary.jobs).toBe(3);
    expect(errors).toEqual([
      'read usage-days/acme/2025-01-08.json AccessDenied',
      'write usage-days/acme/2025-01-08.json AccessDenied',
    ]);
  });

  it("refuses day totals inside the records' folder, where they would be read as records", () => {
    // Act / Assess
    expect(
      () => new S3UsageLedger({ client: memoryBucket().client, bucket: 'b', dayTotalsPrefix: 'usage/days/' }),
    ).toThrow(/must lie outside prefix/);
  });
});
