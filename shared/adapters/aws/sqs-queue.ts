/**
 * {@link MessageQueue} on Amazon SQS (AWS SDK v3; client injected).
 *
 * Dead-lettering is SQS's own: the source queue's `RedrivePolicy` (`maxReceiveCount`,
 * `deadLetterTargetArn`), set by the infrastructure, moves a message that was received too
 * often. This adapter only needs the DLQ's URL to inspect, delete and redrive dead letters.
 * Redrive receives from the DLQ, sends to the source, then deletes from the DLQ, so it works
 * with any SQS-compatible server (a crash in between can duplicate, never lose, a message).
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
} from '../../src/ports/job-queue.js';
import { parseWith } from '../../src/schemas.js';
import { hasErrorName } from './s3-errors.js';

export interface SqsQueueOptions<Body> {
  client: SQSClient;
  queueUrl: string;
  /** URL of the queue named in the source queue's RedrivePolicy. */
  deadLetterQueueUrl: string;
  /** Validates bodies on send and receive (e.g. `JobQueueMessageSchema`). */
  schema: z.ZodType<Body>;
}

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
  ) {}

  async receive(options: ReceiveOptions): Promise<ReceivedMessage<Body>[]> {
    checkReceiveOptions(options);
    const raw = await this.receiveRaw(options);
    const received: ReceivedMessage<Body>[] = [];
    for (const message of raw) {
      const parsed = this.parseBody(message.Body);
      // A body that does not parse stays invisible and reaches the DLQ through the redrive policy.
      if (parsed === undefined || !message.ReceiptHandle || !message.MessageId) continue;
      received.push({
        messageId: message.MessageId,
        body: parsed,
        receiptHandle: message.ReceiptHandle,
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? '1'),
        sentAt: new Date(Number(message.Attributes?.SentTimestamp ?? Date.now())),
      });
    }
    return received;
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

  private parseBody(text: string | undefined): Body | undefined {
    if (text === undefined) return undefined;
    try {
      const parsed = this.schema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
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
    private readonly sourceQueueUrl: string,
  ) {
    super(client, queueUrl, schema);
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
    super(options.client, options.queueUrl, options.schema);
    this.deadLetters = new SqsDeadLetterQueue(
      options.client,
      options.deadLetterQueueUrl,
      options.schema,
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
