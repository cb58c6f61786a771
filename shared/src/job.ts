/**
 * The job lifecycle as pure functions over {@link Job} records:
 *
 * ```
 * created -> uploaded -> queued -> running -> succeeded | failed | canceled
 *                                  running -> queued   (message released or retried)
 *            uploaded -> failed                        (the dispatcher refused the input)
 *                        queued -> failed              (dead-lettered: deliveries exhausted)
 * created | uploaded | queued | running -> canceled
 * ```
 *
 * Nothing else is allowed; {@link transitionJob} throws {@link InvalidTransitionError}. The
 * functions never touch `version`: a job store writes the result only if the stored version
 * still equals the version the caller read (see `JobStore.update`).
 *
 * This module is the only writer of `status`. Every job store checks each write with
 * {@link checkJobWrite}: a write that changes the status must be a record {@link transitionJob}
 * produced on a chain of transitions through the status the store holds (so `created ->
 * uploaded -> queued` in one write passes, and `{ ...job, status: 'failed' }` is refused). A test scans
 * the source tree for status writes anywhere else (test/shared/lifecycle-writes.test.ts).
 *
 * @example The worker picking up a job
 * ```ts
 * const job = await jobs.get(message.body.jobId);
 * const running = transitionJob(job, { to: 'running', at: clock.now() });
 * await jobs.update(running, job.version); // PreconditionFailedError if someone else wrote first
 * ```
 */
import { canonicalJson, randomBytes, sha256Hex } from './encoding.js';
import { ConflictError, InvalidTransitionError, NotFoundError, PreconditionFailedError } from './errors.js';
import { newJobId } from './ids.js';
import { dropUndefined } from './objects.js';
import {
  PHOTO_DEFAULTS,
  type FaceView,
  type SignedUrl,
  type StoredFace,
  type UpscaleFactor,
} from './face-schemas.js';
import type { JobStore } from './ports/job-store.js';
import { AUTO_PRESET, RESTORE_DEFAULTS, type BackgroundMode } from './restore-options.js';
import {
  MAX_SEED,
  WEBHOOK_EVENT_TYPES,
  type CreateJobRequest,
  type Job,
  type JobError,
  type JobInput,
  type JobOutput,
  type JobParams,
  type JobProgress,
  type JobStatus,
  type JobUsage,
  type JobView,
  type WebhookConfig,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookEventType,
} from './schemas.js';

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** For each status, the statuses it may move to: every edge any code takes. */
export const ALLOWED_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  created: ['uploaded', 'canceled'],
  // failed: the dispatcher refused the input (empty, too large, not an image, bad geometry).
  uploaded: ['queued', 'failed', 'canceled'],
  // failed: the message dead-lettered before any worker could record the outcome.
  queued: ['running', 'failed', 'canceled'],
  // queued: released for a retry, for shutdown, or taken over from a dead worker.
  running: ['succeeded', 'failed', 'canceled', 'queued'],
  succeeded: [],
  failed: [],
  canceled: [],
};

/** Error code that marks a job record whose data was deleted on request (`DELETE /v1/jobs/{id}`). */
export const DELETED_JOB_CODE = 'deleted';

/**
 * True for a job deleted on request: the record stays as a tombstone (reads answer 404, its
 * webhook is no longer delivered, its usage stays billed).
 */
export function isDeletedJob(job: Job): boolean {
  return job.error?.code === DELETED_JOB_CODE;
}

/** True for `succeeded`, `failed` and `canceled`. */
export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** True when the lifecycle allows `from -> to`. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** A status change and the facts that come with it. */
export type JobTransition =
  /** The input object arrived; size and type as the store saw them. */
  | { to: 'uploaded'; at: Date; input?: Partial<Omit<JobInput, 'key'>> }
  /**
   * Sent to the work queue (first time), or released by a worker for a retry; `error` then
   * records why the attempt was released (cleared when the job runs again).
   */
  | { to: 'queued'; at: Date; error?: JobError }
  /** A worker took it; counts an attempt and clears the progress of a previous attempt. */
  | { to: 'running'; at: Date; progress?: JobProgress }
  | { to: 'succeeded'; at: Date; output: JobOutput; usage: JobUsage }
  | { to: 'failed'; at: Date; error: JobError; usage?: JobUsage }
  /**
   * `reason` is kept as `error` so clients see why, with code `canceled` unless `code` names the
   * cause (`upload_expired`, `deleted`).
   */
  | { to: 'canceled'; at: Date; reason?: string; code?: string };

