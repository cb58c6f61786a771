/**
 * A durable {@link MessageQueue} in a local directory, with SQS semantics: visibility timeout,
 * receive count, dead-letter queue after `maxReceives`, long polling.
 *
 * Each message is one JSON file (`<dir>/<name>/messages/<id>.json`), rewritten atomically
 * (temp file + rename), so the queue survives a process restart and a crash mid-write. Every
 * read-modify-write runs under the queue's lock (in-process and across processes), so two
 * consumers never receive the same delivery. Dead letters live in `<dir>/<name>.dlq/` as a
 * queue of their own.
 *
 * Visibility times come from the injected clock (tests move a `ManualClock`); long polls wait
 * in real time, re-scanning every `pollIntervalMs`.
 *
 * A body that does not parse is never returned; `onUnreadable` hears of it on every receive. On
 * the source queue it stays hidden and dead-letters; on the DLQ it is deleted once reported.
 */
import path from 'node:path';
import type { z } from 'zod';
import { systemClock, type Clock } from '../../src/clock.js';
import { randomBytes, toBase64Url } from '../../src/encoding.js';
import { MessageNotInFlightError, ValidationError } from '../../src/errors.js';
import { newPrefixedId } from '../../src/ids.js';
import type {
  DeadLetterQueue,
  MessageQueue,
  QueueStats,
  ReceiveOptions,
  ReceivedMessage,
  SendMessageOptions,
  UnreadableQueueMessage,
} from '../../src/ports/job-queue.js';
import { parseWith, toValidationIssues } from '../../src/schemas.js';
import { sleep } from '../../src/sleep.js';
import { atomicWriteFile, listFiles, readJsonIfExists, unlinkIfExists, withLock } from './fs-util.js';

export interface LocalQueueOptions<Body> {
  /** Parent directory of all local queues. */
  dir: string;
  /** Queue name, e.g. `jobs`; letters, digits, `-` and `_`. */
  name: string;
  /** Validates bodies on send and receive (e.g. `JobQueueMessageSchema`). */
  schema: z.ZodType<Body>;
  /** A message received this many times goes to the dead-letter queue on its next receive. */
  maxReceives: number;
  clock?: Clock;
  /** Re-scan interval of long polls (default 100 ms). */
  pollIntervalMs?: number;
  /**
   * Hears of every received body that does not parse, on the queue and on its DLQ (where the
   * message is deleted once reported: no job can be failed for it, and the report keeps its
   * content). Without it, such a message is skipped silently and stays in the DLQ. Must not throw.
   */
  onUnreadable?: (message: UnreadableQueueMessage) => void;
}

/** How much of an unreadable body a report carries. */
const PREVIEW_CHARS = 200;

/** One message file. */
interface MessageRecord {
  id: string;
  body: unknown;
  sentAt: string;
  /** Epoch ms from which the message may be received. */
  visibleAt: number;
  receiveCount: number;
  receiptHandle?: string;
  /** Set on dead letters: when they were moved and how often the source had received them. */
  deadLetteredAt?: string;
  sourceReceiveCount?: number;
}

function checkReceiveOptions(options: ReceiveOptions): void {
  const { maxMessages, waitSeconds, visibilityTimeoutSeconds } = options;
  if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > 10) {
    throw new ValidationError('maxMessages must be an integer from 1 to 10');
  }
  if (!(waitSeconds >= 0 && waitSeconds <= 20)) throw new ValidationError('waitSeconds must be 0 to 20');
  checkVisibility(visibilityTimeoutSeconds);
}

function checkVisibility(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
    throw new ValidationError('visibility timeout must be an integer from 0 to 43200 seconds');
  }
}

/** Receive/delete/visibility over one message directory; base of the queue and its DLQ. */
class LocalQueueCore<Body> {
  readonly messagesDir: string;
  private readonly lockPath: string;

  constructor(
    readonly queueDir: string,
    protected readonly schema: z.ZodType<Body>,
    protected readonly clock: Clock,
    private readonly pollIntervalMs: number,
    /** Where messages go after too many receives; undefined for a DLQ itself. */
    private readonly deadLetter: { maxReceives: number; target: LocalQueueCore<Body> } | undefined,
    private readonly onUnreadable: ((message: UnreadableQueueMessage) => void) | undefined,
  ) {
    this.messagesDir = path.join(queueDir, 'messages');
    this.lockPath = path.join(queueDir, '.lock');
  }

