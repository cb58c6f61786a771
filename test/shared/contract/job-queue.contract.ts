/**
 * Behaviour every JobQueue adapter must have. Run by `local.test.ts` and `aws.test.ts`.
 * Visibility timeouts here are real seconds (SQS has no fake clock), so a few tests wait 1-2 s.
 */
import { describe, expect, it } from 'vitest';
import { MessageNotInFlightError, ValidationError } from '../../../shared/src/errors.js';
import type { JobQueue, UnreadableQueueMessage } from '../../../shared/src/ports/job-queue.js';
import { sleep } from '../../../shared/src/index.js';
import type { JobQueueMessage } from '../../../shared/src/schemas.js';
import { sampleJob } from '../helpers/jobs.js';

export interface QueueHarness {
  queue: JobQueue;
  /** The max receives configured for the queue's dead-lettering. */
  maxReceives: number;
  /** Puts a body on the queue without validation (to simulate a foreign or corrupt message). */
  sendRaw: (text: string) => Promise<void>;
}

export interface JobQueueContractOptions {
  /**
   * A fresh, empty queue that dead-letters after `maxReceives` receives, passing `onUnreadable`
   * to the adapter's option of that name.
   */
  makeQueue: (
    maxReceives: number,
    onUnreadable?: (message: UnreadableQueueMessage) => void,
  ) => Promise<QueueHarness>;
}

function message(batchKey = 'model=m;preset=medium;steps=100'): JobQueueMessage {
  const job = sampleJob();
  return { jobId: job.id, tenantId: job.tenantId, batchKey };
}

/*
 * Single-message tests ask for one message: local-aws-sqs keeps collecting during a long poll
 * until it has maxMessages or the wait ends, so with a short visibility it can hand the same
 * message out twice in one call (SQS returns as soon as it has some messages).
 */
const now = { maxMessages: 1, waitSeconds: 0 } as const;