/**
 * The job after a status change, or {@link InvalidTransitionError} when the lifecycle does not
 * allow it. Pure: returns a new object, `version` unchanged.
 *
 * @example
 * ```ts
 * transitionJob(job, { to: 'failed', at: now, error: { code: 'image_decode_failed', message: '...' } });
 * transitionJob(succeededJob, { to: 'running', at: now }); // throws InvalidTransitionError
 * ```
 */
export function transitionJob(job: Job, change: JobTransition): Job {
  if (!canTransition(job.status, change.to)) throw new InvalidTransitionError(job.status, change.to);
  const path = [...(transitionPaths.get(job) ?? [job.status]), change.to];
  const at = change.at.toISOString();
  const next: Job = {
    ...job,
    status: change.to,
    updatedAt: at,
    timestamps: { ...job.timestamps, [change.to]: at },
  };
  switch (change.to) {
    case 'uploaded':
      next.input = { ...job.input, ...change.input, key: job.input.key };
      break;
    case 'queued':
      if (change.error) next.error = change.error;
      next.progress = undefined;
      break;
    case 'running':
      next.attempts = job.attempts + 1;
      next.error = undefined;
      next.progress = change.progress;
      break;
    case 'succeeded':
      next.output = change.output;
      next.usage = change.usage;
      next.error = undefined;
      if (job.progress) next.progress = { step: job.progress.total, total: job.progress.total };
      break;
    case 'failed':
      next.error = change.error;
      if (change.usage) next.usage = change.usage;
      break;
    case 'canceled':
      next.error = { code: change.code ?? 'canceled', message: change.reason ?? 'canceled by request' };
      break;
  }
  const result = dropUndefined(next);
  transitionPaths.set(result, path);
  return result;
}

/**
 * For each record {@link transitionJob} returned, the statuses its chain of transitions passed
 * through (`transitionJob(transitionJob(created, uploaded), queued)`: created, uploaded, queued).
 * Only these records may change the status in a store (see {@link checkJobWrite}); a spread copy
 * is a different object and has no path.
 */
const transitionPaths = new WeakMap<Job, readonly JobStatus[]>();

/**
 * The lifecycle check every {@link JobStore} adapter makes before it writes `next` over `stored`
 * (after its version check, so a stale writer still gets `PreconditionFailedError`). A write
 * that keeps the status (progress, webhook records, markers) passes; one that changes it must
 * be a record {@link transitionJob} produced, on a chain of transitions that passed through the
 * stored status (so every edge from the stored status to the new one is in the table).
 *
 * @throws {InvalidTransitionError} when the status changes any other way.
 * @example
 * ```ts
 * checkJobWrite(queued, transitionJob(queued, { to: 'running', at })); // passes
 * checkJobWrite(queued, { ...queued, status: 'failed' }); // throws InvalidTransitionError
 * ```
 */
export function checkJobWrite(stored: Job, next: Job): void {
  const path = transitionPaths.get(next);
  if (path === undefined) {
    if (next.status === stored.status) return;
    throw new InvalidTransitionError(
      stored.status,
      next.status,
      `job ${stored.id} cannot move from "${stored.status}" to "${next.status}" except through transitionJob`,
    );
  }
  if (!path.slice(0, -1).includes(stored.status)) {
    throw new InvalidTransitionError(
      stored.status,
      next.status,
      `job ${stored.id} is "${stored.status}", but this change went ${path.join(' -> ')}`,
    );
  }
}

/**
 * The check every {@link JobStore} adapter makes before it creates `job`: a new job starts in
 * `created` (see {@link newJob}); any other status only a transition may reach.
 *
 * @throws {InvalidTransitionError} for a job in any other status.
 */
export function checkNewJob(job: Job): void {
  if (job.status !== 'created') {
    throw new InvalidTransitionError(
      '(new)',
      job.status,
      `a new job starts in "created", not "${job.status}"`,
    );
  }
}

/**
 * The job with updated sampler progress, or only touched (`updatedAt`) with `progress`
 * undefined: the worker's heartbeat before the first model call, which must not invent a
 * `{ step: 0, total: 0 }` (a client's step / total would read NaN). Only a running job has
 * progress; otherwise throws {@link ConflictError} (a worker seeing it learns the job was
 * canceled or taken over).
 *
 * @example
 * ```ts
 * recordProgress(running, { step: 3, total: 21 }, now).progress; // { step: 3, total: 21 }
 * recordProgress(running, undefined, now).progress; // running.progress (absent before the first step)
 * ```
 */
