import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withLock } from '../../../shared/adapters/local/fs-util.js';
import { LocalQueue } from '../../../shared/adapters/local/local-queue.js';
import { ManualClock } from '../../../shared/src/clock.js';
import { MessageNotInFlightError, ValidationError } from '../../../shared/src/errors.js';
import { JobQueueMessageSchema, type JobQueueMessage } from '../../../shared/src/schemas.js';
import { sampleJob } from '../helpers/jobs.js';

let dir: string;
let clock: ManualClock;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-local-queue-'));
  clock = new ManualClock();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function openQueue(maxReceives = 3): LocalQueue<JobQueueMessage> {
  return new LocalQueue({
    dir,
    name: 'jobs',
    schema: JobQueueMessageSchema,
    maxReceives,
    clock,
    pollIntervalMs: 5,
  });
}

function message(): JobQueueMessage {
  const job = sampleJob();
  return { jobId: job.id, tenantId: job.tenantId, batchKey: 'model=m;preset=mild;steps=100' };
}

const receiveNow = { maxMessages: 10, waitSeconds: 0, visibilityTimeoutSeconds: 60 } as const;

describe('LocalQueue durability', () => {
  it('keeps sent and in-flight messages across a restart (a new instance on the same dir)', async () => {
    // Prepare
    const before = openQueue();
    const [a, b] = [message(), message()];
    await before.send(a);
    await before.send(b);
    const [inFlight] = await before.receive({ ...receiveNow, maxMessages: 1 });
    // Act: "restart"
    const after = openQueue();
    const visibleAfterRestart = await after.receive(receiveNow);
    clock.advance(61_000);
    const redelivered = await after.receive(receiveNow);
    // Assess
    const other = inFlight!.body.jobId === a.jobId ? b : a;
    expect(visibleAfterRestart.map((m) => m.body)).toEqual([other]);
    expect(redelivered.map((m) => [m.body, m.receiveCount])).toContainEqual([inFlight!.body, 2]);
  });

  it('lets a new instance delete with a receipt handle from before the restart', async () => {
    const before = openQueue();
    await before.send(message());
    const [received] = await before.receive(receiveNow);
    const after = openQueue();
    await after.delete(received!.receiptHandle);
    clock.advance(61_000);
    expect(await after.receive(receiveNow)).toEqual([]);
  });

  it('ignores temp files left by a crash mid-write', async () => {
    const queue = openQueue();
    await queue.send(message());
    await writeFile(
      path.join(dir, 'jobs', 'messages', 'msg_01J0000000000000000000000.json~tmp-abc'),
      '{"trunc',
    );
    const received = await queue.receive(receiveNow);
    expect(received).toHaveLength(1);
  });

  it('never hands one delivery to two consumers polling the same directory', async () => {
    // Prepare
    const producer = openQueue();
    for (let i = 0; i < 20; i++) await producer.send(message());
    const consumers = [openQueue(), openQueue(), openQueue()];
    // Act
    const batches = await Promise.all(
      consumers.flatMap((consumer) => [consumer.receive(receiveNow), consumer.receive(receiveNow)]),
    );
    // Assess
    const ids = batches.flat().map((m) => m.messageId);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });
});

