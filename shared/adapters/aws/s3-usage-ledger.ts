/**
 * {@link UsageLedger} on S3 (client injected): one small JSON object per finished job,
 *
 * `<prefix><tenant>/<at, ISO-8601>_<jobId>.json`  (default prefix `usage/`)
 *
 * written with `If-None-Match: *`, so recording a job again changes nothing (callers pass the
 * job's terminal timestamp as `at`, which does not change between retries). Keys sort by time,
 * so a sum lists from the range's start (`Marker`) and stops at its end; a period of more than
 * a page (1000 records) lists its remaining days in parallel, one prefix per UTC day.
 *
 * **Day totals.** The quota check on every create (`JobAdmission`) sums the month. Reading each
 * record would cost a fresh instance (a Lambda cold start) one GET per job of the month, which
 * for a busy tenant outlasts the request. So a sum keeps, per tenant and whole UTC day, the
 * day's totals in one object (`<dayTotalsPrefix><tenant>/<YYYY-MM-DD>.json`, default prefix
 * `usage-days/`, see usage-day-totals.ts) and reads only the records that no total covers.
 * A total is checked against the day's listing before it is used, so a record recorded late
 * is never lost; a total that cannot be read or written only makes the sum slower. Records read
 * are also kept in memory (up to `maxCachedRecords`). The tenants with usage are the "folders"
 * under the prefix (a listing with `Delimiter: '/'`), so listing them reads no record.
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
import { ValidationError } from '../../src/errors.js';
import { assertUsageRecord, summarizeUsage } from '../../src/memory-usage-ledger.js';
import type { UsageLedger, UsageRecord, UsageSummary } from '../../src/ports/usage-ledger.js';
import { isConditionalWriteConflict, isNotFound } from './s3-errors.js';
import {
  type CountedUsage,
  DAY_MS,
  type DayTotal,
  dayOfRecord,
  dayStart,
  daysUntil,
  extendDayTotal,
  parseDayTotal,
  totalStillHolds,
  wholeDayInRange,
} from './usage-day-totals.js';

export interface S3UsageLedgerOptions {
  client: S3Client;
  bucket: string;
  /** Default `usage/`. */
  prefix?: string;
  /**
   * Where day totals are kept (see the class). Default: `prefix` with `-days` before its slash
   * (`usage/` -> `usage-days/`); `false`, or an empty `prefix`, keeps none (every record is read).
   */
  dayTotalsPrefix?: string | false;
  /**
   * Whether a sum writes the day totals it computed (default true). Without write access they are
   * still read.
   */
  writeDayTotals?: boolean;
  /**
   * Told when a day total could not be read (other than missing) or written: the sum is still
   * right, only slower. Default: nothing.
   */
  onDayTotalError?: (error: unknown, detail: { key: string; action: 'read' | 'write' }) => void;
  /** Objects read in parallel while summing (default 16). */
  readConcurrency?: number;
  /** Records kept in memory after a sum has read them (default 100,000: about 30 MB of heap). */
  maxCachedRecords?: number;
  /** The time, for whether a day is over (default Date.now). */
  now?: () => number;
}

/**
 * Settled records a day may have beyond its total before a sum writes the total again while the
 * day lasts (a finished day's total is written once any record is beyond it).
 */
export const DAY_TOTAL_AFTER_RECORDS = 20;

/**
 * Age a record's time must have before a total covers it. Usage is recorded after the job's
 * final write (a canceled run's after its engine call stops), so a record of a few minutes ago
 * may still be followed by one that sorts before it; a total covering it would then fail its
 * check and the day be read whole again. A busy tenant's day thus costs a fresh instance the
 * records of the last SETTLE_MS plus fewer than DAY_TOTAL_AFTER_RECORDS reads.
 */
export const SETTLE_MS = 15 * 60_000;

/**
 * Most days of a period listed one prefix each, in parallel, after a full first page; a longer
 * period (a year's report) is listed page after page instead.
 */
const MAX_DAYS_LISTED_APART = 62;

