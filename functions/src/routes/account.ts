/** `/v1/usage` and `/v1/tenant`: what the tenant used, and who the key belongs to. */
import { Hono } from 'hono';
import { type Clock, ValidationError, type UsageLedger, parseWith } from '../../../shared/src/index.js';
import { UsageQuerySchema } from '../api-schemas.js';
import type { AuthVariables } from '../http/auth.js';

/** Longest period one usage query may cover. */
export const MAX_USAGE_PERIOD_DAYS = 400;

/** `2025-01-01` (midnight UTC) or a full ISO date-time. */
function parseInstant(text: string): Date {
  return new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00.000Z` : text);
}

/** Midnight UTC on the first of the month holding `at`, moved by `months`. */
function monthStart(at: Date, months = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));
}

/** `at` one calendar month later, on the month's last day where it is shorter (Jan 31 -> Feb 28). */
function oneMonthAfter(at: Date): Date {
  const next = monthStart(at, 1);
  const lastDay = new Date(Date.UTC(next.getUTCFullYear(), next.getUTCMonth() + 1, 0)).getUTCDate();
  next.setUTCDate(Math.min(at.getUTCDate(), lastDay));
  next.setUTCHours(at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds(), at.getUTCMilliseconds());
  return next;
}

/**
 * The period of a usage query, `to` exclusive:
 *
 * - neither bound: the current calendar month (UTC);
 * - both: as given (`from` must come first; at most {@link MAX_USAGE_PERIOD_DAYS} days);
 * - `from` alone: up to the first of next month (everything recorded so far); a `from` on or
 *   after that: one calendar month on;
 * - `to` alone: from the first of the month `to` ends (the month holding the instant before
 *   `to`: `to=2026-12-01` is November), or of this month where that is earlier.
 *
 * Why: the defaults alone ignored the bound that was given, so `?to=2026-11-15` after November
 * answered 400 "from must be before to" (from defaulted to this month) and `?from=2027-03-01`
 * answered a 1 ms period. One bound alone now always names a period that holds it, as long as
 * it stays within the 400 days.
 *
 * @example usagePeriod({ from: '2025-01-01', to: '2025-02-01' }, now) // January 2025
 * @example usagePeriod({ to: '2026-11-15' }, new Date('2027-01-10')) // 2026-11-01 to 2026-11-15
 * @example usagePeriod({ from: '2027-03-01' }, new Date('2026-07-01')) // 2027-03-01 to 2027-04-01
 */
export function usagePeriod(query: { from?: string; to?: string }, now: Date): { from: Date; to: Date } {
  let from: Date;
  let to: Date;
  if (query.from !== undefined && query.to !== undefined) {
    from = parseInstant(query.from);
    to = parseInstant(query.to);
  } else if (query.from !== undefined) {
    from = parseInstant(query.from);
    const nextMonth = monthStart(now, 1);
    to = from.getTime() < nextMonth.getTime() ? nextMonth : oneMonthAfter(from);
  } else if (query.to !== undefined) {
    to = parseInstant(query.to);
    const endsIn = monthStart(new Date(to.getTime() - 1));
    from = new Date(Math.min(monthStart(now).getTime(), endsIn.getTime()));
  } else {
    from = monthStart(now);
    to = monthStart(now, 1);
  }
  if (!(from.getTime() < to.getTime())) throw new ValidationError('from must be before to');
  if (to.getTime() - from.getTime() > MAX_USAGE_PERIOD_DAYS * 86_400_000) {
    throw new ValidationError(`a usage period may cover at most ${MAX_USAGE_PERIOD_DAYS} days`);
  }
  return { from, to };
}

export function accountRoutes(options: {
  usage: UsageLedger;
  clock: Clock;
}): Hono<{ Variables: AuthVariables }> {
  const routes = new Hono<{ Variables: AuthVariables }>();

  routes.get('/usage', async (c) => {
    const query = parseWith(UsageQuerySchema, c.req.query(), 'query');
    const period = usagePeriod(query, options.clock.now());
    const summary = await options.usage.sum(c.var.tenant.id, period);
    return c.json({
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      jobs: summary.jobs,
      images: summary.images,
      faces: summary.faces,
      modelSeconds: Math.round(summary.modelSeconds * 1000) / 1000,
    });
  });

  routes.get('/tenant', (c) => {
    const { id, name, webhookSecret } = c.var.tenant;
    c.header('cache-control', 'no-store');
    return c.json({ id, name, webhookSecret });
  });

  return routes;
}
