/**
 * A stand-in for the local API's upload and download routes (the real ones live in
 * `functions/`): enough to drive FilesystemBlobStore forms and links end to end in tests.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { FilesystemBlobStore } from '../../../shared/adapters/local/fs-blob-store.js';
import { toErrorResponse } from '../../../shared/src/errors.js';

export interface LocalBlobRoutes {
  baseUrl: string;
  /** Points the routes at a store (created after the server, as it needs the URLs). */
  use(store: FilesystemBlobStore): void;
  close(): Promise<void>;
}

export async function startLocalBlobRoutes(): Promise<LocalBlobRoutes> {
  let store: FilesystemBlobStore | undefined;
  const app = new Hono();
  app.onError((error, c) => {
    const { status, body } = toErrorResponse(error);
    return c.json(body, status as 400);
  });
  app.post('/local-upload', async (c) => {
    const form = await c.req.parseBody();
    const file = form.file;
    if (!(file instanceof File)) return c.json({ error: { code: 'no_file' } }, 400);
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(form)) if (typeof value === 'string') fields[name] = value;
    const { key, contentType } = await store!.verifyUploadForm(fields, { size: file.size });
    await store!.put(key, new Uint8Array(await file.arrayBuffer()), { contentType });
    return c.body(null, 204);
  });
  app.get('/local-download', async (c) => {
    const { key } = await store!.verifyDownloadUrl(c.req.url);
    const blob = await store!.get(key);
    if (!blob) return c.json({ error: { code: 'not_found' } }, 404);
    return c.body(new Uint8Array(blob.body), 200, {
      'content-type': blob.contentType ?? 'application/octet-stream',
    });
  });

  const server: ServerType = await new Promise((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    use: (next) => (store = next),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