/** Day totals an instance keeps in memory (a tenant's month is about 31). */
const MAX_REMEMBERED_DAY_TOTALS = 10_000;

/** Listings in flight at once when a long period is listed day by day. */
const LIST_CONCURRENCY = 8;

/** A record's values as kept in memory: [at ms, images, faces or -1, model seconds]. */
type CachedUsage = [number, number, number, number];

/** What a sum does with one whole day of the range. */
interface DayPlan {
  day: string;
  /** The day's total that still holds, if any. */
  total: DayTotal | undefined;
  /** The day's record keys that `total` does not cover (all of them without one). */
  later: string[];
  /** All the day's record keys within the tenant's folder, in listing order. */
  names: string[];
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
  private readonly dayTotalsPrefix: string | undefined;
  private readonly writeDayTotals: boolean;
  private readonly onDayTotalError: NonNullable<S3UsageLedgerOptions['onDayTotalError']>;
  private readonly readConcurrency: number;
  private readonly maxCachedRecords: number;
  private readonly now: () => number;
  /**
   * Records already read, by key (write-once objects: a key's content never changes); the tenant
   * is the key's, the job id unused.
   */
  private readonly cache = new Map<string, CachedUsage>();
  /** Day totals read or written, by their key: checked against each listing before use. */
  private readonly dayTotals = new Map<string, DayTotal>();

  constructor(options: S3UsageLedgerOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'usage/';
    this.dayTotalsPrefix =
      options.dayTotalsPrefix === false || (options.dayTotalsPrefix === undefined && this.prefix === '')
        ? undefined
        : (options.dayTotalsPrefix ?? `${this.prefix.replace(/\/$/, '')}-days/`);
    if (this.dayTotalsPrefix !== undefined && this.dayTotalsPrefix.startsWith(this.prefix)) {
      // Totals inside the records' folder would be listed as records (or as a tenant).
      throw new Error(`dayTotalsPrefix "${this.dayTotalsPrefix}" must lie outside prefix "${this.prefix}"`);
    }
    this.writeDayTotals = options.writeDayTotals ?? true;
    this.onDayTotalError = options.onDayTotalError ?? (() => undefined);
    this.readConcurrency = options.readConcurrency ?? 16;
    this.maxCachedRecords = options.maxCachedRecords ?? 100_000;
    this.now = options.now ?? Date.now;
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
    const keys = await this.listRange(prefix, range);
    // Whole days of the range may be summed by their totals; the rest is read record by record.
    // An object the ledger did not write (its name is no record's) is not usage.
    const loose: string[] = [];
    const byDay = new Map<string, string[]>();
    for (const key of keys) {
      const day = dayOfRecord(key.slice(prefix.length));
      if (day === undefined) continue;
      if (this.dayTotalsPrefix === undefined || !wholeDayInRange(day, range)) {
        loose.push(key);
        continue;
      }
      const dayKeys = byDay.get(day);
      if (dayKeys) dayKeys.push(key);
      else byDay.set(day, [key]);
    }
    const plans = await inChunks([...byDay], this.readConcurrency, ([day, dayKeys]) =>
      this.planDay(tenantId, prefix, day, dayKeys),
    );
    const unread = loose.concat(...plans.map((plan) => plan.later));
    const usages = await this.readRecords(unread);
    const records: UsageRecord[] = [];
    for (const [at, images, faces, modelSeconds] of usages.values()) {
      records.push({
        tenantId,
        jobId: '',
        at: new Date(at),
        images,
        ...(faces < 0 ? {} : { faces }),
        modelSeconds,
      });
    }
    const summary = summarizeUsage(tenantId, range, records);
    for (const { total } of plans) {
      if (!total) continue;
      summary.jobs += total.jobs;
      summary.images += total.images;
      summary.faces += total.faces;
      summary.modelSeconds += total.modelSeconds;
    }
    await this.updateDayTotals(tenantId, prefix, plans, usages);
    return summary;
  }

