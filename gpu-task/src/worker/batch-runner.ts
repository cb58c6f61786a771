/**
 * Batch runs: for each message of a batch, claim its job; download the inputs; run
 * `engine.restoreImages` once per schedule (one model call per step; every face of every photo
 * in one sampler batch, with the photo options the batch key fixes); hand each result to
 * {@link Outcomes}. During sampling, progress is written at most every `progressIntervalMs`.
 *
 * ## Cancel inside a batch
 * Jobs of a batch share every model call, and the engine runs a batch under one abort signal,
 * so an image cannot leave a running call alone. When a progress write (or the heartbeat)
 * finds a job `canceled` (or taken over), the engine call is aborted at the next step boundary,
 * that job is settled (canceled: message deleted, the API that canceled it sends
 * `job.canceled`; taken over: message left to its new owner) and the batch runs again at once
 * with the remaining jobs, still holding their messages (no extra receive, no requeue). Their
 * results are identical because each image's noise comes from its job's seed. Each restart
 * removes at least one job, so this ends.
 *
 * ## A call that fails for every job
 * When the engine call itself throws a retryable error (the engine thread died, the device ran
 * out of memory), or a model output that is not finite, with several jobs in it, each job runs
 * again alone at once: one bad photo then
 * retries and fails by itself, and the others of its batch succeed. A lone job's failure takes
 * the usual path (retry later, or fail when the error is final).
 *
 * ## The engine cap
 * An engine call that runs past `maxEngineSeconds` per photo in it is aborted at its next
 * sampler step, as a cancel is. Its jobs then run alone, each with the cap to itself, and one
 * that outlasts it alone fails with `engine_timeout`, billed the model time it took, not
 * retried: it would take as long on every delivery, holding a GPU the whole time. A model call
 * that hangs outside the steps is the health check's (the liveness file goes stale), not the
 * cap's.
 */
import { EngineError, type ImageRestoration, type Dr2ParamsRequest } from '../engine/index.js';
import {
  batchKeyFor,
  dropUndefined,
  type BlobStore,
  type Clock,
  type JobError,
  type JobParams,
  type JobStore,
  errorFields,
  type Logger,
} from '../../../shared/src/index.js';
import { groupBy } from './batching.js';
import type { Claims } from './claims.js';
import { photoEngineOptions } from './face-results.js';
import { touchHeartbeatFile } from './heartbeat-file.js';
import type { Held, Leases } from './leases.js';
import type { Outcomes } from './outcomes.js';
import { startProgressWrite, type ActiveJob } from './ownership.js';
import type { RestoreEngine, WorkerSettings } from './settings.js';

export interface BatchRunnerOptions {
  engine: RestoreEngine;
  jobs: Pick<JobStore, 'get' | 'update'>;
  blobs: Pick<BlobStore, 'get'>;
  clock: Clock;
  settings: Pick<
    WorkerSettings,
    'batchSize' | 'facesPerRun' | 'progressIntervalMs' | 'heartbeatFile' | 'maxEngineSeconds'
  >;
  claims: Claims;
  outcomes: Outcomes;
  leases: Leases;
  /** Aborted at the shutdown deadline: engine calls end early and their jobs are released. */
  deadline: AbortSignal;
  log: Logger;
}

/** A long batch touches the liveness file at most this often from sampler steps. */
const STEP_TOUCH_INTERVAL_MS = 5000;

export class BatchRunner {
  private lastProgressAt = 0;
  private lastStepTouchAt = 0;

  constructor(private readonly options: BatchRunnerOptions) {}

  /** Claims, runs and settles one batch of held messages (one batch key). */
  async run(batch: readonly Held[]): Promise<void> {
    const { claims, outcomes, leases, log } = this.options;
    log.info('batch started', {
      batchKey: batch[0]?.batchKey,
      size: batch.length,
      jobIds: batch.map((held) => held.message.body.jobId),
    });
    const claimed: ActiveJob[] = [];
    // Sequential claims: duplicates inside one batch then see the first claim.
    for (const held of batch) {
      try {
        const active = await claims.claim(held);
        if (active) claimed.push(active);
      } catch (error) {
        log.error('claim failed', { jobId: held.message.body.jobId, ...errorFields(error) });
        await leases.release([held], outcomes.retryDelaySeconds(held), 'claim_failed');
      }
    }
    try {
      await Promise.all(claimed.map((active) => this.download(active)));
      const ready = claimed.filter((active) => active.state === 'running' && active.input);
      for (const group of groupBy(ready, (active) => batchKeyFor(active.job.params, active.job.model))) {
        await this.runGroup(group);
      }
    } finally {
      // Canceled while downloading, or left over by an unexpected error: never keep a lease forever.
      for (const active of claimed) {
        if (active.state === 'canceled' || active.state === 'lost') await outcomes.settleDropped(active);
        else if (active.state === 'running') {
          active.log.error('job abandoned');
          await outcomes.releaseActive(active, outcomes.retryDelaySeconds(active.held), 'abandoned');
        }
      }
    }
  }

