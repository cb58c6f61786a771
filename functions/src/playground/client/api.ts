/**
 * The public API as the page uses it: bearer key in a header, JSON errors turned into
 * {@link ApiError}s with the API's code and message, the presigned upload form posted straight to
 * storage.
 */
import type { JobView } from '../../../../shared/src/index.js';

/** A face the whole-photo pipeline found, in input pixels (present once the API reports faces). */
export interface FaceBox {
  box: [number, number, number, number];
  score?: number;
  /** Of the face's DR2 settings, whether `auto` kept the face as it was (not restored). */
  settings?: { kept?: boolean };
}

/** A face that was found and left untouched, with why (`output.skippedFaces`). */
export interface SkippedFaceBox extends FaceBox {
  reason: string;
}

/** The job view as the page reads it (faces, skipped faces and warnings live under `output`). */
export type PlaygroundJob = JobView;

export interface UploadForm {
  url: string;
  fields: Record<string, string>;
  maxBytes: number;
  expiresAt: string;
}

export interface CreatedJob {
  id: string;
  status: string;
  upload?: UploadForm;
}

/** An API (or storage) refusal, with the stable code when the answer had one. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The API's error body, or a generic one built from the status and text. */
export async function errorFrom(response: Response, what: string): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string') {
      return new ApiError(body.error.code, String(body.error.message ?? ''), response.status);
    }
  } catch {
    // Not JSON: storage answers XML (S3) or plain text.
  }
  const s3Code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const s3Message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
  return new ApiError(
    s3Code ?? `http_${response.status}`,
    s3Message ?? `${what} answered ${response.status} ${response.statusText}`.trim(),
    response.status,
  );
}

/**
 * MIME type to declare for a file: its own, else from the name (browsers leave HEIC, and some
 * AVIF and TIFF, untyped), for every format the service decodes. The upload form takes `image/`
 * types only, so an unknown extension's `application/octet-stream` is refused by the storage.
 *
 * @example
 * ```ts
 * contentTypeOf({ name: 'IMG_0001.HEIC', type: '' }); // 'image/heic'
 * ```
 */
export function contentTypeOf(file: { name: string; type: string }): string {
  if (file.type) return file.type;
  const extension = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase() ?? '';
  const byExtension: Record<string, string> = {
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    jfif: 'image/jpeg',
    jpe: 'image/jpeg',
    png: 'image/png',
    webp: 'image/webp',
    heic: 'image/heic',
    heif: 'image/heif',
    // Fujifilm's and Canon's HEIF (as the CLI's folders take it: engine/image/files.ts).
    hif: 'image/heif',
    avif: 'image/avif',
    tif: 'image/tiff',
    tiff: 'image/tiff',
  };
  return byExtension[extension] ?? 'application/octet-stream';
}

/**
 * @example
 * ```ts
 * const api = new PlaygroundApi('', key);
 * const created = await api.createJob({ preset: 'medium' });
 * await api.upload(created.upload!, file);
 * const job = await api.getJob(created.id);
 * ```
 */
export class PlaygroundApi {
  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  /** Headers of every `/v1` call. */
  authHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.key}` };
  }

  async createJob(body: Record<string, unknown>): Promise<CreatedJob> {
    const response = await fetch(`${this.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...this.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await errorFrom(response, 'POST /v1/jobs');
    return (await response.json()) as CreatedJob;
  }

  /** Posts the presigned form straight to storage: its fields, the content type, the file last. */
  async upload(form: UploadForm, file: File): Promise<void> {
    if (file.size > form.maxBytes) {
      throw new ApiError(
        'file_too_large',
        `the photo is ${formatBytes(file.size)}; this deployment accepts up to ${formatBytes(form.maxBytes)}`,
        413,
      );
    }
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    if (!('Content-Type' in form.fields)) body.append('Content-Type', contentTypeOf(file));
    body.append('file', file, file.name);
    const response = await fetch(form.url, { method: 'POST', body });
    if (!response.ok) throw await errorFrom(response, 'storage');
  }

  async getJob(id: string): Promise<PlaygroundJob> {
    const response = await fetch(`${this.baseUrl}/v1/jobs/${encodeURIComponent(id)}`, {
      headers: this.authHeaders(),
      cache: 'no-store',
    });
    if (!response.ok) throw await errorFrom(response, 'GET /v1/jobs/{id}');
    return (await response.json()) as PlaygroundJob;
  }

  /** `POST /v1/jobs/{id}/cancel`: a running job stops between sampler steps. */
  async cancelJob(id: string): Promise<void> {
    const response = await fetch(`${this.baseUrl}/v1/jobs/${encodeURIComponent(id)}/cancel`, {
      method: 'POST',
      headers: this.authHeaders(),
    });
    if (!response.ok) throw await errorFrom(response, 'POST /v1/jobs/{id}/cancel');
  }

  /** Checks the key with `GET /v1/tenant`; returns the tenant's name. */
  async whoAmI(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/v1/tenant`, { headers: this.authHeaders() });
    if (!response.ok) throw await errorFrom(response, 'GET /v1/tenant');
    const body = (await response.json()) as { name?: string; id?: string };
    return body.name ?? body.id ?? 'unknown tenant';
  }
}

/** `1.4 MB`, `812 kB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1000))} kB`;
}
