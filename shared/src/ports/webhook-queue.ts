/**
 * Port: the queue of webhook deliveries (SQS in AWS, a local directory queue locally), separate
 * from the job queue so a slow or dead receiver never holds an API request, a GPU worker or a
 * job message. Same semantics as {@link MessageQueue}: at least once, delays up to 15 minutes,
 * a dead-letter queue for messages whose consumer kept crashing.
 *
 * @example Queueing the first attempt of a job's terminal event
 * ```ts
 * await webhookQueue.send({ jobId, tenantId, event: 'job.succeeded', round: 1, attempt: 1 });
 * ```
 */
import type { WebhookDeliveryMessage } from '../schemas.js';
import type { MessageQueue } from './job-queue.js';

export type WebhookQueue = MessageQueue<WebhookDeliveryMessage>;
