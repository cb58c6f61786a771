/**
 * A small client of the dr2e HTTP API, as a mobile backend would use it: create a job, upload
 * the photo straight to storage through the signed form, wait (poll) for the result, download
 * it through its signed link. The demo (`npm run demo`) and the end-to-end tests drive the
 * service through it, so they exercise the same requests a real client sends.
 */
import {
  sleep,
  type CreateJobRequestInput,
  type JobView,
  type UploadForm,
} from '../../../shared/src/index.js';

/** An API answer that was not 2xx; `code` is the API's stable error code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `201` body of `POST /v1/jobs`. */
export interface CreatedJob {
  id: string;
  status: string;
  upload: UploadForm;
}

export interface Dr2eClientOptions {
  /** e.g. `http://127.0.0.1:8787` */
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

/**
 * @example
 * ```ts
 * const client = new Dr2eClient({ baseUrl: 'http://127.0.0.1:8787', apiKey });
 * const job = await client.createJob({ preset: 'medium' });
 * await client.upload(job.upload, bytes, 'image/jpeg');
 * const done = await client.waitForJob(job.id);
 * const png = await client.download(done.output!.restored!.url);
 * ```
 */
export class Dr2eClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: Dr2eClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await this.fetchImpl(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.options.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) {
      let code = 'http_error';
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // Not JSON: keep the raw text.
      }
      throw new ApiError(response.status, code, `${method} ${path}: ${response.status} ${code}: ${message}`);
    }
    return (text.length > 0 ? JSON.parse(text) : undefined) as T;
  }

  /** The calling tenant, with the `whsec_` secret that signs its webhooks. */
  tenant(): Promise<{ id: string; name: string; webhookSecret: string }> {
    return this.call('GET', '/v1/tenant');
  }

  /** `POST /v1/jobs`: a job in `created` and its signed upload form. */
  createJob(request: CreateJobRequestInput, options: { idempotencyKey?: string } = {}): Promise<CreatedJob> {
    return this.call(
      'POST',
      '/v1/jobs',
      request,
      options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
    );
  }

  /**
   * Sends the file through the presigned form (multipart, the file last in field `file`).
   * Returns the storage's HTTP status (204 or 201 when accepted).
   */
  async upload(
    form: UploadForm,
    bytes: Uint8Array,
    contentType: string,
    fileName = 'photo',
  ): Promise<number> {
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    if (!('Content-Type' in form.fields)) body.append('Content-Type', contentType);
    body.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), fileName);
    const response = await this.fetchImpl(form.url, { method: 'POST', body });
    await response.arrayBuffer();
    return response.status;
  }

  getJob(jobId: string): Promise<JobView> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  cancel(jobId: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /** Polls until the job is `succeeded`, `failed` or `canceled`. */
  async waitForJob(
    jobId: string,
    options: { timeoutMs?: number; intervalMs?: number; onPoll?: (job: JobView) => void } = {},
  ): Promise<JobView> {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const job = await this.getJob(jobId);
      options.onPoll?.(job);
      if (TERMINAL.has(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after the timeout`);
      await sleep(options.intervalMs ?? 250);
    }
  }

  /** Downloads a signed result link (no API key: the link itself is the credential). */
  async download(url: string): Promise<Uint8Array> {
    const response = await this.fetchImpl(url);
    if (!response.ok)
      throw new ApiError(response.status, 'download_failed', `GET ${url}: ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
}