  private async download(active: ActiveJob): Promise<void> {
    try {
      const blob = await this.options.blobs.get(active.job.input.key);
      if (!blob) {
        await this.options.outcomes.fail(active, {
          code: 'input_missing',
          message: 'the uploaded input is gone',
        });
        return;
      }
      active.input = blob.body;
    } catch (error) {
      await this.options.outcomes.retryLater(active, error);
    }
  }

  /** Runs one engine call for jobs of one schedule; re-runs without jobs canceled meanwhile. */
  private async runGroup(group: readonly ActiveJob[]): Promise<void> {
    const { engine, settings, outcomes, deadline, log } = this.options;
    for (;;) {
      // Jobs the heartbeat found canceled (or taken over) since the last call leave first.
      await Promise.all(group.map((active) => outcomes.settleDropped(active)));
      const runnable = group.filter((active) => active.state === 'running');
      if (runnable.length === 0) return;
      if (deadline.aborted) {
        await outcomes.releaseForShutdown(runnable);
        return;
      }
      const controller = new AbortController();
      for (const active of runnable) active.abort = controller;
      // The engine cap is per photo: a call of several photos has the cap times their number,
      // and one cut short runs each photo alone, with the cap to itself (settleOvertime).
      const overtime = engineCap(controller, settings.maxEngineSeconds * runnable.length);
      const first = runnable[0] as ActiveJob;
      const jobIds = runnable.map((active) => active.job.id);
      const started = performance.now();
      const steps = new StepClock();
      // One batch key: every job of the group has the same photo options.
      const photo = photoEngineOptions(runnable.map((active) => active.job.params));
      let results: ImageRestoration[];
      try {
        log.info('engine started', { jobIds, batchKey: first.held.batchKey });
        const call = engine.restoreImages(
          runnable.map((active) => ({
            id: active.job.id,
            bytes: active.input as Uint8Array,
            seed: active.job.params.seed,
            finalFormat: active.job.params.output.format,
          })),
          {
            params: engineSchedule(first.job.params),
            ...photo,
            format: 'png',
            keepDr2: runnable.some((active) => active.job.params.output.keepDr2),
            batchSize: photo.aligned ? settings.batchSize : settings.facesPerRun,
            signal: controller.signal,
            onStep: (progress) => {
              steps.tick();
              this.onStep(runnable, progress);
            },
          },
        );
        const giveUp = givenUpAfterDeadline(deadline);
        try {
          results = await Promise.race([call, giveUp.promise]);
        } finally {
          giveUp.dispose();
          // The call is over: a cap reached from here on would read a cancel, or an engine
          // error, as overtime.
          overtime.clear();
          // Every call's model time is charged to its jobs, aborted ones too, before their
          // outcomes are settled: a job canceled mid-run is metered for the model time it took
          // (completion.ts; see StepClock), not for encoding or the step cut short.
          const share = steps.modelSeconds() / runnable.length;
          for (const active of runnable) active.engineSeconds = (active.engineSeconds ?? 0) + share;
        }
      } catch (error) {
        await Promise.all(runnable.map((active) => active.writing));
        // Cut short by a cancel, a takeover, the shutdown deadline or the engine cap (the first
        // abort counts: engineCap does not claim a call aborted already). The engine's own error
        // may have been on its way when the cap fired: only a run the abort stopped (`canceled`,
        // from the engine thread too) is overtime; any other is that failure, handled below.
        const stoppedByAbort = error instanceof EngineError && error.code === 'canceled';
        if (controller.signal.aborted && deadline.aborted) {
          await outcomes.releaseForShutdown(runnable.filter((active) => active.state === 'running'));
          await Promise.all(runnable.map((active) => outcomes.settleDropped(active)));
          return;
        }
        if (controller.signal.aborted && (!overtime.reached || stoppedByAbort)) {
          if (overtime.reached) {
            await this.settleOvertime(runnable);
            return;
          }
          await Promise.all(runnable.map((active) => outcomes.settleDropped(active)));
          log.info('engine restarted', {
            jobIds: runnable.filter((active) => active.state === 'running').map((active) => active.job.id),
          });
          continue;
        }
        log.error('engine failed', { jobIds, ...errorFields(error) });
        const retryable = !(error instanceof EngineError && !error.retryable);
        // A model output that is NaN or infinite (model_contract while running) can come from
        // one photo too (a float16 graph overflowing on it).
        const fromOneImage = retryable || (error as { code?: unknown }).code === 'model_contract';
        if (fromOneImage && runnable.length > 1) {
          // One photo can take a whole call down (a decoder crash, memory): run each job alone,
          // so the others of its batch do not share its retries and its fate.
          log.info('engine batch split', { jobIds });
          for (const active of runnable) await this.runGroup([active]);
          return;
        }
        await Promise.all(
          runnable.map((active) =>
            error instanceof EngineError && !error.retryable
              ? outcomes.fail(active, { code: error.code, message: error.message })
              : outcomes.retryLater(active, error),
          ),
        );
        return;
      } finally {
        overtime.clear(); // also when the call threw before it was raced
        for (const active of runnable) active.abort = undefined;
      }
      await Promise.all(runnable.map((active) => active.writing));
      log.info('engine finished', { jobIds, ms: Math.round(performance.now() - started) });
      await Promise.all(
        runnable.map(async (active, index) => {
          const result = results[index];
          if (active.state !== 'running') await outcomes.settleDropped(active);
          else if (!result) await outcomes.retryLater(active, new Error('engine returned no result'));
          else if (result.ok) await outcomes.succeed(active, result);
          else if (!result.error.retryable) {
            await outcomes.fail(active, { code: result.error.code, message: result.error.message });
          } else await outcomes.retryLater(active, result.error);
        }),
      );
      return;
    }
  }

