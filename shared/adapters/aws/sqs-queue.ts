/**
 * {@link MessageQueue} on Amazon SQS (AWS SDK v3; client injected).
 *
 * Dead-lettering is SQS's own: the source queue's `RedrivePolicy` (`maxReceiveCount`,
 * `deadLetterTargetArn`), set by the infrastructure, moves a message that was received too
 * often. This adapter only needs the DLQ's URL to inspect, delete and redrive dead letters.
 * Redrive receives from the DLQ, sends to the source, then deletes from the DLQ, so it works
 * with any SQS-compatible server (a crash in between can duplicate, never lose, a message).
 *
 * A body that does not parse is never returned; `onUnreadable` hears of it on every receive. On
 * the source queue it stays hidden and dead-letters; on the DLQ it is deleted once reported.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { MessageNotInFlightError, ValidationError } from '../../src/errors.js';
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
import { hasErrorName } from './s3-errors.js';

export interface SqsQueueOptions<Body> {
  client: SQSClient;
  queueUrl: string;
  /** URL of the queue named in the source queue's RedrivePolicy. */
  deadLetterQueueUrl: string;
  /** Validates bodies on send and receive (e.g. `JobQueueMessageSchema`). */
  schema: z.ZodType<Body>;
  /**
   * Hears of every received body that does not parse, on the queue and on its DLQ (where the
   * message is deleted once reported: no job can be failed for it, and the report keeps its
   * content). Without it, such a message is skipped silently and stays in the DLQ. Must not throw.
   */
  onUnreadable?: (message: UnreadableQueueMessage) => void;
}

/** How much of an unreadable body a report carries. */
const PREVIEW_CHARS = 200;

type ParseResult<Body> = { ok: true; body: Body } | { ok: false; reason: string };

function checkReceiveOptions(options: ReceiveOptions): void {
  if (!Number.isInteger(options.maxMessages) || options.maxMessages < 1 || options.maxMessages > 10) {
    throw new ValidationError('maxMessages must be an integer from 1 to 10');
  }
  if (!Number.isInteger(options.waitSeconds) || options.waitSeconds < 0 || options.waitSeconds > 20) {
    throw new ValidationError('waitSeconds must be an integer from 0 to 20');
  }
}

/** Receive, delete, visibility and stats of one SQS queue. */
class SqsQueueCore<Body> {
  constructor(
    protected readonly client: SQSClient,
    readonly queueUrl: string,
    protected readonly schema: z.ZodType<Body>,
    private readonly onUnreadable: ((message: UnreadableQueueMessage) => void) | undefined,
    /** Which side this is, for reports; the DLQ deletes what it reports. */
    private readonly side: UnreadableQueueMessage['queue'],
  ) {}

  async receive(options: ReceiveOptions): Promise<ReceivedMessage<Body>[]> {
    checkReceiveOptions(options);
    const raw = await this.receiveRaw(options);
    const received: ReceivedMessage<Body>[] = [];
    for (const message of raw) {
      if (!message.ReceiptHandle || !message.MessageId) continue;
      const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
      const parsed = this.parseBody(message.Body);
      if (!parsed.ok) {
        await this.unreadable(
          message.MessageId,
          message.ReceiptHandle,
          receiveCount,
          parsed.reason,
          message.Body,
        );
        continue;
      }
      received.push({
        messageId: message.MessageId,
        body: parsed.body,
        receiptHandle: message.ReceiptHandle,
        receiveCount,
        sentAt: new Date(Number(message.Attributes?.SentTimestamp ?? Date.now())),
      });
    }
    return received;
  }

  /**
   * Reports a body that does not parse. On the source queue the message stays invisible and
   * reaches the DLQ through the redrive policy. On the DLQ it is deleted once reported: no
   * consumer can act on it (the sweeper fails jobs named in parsed bodies), so it would stay for
   * the whole retention period and keep the dead-letter alarm on; the report keeps its content.
   * Unreported (no `onUnreadable`), it is left in place rather than lost without a trace.
   */
  private async unreadable(
    messageId: string,
    receiptHandle: string,
    receiveCount: number,
    reason: string,
    body: string | undefined,
  ): Promise<void> {
    if (!this.onUnreadable) return;
    this.onUnreadable({
      queue: this.side,
      messageId,
      receiveCount,
      reason,
      preview: (body ?? '').slice(0, PREVIEW_CHARS),
    });
    if (this.side === 'dead-letter') await this.delete(receiptHandle);
  }

