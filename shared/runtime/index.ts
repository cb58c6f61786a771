/**
 * The Node runtime wiring of the service, shared by every entry point (local server, Lambda
 * handlers, GPU worker) and by the CDK stack: configuration from environment variables, the
 * services (stores, queues, tenants) built from it, and the webhook delivery consumer.
 * Import this module, not the files beside it.
 */
export * from './config.js';
export * from './services.js';
export * from './webhook-consumer.js';