export function recordProgress(job: Job, progress: JobProgress | undefined, at: Date): Job {
  if (job.status !== 'running') {
    throw new ConflictError(`job ${job.id} is ${job.status}, not running`, {
      details: { status: job.status },
    });
  }
  return progress
    ? { ...job, progress, updatedAt: at.toISOString() }
    : { ...job, updatedAt: at.toISOString() };
}

/** The job with one more webhook delivery attempt recorded (any status). */
export function recordWebhookDelivery(job: Job, delivery: WebhookDelivery): Job {
  return { ...job, webhookDeliveries: [...job.webhookDeliveries, delivery], updatedAt: delivery.at };
}

/** Facts needed to create a job record. */
export interface NewJobInput {
  tenantId: string;
  model: string;
  params: JobParams;
  /** Blob key the client uploads to; see `blobKeys.input`. */
  inputKey: string;
  at: Date;
  /** Defaults to a fresh {@link newJobId} for `at`. */
  id?: string;
  webhook?: WebhookConfig;
  idempotencyKey?: string;
  requestFingerprint?: string;
}

/**
 * A new job in status `created`, version 1.
 *
 * @example
 * ```ts
 * const id = newJobId(now);
 * const job = newJob({ id, tenantId, model: 'dr2e-default', params, inputKey: blobKeys.input(tenantId, id), at: now });
 * ```
 */
export function newJob(input: NewJobInput): Job {
  const at = input.at.toISOString();
  return dropUndefined({
    id: input.id ?? newJobId(input.at),
    tenantId: input.tenantId,
    status: 'created',
    version: 1,
    createdAt: at,
    updatedAt: at,
    timestamps: { created: at },
    attempts: 0,
    model: input.model,
    params: input.params,
    input: { key: input.inputKey },
    webhook: input.webhook,
    webhookDeliveries: [],
    idempotencyKey: input.idempotencyKey,
    requestFingerprint: input.requestFingerprint,
  });
}

/** A uniformly random seed in [0, 2^32 - 1]. */
export function randomSeed(): number {
  const bytes = randomBytes(4);
  return new DataView(bytes.buffer).getUint32(0) % (MAX_SEED + 1);
}

/**
 * Stored params from a parsed create request: the schedule and output as given, the seed
 * fixed (random when absent) so rerunning the job reproduces the result.
 */
export function resolveJobParams(request: CreateJobRequest, seed: () => number = randomSeed): JobParams {
  return dropUndefined({
    preset: request.preset,
    fidelity: request.fidelity,
    n: request.n,
    tau: request.tau,
    omega: request.omega,
    steps: request.steps,
    seed: request.seed ?? seed(),
    upscale: request.upscale,
    aligned: request.aligned,
    maxFaces: request.maxFaces,
    minFace: request.minFace,
    background: request.background,
    output: { ...request.output },
  });
}

/**
 * The parsed create request in the form idempotency compares: what means the same job reads
 * the same. Defaults are already applied by the schema; on top of that
 *
 * - `webhook.events` is a set: listed in {@link WEBHOOK_EVENT_TYPES} order, once each
 *   (`["job.failed","job.succeeded"]` and its reverse subscribe to the same events);
 * - `fidelity` at its default (0.5) is left out beside an explicit `preset: "auto"`, the only
 *   place where 0.5 is the default. Without a preset the model's default preset runs, which a
 *   deployment may set to a fixed one that ignores fidelity (the job then carries the warning
 *   `fidelity_unused`), so `{}` and `{"fidelity": 0.5}` stay different requests, as do `{}` and
 *   `{"preset": "auto"}`;
 * - `background` at its default is left out (it came later; see {@link fingerprintCreateJobRequest});
 * - `minFace: 0` is left out: it keeps every face, as an absent one does (0 was refused before,
 *   so no stored fingerprint holds it).
 */