export function describeJobQueueContract(family: string, options: JobQueueContractOptions): void {
  describe(`JobQueue contract: ${family}`, () => {
    it('delivers a sent message once per visibility window and forgets it when deleted', async () => {
      // Prepare
      const { queue } = await options.makeQueue(5);
      const body = message();
      // Act
      await queue.send(body);
      const [received] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 30 });
      const whileHidden = await queue.receive({ ...now, visibilityTimeoutSeconds: 30 });
      await queue.delete(received!.receiptHandle);
      await queue.delete(received!.receiptHandle);
      // Assess
      expect(received).toMatchObject({ body, receiveCount: 1 });
      expect(received!.sentAt).toBeInstanceOf(Date);
      expect(whileHidden).toEqual([]);
      expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });

    it('returns at most maxMessages', async () => {
      const { queue } = await options.makeQueue(5);
      for (let i = 0; i < 3; i++) await queue.send(message(`key-${i}`));
      const first = await queue.receive({ maxMessages: 2, waitSeconds: 1, visibilityTimeoutSeconds: 30 });
      expect(first.length).toBeGreaterThanOrEqual(1);
      expect(first.length).toBeLessThanOrEqual(2);
    });

    it('redelivers a message whose visibility timeout ran out, counting the receive', async () => {
      // Prepare
      const { queue } = await options.makeQueue(5);
      await queue.send(message());
      const [first] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 1 });
      // Act
      await sleep(1500);
      const [second] = await queue.receive({ ...now, waitSeconds: 2, visibilityTimeoutSeconds: 30 });
      // Assess
      expect(second?.messageId).toBe(first?.messageId);
      expect(second?.receiveCount).toBe(2);
      expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
      expect(second?.body).toEqual(first?.body);
    });

    it('releases a message at once with visibility 0 and keeps it hidden when extended', async () => {
      // Prepare
      const { queue } = await options.makeQueue(5);
      await queue.send(message());
      const [first] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 30 });
      // Act: release
      await queue.changeVisibility(first!.receiptHandle, 0);
      const [again] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 1 });
      // Act: extend the second delivery well past its 1 s timeout
      await queue.changeVisibility(again!.receiptHandle, 30);
      await sleep(1500);
      const whileExtended = await queue.receive({ ...now, visibilityTimeoutSeconds: 30 });
      // Assess
      expect(again?.messageId).toBe(first?.messageId);
      expect(whileExtended).toEqual([]);
    });

    it('refuses to change the visibility of a deleted message', async () => {
      const { queue } = await options.makeQueue(5);
      await queue.send(message());
      const [received] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 30 });
      await queue.delete(received!.receiptHandle);
      await expect(queue.changeVisibility(received!.receiptHandle, 10)).rejects.toBeInstanceOf(
        MessageNotInFlightError,
      );
    });

    it('waits for a message during a long poll', async () => {
      // Prepare
      const { queue } = await options.makeQueue(5);
      const body = message();
      // Act
      const polling = queue.receive({ maxMessages: 1, waitSeconds: 5, visibilityTimeoutSeconds: 30 });
      await sleep(300);
      await queue.send(body);
      const received = await polling;
      // Assess
      expect(received.map((m) => m.body)).toEqual([body]);
    });

    it('keeps a delayed message hidden until its delay passes', async () => {
      const { queue } = await options.makeQueue(5);
      await queue.send(message(), { delaySeconds: 1 });
      const early = await queue.receive({ ...now, visibilityTimeoutSeconds: 30 });
      await sleep(1500);
      const late = await queue.receive({ ...now, waitSeconds: 2, visibilityTimeoutSeconds: 30 });
      expect(early).toEqual([]);
      expect(late).toHaveLength(1);
    });

    it('refuses to send a body that fails the message schema', async () => {
      const { queue } = await options.makeQueue(5);
      const bad = { jobId: 'not-a-job', tenantId: 't', batchKey: 'k' };
      await expect(queue.send(bad)).rejects.toBeInstanceOf(ValidationError);
    });

    it('moves a message to the dead-letter queue after max receives, and redrives it', async () => {
      // Prepare
      const { queue, maxReceives } = await options.makeQueue(2);
      const body = message();
      await queue.send(body);
      // Act: receive and release it maxReceives times, then once more
      for (let i = 1; i <= maxReceives; i++) {
        const [delivery] = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 0 });
        expect(delivery?.receiveCount).toBe(i);
      }
      const afterMax = await queue.receive({ ...now, waitSeconds: 1, visibilityTimeoutSeconds: 0 });
      const [dead] = await queue.deadLetters.receive({ ...now, waitSeconds: 2, visibilityTimeoutSeconds: 0 });
      const { moved } = await queue.deadLetters.redrive();
      const [revived] = await queue.receive({ ...now, waitSeconds: 2, visibilityTimeoutSeconds: 30 });
      // Assess
      expect(afterMax).toEqual([]);
      expect(dead?.body).toEqual(body);
      expect(moved).toBe(1);
      expect(revived?.body).toEqual(body);
      expect(revived?.receiveCount).toBe(1);
      expect((await queue.deadLetters.stats()).visible).toBe(0);
    });

    it('never hands out a body that fails the schema; it dead-letters instead', async () => {
      // Prepare
      const { queue, maxReceives, sendRaw } = await options.makeQueue(2);
      await sendRaw('{"not":"a job message"}');
      // Act
      for (let i = 0; i <= maxReceives; i++) {
        expect(await queue.receive({ ...now, maxMessages: 10, visibilityTimeoutSeconds: 0 })).toEqual([]);
      }
      // Assess: the dead-letter side holds it (its body fails the schema there too)
      const stats = await queue.deadLetters.stats();
      expect(stats.visible + stats.inFlight).toBe(1);
    });

    it('reports every unreadable body, and deletes it from the dead-letter queue once reported', async () => {
      // Prepare
      const reports: UnreadableQueueMessage[] = [];
      const { queue, maxReceives, sendRaw } = await options.makeQueue(2, (report) => reports.push(report));
      const raw = `{"not":"a job message","padding":"${'x'.repeat(300)}"}`;
      await sendRaw(raw);
      // Act: receive until it dead-letters, then receive from the dead-letter queue
      for (let i = 0; i <= maxReceives; i++) {
        expect(await queue.receive({ ...now, maxMessages: 10, visibilityTimeoutSeconds: 0 })).toEqual([]);
      }
      const fromSource = [...reports];
      const dead = await queue.deadLetters.receive({ ...now, waitSeconds: 2, visibilityTimeoutSeconds: 30 });
      // Assess: reported on each receive of the source queue (where it stays to dead-letter)
      expect(fromSource).toHaveLength(maxReceives);
      expect(fromSource.map((r) => r.receiveCount)).toEqual(
        Array.from({ length: maxReceives }, (_, i) => i + 1),
      );
      for (const report of fromSource) {
        expect(report).toMatchObject({ queue: 'source', preview: raw.slice(0, 200) });
        expect(report.reason).toMatch(/^schema: /);
        expect(report.messageId).toBe(fromSource[0]?.messageId);
      }
      // Assess: reported once from the dead-letter queue, which no longer holds it
      expect(dead).toEqual([]);
      expect(reports.slice(fromSource.length)).toEqual([
        expect.objectContaining({ queue: 'dead-letter', preview: raw.slice(0, 200) }),
      ]);
      expect(await queue.deadLetters.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });
  });
}
