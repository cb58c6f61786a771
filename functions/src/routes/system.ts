/** Unauthenticated routes: `GET /healthz` and `GET /openapi.json`. */
import { Hono } from 'hono';
import { buildOpenApiDocument } from '../openapi.js';

export function systemRoutes(options: { mode: 'local' | 'aws'; version: string; serverUrl?: string }): Hono {
  const routes = new Hono();
  routes.get('/healthz', (c) => {
    c.header('cache-control', 'no-store');
    return c.json({ status: 'ok' as const, mode: options.mode, version: options.version });
  });
  routes.get('/openapi.json', (c) =>
    c.json(
      buildOpenApiDocument({
        version: options.version,
        ...(options.serverUrl ? { serverUrl: options.serverUrl } : {}),
      }),
    ),
  );
  return routes;
}