  /**
   * The jobs of a call aborted at the engine cap (`maxEngineSeconds`): canceled ones settled;
   * when the call held several photos, the others run alone again, each with the cap to itself
   * (one slow photo must not fail the rest of its batch, nor a photo sharing its time); a photo
   * that outlasted the cap alone fails with `engine_timeout`.
   */
  private async settleOvertime(runnable: readonly ActiveJob[]): Promise<void> {
    const { outcomes, settings, log } = this.options;
    await Promise.all(runnable.map((active) => outcomes.settleDropped(active)));
    const left = runnable.filter((active) => active.state === 'running');
    if (runnable.length > 1) {
      log.info('engine batch split', {
        jobIds: left.map((active) => active.job.id),
        reason: 'engine_timeout',
      });
      for (const active of left) await this.runGroup([active]);
      return;
    }
    for (const active of left) {
      active.log.warn('engine cap reached', { maxEngineSeconds: settings.maxEngineSeconds });
      // Billed the model time it took (its share of every call it was in), as a run canceled
      // midway is: a photo too heavy for the cap would otherwise hold a GPU for free.
      const seconds = Math.round((active.engineSeconds ?? 0) * 1000) / 1000;
      await outcomes.fail(
        active,
        engineTimeout(active.job.params, settings.maxEngineSeconds),
        seconds > 0 ? { images: 0, faces: 0, modelSeconds: seconds } : undefined,
      );
    }
  }

  /** Throttled progress writes during sampling; a write that finds a cancel aborts the call. */
  private onStep(runnable: readonly ActiveJob[], progress: { step: number; total: number }): void {
    const { settings, jobs, clock } = this.options;
    const now = Date.now();
    if (settings.heartbeatFile && now - this.lastStepTouchAt >= STEP_TOUCH_INTERVAL_MS) {
      // A long batch must not look like a hung worker; a hung model call stops these touches.
      this.lastStepTouchAt = now;
      void touchHeartbeatFile(settings.heartbeatFile);
    }
    const last = progress.step === progress.total;
    if (!last && now - this.lastProgressAt < settings.progressIntervalMs) return;
    this.lastProgressAt = now;
    for (const active of runnable) {
      // The call's last step is written even behind a write in flight (after it): skipped, the
      // job would read an earlier step through the whole paste-back and upload.
      if (active.state === 'running' && (!active.writing || last)) {
        startProgressWrite(jobs, clock, active, { step: progress.step, total: progress.total });
      }
    }
  }
}

