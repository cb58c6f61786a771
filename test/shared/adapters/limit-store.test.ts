/**
 * The limit store adapters: the shared contract on the disk store and on the DynamoDB store
 * (over a fake client that applies its conditional updates atomically; there is no DynamoDB
 * stand-in here), and the DynamoDB store's requests themselves: keys, expressions, values, and
 * which branch each condition failure takes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbLimitStore } from '../../../shared/adapters/aws/dynamodb-limit-store.js';
import { DiskLimitStore } from '../../../shared/adapters/local/disk-limit-store.js';
import { describeLimitStoreContract } from '../contract/limit-store.contract.js';
import { FakeDynamoDb } from '../helpers/fake-dynamodb.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeLimitStoreContract('disk', {
  makeStore: async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dr2e-limits-'));
    dirs.push(dir);
    return new DiskLimitStore({ dir });
  },
});

describeLimitStoreContract('DynamoDB (fake client)', {
  makeStore: async () => new DynamoDbLimitStore({ client: new FakeDynamoDb(), tableName: 'limits' }),
});

describe('DiskLimitStore', () => {
  it('keeps counters across instances on the same directory (API and worker processes)', async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), 'dr2e-limits-'));
    dirs.push(dir);
    const now = new Date('2026-01-01T00:00:00Z');
    await new DiskLimitStore({ dir }).acquireSlot('t1', 'job-a', 1, new Date(now.getTime() + 60_000), now);
    // Act
    const refused = await new DiskLimitStore({ dir }).acquireSlot(
      't1',
      'job-b',
      1,
      new Date(now.getTime() + 60_000),
      now,
    );
    await new DiskLimitStore({ dir }).releaseSlot('t1', 'job-a');
    // Assess
    expect(refused.acquired).toBe(false);
    expect(await new DiskLimitStore({ dir }).slotsInUse('t1', now)).toBe(0);
  });
});

describe('DynamoDbLimitStore requests', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  const t = now.getTime();
  const updates = (fake: FakeDynamoDb) =>
    fake.calls.filter((c): c is UpdateItemCommandInput => 'TableName' in c);

  it('takes a token from a busy bucket with one conditional increment', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    fake.items.set('rate#acme#create', { pk: { S: 'rate#acme#create' }, tat: { N: String(t + 1000) } });
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits-table' });
    // Act
    const decision = await store.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, now);
    // Assess
    expect(decision).toEqual({ allowed: true, remaining: 89, resetMs: 1100, retryAfterMs: 0 });
    expect(updates(fake)).toEqual([
      {
        TableName: 'limits-table',
        Key: { pk: { S: 'rate#acme#create' } },
        UpdateExpression: 'SET tat = tat + :interval, expiresAt = :expires',
        ConditionExpression: 'tat >= :now AND tat <= :latest',
        ExpressionAttributeValues: {
          ':interval': { N: '100' },
          ':now': { N: String(t) },
          ':latest': { N: String(t + 9900) },
          ':expires': { N: String(Math.ceil((t + 10_100) / 1000) + 60) },
        },
        ReturnValues: 'UPDATED_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    ]);
  });

  it('starts a new or refilled bucket with a second conditional write', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits' });
    // Act
    const decision = await store.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, now);
    // Assess
    expect(decision).toMatchObject({ allowed: true, remaining: 99 });
    expect(updates(fake).map((c) => c.ConditionExpression)).toEqual([
      'tat >= :now AND tat <= :latest',
      'attribute_not_exists(tat) OR tat < :now',
    ]);
    expect(updates(fake)[1]?.ExpressionAttributeValues?.[':next']).toEqual({ N: String(t + 100) });
  });

  it('refuses an empty bucket from the old item without writing', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    fake.items.set('rate#acme#create', { pk: { S: 'rate#acme#create' }, tat: { N: String(t + 10_000) } });
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits' });
    // Act
    const decision = await store.take('acme', 'create', { ratePerSecond: 10, burst: 100 }, now);
    // Assess
    expect(decision).toEqual({ allowed: false, remaining: 0, resetMs: 10_000, retryAfterMs: 100 });
    expect(updates(fake)).toHaveLength(1);
    expect(fake.items.get('rate#acme#create')?.tat).toEqual({ N: String(t + 10_000) });
  });

  it('creates the slot map once, then claims a slot by job id', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits' });
    // Act
    const decision = await store.acquireSlot('acme', 'job_1', 50, new Date(t + 5000), now);
    // Assess
    expect(decision).toEqual({ acquired: true, inFlight: 1 });
    expect(updates(fake).map((c) => c.UpdateExpression)).toEqual([
      'SET slots.#job = :lease',
      'SET slots = if_not_exists(slots, :empty)',
      'SET slots.#job = :lease',
    ]);
    expect(updates(fake)[2]).toMatchObject({
      Key: { pk: { S: 'slots#acme' } },
      ExpressionAttributeNames: { '#job': 'job_1' },
      ExpressionAttributeValues: { ':lease': { N: String(t + 5000) }, ':max': { N: '50' } },
    });
  });

  it('removes ended leases when they fill the map, then claims', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    fake.items.set('slots#acme', {
      pk: { S: 'slots#acme' },
      slots: { M: { old1: { N: String(t - 1) }, live: { N: String(t + 1000) } } },
    });
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits' });
    // Act
    const decision = await store.acquireSlot('acme', 'job_2', 2, new Date(t + 5000), now);
    // Assess
    expect(decision).toEqual({ acquired: true, inFlight: 2 });
    expect(updates(fake)[1]).toMatchObject({
      UpdateExpression: 'REMOVE slots.#e0',
      ExpressionAttributeNames: { '#e0': 'old1' },
    });
  });

  it('releases with a condition, and a slot never held is no error', async () => {
    // Prepare
    const fake = new FakeDynamoDb();
    const store = new DynamoDbLimitStore({ client: fake, tableName: 'limits' });
    // Act / Assess
    await expect(store.releaseSlot('acme', 'job_9')).resolves.toBeUndefined();
    expect(updates(fake)[0]).toMatchObject({
      UpdateExpression: 'REMOVE slots.#job',
      ConditionExpression: 'attribute_exists(slots.#job)',
      ExpressionAttributeNames: { '#job': 'job_9' },
    });
  });

  it('passes on errors that are not condition failures', async () => {
    const store = new DynamoDbLimitStore({
      client: {
        send: async () =>
          Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })),
      },
      tableName: 'limits',
    });
    await expect(store.take('acme', 'create', { ratePerSecond: 1, burst: 1 }, now)).rejects.toThrow(
      'throttled',
    );
  });
});
