/**
 * Node-only adapters of the domain ports: the webhook sender that resolves the target host
 * and refuses private addresses before connecting. Import this module, not the files beside it.
 */
export * from './guarded-webhook-sender.js';
