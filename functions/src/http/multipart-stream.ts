/**
 * A streaming reader of `multipart/form-data` bodies (RFC 7578) for the local upload route:
 * parts are read in order, text fields into small strings, a file part straight into a sink
 * chunk by chunk, so a 25 MB upload never sits in memory. Only what the route needs: no nested
 * multiparts, no transfer encodings inside parts.
 *
 * @example
 * ```ts
 * const parts = new MultipartStream(request.body!, boundaryOf(contentType)!, { maxBodyBytes });
 * for (let part = await parts.next(); part; part = await parts.next()) {
 *   if (part.name !== 'file') fields[part.name] = await parts.readText(8192);
 *   else await parts.pipe((chunk) => file.write(chunk), maxBytes);
 * }
 * ```
 */
import { PayloadTooLargeError, ValidationError } from '../../../shared/src/index.js';

/** One part's headers, as the reader saw them. */
export interface MultipartPart {
  /** `name` of `Content-Disposition: form-data; name="..."`. */
  name: string;
  filename?: string;
  /** The part's `Content-Type`, lower-cased, parameters dropped. */
  contentType?: string;
}

/** The `boundary` parameter of a multipart Content-Type, or undefined. */
export function boundaryOf(contentType: string): string | undefined {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
/** Part headers are a few hundred bytes; more is not a form we issued. */
const MAX_HEADER_BYTES = 8 * 1024;

export class MultipartStream {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** `\r\n--boundary`: ends every part body. */
  private readonly delimiter: Buffer;
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private received = 0;
  /** Inside a part body that has not been consumed. */
  private inBody = false;
  private finished = false;
  private started = false;

  constructor(
    body: ReadableStream<Uint8Array>,
    boundary: string,
    private readonly options: { maxBodyBytes: number },
  ) {
    this.reader = body.getReader();
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** Bytes of the body received so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /** Reads one more chunk into the buffer; false at the end of the body. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const { done, value } = await this.reader.read();
    if (done) {
      this.ended = true;
      return false;
    }
    this.received += value.byteLength;
    if (this.received > this.options.maxBodyBytes) {
      throw new PayloadTooLargeError(`upload body is over ${this.options.maxBodyBytes} bytes`);
    }
    // A view of the chunk (no copy); only a leftover tail is ever joined to it.
    const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return true;
  }

  private malformed(why: string): never {
    throw new ValidationError(`malformed multipart/form-data body: ${why}`);
  }

  /** The next part's headers, or undefined after the last part. Skips an unread body. */
  async next(): Promise<MultipartPart | undefined> {
    if (this.finished) return undefined;
    if (this.inBody) await this.pipe(async () => undefined, Number.MAX_SAFE_INTEGER);
    if (!this.started) {
      // The body starts with `--boundary` (a preamble is allowed before a CRLF): treat the
      // start as if a CRLF preceded it, so one delimiter search covers both cases.
      this.buffer = Buffer.concat([CRLF, this.buffer]);
      let at: number;
      while ((at = this.buffer.indexOf(this.delimiter)) < 0) {
        if (this.buffer.length > MAX_HEADER_BYTES) this.malformed('no opening boundary');
        if (!(await this.fill())) this.malformed('no opening boundary');
      }
      this.buffer = this.buffer.subarray(at + this.delimiter.length);
      this.started = true;
    }
    // After a delimiter: `--` ends the body, CRLF starts a part.
    while (this.buffer.length < 2) if (!(await this.fill())) this.malformed('cut after a boundary');
    if (this.buffer[0] === 0x2d && this.buffer[1] === 0x2d) {
      this.finished = true;
      return undefined;
    }
    let end: number;
    while ((end = this.buffer.indexOf(HEADER_END)) < 0) {
      if (this.buffer.length > MAX_HEADER_BYTES) this.malformed('part headers too long');
      if (!(await this.fill())) this.malformed('cut inside part headers');
    }
    const headerText = this.buffer.subarray(0, end).toString('latin1');
    this.buffer = this.buffer.subarray(end + HEADER_END.length);
    this.inBody = true;
    return parsePartHeaders(headerText) ?? this.malformed('a part without a form-data name');
  }

  /**
   * Streams the current part's body to `sink` (awaited per chunk: backpressure) and returns
   * its length.
   *
   * @throws {PayloadTooLargeError} once the part exceeds `maxBytes` (the sink has seen at most
   * `maxBytes` bytes), naming the part as `what` says (so a client told "too large" knows which).
   */
  async pipe(
    sink: (chunk: Uint8Array) => Promise<unknown>,
    maxBytes: number,
    what = 'the file',
  ): Promise<number> {
    if (!this.inBody) this.malformed('no part to read');
    let length = 0;
    const emit = async (chunk: Buffer) => {
      if (chunk.length === 0) return;
      length += chunk.length;
      if (length > maxBytes) throw new PayloadTooLargeError(`${what} is over the limit of ${maxBytes} bytes`);
      await sink(chunk);
    };
    for (;;) {
      const at = this.buffer.indexOf(this.delimiter);
      if (at >= 0) {
        await emit(this.buffer.subarray(0, at));
        this.buffer = this.buffer.subarray(at + this.delimiter.length);
        this.inBody = false;
        return length;
      }
      // Keep a tail that could be the start of a delimiter split across chunks.
      const safe = this.buffer.length - (this.delimiter.length - 1);
      if (safe > 0) {
        await emit(this.buffer.subarray(0, safe));
        this.buffer = this.buffer.subarray(safe);
      }
      if (!(await this.fill())) this.malformed('cut inside a part');
    }
  }

  /** The current part's body as UTF-8 text; `what` names it in a too-large error. */
  async readText(maxBytes: number, what = 'a text field'): Promise<string> {
    const chunks: Uint8Array[] = [];
    await this.pipe(async (chunk) => chunks.push(Buffer.from(chunk)), maxBytes, what);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Stops reading (the rest of the body is discarded by the server). */
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

function parsePartHeaders(text: string): MultipartPart | undefined {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const header = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (header === 'content-disposition') {
      if (!/^form-data\s*(;|$)/i.test(value)) return undefined;
      name = /;\s*name="([^"]*)"/i.exec(value)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(value)?.[1];
      filename = /;\s*filename="([^"]*)"/i.exec(value)?.[1];
    } else if (header === 'content-type') {
      contentType = value.split(';')[0]?.trim().toLowerCase();
    }
  }
  if (name === undefined) return undefined;
  return {
    name,
    ...(filename === undefined ? {} : { filename }),
    ...(contentType ? { contentType } : {}),
  };
}
