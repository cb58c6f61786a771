/** Client side of an upload form, as a mobile backend would send it. */
import type { UploadForm } from '../../../shared/src/ports/blob-store.js';

/** POSTs `bytes` through a presigned form; returns the HTTP status. */
export async function postUploadForm(
  form: UploadForm,
  bytes: Uint8Array,
  contentType: string,
): Promise<number> {
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  if (!('Content-Type' in form.fields)) body.append('Content-Type', contentType);
  body.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), 'photo');
  const response = await fetch(form.url, { method: 'POST', body });
  await response.arrayBuffer();
  return response.status;
}

/** Bytes of a pseudo image (content does not matter to stores). */
export function sampleBytes(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}