export function canonicalCreateJobRequest(request: CreateJobRequest): Partial<CreateJobRequest> {
  const { background, fidelity, webhook, minFace, ...rest } = request;
  const canonical: Partial<CreateJobRequest> = { ...rest };
  if (minFace) canonical.minFace = minFace;
  if (background !== PHOTO_DEFAULTS.background) canonical.background = background;
  if (!(request.preset === AUTO_PRESET && fidelity === RESTORE_DEFAULTS.fidelity))
    canonical.fidelity = fidelity;
  if (webhook) {
    const events = WEBHOOK_EVENT_TYPES.filter((type) => webhook.events.includes(type));
    canonical.webhook = { ...webhook, events };
  }
  return canonical;
}

/**
 * SHA-256 (hex) of the canonical create request ({@link canonicalCreateJobRequest}). Stored
 * with an idempotency key so a retry (same fingerprint) returns the first job and a different
 * body under the same key is refused.
 */
export function fingerprintCreateJobRequest(request: CreateJobRequest): Promise<string> {
  // A parameter added later with a default is left out at its default, so a request made before
  // it existed keeps its fingerprint (a retry across a deploy is still the same request).
  return sha256Hex(canonicalJson(canonicalCreateJobRequest(request)));
}

/**
 * The fingerprint as computed before events were compared as a set and fidelity's default was
 * applied: a key stored then, retried with the very same body, must still replay.
 */
export function legacyFingerprintCreateJobRequest(request: CreateJobRequest): Promise<string> {
  const { background, ...rest } = request;
  return sha256Hex(canonicalJson(background === PHOTO_DEFAULTS.background ? rest : request));
}

/**
 * Identity of a sampling schedule and of the photo options an engine call applies to all its
 * images: jobs with equal batch keys can share one batched model call. Seed, output format and
 * face crops do not matter (per-sample noise, encoding after sampling). Photo options at their
 * defaults add nothing, so jobs stored before photo mode keep their keys.
 *
 * @example
 * batchKeyFor({ n: 8, tau: 35, steps: 100, ... }, 'dr2e-default') === 'model=dr2e-default;n=8;tau=35;omega=auto;steps=100'
 * batchKeyFor({ preset: 'mild', steps: 100, upscale: 4, ... }, 'm') === 'model=m;preset=mild;steps=100;upscale=4'
 */
export function batchKeyFor(
  params: Pick<JobParams, 'preset' | 'n' | 'tau' | 'omega' | 'steps'> &
    Partial<Pick<JobParams, 'fidelity'>> &
    Partial<Pick<JobParams, 'upscale' | 'aligned' | 'maxFaces' | 'minFace' | 'background'>>,
  model: string,
): string {
  const schedule =
    params.n !== undefined || params.tau !== undefined
      ? `n=${params.n ?? 'auto'};tau=${params.tau ?? 'auto'};omega=${params.omega ?? 'auto'}`
      : `preset=${params.preset ?? 'default'}` +
        (params.fidelity !== undefined ? `;fidelity=${params.fidelity}` : '');
  const photo = resolvePhotoOptions(params);
  let key = `model=${model};${schedule};steps=${params.steps}`;
  if (photo.aligned) return `${key};aligned;upscale=${photo.upscale}`;
  if (photo.upscale !== PHOTO_DEFAULTS.upscale) key += `;upscale=${photo.upscale}`;
  if (photo.maxFaces !== PHOTO_DEFAULTS.maxFaces) key += `;maxFaces=${photo.maxFaces}`;
  // minFace 0 keeps every face, as an absent one does: the same batch.
  if (photo.minFace) key += `;minFace=${photo.minFace}`;
  if (photo.background !== PHOTO_DEFAULTS.background) key += `;background=${photo.background}`;
  return key;
}

/** Photo options of a job with defaults filled in (what the worker runs with). */
export interface PhotoOptions {
  upscale: UpscaleFactor;
  aligned: boolean;
  maxFaces: number;
  minFace?: number;
  background: BackgroundMode;
}

/**
 * A job's photo options with {@link PHOTO_DEFAULTS} for the absent ones (jobs stored before
 * photo mode have none).
 *
 * @example resolvePhotoOptions({}) // { upscale: 2, aligned: false, maxFaces: 20, background: 'denoise' }
 */
export function resolvePhotoOptions(
  params: Partial<Pick<JobParams, 'upscale' | 'aligned' | 'maxFaces' | 'minFace' | 'background'>>,
): PhotoOptions {
  return dropUndefined({
    upscale: params.upscale ?? PHOTO_DEFAULTS.upscale,
    aligned: params.aligned ?? PHOTO_DEFAULTS.aligned,
    maxFaces: params.maxFaces ?? PHOTO_DEFAULTS.maxFaces,
    minFace: params.minFace,
    background: params.background ?? PHOTO_DEFAULTS.background,
  });
}

