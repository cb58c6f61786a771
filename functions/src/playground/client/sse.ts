/**
 * A small `text/event-stream` parser for `fetch` bodies: `EventSource` cannot send an
 * `Authorization` header, and the API key must not travel in the URL.
 */

export interface ParsedEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Feeds text chunks in, gets whole events out (comments and `retry:` lines are dropped).
 *
 * @example
 * ```ts
 * const parser = new EventStreamParser();
 * parser.push('event: status\ndata: {"a":1}\n\nevent: pro'); // [{ event: 'status', data: '{"a":1}' }]
 * parser.push('gress\ndata: {}\n\n'); // [{ event: 'progress', data: '{}' }]
 * ```
 */
export class EventStreamParser {
  private buffer = '';

  push(chunk: string): ParsedEvent[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const events: ParsedEvent[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const parsed = parseBlock(block);
      if (parsed) events.push(parsed);
    }
    return events;
  }
}

function parseBlock(block: string): ParsedEvent | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (data.length === 0) return undefined;
  return id === undefined ? { event, data: data.join('\n') } : { event, data: data.join('\n'), id };
}