describe('LocalQueue visibility and dead letters (manual clock)', () => {
  it('redelivers after the visibility timeout, not before', async () => {
    const queue = openQueue();
    await queue.send(message());
    const [first] = await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 30 });
    clock.advance(29_999);
    const tooEarly = await queue.receive(receiveNow);
    clock.advance(1);
    const [second] = await queue.receive(receiveNow);
    expect(tooEarly).toEqual([]);
    expect(second).toMatchObject({ messageId: first!.messageId, receiveCount: 2 });
  });

  it('leaves the message in place when deleted with a stale receipt handle', async () => {
    const queue = openQueue();
    await queue.send(message());
    const [first] = await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 1 });
    clock.advance(1000);
    const [second] = await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 1 });
    await queue.delete(first!.receiptHandle);
    clock.advance(1000);
    const [third] = await queue.receive(receiveNow);
    expect(third?.messageId).toBe(second?.messageId);
    await expect(queue.changeVisibility(first!.receiptHandle, 5)).rejects.toBeInstanceOf(
      MessageNotInFlightError,
    );
  });

  it('refuses to extend a delivery whose timeout already ran out', async () => {
    const queue = openQueue();
    await queue.send(message());
    const [received] = await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 10 });
    clock.advance(10_000);
    await expect(queue.changeVisibility(received!.receiptHandle, 30)).rejects.toBeInstanceOf(
      MessageNotInFlightError,
    );
  });

  it('dead-letters after maxReceives, keeps it across a restart, and redrives it', async () => {
    // Prepare
    const queue = openQueue(3);
    const body = message();
    await queue.send(body);
    // Act
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [delivery] = await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 5 });
      if (delivery) counts.push(delivery.receiveCount);
      clock.advance(5_000);
    }
    const restarted = openQueue(3);
    const deadStats = await restarted.deadLetters.stats();
    const moved = await restarted.deadLetters.redrive();
    const [revived] = await restarted.receive(receiveNow);
    // Assess
    expect(counts).toEqual([1, 2, 3]);
    expect(deadStats).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    expect(moved).toEqual({ moved: 1 });
    expect(revived).toMatchObject({ body, receiveCount: 1 });
  });

  it('redrives at most maxMessages', async () => {
    const queue = openQueue(1);
    for (let i = 0; i < 3; i++) await queue.send(message());
    await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 0 });
    await queue.receive({ ...receiveNow, visibilityTimeoutSeconds: 0 });
    expect((await queue.deadLetters.stats()).visible).toBe(3);
    expect(await queue.deadLetters.redrive({ maxMessages: 2 })).toEqual({ moved: 2 });
    expect((await queue.stats()).visible).toBe(2);
  });

  it('counts visible, in-flight and delayed messages', async () => {
    const queue = openQueue();
    await queue.send(message());
    await queue.send(message());
    await queue.send(message(), { delaySeconds: 60 });
    await queue.receive({ ...receiveNow, maxMessages: 1 });
    expect(await queue.stats()).toEqual({ visible: 1, inFlight: 1, delayed: 1 });
  });

  it('checks its arguments', async () => {
    const queue = openQueue();
    await expect(queue.receive({ ...receiveNow, maxMessages: 11 })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.send(message(), { delaySeconds: 901 })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.delete('msg_../../etc')).rejects.toBeInstanceOf(MessageNotInFlightError);
    expect(
      () => new LocalQueue({ dir, name: '../x', schema: JobQueueMessageSchema, maxReceives: 1 }),
    ).toThrow(ValidationError);
  });
});

describe('withLock', () => {
  it('takes over a lock whose holder died long ago', async () => {
    const lockPath = path.join(dir, 'store', '.lock');
    await mkdir(lockPath, { recursive: true });
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(lockPath, longAgo, longAgo);
    const result = await withLock(lockPath, async () => 'ran');
    expect(result).toBe('ran');
    expect(await readdir(path.dirname(lockPath))).toEqual([]);
  });

  it('breaks a fresh lock at once when the process holding it is gone', async () => {
    // Prepare: a lock left by a process that was killed mid-action (a finished child's pid)
    const lockPath = path.join(dir, 'killed', '.lock');
    await mkdir(lockPath, { recursive: true });
    const child = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
    await writeFile(path.join(lockPath, 'owner'), `${hostname()}:${child.pid}`);
    // Act: the lock directory is fresh, so only the dead owner lets it be broken
    const result = await withLock(lockPath, async () => 'ran', { staleAfterMs: 3_600_000 });
    // Assess
    expect(result).toBe('ran');
  });

  it('waits for a fresh lock whose holder is alive', async () => {
    const lockPath = path.join(dir, 'alive', '.lock');
    await mkdir(lockPath, { recursive: true });
    await writeFile(path.join(lockPath, 'owner'), `${hostname()}:${process.pid}`);
    let released = false;
    setTimeout(() => {
      released = true;
      void rm(lockPath, { recursive: true, force: true });
    }, 300);
    const ranAfterRelease = await withLock(lockPath, async () => released);
    expect(ranAfterRelease).toBe(true);
  });

  it('runs overlapping sections one at a time', async () => {
    const lockPath = path.join(dir, 'counter.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(lockPath, async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inside -= 1;
        }),
      ),
    );
    expect(maxInside).toBe(1);
  });
});
