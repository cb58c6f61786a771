/**
 * {@link LimitStore} on a DynamoDB table (partition key `pk`, string; TTL attribute
 * `expiresAt`), shared by every Lambda and worker. Every change is ONE conditional UpdateItem,
 * so concurrent callers never lose an update and no lock is needed:
 *
 * Token bucket (item `rate#<tenant>#<bucket>`, attribute `tat`, see `gcra`):
 * 1. busy bucket: `SET tat = tat + :interval` if `tat >= :now AND tat <= :latest` (the request
 *    fits the burst). On a failed condition DynamoDB returns the item as it was
 *    (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), which tells the two other cases apart:
 * 2. `tat` missing or in the past (full bucket): `SET tat = :now + :interval` if
 *    `attribute_not_exists(tat) OR tat < :now`;
 * 3. `tat` beyond `:latest`: refused; the wait follows from the old `tat`, no write.
 * A lost race in step 2 starts again at step 1 (a few rounds at most).
 *
 * Jobs in flight (item `slots#<tenant>`, map `slots` of jobId -> lease end in ms):
 * - acquire: `SET slots.#job = :lease` if `attribute_exists(slots) AND size(slots) < :max AND
 *   attribute_not_exists(slots.#job)`. On failure the old item says why: no map yet (create it
 *   with `if_not_exists`, retry), the job holds a slot already (success), expired leases fill
 *   the map (REMOVE them, retry), or the tenant is at its cap (refused).
 * - release: `REMOVE slots.#job` if `attribute_exists(slots.#job)` (idempotent).
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  gcra,
  type LimitStore,
  type RateDecision,
  type RatePolicy,
  type SlotDecision,
} from '../../src/ports/limit-store.js';

export interface DynamoDbLimitStoreOptions {
  /** Only `send` is used (tests pass a fake). */
  client: Pick<DynamoDBClient, 'send'>;
  tableName: string;
}

/** Rounds of the conditional protocol before giving up on a hot item. */
const MAX_ROUNDS = 6;

type Item = Record<string, AttributeValue>;

function numberOf(value: AttributeValue | undefined): number | undefined {
  return value && 'N' in value && value.N !== undefined ? Number(value.N) : undefined;
}

const n = (value: number): AttributeValue => ({ N: String(value) });

/** The item as it was when a condition failed (ALL_OLD), or undefined for another error. */
function conditionFailed(error: unknown): { item: Item | undefined } | undefined {
  if (error instanceof ConditionalCheckFailedException) return { item: error.Item };
  const named = error as { name?: string; Item?: Item } | undefined;
  return named?.name === 'ConditionalCheckFailedException' ? { item: named.Item } : undefined;
}

/**
 * @example
 * ```ts
 * const limits = new DynamoDbLimitStore({ client: new DynamoDBClient({}), tableName: process.env.DR2E_LIMITS_TABLE! });
 * const decision = await limits.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, new Date());
 * ```
 */
export class DynamoDbLimitStore implements LimitStore {
  private readonly client: Pick<DynamoDBClient, 'send'>;
  private readonly tableName: string;

