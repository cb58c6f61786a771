/**
 * The API's error handler: a client that closes its connection mid-request is logged at info
 * and answered 400 `client_closed_request`, while a real failure keeps its error line and 500.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { clientWentAway, jsonErrorHandler } from '../../../functions/src/http/errors.js';
import type { LogFields, Logger } from '../../../shared/src/index.js';

type Line = { level: string; msg: string; fields?: LogFields };

/** A logger that keeps its lines. */
function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (msg: string, fields?: LogFields): void => {
      lines.push({ level, msg, ...(fields ? { fields } : {}) });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

/** What Node's HTTP server throws from a request body whose client hung up. */
const nodeAbort = (): Error => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });

function appThrowing(error: () => Error, lines: Line[]): Hono {
  const app = new Hono();
  app.post('/upload', () => {
    throw error();
  });
  app.onError(jsonErrorHandler(recordingLogger(lines)));
  return app;
}

describe('jsonErrorHandler', () => {
  it('logs a client that hung up mid-upload at info and answers client_closed_request', async () => {
    // Prepare
    const lines: Line[] = [];
    const app = appThrowing(nodeAbort, lines);
    // Act
    const response = await app.request('/upload', { method: 'POST', body: 'partial' });
    // Assess
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('client_closed_request');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['info', 'client went away']]);
  });

  it('still logs an unexpected failure at error with a 500, an outbound connection reset included', async () => {
    // Prepare
    const lines: Line[] = [];
    const app = appThrowing(() => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), lines);
    // Act
    const response = await app.request('/upload', { method: 'POST', body: 'x' });
    // Assess
    expect(response.status).toBe(500);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['error', 'request failed']]);
  });
});

describe('clientWentAway', () => {
  it("counts an AbortError only when the request's own signal was aborted", () => {
    const gone = new AbortController();
    gone.abort();
    const abortError = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    expect(clientWentAway(abortError, new Request('http://x/', { signal: gone.signal }))).toBe(true);
    expect(clientWentAway(abortError, new Request('http://x/'))).toBe(false);
    expect(clientWentAway(nodeAbort(), new Request('http://x/'))).toBe(true);
    expect(clientWentAway('aborted', new Request('http://x/'))).toBe(false);
  });
});