/** Event type for a terminal status (undefined for other statuses). */
export function webhookEventTypeFor(status: JobStatus): WebhookEventType | undefined {
  const type = `job.${status}`;
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type) ? (type as WebhookEventType) : undefined;
}

/** Signed result links to put in a {@link JobView}. */
export interface JobViewLinks {
  restored?: SignedUrl;
  dr2?: SignedUrl;
  /** Crops of `output.faces[i]` at index i (faces without stored crops: undefined). */
  faces?: readonly ({ input: SignedUrl; restored: SignedUrl } | undefined)[];
}

/**
 * The model a job is known by: the one whose engine restored it, as the worker recorded it
 * (`output.model`), else the job's own (the deployment's name when it was created).
 *
 * @example
 * ```ts
 * restoringModel({ ...job, model: 'dr2e-default', output: { ...output, model: 'utkface-64' } }); // 'utkface-64'
 * ```
 */
export function restoringModel(job: Pick<Job, 'model' | 'output'>): string {
  return job.output?.model ?? job.model;
}

/** The public view of a job (API responses, webhook `data`): no blob keys, no tenant internals. */
export function toJobView(job: Job, links: JobViewLinks = {}): JobView {
  return dropUndefined({
    id: job.id,
    status: job.status,
    model: restoringModel(job),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    timestamps: job.timestamps,
    attempts: job.attempts,
    params: job.params,
    progress: job.progress,
    error: job.error,
    usage: job.usage,
    output: job.output
      ? dropUndefined({
          format: job.output.format,
          width: job.output.width,
          height: job.output.height,
          upscale: job.output.upscale,
          restored: links.restored,
          dr2: links.dr2,
          faces: job.output.faces?.map((face, index) => faceView(face, links.faces?.[index])),
          skippedFaces: job.output.skippedFaces,
          warnings: job.output.warnings,
          background: job.output.background,
        })
      : undefined,
    webhook: job.webhook,
    idempotencyKey: job.idempotencyKey,
  });
}

/** A stored face as clients see it: blob keys replaced by signed links. */
function faceView(face: StoredFace, crops: { input: SignedUrl; restored: SignedUrl } | undefined): FaceView {
  const { crops: _keys, ...report } = face;
  return crops ? { ...report, crops } : report;
}

/**
 * The webhook event for a job that reached a terminal status, or undefined when the job is not
 * terminal or its webhook does not subscribe to that event.
 */
export function webhookEventFor(job: Job, at: Date, links: JobViewLinks = {}): WebhookEvent | undefined {
  const type = webhookEventTypeFor(job.status);
  if (!type || !job.webhook || !job.webhook.events.includes(type)) return undefined;
  return { type, timestamp: at.toISOString(), data: toJobView(job, links) };
}

/**
 * Stable Standard Webhooks message id of a job's event: the same on every retry, so receivers
 * can drop duplicates.
 */
export function webhookMessageId(jobId: string, type: WebhookEventType): string {
  return `msg_${jobId.replace(/^job_/, '')}_${type.replace('job.', '')}`;
}

/**
 * Read-modify-write with optimistic concurrency: reads the job, applies `change`, writes it if
 * nobody wrote in between, and retries from a fresh read on {@link PreconditionFailedError}.
 * `change` returns the new job, or `undefined` to leave it as is. Errors `change` throws (an
 * {@link InvalidTransitionError}, say) propagate without retry.
 *
 * @throws {NotFoundError} when the job does not exist.
 * @example
 * ```ts
 * await mutateJob(jobs, jobId, (job) => transitionJob(job, { to: 'canceled', at: clock.now() }));
 * ```
 */
export async function mutateJob(
  store: Pick<JobStore, 'get' | 'update'>,
  jobId: string,
  change: (job: Job) => Job | undefined,
  maxAttempts = 5,
): Promise<Job> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.get(jobId);
    if (!current) throw new NotFoundError(`job ${jobId} not found`);
    const next = change(current);
    if (!next) return current;
    try {
      return await store.update(next, current.version);
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= maxAttempts) throw error;
    }
  }
}
