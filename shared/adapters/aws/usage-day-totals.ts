/**
 * Day totals of the S3 usage ledger (s3-usage-ledger.ts): the sums of one tenant's records of
 * one UTC day, kept beside the records so that a sum over a month reads about one object per
 * day instead of one per job.
 *
 * A total is derived data and is trusted only while it still describes the records: it names
 * the last record it covers (`through`, the record's key within the tenant's folder) and how
 * many it covers (`jobs`). Records are write-once and their keys sort by time, so the total holds
 * exactly while the day's listing has `jobs` keys up to `through`. A record written after the
 * total (a job whose usage was recorded late, e.g. by a redelivered or dead-lettered message)
 * either sorts after `through`, and is read on its own, or sorts before it, and the count no
 * longer matches, so the day is read record by record again and its total rewritten.
 */

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

const DAY_PREFIX = /^(\d{4}-\d{2}-\d{2})T/;

/**
 * The UTC day of a record, from its key within the tenant's folder (`<at, ISO-8601>_<job>.json`),
 * or undefined for a key the ledger did not write.
 *
 * @example dayOfRecord('2025-01-02T13:00:00.000Z_job_x.json') // '2025-01-02'
 */
export function dayOfRecord(name: string): string | undefined {
  return DAY_PREFIX.exec(name)?.[1];
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
 * Whether `total` still describes the day whose record keys (within the tenant's folder, any
 * order) are `names`: exactly `total.jobs` of them sort at or before `total.through`.
 */
export function totalStillHolds(total: DayTotal, names: readonly string[]): boolean {
  let covered = 0;
  for (const name of names) if (name <= total.through) covered += 1;
  return covered === total.jobs;
}

/**
 * A day's new total: `previous` (or nothing) plus the records after it, `through` the last of
 * them.
 */
export function extendDayTotal(
  tenantId: string,
  day: string,
  previous: DayTotal | undefined,
  later: ReadonlyArray<{ name: string; usage: CountedUsage }>,
): DayTotal {
  const total: DayTotal = previous
    ? { ...previous }
    : { version: 1, tenantId, day, jobs: 0, through: '', images: 0, faces: 0, modelSeconds: 0 };
  for (const { name, usage } of later) {
    total.jobs += 1;
    total.images += usage.images;
    total.faces += usage.faces;
    total.modelSeconds += usage.modelSeconds;
    if (name > total.through) total.through = name;
  }
  return total;
}