/** The engine's schedule request from a job's stored params. */
export function engineSchedule(params: JobParams): Dr2ParamsRequest {
  return dropUndefined({
    preset: params.preset,
    fidelity: params.fidelity,
    n: params.n,
    tau: params.tau,
    omega: params.omega,
    steps: params.steps,
  });
}

/**
 * The model time of one engine call that was aborted, for metering the jobs canceled in it: from
 * the call's start to its last sampler step (decoding, detection, the steps and the enhancer of
 * face groups already done, as a succeeded job's detect + DR2 + enhancer time counts them), or to
 * its end when it was aborted before its first step (during detection). An aborted call returns
 * no timings of its own, and the time after the last step (the step cut short, tearing down) is
 * not work the job got.
 *
 * @example
 * ```ts
 * const clock = new StepClock();
 * engine.restoreImages(inputs, { onStep: () => clock.tick() });
 * clock.modelSeconds(); // e.g. 1.0: detection 0.2 s and 16 steps of 0.05 s
 * ```
 */
export class StepClock {
  private readonly start: number;
  private last: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.start = now();
  }

  /** A sampler step has finished. */
  tick(): void {
    this.last = this.now();
  }

  modelSeconds(): number {
    return Math.max(0, (this.last ?? this.now()) - this.start) / 1000;
  }
}

/**
 * The error of a photo that outlasted the engine cap alone, saying what takes less time (the
 * operator's variable goes to the log, not to the tenant).
 *
 * @example
 * ```ts
 * engineTimeout(job.params, 600).code; // 'engine_timeout'
 * ```
 */
export function engineTimeout(params: Pick<JobParams, 'aligned'>, seconds: number): JobError {
  const lighter = params.aligned
    ? 'a smaller upscale or a smaller crop takes less time'
    : 'fewer faces (maxFaces), a smaller upscale or a smaller photo take less time';
  return {
    code: 'engine_timeout',
    message: `restoring this photo took longer than this service allows (${seconds} s); ${lighter}`,
  };
}

/**
 * Aborts `controller` after `seconds` (none for 0) and says whether it did: the engine reads
 * the abort at its next sampler step, so a call past the cap ends there (a call that finishes
 * its last step first returns its results). `clear` once the call is over.
 */
function engineCap(controller: AbortController, seconds: number): { reached: boolean; clear: () => void } {
  const cap = { reached: false, clear: () => undefined as void };
  if (!(seconds > 0)) return cap;
  const timer = setTimeout(
    () => {
      // A call aborted already (a cancel, the deadline) is theirs to settle.
      if (controller.signal.aborted) return;
      cap.reached = true;
      controller.abort(new Error(`the engine call ran past ${seconds} s`));
    },
    // Node fires a longer timer at once (a day's cap times a large batch).
    Math.min(seconds * 1000, MAX_TIMER_MS),
  );
  timer.unref();
  cap.clear = () => clearTimeout(timer);
  return cap;
}

/** The longest delay Node's timers keep (2^31 - 1 ms, 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long an engine call may take to return after the shutdown deadline aborted it. The engine
 * reads the abort between sampler steps; a call stuck elsewhere (a hung native or CUDA call, a
 * long phase without steps) is given up after this, so its jobs still go back to `queued` and
 * their messages are handed back before the platform's hard kill (the deadline keeps a margin of
 * up to 10 s for these writes). Its late result is discarded.
 */
export const ENGINE_GRACE_AFTER_DEADLINE_MS = 3000;

/**
 * A promise that never resolves and rejects ENGINE_GRACE_AFTER_DEADLINE_MS after `deadline`
 * aborts; `dispose` (once the engine call is over) removes its listener and timer.
 */
function givenUpAfterDeadline(deadline: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let giveUp = () => undefined as void;
  const promise = new Promise<never>((_resolve, reject) => {
    giveUp = () => {
      timer = setTimeout(
        () => reject(new Error('the engine did not stop at the shutdown deadline; its jobs are released')),
        ENGINE_GRACE_AFTER_DEADLINE_MS,
      );
      timer.unref();
    };
  });
  // The race may lose after the call settled: nobody awaits the rejection then.
  promise.catch(() => undefined);
  if (deadline.aborted) giveUp();
  else deadline.addEventListener('abort', giveUp, { once: true });
  return {
    promise,
    dispose: () => {
      deadline.removeEventListener('abort', giveUp);
      if (timer) clearTimeout(timer);
    },
  };
}