  /**
   * The keys of a tenant's records with `from <= at < to`, in order: the first page from the
   * range's start; if the period holds more, its days up to today one prefix each, in parallel
   * (at most MAX_DAYS_LISTED_APART of them, else page after page), and whatever lies after
   * today (nothing, unless clocks disagree) in one listing.
   */
  private async listRange(prefix: string, range: { from: Date; to: Date }): Promise<string[]> {
    const end = `${prefix}${range.to.toISOString()}`;
    // Keys just before `from` sort below `<prefix><from ISO>`; start listing there.
    const first = await this.listPage(prefix, `${prefix}${range.from.toISOString()}`, end);
    const last = first.keys.at(-1);
    if (first.done || last === undefined) return first.keys;
    const lastDay = dayOfRecord(last.slice(prefix.length));
    const tomorrow = new Date(dayStart(new Date(this.now()).toISOString().slice(0, 10)) + DAY_MS);
    const days = lastDay === undefined ? [] : daysUntil(lastDay, range.to < tomorrow ? range.to : tomorrow);
    if (days.length === 0 || days.length > MAX_DAYS_LISTED_APART) {
      return first.keys.concat(await this.listFrom(prefix, last, end));
    }
    const byDay = await inChunks(days, LIST_CONCURRENCY, (day, index) =>
      this.listFrom(`${prefix}${day}`, index === 0 ? last : undefined, end),
    );
    const later =
      range.to > tomorrow
        ? await this.listFrom(prefix, `${prefix}${tomorrow.toISOString().slice(0, 10)}`, end)
        : [];
    return first.keys.concat(...byDay, later);
  }

  /** Every key under `prefix` after `marker` and before `end`. */
  private async listFrom(prefix: string, marker: string | undefined, end: string): Promise<string[]> {
    const keys: string[] = [];
    for (;;) {
      const page = await this.listPage(prefix, marker, end);
      keys.push(...page.keys);
      marker = page.keys.at(-1);
      if (page.done || marker === undefined) return keys;
    }
  }