  protected locked<T>(action: () => Promise<T>): Promise<T> {
    return withLock(this.lockPath, action);
  }

  private filePath(messageId: string): string {
    if (!/^msg_[0-9A-Z]{26}$/.test(messageId)) throw new MessageNotInFlightError('malformed receipt handle');
    return path.join(this.messagesDir, `${messageId}.json`);
  }

  private async readRecord(messageId: string): Promise<MessageRecord | undefined> {
    return (await readJsonIfExists(this.filePath(messageId))) as MessageRecord | undefined;
  }

  private writeRecord(record: MessageRecord): Promise<void> {
    return atomicWriteFile(this.filePath(record.id), JSON.stringify(record));
  }

  /** Stores a new message file (a new unique name, so no lock is needed). */
  async append(body: unknown, delaySeconds: number, extra: Partial<MessageRecord> = {}): Promise<string> {
    const now = this.clock.now();
    const record: MessageRecord = {
      id: newPrefixedId('msg', now),
      body,
      sentAt: now.toISOString(),
      visibleAt: now.getTime() + delaySeconds * 1000,
      receiveCount: 0,
      ...extra,
    };
    await this.writeRecord(record);
    return record.id;
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage<Body>[]> {
    checkReceiveOptions(options);
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      const messages = await this.locked(() => this.receiveNow(options));
      if (messages.length > 0 || Date.now() >= deadline) return messages;
      await sleep(Math.min(this.pollIntervalMs, Math.max(1, deadline - Date.now())));
    }
  }

  private async receiveNow(options: ReceiveOptions): Promise<ReceivedMessage<Body>[]> {
    const now = this.clock.now().getTime();
    const received: ReceivedMessage<Body>[] = [];
    for (const fileName of await listFiles(this.messagesDir)) {
      if (received.length >= options.maxMessages) break;
      if (!fileName.endsWith('.json')) continue;
      const record = await this.readRecord(fileName.slice(0, -'.json'.length));
      if (!record || record.visibleAt > now) continue;
      if (this.deadLetter && record.receiveCount >= this.deadLetter.maxReceives) {
        await this.deadLetter.target.append(record.body, 0, {
          deadLetteredAt: new Date(now).toISOString(),
          sourceReceiveCount: record.receiveCount,
        });
        await unlinkIfExists(this.filePath(record.id));
        continue;
      }
      record.receiveCount += 1;
      record.receiptHandle = `${record.id}.${toBase64Url(randomBytes(12))}`;
      record.visibleAt = now + options.visibilityTimeoutSeconds * 1000;
      await this.writeRecord(record);
      const parsed = this.schema.safeParse(record.body);
      if (!parsed.success) {
        await this.unreadable(record, parsed.error);
        continue;
      }
      received.push({
        messageId: record.id,
        body: parsed.data,
        receiptHandle: record.receiptHandle,
        receiveCount: record.receiveCount,
        sentAt: new Date(record.sentAt),
      });
    }
    return received;
  }

  /**
   * Reports a body that does not parse (the lock is held). On the source queue the message stays
   * hidden and dead-letters after maxReceives, like on SQS. On the DLQ (no `deadLetter` target)
   * it is deleted once reported: no consumer can act on it (the sweeper fails jobs named in
   * parsed bodies), so it would stay there for good; the report keeps its content. Unreported
   * (no `onUnreadable`), it is left in place rather than lost without a trace.
   */
  private async unreadable(record: MessageRecord, error: z.ZodError): Promise<void> {
    if (!this.onUnreadable) return;
    const [first] = toValidationIssues(error);
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    this.onUnreadable({
      queue: this.deadLetter ? 'source' : 'dead-letter',
      messageId: record.id,
      receiveCount: record.receiveCount,
      reason: `schema: ${where}${first?.message ?? 'unknown problem'}`,
      // Bodies are stored as JSON values, so the raw body is their JSON text.
      preview: (JSON.stringify(record.body) ?? '').slice(0, PREVIEW_CHARS),
    });
    if (!this.deadLetter) await unlinkIfExists(this.filePath(record.id));
  }

  private messageIdOf(receiptHandle: string): string {
    const messageId = receiptHandle.split('.', 1)[0] ?? '';
    this.filePath(messageId);
    return messageId;
  }

