/**
 * Request bodies read with a size cap BEFORE parsing: a declared `Content-Length` over the cap
 * is refused at once, and the stream is counted while it is read (chunked bodies have no
 * length), so an oversized body never ends up in memory whole. Web-standard streams only.
 */
import { PayloadTooLargeError, ValidationError } from '../../../shared/src/index.js';
import { InvalidJsonError, WrongContentTypeError } from './errors.js';

/**
 * The body's bytes, at most `limit` of them.
 *
 * @throws {PayloadTooLargeError} (413) when the body is, or says it is, larger than `limit`.
 * @example const bytes = await readBodyWithLimit(c.req.raw, 64 * 1024);
 */
export async function readBodyWithLimit(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) throw new ValidationError('malformed Content-Length header');
    if (Number(declared) > limit) throw tooLarge(limit);
  }
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`request body is larger than ${limit} bytes`, { details: { limit } });
}

/**
 * A JSON body (at most `limit` bytes). An empty body reads as `{}` (every create field has a
 * default). A body with a non-JSON `Content-Type` is refused with 415.
 *
 * @throws {PayloadTooLargeError} | {InvalidJsonError} | {WrongContentTypeError}
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  const contentType = request.headers.get('content-type');
  const bytes = await readBodyWithLimit(request, limit);
  if (bytes.byteLength === 0) return {};
  if (contentType !== null && !/^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(contentType)) {
    throw new WrongContentTypeError(`expected Content-Type application/json, got ${contentType}`);
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    throw new InvalidJsonError('request body is not valid JSON');
  }
}
