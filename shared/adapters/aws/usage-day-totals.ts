/**
 * Day totals of the S3 usage ledger (s3-usage-ledger.ts): the sums of one tenant's records of
 * one UTC day, kept beside the records so that a sum over a month reads about one object per
 * day instead of one per job.
 *
 * A total is derived data and is trusted only while it still describes the records: it names
 * the last record it covers (`through`, the record's key within the tenant's folder), how many
 * it covers (`jobs`) and a SHA-256 of their keys (`keys`). Records are write-once and their keys
 * sort by time, so the total holds exactly while the day's listing has those same keys up to
 * `through`. A record written after the total (a job whose usage was recorded late, e.g. by a
 * redelivered or dead-lettered message) either sorts after `through`, and is read on its own, or
 * sorts before it, and the keys no longer match, so the day is read record by record again and
 * its total rewritten; so is a day one of whose records was deleted. The check covers which
 * records a total stands for, not its sums: whoever may write `usage-days/` can change what the
 * API's quota check counts, which is why the billing report reads the records themselves.
 */
import { createHash } from 'node:crypto';
import { isJobId } from '../../src/ids.js';

/** Milliseconds in a UTC day. */
export const DAY_MS = 86_400_000;

/** One tenant's usage of one UTC day, as stored. */
export interface DayTotal {
  version: 1;
  tenantId: string;
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  /** Records covered: those of the day whose key (within the tenant's folder) sorts at or before `through`. */
  jobs: number;
  through: string;
  /** SHA-256 (base64url) of the covered keys (within the tenant's folder), in order, one per line. */
  keys: string;
  images: number;
  faces: number;
  modelSeconds: number;
}

/** The counted part of a record (what a day total adds up). */
export interface CountedUsage {
  images: number;
  /** Faces restored, `images` for records written before photo mode. */
  faces: number;
  modelSeconds: number;
}

const RECORD_NAME = /^((\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}\.\d{3}Z)_([^/]+)\.json$/;

/**
 * The UTC day of a record, from its key within the tenant's folder
 * (`<at, ISO-8601>_<job id>.json`), or undefined for a key the ledger did not write (such an
 * object is no record: it is neither read nor counted).
 *
 * @example dayOfRecord('2025-01-02T13:00:00.000Z_job_01JH....json') // '2025-01-02'
 */
export function dayOfRecord(name: string): string | undefined {
  const match = RECORD_NAME.exec(name);
  if (!match || !isJobId(match[3] ?? '') || Number.isNaN(Date.parse(match[1] ?? ''))) return undefined;
  return match[2];
}

/** SHA-256 (base64url) of these record keys, in order, one per line. */
export function digestOfKeys(names: readonly string[]): string {
  return createHash('sha256').update(names.join('\n')).digest('base64url');
}

/** Start of a `YYYY-MM-DD` UTC day in epoch milliseconds. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** Whether the whole UTC day lies in `[from, to)`: only such a day's total can stand for its records. */
export function wholeDayInRange(day: string, range: { from: Date; to: Date }): boolean {
  const start = dayStart(day);
  return start >= range.from.getTime() && start + DAY_MS <= range.to.getTime();
}

/**
 * The UTC days from `first` to the day holding the instant just before `end`, in order.
 *
 * @example daysUntil('2025-01-30', new Date('2025-02-01T00:00:00Z')) // ['2025-01-30', '2025-01-31']
 */
export function daysUntil(first: string, end: Date): string[] {
  const days: string[] = [];
  for (let start = dayStart(first); start < end.getTime(); start += DAY_MS) {
    days.push(new Date(start).toISOString().slice(0, 10));
  }
  return days;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A stored day total, or undefined when the bytes are not one for this tenant and day (a damaged
 * or foreign object is ignored: the day is then read record by record).
 */
export function parseDayTotal(text: string, tenantId: string, day: string): DayTotal | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const total = value as Partial<Record<keyof DayTotal, unknown>>;
  const valid =
    total.version === 1 &&
    total.tenantId === tenantId &&
    total.day === day &&
    typeof total.through === 'string' &&
    dayOfRecord(total.through) === day &&
    typeof total.keys === 'string' &&
    isCount(total.jobs) &&
    total.jobs > 0 &&
    isCount(total.images) &&
    isCount(total.faces) &&
    typeof total.modelSeconds === 'number' &&
    Number.isFinite(total.modelSeconds) &&
    total.modelSeconds >= 0;
  return valid ? (value as DayTotal) : undefined;
}

/**
 * Whether `total` still describes the day whose record keys (within the tenant's folder, in
 * listing order) are `names`: the keys up to `total.through` are exactly those it covers.
 */
export function totalStillHolds(total: DayTotal, names: readonly string[]): boolean {
  const covered = names.filter((name) => name <= total.through);
  return covered.length === total.jobs && digestOfKeys(covered) === total.keys;
}

/**
 * A day's new total: `previous` (or nothing) plus `later`, the records that follow it in the
 * day's listing `names` (in order, none skipped), `through` the last of them.
 */
export function extendDayTotal(
  tenantId: string,
  day: string,
  previous: DayTotal | undefined,
  later: ReadonlyArray<{ name: string; usage: CountedUsage }>,
  names: readonly string[],
): DayTotal {
  const total: DayTotal = previous
    ? { ...previous }
    : { version: 1, tenantId, day, jobs: 0, through: '', keys: '', images: 0, faces: 0, modelSeconds: 0 };
  for (const { name, usage } of later) {
    total.jobs += 1;
    total.images += usage.images;
    total.faces += usage.faces;
    total.modelSeconds += usage.modelSeconds;
    if (name > total.through) total.through = name;
  }
  total.keys = digestOfKeys(names.filter((name) => name <= total.through));
  return total;
}
