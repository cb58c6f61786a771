/**
 * Port: an at-least-once work queue with visibility timeouts and a dead-letter queue (SQS in
 * AWS, a directory locally).
 *
 * A received message is hidden for `visibilityTimeoutSeconds`; the consumer deletes it when
 * done, extends the timeout while working (`changeVisibility`), or lets it reappear (or sets
 * the timeout to 0) to release it. Each delivery counts one receive; a message received more
 * than the queue's max receives goes to the dead-letter queue instead of being delivered again.
 * Bodies that fail the queue's schema are never returned: they stay hidden and dead-letter
 * like a failing message. Adapters report each such body through an `onUnreadable` option (see
 * {@link UnreadableQueueMessage}); on the dead-letter side they delete it once reported.
 */
import type { JobQueueMessage } from '../schemas.js';

export interface SendMessageOptions {
  /** Keep the message invisible this long after sending (0 to 900). */
  delaySeconds?: number;
}

export interface ReceiveOptions {
  /** 1 to 10. */
  maxMessages: number;
  /** Long poll: wait up to this long (0 to 20) for a first message. */
  waitSeconds: number;
  /** Hide received messages this long (0 to 43200). */
  visibilityTimeoutSeconds: number;
}

export interface ReceivedMessage<Body> {
  messageId: string;
  body: Body;
  /** Identifies this delivery; needed to delete or extend it. Changes on every receive. */
  receiptHandle: string;
  /** How many times the message has been received, this delivery included (1 on first). */
  receiveCount: number;
  sentAt: Date;
}

/**
 * A received body that did not parse (not JSON, or not the queue's schema), as reported by the
 * adapters' `onUnreadable` option.
 *
 * Such a message never reaches a consumer, so without this report nothing would ever mention
 * it: on the source queue it stays hidden and dead-letters after max receives; on the
 * dead-letter queue no job can be failed for it (the sweeper only sees parsed bodies), so the
 * adapter deletes it after reporting it, or it would sit there for the whole retention period
 * and keep the dead-letter alarm on. The report is then the only record of its content.
 */
export interface UnreadableQueueMessage {
  /** Which side received it: still on the source queue, or already dead-lettered. */
  queue: 'source' | 'dead-letter';
  messageId: string;
  /** How many times it has been received, this delivery included, as the reporting queue counts. */
  receiveCount: number;
  /** Why it did not parse, e.g. `not JSON` or `schema: jobId: Required`. */
  reason: string;
  /** The raw body, at most 200 characters (JSON text for the local queue). */
  preview: string;
}

/** Approximate message counts (eventually consistent on SQS). */
export interface QueueStats {
  /** Ready to receive. */
  visible: number;
  /** Received and not yet deleted or timed out. */
  inFlight: number;
  /** Sent with a delay that has not elapsed. */
  delayed: number;
}

/** Operations shared by a queue and its dead-letter queue. */
export interface ReceivingQueue<Body> {
  receive(options: ReceiveOptions): Promise<ReceivedMessage<Body>[]>;
  /**
   * Deletes a received message. Deleting an already deleted message succeeds. With the handle
   * of an earlier delivery (the message timed out and was received again) the call succeeds
   * but may leave the message in place, as on SQS.
   */
  delete(receiptHandle: string): Promise<void>;
  /**
   * Sets the remaining invisibility of a received message, counted from now (0 releases it at
   * once).
   *
   * @throws {MessageNotInFlightError} when the message is not in flight under this handle.
   */
  changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void>;
  stats(): Promise<QueueStats>;
}

/** The dead-letter side of a queue: inspect, delete, or send messages back for another try. */
export interface DeadLetterQueue<Body> extends ReceivingQueue<Body> {
  /**
   * Moves up to `maxMessages` (default: all) dead letters back to the source queue as new
   * messages (receive count starts again). Returns how many moved.
   */
  redrive(options?: { maxMessages?: number }): Promise<{ moved: number }>;
}

export interface MessageQueue<Body> extends ReceivingQueue<Body> {
  send(body: Body, options?: SendMessageOptions): Promise<{ messageId: string }>;
  readonly deadLetters: DeadLetterQueue<Body>;
}

/**
 * The work queue of restoration jobs.
 *
 * @example A worker loop
 * ```ts
 * for (;;) {
 *   const messages = await queue.receive({ maxMessages: 8, waitSeconds: 20, visibilityTimeoutSeconds: 300 });
 *   for (const group of groupBy(messages, (m) => m.body.batchKey)) await runBatch(group);
 *   // runBatch deletes each message once its job is in a terminal status
 * }
 * ```
 */
export type JobQueue = MessageQueue<JobQueueMessage>;
