/**
 * Progress of one `restoreImages` call over all of its sampler runs.
 *
 * A call restores its faces in runs of up to `batchSize` (32 by default): a photo of 40 faces,
 * or four jobs' photos batched by a worker, takes two runs or more. Each run's sampler counts its
 * own steps from 1, so reported as they were, a job's progress ran to its end and then began
 * again. Here every run's steps add to one count, and the total is every planned run's model
 * calls, known before the first run: the count only goes forward and reaches the total once,
 * when the last model call of the call is done.
 *
 * One case changes the plan: a run whose output is broken (NaN or infinite; the denoiser may
 * stop it partway, the enhancer after its last step) is dropped, and each of its images runs
 * again alone (engine: runIsolatingBrokenOutputs). The steps it did not take leave the total,
 * its reruns' join it, and the new total is reported at once. So that the count reaches the
 * total only at the real end, the call's last step is reported when its run has come through
 * the enhancer whole (`runDone`), not before.
 */
import { type Dr2StepProgress, modelCallsOf } from './sampler/dr2-sampler.js';

/**
 * Where a `restoreImages` call stands, reported after every model call (the call's last one once
 * its run has come through the enhancer), and once more when a run breaks, with the new total.
 */
export interface RestoreProgress {
  /** Model calls done so far in this call, over all its sampler runs (never decreasing). */
  readonly step: number;
  /**
   * Model calls the call takes: every planned run's, known before the first run. It changes only
   * when a run's output breaks: the steps it did not take leave it, the reruns of its images
   * alone (if it had several) join it.
   */
  readonly total: number;
  /** The sampler run in progress (or the one just dropped), 1-based. */
  readonly run: number;
  /** Ids of the images whose faces are in that run. */
  readonly images: readonly string[];
}

/** Receives a call's progress; the sampler awaits it before the next step. */
export type RestoreProgressListener = (progress: RestoreProgress) => void | Promise<void>;

/** The settings of one run's images, as far as its model calls go. */
type RunSettings = readonly { readonly omega: number; readonly tau: number }[];

/**
 * Adds up the steps of a call's sampler runs.
 *
 * @example
 * ```ts
 * const progress = new CallProgress(groups.map((g) => g.map((face) => face.params)), onStep);
 * for (const group of groups) {
 *   try {
 *     await restore(group, progress.nextRun(idsOf(group))); // sampler and enhancer
 *     await progress.runDone(); // reports the call's last step, held until now
 *   } catch (error) {
 *     if (!(error instanceof NonFiniteOutputError)) throw error;
 *     await progress.runBroke(group.map((face) => [face.params])); // each image again, alone
 *   }
 * }
 * ```
 */
export class CallProgress {
  /** Model calls done, over all runs. */
  private done = 0;
  private runs = 0;
  /** Planned model calls of the runs not started yet, in order. */
  private readonly pending: number[];
  /** The run in progress: its planned model calls and those done. */
  private current: { planned: number; done: number; run: number; images: readonly string[] } | null = null;
  /** The call's last step, held until its run is known to have come through whole. */
  private held: RestoreProgress | null = null;

  /**
   * @param plannedRuns each planned run's per-image settings (their ω and τ give its model calls)
   * @param listener the caller's listener; without one, nothing is reported
   */
  constructor(
    plannedRuns: readonly RunSettings[],
    private readonly listener: RestoreProgressListener | undefined,
  ) {
    this.pending = plannedRuns.map((run) => modelCallsOf(run));
  }

  /** Model calls of the whole call as now planned. */
  get total(): number {
    const left = this.current ? this.current.planned - this.current.done : 0;
    return this.done + left + this.pending.reduce((sum, calls) => sum + calls, 0);
  }

  /** The sampler's `onStep` for the next planned run, over the faces of `images` (undefined without a listener). */
  nextRun(images: readonly string[]): ((progress: Dr2StepProgress) => void | Promise<void>) | undefined {
    const current = { planned: this.pending.shift() ?? 0, done: 0, run: ++this.runs, images };
    this.current = current;
    const listener = this.listener;
    if (!listener) return undefined;
    const before = this.done;
    return (progress) => {
      // The sampler's own count is the truth; the plan was made from the same settings.
      current.planned = progress.total;
      current.done = progress.step;
      this.done = before + progress.step;
      const report = { step: this.done, total: this.total, run: current.run, images };
      if (report.step === report.total) {
        this.held = report;
        return;
      }
      return listener(report);
    };
  }

  /** The run in progress came through whole: its last step is reported if it was held. */
  runDone(): void | Promise<void> {
    const held = this.held;
    this.held = null;
    this.current = null;
    if (held && this.listener) return this.listener(held);
  }

  /**
   * The run in progress broke: the steps it did not take leave the plan, and `reruns` (each of
   * its images alone, or none when it was one image) come next. Reports the new total.
   */
  runBroke(reruns: readonly RunSettings[]): void | Promise<void> {
    const broken = this.current;
    this.current = null;
    this.held = null;
    this.pending.unshift(...reruns.map((run) => modelCallsOf(run)));
    if (!this.listener || !broken) return;
    return this.listener({ step: this.done, total: this.total, run: broken.run, images: broken.images });
  }
}
