/** The worker's leases on queue messages (leases.ts), against a queue that records every call. */
import { describe, expect, it } from 'vitest';
import { Leases } from '../../gpu-task/src/worker/leases.js';
import {
  MessageNotInFlightError,
  silentLogger,
  type JobQueue,
  type JobQueueMessage,
  type ReceivedMessage,
} from '../../shared/src/index.js';

const LEASE_SECONDS = 120;

function message(n: number): ReceivedMessage<JobQueueMessage> {
  return {
    receiptHandle: `receipt-${n}`,
    messageId: `message-${n}`,
    receiveCount: 1,
    sentAt: new Date(Date.UTC(2025, 0, 1)),
    body: { jobId: `job-${n}`, tenantId: 't', batchKey: 'k' },
  };
}

/**
 * Records calls; `changeVisibility` answers with `visibilityError` for the receipts it names,
 * `send` with `sendError` when given.
 */
function recordingQueue(visibilityError: Record<string, Error> = {}, sendError?: Error) {
  const calls: string[] = [];
  const queue: Pick<JobQueue, 'delete' | 'changeVisibility' | 'send'> = {
    send: async (body) => {
      calls.push(`send ${body.jobId}`);
      if (sendError) throw sendError;
      return { messageId: `copy-of-${body.jobId}` };
    },
    delete: async (receipt) => {
      calls.push(`delete ${receipt}`);
    },
    changeVisibility: async (receipt, seconds) => {
      calls.push(`visibility ${receipt} ${seconds}`);
      const error = visibilityError[receipt];
      if (error) throw error;
    },
  };
  return { queue, calls };
}

describe('Leases', () => {
  it('extends every held message by one lease, and stops holding what was deleted or released', async () => {
    // Prepare
    const { queue, calls } = recordingQueue();
    const leases = new Leases(queue, LEASE_SECONDS, silentLogger);
    const [a, b, c] = [1, 2, 3].map((n) => leases.hold(message(n)));
    // Act
    await leases.delete(a!);
    await leases.release([b!], 0, 'not_started');
    calls.length = 0;
    await leases.extendAll();
    // Assess
    expect(calls).toEqual([`visibility receipt-3 ${LEASE_SECONDS}`]);
    expect(leases.size).toBe(1);
    expect(c?.batchKey).toBe('k');
  });

  it('marks only a message on its last delivery to run alone; earlier redeliveries keep batching', () => {
    const { queue } = recordingQueue();
    const leases = new Leases(queue, LEASE_SECONDS, silentLogger, 3);
    const solo = [1, 2, 3, 4].map((receiveCount, n) => leases.hold({ ...message(n), receiveCount }).solo);
    expect(solo).toEqual([false, false, true, true]);
  });

  it('releases a message that is no longer in flight without complaint, and still lets go of it', async () => {
    // Prepare: the queue already redelivered message 1 (its receipt is stale).
    const { queue } = recordingQueue({ 'receipt-1': new MessageNotInFlightError('gone') });
    const leases = new Leases(queue, LEASE_SECONDS, silentLogger);
    const held = leases.hold(message(1));
    // Act
    await leases.leave(held);
    // Assess
    expect(leases.size).toBe(0);
  });

  it('lets go of a message whose release failed (its lease ends on its own) and logs it', async () => {
    // Prepare
    const { queue } = recordingQueue({ 'receipt-1': new Error('queue down') });
    const logged: string[] = [];
    const log = { ...silentLogger, error: (msg: string) => void logged.push(msg) };
    const leases = new Leases(queue, LEASE_SECONDS, log);
    const held = leases.hold(message(1));
    // Act
    await leases.release([held], 30, 'transient_error');
    // Assess
    expect(leases.size).toBe(0);
    expect(logged).toEqual(['message release failed']);
  });

  it('hands a message back as a fresh copy, and releases it when the copy cannot be sent', async () => {
    // Prepare
    const sent = recordingQueue();
    const failing = recordingQueue({}, new Error('queue down'));
    const handing = new Leases(sent.queue, LEASE_SECONDS, silentLogger);
    const falling = new Leases(failing.queue, LEASE_SECONDS, silentLogger);
    // Act
    await handing.handBack([handing.hold(message(1))], 'shutdown');
    await falling.handBack([falling.hold(message(2))], 'shutdown');
    // Assess: the copy goes out before the original is deleted; without a copy, a plain release
    expect(sent.calls).toEqual(['send job-1', 'delete receipt-1']);
    expect(failing.calls).toEqual(['send job-2', 'visibility receipt-2 0']);
    expect(handing.size + falling.size).toBe(0);
  });

  it('forgets messages a new owner deals with, touching the queue not at all', async () => {
    const { queue, calls } = recordingQueue();
    const leases = new Leases(queue, LEASE_SECONDS, silentLogger);
    const held = [leases.hold(message(1)), leases.hold(message(2))];
    leases.forget(held);
    await leases.extendAll();
    expect(leases.size).toBe(0);
    expect(calls).toEqual([]);
  });
});