  constructor(options: DynamoDbLimitStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async take(tenantId: string, bucket: string, policy: RatePolicy, now: Date): Promise<RateDecision> {
    const nowMs = now.getTime();
    const interval = 1000 / policy.ratePerSecond;
    const window = policy.burst * interval;
    const key = { pk: { S: `rate#${tenantId}#${bucket}` } };
    // The item disappears (TTL) once the bucket would be full again anyway.
    const expires = n(Math.ceil((nowMs + window + interval) / 1000) + 60);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const taken = await this.updateUnlessConditionFails({
        Key: key,
        UpdateExpression: 'SET tat = tat + :interval, expiresAt = :expires',
        ConditionExpression: 'tat >= :now AND tat <= :latest',
        ExpressionAttributeValues: {
          ':interval': n(interval),
          ':now': n(nowMs),
          ':latest': n(nowMs + window - interval),
          ':expires': expires,
        },
        ReturnValues: 'UPDATED_NEW',
      });
      if (taken.updated) {
        const tat = numberOf(taken.item?.tat) ?? nowMs + interval;
        return withoutTat(gcra(tat - interval, nowMs, policy));
      }
      const oldTat = numberOf(taken.item?.tat);
      if (oldTat !== undefined && oldTat >= nowMs) {
        // Beyond the burst (a concurrent take may have moved it; the refusal is still right).
        return withoutTat(gcra(oldTat, nowMs, policy));
      }
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET tat = :next, expiresAt = :expires',
            ConditionExpression: 'attribute_not_exists(tat) OR tat < :now',
            ExpressionAttributeValues: {
              ':next': n(nowMs + interval),
              ':now': n(nowMs),
              ':expires': expires,
            },
          }),
        );
        return withoutTat(gcra(undefined, nowMs, policy));
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        // Someone took a token between our two writes: start over.
      }
    }
    return { allowed: false, remaining: 0, resetMs: Math.ceil(window), retryAfterMs: Math.ceil(interval) };
  }

  async acquireSlot(
    tenantId: string,
    jobId: string,
    max: number,
    leaseUntil: Date,
    now: Date,
  ): Promise<SlotDecision> {
    const key = { pk: { S: `slots#${tenantId}` } };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const taken = await this.updateUnlessConditionFails({
        Key: key,
        UpdateExpression: 'SET slots.#job = :lease',
        ConditionExpression:
          'attribute_exists(slots) AND size(slots) < :max AND attribute_not_exists(slots.#job)',
        ExpressionAttributeNames: { '#job': jobId },
        ExpressionAttributeValues: { ':lease': n(leaseUntil.getTime()), ':max': n(max) },
        ReturnValues: 'ALL_NEW',
      });
      if (taken.updated) return { acquired: true, inFlight: liveSlots(taken.item, now.getTime()).length };
      const old = taken.item;
      const slots = old?.slots;
      if (!slots || !('M' in slots) || !slots.M) {
        await this.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET slots = if_not_exists(slots, :empty)',
            ExpressionAttributeValues: { ':empty': { M: {} } },
          }),
        );
        continue;
      }
      const live = liveSlots(old, now.getTime());
      if (slots.M[jobId] !== undefined) return { acquired: true, inFlight: live.length };
      const expired = Object.keys(slots.M).filter((id) => !live.includes(id));
      if (live.length >= max || expired.length === 0) return { acquired: false, inFlight: live.length };
      // Leases that were never released fill the map: drop them, then try again.
      const names = Object.fromEntries(expired.slice(0, 100).map((id, i) => [`#e${i}`, id]));
      await this.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `REMOVE ${Object.keys(names)
            .map((name) => `slots.${name}`)
            .join(', ')}`,
          ExpressionAttributeNames: names,
        }),
      );
    }
    return { acquired: false, inFlight: max };
  }

  async releaseSlot(tenantId: string, jobId: string): Promise<void> {
    // A failed condition means no slot was held: nothing to release.
    await this.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: `slots#${tenantId}` } },
        UpdateExpression: 'REMOVE slots.#job',
        ConditionExpression: 'attribute_exists(slots.#job)',
        ExpressionAttributeNames: { '#job': jobId },
      }),
    );
  }

  async slotsInUse(tenantId: string, now: Date): Promise<number> {
    const result = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: `slots#${tenantId}` } },
        ConsistentRead: true,
      }),
    );
    return liveSlots(result.Item, now.getTime()).length;
  }

  /**
   * A conditional update of this table that reports a failed condition instead of throwing:
   * `updated` with the attributes `ReturnValues` asks for, or not with the item as it was (so
   * the caller decides its next step from what stopped it).
   */
  private async updateUnlessConditionFails(
    input: Omit<UpdateItemCommandInput, 'TableName' | 'ReturnValuesOnConditionCheckFailure'>,
  ): Promise<{ updated: boolean; item: Item | undefined }> {
    try {
      const result = await this.client.send(
        new UpdateItemCommand({
          ...input,
          TableName: this.tableName,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { updated: true, item: result.Attributes };
    } catch (error) {
      const failed = conditionFailed(error);
      if (!failed) throw error;
      return { updated: false, item: failed.item };
    }
  }

  /** A write whose lost condition is fine (the caller retries its round anyway). */
  private async send(command: UpdateItemCommand): Promise<void> {
    try {
      await this.client.send(command);
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }
}

/** Job ids of unexpired leases in an item's `slots` map. */
function liveSlots(item: Item | undefined, nowMs: number): string[] {
  const slots = item?.slots;
  if (!slots || !('M' in slots) || !slots.M) return [];
  return Object.entries(slots.M)
    .filter(([, lease]) => (numberOf(lease) ?? 0) > nowMs)
    .map(([id]) => id);
}

function withoutTat(decision: RateDecision & { tat: number }): RateDecision {
  const { tat: _tat, ...rest } = decision;
  return rest;
}
