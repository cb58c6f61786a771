/** Shared set-up for the API tests: local services in a temp dir, requests, upload forms, images. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { UploadForm } from '../../shared/src/index.js';
import {
  loadRuntimeConfig,
  type RuntimeConfig,
  createServices,
  type ServiceOverrides,
  type Services,
} from '../../shared/runtime/index.js';
import { appOptionsFromConfig, createApp, type AppOptions } from '../../functions/src/app.js';

export const KEY_A = 'dr2e_sk_test_tenant_a_key';
export const KEY_B = 'dr2e_sk_test_tenant_b_key';

export interface LocalHarness {
  dir: string;
  config: RuntimeConfig;
  services: Services;
  app: Hono;
  /** `app.request` with a bearer key (or none) and an optional JSON body. */
  call(method: string, urlPath: string, options?: CallOptions): Promise<Response>;
  close(): Promise<void>;
}

export interface CallOptions {
  key?: string | null;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

/**
 * Local services in a fresh temp dir, tenants A and B, and the app. The public URL is a fake
 * base (`http://dr2e.test`): local upload forms point there and are posted with `app.request`.
 */
export async function localHarness(
  options: { env?: Record<string, string>; overrides?: ServiceOverrides; app?: Partial<AppOptions> } = {},
): Promise<LocalHarness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dr2e-api-test-'));
  const config = loadRuntimeConfig({
    DR2E_DATA_DIR: dir,
    DR2E_API_KEYS: `${KEY_A},${KEY_B}`,
    DR2E_LOG_LEVEL: 'error',
    ...options.env,
  });
  const services = await createServices(config, { publicUrl: 'http://dr2e.test', ...options.overrides });
  const app = createApp(services, appOptionsFromConfig(config, { accessLog: false, ...options.app }));
  return {
    dir,
    config,
    services,
    app,
    call: (method, urlPath, call = {}) => {
      const headers: Record<string, string> = { ...call.headers };
      const key = call.key === undefined ? KEY_A : call.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body = call.body;
      if (call.json !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = JSON.stringify(call.json);
      }
      return Promise.resolve(
        app.request(urlPath, { method, headers, ...(body === undefined ? {} : { body }) }),
      );
    },
    close: async () => {
      await services.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The multipart body a client builds from an upload form (file last, in `file`). */
export function uploadFormData(form: UploadForm, bytes: Uint8Array, contentType: string): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  if (!('Content-Type' in form.fields)) body.append('Content-Type', contentType);
  body.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), 'photo');
  return body;
}

/** A small valid PNG (a grey square). */
export async function pngBytes(size = 32): Promise<Uint8Array> {
  const buffer = await sharp({
    create: { width: size, height: size, channels: 3, background: { r: 120, g: 110, b: 100 } },
  })
    .png()
    .toBuffer();
  return new Uint8Array(buffer);
}

/** Parsed JSON body of a response (typed loosely on purpose: tests assert the shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test convenience for asserting shapes
export async function json(response: Response): Promise<any> {
  return response.json();
}

/**
 * Asserts the API's answer to an invalid request: 400 `validation_failed` with an issue at `path`
 * (dot-joined, `''` for the body itself).
 */
export async function expectValidationFailure(response: Response, path: string): Promise<void> {
  expect(response.status).toBe(400);
  const error = (await json(response)).error;
  expect(error.code).toBe('validation_failed');
  expect(error.details.issues.map((issue: { path: string[] }) => issue.path.join('.'))).toContain(path);
}
