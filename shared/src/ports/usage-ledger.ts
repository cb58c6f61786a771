/** Port: metered usage per tenant, for billing and quotas. */

/** Usage of one finished job. */
export interface UsageRecord {
  tenantId: string;
  jobId: string;
  /** When the job finished (its terminal timestamp). */
  at: Date;
  images: number;
  /**
   * Faces restored. Absent on records written before photo mode, which restored exactly one
   * face per image: those count `images` faces.
   */
  faces?: number;
  /** Seconds of model time (detection, DR2, enhancer): the job's share of its batches. */
  modelSeconds: number;
}

export interface UsageSummary {
  tenantId: string;
  from: Date;
  to: Date;
  jobs: number;
  images: number;
  faces: number;
  modelSeconds: number;
}

export interface UsageLedger {
  /** Records a finished job's usage. Recording the same `jobId` again changes nothing. */
  record(entry: UsageRecord): Promise<void>;
  /**
   * Totals of a tenant's records with `from <= at < to`.
   *
   * @example `await ledger.sum('tenant_a', { from: monthStart, to: nextMonthStart })`
   */
  sum(tenantId: string, range: { from: Date; to: Date }): Promise<UsageSummary>;
  /**
   * Ids of the tenants with at least one record (of any time), each once, sorted. The operator's
   * usage report lists them, so a tenant whose keys were revoked can still be billed.
   *
   * @example
   * ```ts
   * for (const tenantId of await ledger.tenantIds()) console.log(await ledger.sum(tenantId, period));
   * ```
   */
  tenantIds(): Promise<string[]>;
}