  /** One listing page under `prefix` after `marker`, cut at `end`; `done` when nothing follows. */
  private async listPage(
    prefix: string,
    marker: string | undefined,
    end: string,
  ): Promise<{ keys: string[]; done: boolean }> {
    const listing: ListObjectsCommandOutput = await this.client.send(
      new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: marker, MaxKeys: 1000 }),
    );
    const keys: string[] = [];
    for (const object of listing.Contents ?? []) {
      const key = object.Key ?? '';
      if (key === '') continue;
      if (key >= end) return { keys, done: true };
      keys.push(key);
    }
    return { keys, done: !listing.IsTruncated || keys.length === 0 };
  }

  /** A whole day's total that still holds (remembered, else stored), and the records it leaves out. */
  private async planDay(tenantId: string, prefix: string, day: string, dayKeys: string[]): Promise<DayPlan> {
    const names = dayKeys.map((key) => key.slice(prefix.length));
    const totalKey = this.dayTotalKey(tenantId, day);
    let total = this.dayTotals.get(totalKey);
    if (total && !totalStillHolds(total, names)) total = undefined;
    // A warm instance that has every record in memory needs no total.
    if (!total && dayKeys.some((key) => !this.cache.has(key))) {
      const stored = await this.readDayTotal(totalKey, tenantId, day);
      if (stored && totalStillHolds(stored, names)) {
        total = stored;
        this.rememberDayTotal(totalKey, stored);
      }
    }
    const through = total?.through;
    const later =
      through === undefined ? dayKeys : dayKeys.filter((_, index) => (names[index] ?? '') > through);
    return { day, total, later, names };
  }

  /**
   * Writes the totals of the days with settled records (SETTLE_MS) beyond their total: a
   * finished day's at once, the current day's once DAY_TOTAL_AFTER_RECORDS have gathered. A day
   * whose records could not all be read keeps its total.
   */
  private async updateDayTotals(
    tenantId: string,
    prefix: string,
    plans: readonly DayPlan[],
    usages: ReadonlyMap<string, CachedUsage>,
  ): Promise<void> {
    if (!this.writeDayTotals) return;
    const settledBefore = this.now() - SETTLE_MS;
    // A record's key starts with its time (ISO-8601, which sorts as it reads): the settled ones
    // are the first of `later`, those whose key sorts below the instant just after the cut.
    const settledBelow = `${prefix}${new Date(settledBefore + 1).toISOString()}`;
    const due = plans
      .map((plan) => ({ ...plan, settled: plan.later.filter((key) => key < settledBelow) }))
      .filter(
        ({ day, settled }) =>
          settled.length > 0 &&
          (settled.length >= DAY_TOTAL_AFTER_RECORDS || dayStart(day) + DAY_MS <= settledBefore) &&
          settled.every((key) => usages.has(key)),
      );
    await inChunks(due, this.readConcurrency, async ({ day, total, settled, names }) => {
      const next = extendDayTotal(
        tenantId,
        day,
        total,
        settled.map((key) => ({
          name: key.slice(prefix.length),
          usage: counted(usages.get(key) as CachedUsage),
        })),
        names,
      );
      const key = this.dayTotalKey(tenantId, day);
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: utf8Encode(JSON.stringify(next)),
            ContentType: 'application/json',
          }),
        );
        this.rememberDayTotal(key, next);
      } catch (error) {
        this.onDayTotalError(error, { key, action: 'write' });
      }
    });
  }

  private dayTotalKey(tenantId: string, day: string): string {
    return `${this.dayTotalsPrefix ?? ''}${keySegment(tenantId)}/${day}.json`;
  }

  /** The stored total of a day, or undefined (missing, unreadable, or not a total of this day). */
  private async readDayTotal(key: string, tenantId: string, day: string): Promise<DayTotal | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      return parseDayTotal(utf8Decode(bytes), tenantId, day);
    } catch (error) {
      if (!isNotFound(error)) this.onDayTotalError(error, { key, action: 'read' });
      return undefined;
    }
  }

  private rememberDayTotal(key: string, total: DayTotal): void {
    if (!this.dayTotals.has(key) && this.dayTotals.size >= MAX_REMEMBERED_DAY_TOTALS) {
      const oldest = this.dayTotals.keys().next();
      if (!oldest.done) this.dayTotals.delete(oldest.value);
    }
    this.dayTotals.set(key, total);
  }

  /** The values of these records (from memory, else read a few at a time); a vanished record is left out. */
  private async readRecords(keys: readonly string[]): Promise<Map<string, CachedUsage>> {
    const usages = new Map<string, CachedUsage>();
    const unread: string[] = [];
    for (const key of keys) {
      const cached = this.cache.get(key);
      if (cached) usages.set(key, cached);
      else unread.push(key);
    }
    await inChunks(unread, this.readConcurrency, async (key) => {
      const stored = await this.read(key);
      if (stored) usages.set(key, this.remember(key, stored));
    });
    return usages;
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

  private remember(key: string, stored: StoredUsage): CachedUsage {
    const entry: CachedUsage = [
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
    return entry;
  }

  private async read(key: string): Promise<StoredUsage | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      const stored = JSON.parse(utf8Decode(bytes)) as StoredUsage;
      // What record() would write, or no usage (a sum must not turn into NaN).
      assertUsageRecord({ ...stored, at: new Date(stored.at) });
      return stored;
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError || error instanceof ValidationError) {
        return undefined;
      }
      throw error;
    }
  }
}

/** A cached record's counted values (records before photo mode restored one face per image). */
function counted([, images, faces, modelSeconds]: CachedUsage): CountedUsage {
  return { images, faces: faces < 0 ? images : faces, modelSeconds };
}

/**
 * `work` on every item, at most `concurrency` at once (in consecutive chunks), results in order.
 */
async function inChunks<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let offset = 0; offset < items.length; offset += concurrency) {
    const chunk = items.slice(offset, offset + concurrency);
    results.push(...(await Promise.all(chunk.map((item, i) => work(item, offset + i)))));
  }
  return results;
}
