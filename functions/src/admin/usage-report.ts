/**
 * The operator's usage report (`npm run tenants -- usage`): per tenant, what `GET /v1/usage`
 * would answer for the period, plus a total, read straight from the usage ledger so tenants
 * whose keys were revoked can still be invoiced. Formats: a table for people, JSON and CSV for
 * billing tools.
 */
import type { UsageLedger } from '../../../shared/src/index.js';

/** Usage totals of one tenant (or of all, in {@link UsageReport.total}). */
export interface UsageTotals {
  jobs: number;
  images: number;
  faces: number;
  /** Rounded to the millisecond, as `GET /v1/usage` answers. */
  modelSeconds: number;
}

export interface TenantUsage extends UsageTotals {
  tenantId: string;
}

export interface UsageReport {
  from: Date;
  /** Exclusive. */
  to: Date;
  tenants: TenantUsage[];
  /** Sum of the rows as reported (rounded), so an invoice's lines add up to its total. */
  total: UsageTotals;
}

/** Label of the total row in the table and the CSV: parentheses cannot occur in tenant ids. */
export const TOTAL_LABEL = '(total)';

const roundToMs = (seconds: number) => Math.round(seconds * 1000) / 1000;

/**
 * Sums the ledger per tenant over `[from, to)`. Named tenants are reported in the order given
 * (duplicates once), with zeros when they used nothing; with none named, every tenant of the
 * ledger that has at least one job in the period, sorted by id.
 *
 * @example
 * ```ts
 * const report = await usageReport(ledger, { from: new Date('2025-01-01'), to: new Date('2025-02-01') });
 * // { from, to, tenants: [{ tenantId: 'acme', jobs: 42, images: 42, faces: 97, modelSeconds: 311.52 }], total: {...} }
 * ```
 */
export async function usageReport(
  ledger: UsageLedger,
  period: { from: Date; to: Date },
  tenantIds: readonly string[] = [],
): Promise<UsageReport> {
  const named = [...new Set(tenantIds)];
  const tenants: TenantUsage[] = [];
  // One tenant at a time: each sum already reads its records in parallel (S3 ledger).
  for (const tenantId of named.length > 0 ? named : await ledger.tenantIds()) {
    const summary = await ledger.sum(tenantId, period);
    if (named.length === 0 && summary.jobs === 0) continue;
    tenants.push({
      tenantId,
      jobs: summary.jobs,
      images: summary.images,
      faces: summary.faces,
      modelSeconds: roundToMs(summary.modelSeconds),
    });
  }
  const total: UsageTotals = { jobs: 0, images: 0, faces: 0, modelSeconds: 0 };
  for (const row of tenants) {
    total.jobs += row.jobs;
    total.images += row.images;
    total.faces += row.faces;
    total.modelSeconds = roundToMs(total.modelSeconds + row.modelSeconds);
  }
  return { from: period.from, to: period.to, tenants, total };
}

/**
 * The report as JSON: `{ from, to, tenants: [{ tenantId, jobs, images, faces, modelSeconds }],
 * total: { jobs, images, faces, modelSeconds } }`, dates in ISO-8601 as `GET /v1/usage` has them.
 */
export function formatUsageJson(report: UsageReport): string {
  const body = {
    from: report.from.toISOString(),
    to: report.to.toISOString(),
    tenants: report.tenants,
    total: report.total,
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

const COLUMNS = ['jobs', 'images', 'faces', 'modelSeconds'] as const;

/**
 * The report as CSV (RFC 4180, `\n` line ends): a header row, one row per tenant, and the total
 * row labelled {@link TOTAL_LABEL}. Every row carries the period so a pasted row stays
 * self-explaining.
 */
export function formatUsageCsv(report: UsageReport): string {
  const from = report.from.toISOString();
  const to = report.to.toISOString();
  const rows = [
    ['tenantId', 'from', 'to', ...COLUMNS],
    ...[...report.tenants, { tenantId: TOTAL_LABEL, ...report.total }].map((row) => [
      row.tenantId,
      from,
      to,
      ...COLUMNS.map((column) => String(row[column])),
    ]),
  ];
  return rows.map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

/** A CSV field, quoted when it holds a separator, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * The report as an aligned table for a terminal, headed by the period and the store read.
 *
 * @example
 * ```text
 * Usage from 2025-01-01T00:00:00.000Z to 2025-02-01T00:00:00.000Z (exclusive), s3://bucket/usage/
 * tenant   jobs  images  faces  modelSeconds
 * acme       42      42     97       311.520
 * (total)    42      42     97       311.520
 * ```
 */
export function formatUsageTable(report: UsageReport, store: string): string {
  const rows = [...report.tenants, { tenantId: TOTAL_LABEL, ...report.total }].map((row) => [
    row.tenantId,
    String(row.jobs),
    String(row.images),
    String(row.faces),
    row.modelSeconds.toFixed(3),
  ]);
  const header = ['tenant', ...COLUMNS];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  // Names left-aligned, numbers right-aligned so their digits line up.
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const title = `Usage from ${report.from.toISOString()} to ${report.to.toISOString()} (exclusive), ${store}`;
  const lines = rows.map(line);
  if (report.tenants.length === 0) lines.unshift('(no usage in this period)');
  return [title, line(header), ...lines].join('\n') + '\n';
}