  async delete(receiptHandle: string): Promise<void> {
    const messageId = this.messageIdOf(receiptHandle);
    await this.locked(async () => {
      const record = await this.readRecord(messageId);
      // A stale handle (the message was received again since) leaves the message in place.
      if (record && record.receiptHandle === receiptHandle) await unlinkIfExists(this.filePath(messageId));
    });
  }

  async changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void> {
    checkVisibility(visibilityTimeoutSeconds);
    const messageId = this.messageIdOf(receiptHandle);
    await this.locked(async () => {
      const record = await this.readRecord(messageId);
      const now = this.clock.now().getTime();
      if (!record || record.receiptHandle !== receiptHandle || record.visibleAt <= now) {
        throw new MessageNotInFlightError(`message ${messageId} is not in flight under this receipt handle`);
      }
      record.visibleAt = now + visibilityTimeoutSeconds * 1000;
      await this.writeRecord(record);
    });
  }

  async stats(): Promise<QueueStats> {
    const now = this.clock.now().getTime();
    const stats: QueueStats = { visible: 0, inFlight: 0, delayed: 0 };
    for (const fileName of await listFiles(this.messagesDir)) {
      const record = (await readJsonIfExists(path.join(this.messagesDir, fileName))) as
        MessageRecord | undefined;
      if (!record) continue;
      if (record.visibleAt <= now) stats.visible += 1;
      else if (record.receiptHandle) stats.inFlight += 1;
      else stats.delayed += 1;
    }
    return stats;
  }
}

class LocalDeadLetterQueue<Body> extends LocalQueueCore<Body> implements DeadLetterQueue<Body> {
  source!: LocalQueueCore<Body>;

  async redrive(options: { maxMessages?: number } = {}): Promise<{ moved: number }> {
    let moved = 0;
    const limit = options.maxMessages ?? Number.POSITIVE_INFINITY;
    // Each message is written to the source before it leaves the DLQ: a crash in between can
    // duplicate one message (at-least-once) but never lose it. Chunks keep each lock hold short.
    while (moved < limit) {
      const batch = await this.locked(async () => {
        const now = this.clock.now().getTime();
        let count = 0;
        for (const fileName of await listFiles(this.messagesDir)) {
          if (moved + count >= limit || count >= 100) break;
          const messageId = fileName.slice(0, -'.json'.length);
          const record = (await readJsonIfExists(path.join(this.messagesDir, fileName))) as
            MessageRecord | undefined;
          if (!record || record.visibleAt > now) continue;
          await this.source.append(record.body, 0);
          await unlinkIfExists(path.join(this.messagesDir, `${messageId}.json`));
          count += 1;
        }
        return count;
      });
      if (batch === 0) break;
      moved += batch;
    }
    return { moved };
  }
}

/**
 * @example
 * ```ts
 * const queue = new LocalQueue({ dir: '.data/queues', name: 'jobs', schema: JobQueueMessageSchema, maxReceives: 3 });
 * await queue.send({ jobId, tenantId, batchKey });
 * ```
 */
export class LocalQueue<Body> extends LocalQueueCore<Body> implements MessageQueue<Body> {
  readonly deadLetters: DeadLetterQueue<Body>;

  constructor(options: LocalQueueOptions<Body>) {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(options.name)) {
      throw new ValidationError('queue name must be 1-80 letters, digits, "-" or "_"');
    }
    if (!Number.isInteger(options.maxReceives) || options.maxReceives < 1) {
      throw new ValidationError('maxReceives must be a positive integer');
    }
    const clock = options.clock ?? systemClock;
    const pollIntervalMs = options.pollIntervalMs ?? 100;
    const dlq = new LocalDeadLetterQueue<Body>(
      path.resolve(options.dir, `${options.name}.dlq`),
      options.schema,
      clock,
      pollIntervalMs,
      undefined,
      options.onUnreadable,
    );
    super(
      path.resolve(options.dir, options.name),
      options.schema,
      clock,
      pollIntervalMs,
      { maxReceives: options.maxReceives, target: dlq },
      options.onUnreadable,
    );
    dlq.source = this;
    this.deadLetters = dlq;
  }

  async send(body: Body, options: SendMessageOptions = {}): Promise<{ messageId: string }> {
    const delaySeconds = options.delaySeconds ?? 0;
    if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > 900) {
      throw new ValidationError('delaySeconds must be an integer from 0 to 900');
    }
    const valid = parseWith(this.schema, body, 'queue message');
    return { messageId: await this.append(valid, delaySeconds) };
  }
}
