/**
 * The local stack (`npm start`): API, worker and webhook delivery in one process, plus the
 * small HTTP client and webhook receiver that the demo script and the end-to-end tests drive it
 * with. Only entry points (scripts, tests) import this module.
 */
export {
  localConfig,
  type LocalStack,
  startLocalStack,
  type StartLocalStackOptions,
  usageText,
} from './main.js';
export { ApiError, type CreatedJob, Dr2eClient, type Dr2eClientOptions } from './client.js';
export {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from './webhook-receiver.js';
