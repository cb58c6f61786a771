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