  protected async receiveRaw(options: ReceiveOptions): Promise<Message[]> {
    const response = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: options.maxMessages,
        WaitTimeSeconds: options.waitSeconds,
        VisibilityTimeout: options.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        // The older spelling of the same request; some SQS-compatible servers only read this one.
        AttributeNames: ['All'],
      }),
    );
    return response.Messages ?? [];
  }

  private parseBody(text: string | undefined): ParseResult<Body> {
    if (text === undefined) return { ok: false, reason: 'no body' };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'not JSON' };
    }
    const parsed = this.schema.safeParse(json);
    if (parsed.success) return { ok: true, body: parsed.data };
    const [first] = toValidationIssues(parsed.error);
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    return { ok: false, reason: `schema: ${where}${first?.message ?? 'unknown problem'}` };
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.client.send(
      new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle }),
    );
  }

  async changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: visibilityTimeoutSeconds,
        }),
      );
    } catch (error) {
      if (
        hasErrorName(
          error,
          'MessageNotInflight',
          'ReceiptHandleIsInvalid',
          'AWS.SimpleQueueService.MessageNotInflight',
        )
      ) {
        throw new MessageNotInFlightError('message is not in flight under this receipt handle', {
          cause: error,
        });
      }
      throw error;
    }
  }

  async stats(): Promise<QueueStats> {
    const response = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const attributes = response.Attributes ?? {};
    return {
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }
}

class SqsDeadLetterQueue<Body> extends SqsQueueCore<Body> implements DeadLetterQueue<Body> {
  constructor(
    client: SQSClient,
    queueUrl: string,
    schema: z.ZodType<Body>,
    onUnreadable: ((message: UnreadableQueueMessage) => void) | undefined,
    private readonly sourceQueueUrl: string,
  ) {
    super(client, queueUrl, schema, onUnreadable, 'dead-letter');
  }

  async redrive(options: { maxMessages?: number } = {}): Promise<{ moved: number }> {
    const limit = options.maxMessages ?? Number.POSITIVE_INFINITY;
    let moved = 0;
    while (moved < limit) {
      // A short long-poll: SQS short polls sample a subset of servers and may miss messages.
      const batch = await this.receiveRaw({
        maxMessages: Math.min(10, limit - moved),
        waitSeconds: 1,
        visibilityTimeoutSeconds: 60,
      });
      if (batch.length === 0) break;
      for (const message of batch) {
        // Moved as is, even if the body does not parse: redrive is an operator's decision.
        await this.client.send(
          new SendMessageCommand({ QueueUrl: this.sourceQueueUrl, MessageBody: message.Body ?? '' }),
        );
        if (message.ReceiptHandle) await this.delete(message.ReceiptHandle);
        moved += 1;
      }
    }
    return { moved };
  }
}

/**
 * @example
 * ```ts
 * const queue = new SqsQueue({ client: new SQSClient({}), queueUrl: env.JOBS_QUEUE_URL,
 *   deadLetterQueueUrl: env.JOBS_DLQ_URL, schema: JobQueueMessageSchema });
 * ```
 */
export class SqsQueue<Body> extends SqsQueueCore<Body> implements MessageQueue<Body> {
  readonly deadLetters: DeadLetterQueue<Body>;

  constructor(options: SqsQueueOptions<Body>) {
    super(options.client, options.queueUrl, options.schema, options.onUnreadable, 'source');
    this.deadLetters = new SqsDeadLetterQueue(
      options.client,
      options.deadLetterQueueUrl,
      options.schema,
      options.onUnreadable,
      options.queueUrl,
    );
  }

  async send(body: Body, options: SendMessageOptions = {}): Promise<{ messageId: string }> {
    const valid = parseWith(this.schema, body, 'queue message');
    const response = await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(valid),
        DelaySeconds: options.delaySeconds,
      }),
    );
    return { messageId: response.MessageId ?? '' };
  }
}
