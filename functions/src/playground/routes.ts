/**
 * The playground: one page at `/` and `/playground` where a person pastes an API key, drops a
 * photo and compares the restored result, using the public API exactly as any client does. The
 * script and styles are bundled from `client/` by esbuild into `assets.generated.ts`
 * (`npm run build:playground`), so the Lambda bundle and the local server serve the same bytes
 * and nothing is fetched from a CDN.
 *
 * Every page answer carries a strict Content-Security-Policy: scripts and styles from this
 * origin only, no inline code, network access to this origin and the storage origins (presigned
 * uploads and output links) only, images from this origin and `blob:` (outputs are fetched and
 * shown as object URLs).
 */
import { Hono } from 'hono';
import { PLAYGROUND_ASSET_HASH, PLAYGROUND_SCRIPT, PLAYGROUND_STYLES } from './assets.generated.js';
import { playgroundHtml, type PlaygroundPageConfig } from './page.js';

export interface PlaygroundRoutesOptions {
  mode: 'local' | 'aws';
  /** Origins of presigned uploads and output links (e.g. `https://bucket.s3.eu-west-1.amazonaws.com`). */
  storageOrigins: readonly string[];
}

/** Path of the page's script and stylesheet (the hash makes them safe to cache for long). */
export const PLAYGROUND_SCRIPT_PATH = `/playground/app-${PLAYGROUND_ASSET_HASH}.js`;
export const PLAYGROUND_STYLES_PATH = `/playground/app-${PLAYGROUND_ASSET_HASH}.css`;

/**
 * Origins a browser reaches a bucket at through presigned POSTs and GETs (virtual-hosted style,
 * regional and global endpoint).
 *
 * @example s3BucketOrigins('data-bucket', 'eu-west-1')
 * // ['https://data-bucket.s3.eu-west-1.amazonaws.com', 'https://data-bucket.s3.amazonaws.com']
 */
export function s3BucketOrigins(bucket: string, region: string | undefined): string[] {
  const regional = region ? [`https://${bucket}.s3.${region}.amazonaws.com`] : [];
  return [...regional, `https://${bucket}.s3.amazonaws.com`];
}

/** The Content-Security-Policy of the page. */
export function playgroundCsp(storageOrigins: readonly string[]): string {
  const connect = ["'self'", ...storageOrigins].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * @example
 * ```ts
 * app.route('/', playgroundRoutes({ mode: 'local', storageOrigins: [] }));
 * // GET / -> text/html page; GET /playground/app-<hash>.js -> the bundled script
 * ```
 */
export function playgroundRoutes(options: PlaygroundRoutesOptions): Hono {
  const routes = new Hono();
  const config: PlaygroundPageConfig = {
    // HTTP API buffers streamed Lambda answers, so the AWS page polls (see routes/job-events.ts).
    progress: options.mode === 'aws' ? 'poll' : 'events',
    scriptPath: PLAYGROUND_SCRIPT_PATH,
    stylesPath: PLAYGROUND_STYLES_PATH,
  };
  const html = playgroundHtml(config);
  const securityHeaders = {
    'content-security-policy': playgroundCsp(options.storageOrigins),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  const page = () =>
    new Response(html, {
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        ...securityHeaders,
      },
    });
  routes.get('/', page);
  routes.get('/playground', page);
  const immutable = 'public, max-age=31536000, immutable';
  routes.get(
    PLAYGROUND_SCRIPT_PATH,
    () =>
      new Response(PLAYGROUND_SCRIPT, {
        headers: {
          'content-type': 'text/javascript; charset=utf-8',
          'cache-control': immutable,
          ...securityHeaders,
        },
      }),
  );
  routes.get(
    PLAYGROUND_STYLES_PATH,
    () =>
      new Response(PLAYGROUND_STYLES, {
        headers: {
          'content-type': 'text/css; charset=utf-8',
          'cache-control': immutable,
          ...securityHeaders,
        },
      }),
  );
  return routes;
}
