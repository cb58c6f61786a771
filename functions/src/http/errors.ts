/**
 * JSON errors for every answer of the API: `{ error: { code, message, details? } }`, never HTML
 * and never a stack trace. Domain errors keep their code and status (see `toErrorResponse`);
 * anything else is logged with its stack and answered as a bare 500 `internal_error`, except a
 * client that went away mid-request (clientWentAway), which is no failure of ours.
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  DomainError,
  toErrorResponse,
  type ErrorResponseBody,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';

/** A request body that is not valid JSON. */
export class InvalidJsonError extends DomainError {
  readonly code = 'invalid_json';
  readonly httpStatus = 400;
}

/** A request that needs a body of another media type. */
export class WrongContentTypeError extends DomainError {
  readonly code = 'unsupported_media_type';
  readonly httpStatus = 415;
}

/** A domain error with a code chosen at the throw site (e.g. `upload_missing`, `idempotency_key_reused`). */
export class ApiError extends DomainError {
  constructor(
    readonly code: string,
    readonly httpStatus: number,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message, details ? { details } : undefined);
  }
}

/**
 * A 5xx that is a deliberate refusal, not a failure: load shedding such as 503
 * `too_many_uploads`. Logged at info without a stack, as a refused request is; an error line
 * with a stack would page someone for the server working as designed.
 */
export class RefusalError extends ApiError {}

/** Writes an error body with the status (`Cache-Control: no-store`, JSON). */
export function errorResponse(c: Context, status: number, body: ErrorResponseBody): Response {
  return c.json(body, status as ContentfulStatusCode, { 'cache-control': 'no-store' });
}

/**
 * Whether `error` is the client closing its connection before its request was read: Node's
 * HTTP server fails the body stream with `aborted` (ECONNRESET) or a premature close, and
 * @hono/node-server aborts the request's signal. Only errors of that kind count, so a real
 * failure that happens to follow a disconnect is still logged as one. Nobody is left to read
 * the answer; the log says what happened at info level rather than paging anyone.
 *
 * @example
 * ```ts
 * clientWentAway(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), c.req.raw); // true
 * clientWentAway(new Error('read ECONNRESET'), c.req.raw); // false: an outbound socket, say
 * ```
 */
export function clientWentAway(error: unknown, request: Request): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  return (
    (error.message === 'aborted' && code === 'ECONNRESET') ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (error.name === 'AbortError' && request.signal.aborted)
  );
}

/**
 * `app.onError`: maps thrown errors to JSON. Hono's own `HTTPException`s (none are thrown by
 * our code, but middleware might) keep their status with a generic code.
 */
export function jsonErrorHandler(logger: Logger): ErrorHandler {
  return (error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status;
      return errorResponse(c, status, {
        error: {
          code: status === 413 ? 'payload_too_large' : 'http_error',
          message: error.message || 'error',
        },
      });
    }
    if (clientWentAway(error, c.req.raw)) {
      logger.info('client went away', { method: c.req.method, path: c.req.path, reason: error.message });
      return errorResponse(c, 400, {
        error: {
          code: 'client_closed_request',
          message: 'the connection closed before the request was complete',
        },
      });
    }
    const { status, body } = toErrorResponse(error);
    if (error instanceof RefusalError) {
      logger.info('request refused', {
        method: c.req.method,
        path: c.req.path,
        status,
        code: body.error.code,
      });
    } else if (status >= 500) {
      logger.error('request failed', { method: c.req.method, path: c.req.path, ...errorFields(error, true) });
    } else {
      logger.debug('request refused', {
        method: c.req.method,
        path: c.req.path,
        status,
        code: body.error.code,
      });
    }
    if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="dr2e"');
    // Every 429 says when to come back (rate limits set it already; caps carry it in details).
    const retryAfter = body.error.details?.retryAfterSeconds;
    if (status === 429 && typeof retryAfter === 'number' && !c.res.headers.has('retry-after')) {
      c.header('Retry-After', String(retryAfter));
    }
    return errorResponse(c, status, body);
  };
}

/** A route as Hono lists it (`app.routes`): a method (or `ALL` for middleware) and a path pattern. */
export interface ListedRoute {
  method: string;
  path: string;
}

/** A route pattern (`/v1/jobs/:id/start`, `/static/*`) as a regular expression for a whole path. */
function patternOf(route: string): RegExp {
  const parts = route.split('/').map((part) => {
    if (part.startsWith(':')) return '[^/]+';
    if (part === '*') return '.*';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('/')}$`);
}

/**
 * `app.notFound`: unknown routes get the same JSON shape; a path that exists for other methods
 * (`PUT /v1/jobs`) gets `405 method_not_allowed` with `Allow` naming them, as HTTP asks, instead
 * of a 404 that reads as a wrong URL. `routes` is read at the first miss (the app's, once built).
 *
 * @example
 * ```ts
 * app.notFound(jsonNotFound(() => app.routes));
 * ```
 */
export function jsonNotFound(routes: () => readonly ListedRoute[]): NotFoundHandler {
  let byPattern: { pattern: RegExp; method: string }[] | undefined;
  return (c) => {
    const table = (byPattern ??= routes()
      .filter((route) => route.method !== 'ALL')
      .map((route) => ({ pattern: patternOf(route.path), method: route.method })));
    const methodsOf = (path: string) => [
      ...new Set(table.filter(({ pattern }) => pattern.test(path)).map((r) => r.method)),
    ];
    const allowed = methodsOf(c.req.path);
    // A route of this very method that answered "not found" itself is a 404, not a 405.
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    if (allowed.length > 0 && !allowed.includes(method)) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      c.header('Allow', allowed.join(', '));
      return errorResponse(c, 405, {
        error: {
          code: 'method_not_allowed',
          message: `${c.req.path} takes ${allowed.join(', ')}, not ${c.req.method}`,
          details: { allowed },
        },
      });
    }
    // Routes match exactly: `/v1/jobs/` is not `/v1/jobs`, and a hint says so.
    const trimmed = c.req.path.replace(/\/+$/, '');
    const slash = trimmed !== c.req.path && trimmed !== '' && methodsOf(trimmed).includes(method);
    return errorResponse(c, 404, {
      error: {
        code: 'not_found',
        message: `no route for ${c.req.method} ${c.req.path}${slash ? ` (without the trailing slash: ${trimmed})` : ''}`,
      },
    });
  };
}
