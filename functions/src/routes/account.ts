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

/**
 * The period of a usage query: defaults to the current calendar month (UTC), `to` exclusive.
 *
 * @example usagePeriod({ from: '2025-01-01', to: '2025-02-01' }, now) // January 2025
 */
export function usagePeriod(query: { from?: string; to?: string }, now: Date): { from: Date; to: Date } {
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const from = query.from ? parseInstant(query.from) : monthStart;
  const to = query.to
    ? parseInstant(query.to)
    : query.from
      ? new Date(Math.max(nextMonth.getTime(), from.getTime() + 1))
      : nextMonth;
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
