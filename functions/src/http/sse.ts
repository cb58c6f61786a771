/**
 * Server-sent events framing (the `text/event-stream` format of the HTML standard): one event is
 * `event:`/`id:`/`data:` lines ended by a blank line; lines starting with `:` are comments that
 * keep idle connections open through proxies.
 */

/** One event to send. `data` is serialised as JSON on a single line. */
export interface ServerSentEvent {
  event: string;
  data: unknown;
  id?: string;
  /** Reconnection delay hint for `EventSource` clients, in milliseconds. */
  retryMs?: number;
}

/**
 * The wire text of one event.
 *
 * @example
 * ```ts
 * formatServerSentEvent({ event: 'status', id: '3', data: { status: 'running' } });
 * // 'event: status\nid: 3\ndata: {"status":"running"}\n\n'
 * ```
 */
export function formatServerSentEvent(message: ServerSentEvent): string {
  const lines = [`event: ${singleLine(message.event)}`];
  if (message.id !== undefined) lines.push(`id: ${singleLine(message.id)}`);
  if (message.retryMs !== undefined) lines.push(`retry: ${Math.max(0, Math.round(message.retryMs))}`);
  // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
  lines.push(`data: ${JSON.stringify(message.data)}`);
  return `${lines.join('\n')}\n\n`;
}

/** A comment line (ignored by clients; keeps the connection from idling out). */
export function formatServerSentComment(text: string): string {
  return `: ${singleLine(text)}\n\n`;
}

function singleLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
