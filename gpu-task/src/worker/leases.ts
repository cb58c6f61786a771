/**
 * Leases: the queue messages a worker holds, from receipt until they are deleted or released.
 * While a message is held its visibility is extended every third of the lease (the worker's
 * heartbeat calls {@link Leases.extendAll}); releasing hides it for a chosen time (0: deliver
 * again now) and stops holding it.
 */
import {
  MessageNotInFlightError,
  type JobQueue,
  type JobQueueMessage,
  type ReceivedMessage,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';

/** A message this worker holds (its visibility is extended until deleted or released). */
export interface Held {
  readonly message: ReceivedMessage<JobQueueMessage>;
  readonly batchKey: string;
  /**
   * Its last delivery (receive count at maxReceives): if a photo of its batch kept killing the
   * worker process (a decoder crash, memory), every earlier attempt died with it, so this one
   * runs alone (see takeBatch) and can still succeed. Earlier redeliveries (after a deploy, a
   * scale-in, a timed-out lease) keep batching.
   */
  readonly solo: boolean;
}

/**
 * @example
 * ```ts
 * const leases = new Leases(queue, 120, log);
 * const held = leases.hold(message);
 * await leases.extendAll(); // every 40 s while held
 * await leases.delete(held); // done
 * ```
 */
export class Leases {
  /** Every message held, by receipt handle. */
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly queue: Pick<JobQueue, 'delete' | 'changeVisibility' | 'send'>,
    private readonly visibilityTimeoutSeconds: number,
    private readonly log: Logger,
    /** The queue's deliveries per message: the last one runs alone (Held.solo). Default 3. */
    private readonly maxReceives = 3,
  ) {}

  /** How many messages are held. */
  get size(): number {
    return this.held.size;
  }

  hold(message: ReceivedMessage<JobQueueMessage>): Held {
    const solo = message.receiveCount >= Math.max(2, this.maxReceives);
    const held: Held = { message, batchKey: message.body.batchKey, solo };
    this.held.set(message.receiptHandle, held);
    return held;
  }

  /** Stops holding messages someone else deals with now (a job's new owner), touching nothing. */
  forget(helds: readonly Held[]): void {
    for (const held of helds) this.held.delete(held.message.receiptHandle);
  }

  /** Deletes the message (its job is settled) and stops holding it. */
  async delete(held: Held): Promise<void> {
    try {
      await this.queue.delete(held.message.receiptHandle);
    } finally {
      this.held.delete(held.message.receiptHandle);
    }
  }

  /** Leaves a message to whoever owns its job: hidden one lease, not deleted. */
  leave(held: Held): Promise<void> {
    return this.setVisibility(held, this.visibilityTimeoutSeconds);
  }

  /** Hides the messages for `seconds` (0 = deliver again now) and stops holding them; logs failures. */
  async release(helds: readonly Held[], seconds: number, why: string): Promise<void> {
    await Promise.all(
      helds.map(async (held) => {
        try {
          await this.setVisibility(held, seconds);
          this.log.info('message released', {
            jobId: held.message.body.jobId,
            messageId: held.message.messageId,
            why,
            visibleInSeconds: seconds,
          });
        } catch (error) {
          this.log.error('message release failed', {
            jobId: held.message.body.jobId,
            ...errorFields(error),
          });
        }
      }),
    );
  }

  /**
   * Gives messages back for another worker without spending one of their deliveries: a fresh
   * copy is sent and the received message deleted. For a shutdown (Spot interruption, scale-in,
   * deploy), which is not the job's fault: a release would keep the queue's receive count, and
   * after a few shutdowns a job that never failed would go to the dead-letter queue and end
   * `failed`. A copy whose delete fails is a duplicate, which the claim on the job absorbs; a
   * message whose copy cannot be sent is released as before (visible again at once).
   */
  async handBack(helds: readonly Held[], why: string): Promise<void> {
    await Promise.all(
      helds.map(async (held) => {
        const fields = { jobId: held.message.body.jobId, messageId: held.message.messageId, why };
        let copy: string;
        try {
          copy = (await this.queue.send(held.message.body)).messageId;
        } catch (error) {
          this.log.warn('message copy failed; releasing it instead', { ...fields, ...errorFields(error) });
          await this.release([held], 0, why);
          return;
        }
        try {
          await this.delete(held);
          this.log.info('message handed back', { ...fields, copyId: copy });
        } catch (error) {
          this.log.warn('handed-back message not deleted (the copy is a duplicate)', {
            ...fields,
            ...errorFields(error),
          });
        }
      }),
    );
  }

  /** Extends every held message's lease by one visibility timeout (the heartbeat). */
  async extendAll(): Promise<void> {
    await Promise.all(
      [...this.held.values()].map(async (held) => {
        try {
          await this.queue.changeVisibility(held.message.receiptHandle, this.visibilityTimeoutSeconds);
        } catch (error) {
          if (!this.held.has(held.message.receiptHandle)) return; // deleted or released meanwhile
          this.log.warn('lease extend failed', {
            jobId: held.message.body.jobId,
            messageId: held.message.messageId,
            ...errorFields(error),
          });
        }
      }),
    );
  }

  private async setVisibility(held: Held, seconds: number): Promise<void> {
    try {
      await this.queue.changeVisibility(held.message.receiptHandle, seconds);
    } catch (error) {
      // Not in flight any more: it is visible again already, or someone else holds it now.
      if (!(error instanceof MessageNotInFlightError)) throw error;
    } finally {
      this.held.delete(held.message.receiptHandle);
    }
  }
}
