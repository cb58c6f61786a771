/**
 * The worker logs exactly like the API (one JSON object per line: `level`, `time`, `msg`, then
 * fields; every line about a job carries `jobId`), so `npm start`, which runs both in one
 * process, writes one uniform stream, and `jq 'select(.jobId == "job_...")'` follows a job from
 * upload to webhook. The implementation lives with the API's (functions/src/log.ts).
 *
 * @example
 * ```ts
 * const log = createJsonLogger({ level: 'info', base: { service: 'worker' } });
 * log.child({ jobId }).info('job claimed', { attempt: 1 });
 * ```
 */
export {
  createJsonLogger,
  errorFields,
  silentLogger,
  type JsonLoggerOptions,
  type LogFields,
  type Logger,
  type LogLevel,
} from '../../../functions/src/log.js';
