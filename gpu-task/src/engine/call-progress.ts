/**
 * Progress of one `restoreImages` call over all of its sampler runs.
 *
 * A call restores its faces in runs of up to `batchSize` (32 by default): a photo of 40 faces,
 * or four jobs' photos batched by a worker, takes two runs or more. Each run's sampler counts its
 * own steps from 1, so reported as they were, a job's progress ran to its end and then began
 * again. Here every run's steps add to one count whose total is known before the first run, so
 * progress only goes forward and reaches its total once, when the last run ends.
 */
import { type Dr2StepProgress, modelCallsOf } from './sampler/dr2-sampler.js';

/** Where a `restoreImages` call stands, reported after every model call. */
export interface RestoreProgress {
  /** Model calls done so far in this call, over all its sampler runs (1-based, never decreasing). */
  readonly step: number;
  /**
   * Model calls the call takes, known before its first run. It grows only when a run whose
   * output was broken is run again member by member (engine: runIsolatingBrokenOutputs).
   */
  readonly total: number;
  /** The sampler run in progress, 1-based. */
  readonly run: number;
  /** Ids of the images whose faces are in that run. */
  readonly images: readonly string[];
}

/** Receives a call's progress; the sampler awaits it before the next step. */
export type RestoreProgressListener = (progress: RestoreProgress) => void | Promise<void>;

/**
 * Adds up the steps of a call's sampler runs.
 *
 * @example
 * ```ts
 * const progress = new CallProgress(groups.map((g) => g.map((face) => face.params)), onStep);
 * for (const group of groups) {
 *   await sampler.sample({ ...run(group), onStep: progress.nextRun(idsOf(group)) });
 * }
 * ```
 */
export class CallProgress {
  private done = 0;
  private runs = 0;
  private total: number;

  /**
   * @param plannedRuns each planned run's per-image settings (their ω and τ give its model calls)
   * @param listener the caller's listener; without one, nothing is counted
   */
  constructor(
    plannedRuns: readonly (readonly { readonly omega: number; readonly tau: number }[])[],
    private readonly listener: RestoreProgressListener | undefined,
  ) {
    this.total = plannedRuns.reduce((sum, run) => sum + modelCallsOf(run), 0);
  }

  /** The sampler's `onStep` for the next run, over the faces of `images` (undefined without a listener). */
  nextRun(images: readonly string[]): ((progress: Dr2StepProgress) => void | Promise<void>) | undefined {
    const listener = this.listener;
    if (!listener) return undefined;
    const before = this.done;
    const run = ++this.runs;
    return (progress) => {
      this.done = before + progress.step;
      // A rerun takes model calls the plan did not count: the total grows, the count never falls.
      this.total = Math.max(this.total, before + progress.total);
      return listener({ step: this.done, total: this.total, run, images });
    };
  }
}
