/**
 * The HTTP API (Hono): the app and its services, and the Node server that the local stack runs.
 * The Lambda handlers under `entry/` are bundled on their own (infra names their files); other
 * code imports this module, not the files beside it.
 */
export {
  type AppOptions,
  appOptionsFromConfig,
  type AppServices,
  createApp,
  createDispatcher,
  createExpiry,
  createJobWebhooks,
  DEFAULT_APP_OPTIONS,
} from './app.js';
export { type ApiServer, startApiServer, type StartApiServerOptions } from './entry/node-server.js';
/** The codes a refused upload fails its job with (job metrics count them as `rejected`). */
export { UPLOAD_ERROR_CODES } from './services/uploads.js';
