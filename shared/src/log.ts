/**
 * Structured logs: one JSON object per line on stdout (CloudWatch and `jq` read them as is),
 * with `level`, `time`, `msg` and the fields given. Every line about a job carries `jobId`
 * (use `logger.child({ jobId })`).
 *
 * @example
 * ```ts
 * const log = createJsonLogger({ level: 'info', base: { service: 'api' } });
 * log.child({ jobId }).info('job queued', { batchKey });
 * // {"level":"info","time":"2025-01-01T00:00:00.000Z","msg":"job queued","service":"api","jobId":"job_...","batchKey":"..."}
 * ```
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  level?: LogLevel;
  base?: LogFields;
  /** Where lines go (default: `console.log`, i.e. stdout). */
  write?: (line: string) => void;
}

/** Error objects as plain fields (name, message, code; the stack only at debug level). */
export function errorFields(error: unknown, withStack = false): LogFields {
  if (!(error instanceof Error)) return { error: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    error: `${error.name}: ${error.message}`,
    ...(typeof code === 'string' ? { errorCode: code } : {}),
    ...(withStack && error.stack ? { stack: error.stack } : {}),
  };
}

export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => console.log(line));
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (LEVELS[level] < threshold) return;
      let line: string;
      try {
        line = JSON.stringify({ level, time: new Date().toISOString(), msg, ...base, ...fields });
      } catch {
        line = JSON.stringify({ level, time: new Date().toISOString(), msg, ...base, unserializable: true });
      }
      write(line);
    };
    return {
      debug: (msg, fields) => emit('debug', msg, fields),
      info: (msg, fields) => emit('info', msg, fields),
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.base ?? {});
}

/** Drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
