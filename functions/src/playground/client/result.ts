/** The result panel's figures (timings, usage, parameters) and download links. */
import type { BackgroundReport } from '../../../../shared/src/index.js';
import type { PlaygroundJob } from './api.js';
import { el } from './dom.js';

/** Seconds between two ISO timestamps, or undefined when either is missing. */
export function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  const seconds = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(seconds) ? seconds : undefined;
}

const seconds = (value: number | undefined) => (value === undefined ? undefined : `${value.toFixed(1)} s`);

/** Label/value pairs describing a finished job; rows without a value are left out. */
export function jobFigures(job: PlaygroundJob): [string, string][] {
  const t = job.timestamps;
  const end = t.succeeded ?? t.failed ?? t.canceled;
  const params = job.params as Record<string, unknown>;
  const faces = job.output?.faces;
  const kept = faces?.filter((face) => face.settings?.kept).length ?? 0;
  const schedule =
    params.preset !== undefined
      ? `preset ${String(params.preset)}`
      : params.n !== undefined
        ? `N ${String(params.n)}, tau ${String(params.tau)}`
        : 'model default';
  const rows: [string, string | undefined][] = [
    ['Status', job.status],
    ['Waited in queue', seconds(secondsBetween(t.queued, t.running))],
    ['Ran', seconds(secondsBetween(t.running, end))],
    ['Total (upload to result)', seconds(secondsBetween(t.uploaded ?? t.created, end))],
    ['Model time (billed)', job.usage ? `${job.usage.modelSeconds.toFixed(2)} s` : undefined],
    ['Images billed', job.usage ? String(job.usage.images) : undefined],
    ['Faces billed', job.usage?.faces === undefined ? undefined : String(job.usage.faces)],
    ['Attempts', String(job.attempts)],
    [
      'Output',
      job.output?.width && job.output.height
        ? `${job.output.width} x ${job.output.height} ${job.output.format.toUpperCase()}`
        : job.output?.format.toUpperCase(),
    ],
    // Found = restored or kept (`faces`) plus left untouched (`skippedFaces`): counting `faces`
    // alone said "Faces found 1" beside "5 faces were found and left untouched".
    ['Faces found', faces ? String(faces.length + (job.output?.skippedFaces?.length ?? 0)) : undefined],
    // `auto` keeps a face the model would not improve (settings.kept): found, not restored.
    ['Faces restored', faces ? String(faces.filter((face) => !face.settings?.kept).length) : undefined],
    ['Faces kept as they were', kept > 0 ? String(kept) : undefined],
    ['Faces skipped', job.output?.skippedFaces?.length ? String(job.output.skippedFaces.length) : undefined],
    ['Warnings', job.output?.warnings?.length ? job.output.warnings.map(String).join(', ') : undefined],
    ['Background', backgroundFigure(job.output?.background)],
    // `steps` is the length of the respaced schedule (100), not the steps the sampler runs:
    // "model default, 100 steps" stood beside a progress bar that ended at "step 6 of 6".
    [
      'Schedule',
      params.steps === undefined ? schedule : `${schedule}, ${String(params.steps)}-step schedule`,
    ],
    ['Sampler steps run', samplerSteps(job)],
    ['Seed', params.seed === undefined ? undefined : String(params.seed)],
    ['Model', job.model],
    ['Job', job.id],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
}

/**
 * The model calls the sampler made, as its progress counts them ("step i of n"): a face runs
 * from its ω down to its τ, indices into the respaced schedule, so ω - τ + 1 steps of it. From
 * the faces' settings where the job reports them (`auto`; a face kept as it was ran none), else
 * from the job's last progress; undefined when neither says.
 */
export function samplerSteps(job: PlaygroundJob): string | undefined {
  const faces = job.output?.faces ?? [];
  if (faces.length > 0 && faces.every((face) => face.settings)) {
    const ran = new Map<string, { omega: number; tau: number }>();
    for (const { settings } of faces) {
      if (settings && !settings.kept) ran.set(`${settings.omega}/${settings.tau}`, settings);
    }
    const runs = [...ran.values()];
    const [only] = runs;
    if (!only) return 'none (every face kept as it was)';
    if (runs.length === 1) return `${only.omega - only.tau + 1} (ω ${only.omega} down to τ ${only.tau})`;
    const counts = runs.map(({ omega, tau }) => omega - tau + 1);
    return `${Math.min(...counts)} to ${Math.max(...counts)} per face (each from its ω down to its τ)`;
  }
  const progress = job.progress;
  if (!progress || progress.total <= 0) return undefined;
  return progress.step === progress.total ? String(progress.total) : `${progress.step} of ${progress.total}`;
}

/** What the background denoiser did, with the noise it read (absent: not reported, e.g. `keep`). */
function backgroundFigure(report: BackgroundReport | undefined): string | undefined {
  if (!report) return undefined;
  // A photo that is itself an enlargement had its noise read (and denoised) at 1 / enlargement.
  const scale = report.enlargement ? ` at 1/${report.enlargement} size, the photo being itself enlarged` : '';
  // `denoise` asked and not done: the photo read clean, which the user would not guess from "only enlarged".
  const why = report.denoised ? '' : ': it read clean';
  return `${report.denoised ? 'denoised' : 'only enlarged'} (noise ${report.noise.toFixed(1)}${scale}${why})`;
}

/**
 * What the page says, in words, about each warning code of a job (`output.warnings`); a code
 * without a sentence here is shown as it is. A test checks every code the API knows has one.
 */
export const WARNING_TEXT: Readonly<Record<string, string>> = {
  no_face_detected: 'No face was found in this photo: it was enlarged only, nothing was restored.',
  upscale_capped:
    'The enlargement was reduced: the requested one would have exceeded the output size limit or the longest side of the output format.',
  first_frame_only: 'The file holds several frames or pages; only the first was restored.',
  fidelity_unused:
    "Fidelity changed nothing: this deployment's model runs a fixed preset by default. Pick preset auto to use it.",
  aligned_not_square:
    'The photo was restored whole as one aligned face crop, but it is not square as such a crop is. If it is a photo, untick "Aligned face crop" so its faces are found.',
};

/** WARNING_TEXT's `upscale_capped`, saying from which enlargement to which where the job tells. */
function cappedSentence(job: PlaygroundJob): string {
  const requested = Number((job.params as Record<string, unknown>).upscale);
  const applied = job.output?.upscale;
  if (!applied || !Number.isFinite(requested)) return WARNING_TEXT.upscale_capped!;
  return `The enlargement was reduced from ${requested}x to ${applied}x: ${requested}x would have exceeded the output size limit or the longest side of the output format.`;
}

/**
 * Sentences about a finished job that change how its result reads: its warnings, the faces
 * left untouched and those `auto` kept as they were.
 */
export function resultSentences(job: PlaygroundJob): string[] {
  const sentences = (job.output?.warnings ?? []).map((code) =>
    code === 'upscale_capped' ? cappedSentence(job) : (WARNING_TEXT[code] ?? `Warning: ${code}`),
  );
  const skipped = job.output?.skippedFaces ?? [];
  if (skipped.length > 0) {
    const tooMany = skipped.filter((face) => face.reason === 'max_faces').length;
    const tooSmall = skipped.filter((face) => face.reason === 'min_face').length;
    const parts = [
      tooMany > 0 ? `${tooMany} beyond the most faces asked for` : '',
      tooSmall > 0 ? `${tooSmall} smaller than the smallest face asked for` : '',
    ].filter(Boolean);
    sentences.push(
      `${skipped.length} face${skipped.length === 1 ? ' was' : 's were'} found and left untouched (${parts.join(', ')}); dashed boxes mark them.`,
    );
  }
  const kept = job.output?.faces?.filter((face) => face.settings?.kept).length ?? 0;
  if (kept > 0) {
    sentences.push(
      `Faces kept as they were: ${kept} (auto found the model would not improve them; dotted boxes mark them); a lower fidelity, such as 0.2, restores them anyway.`,
    );
  }
  return sentences;
}

export function renderFigures(list: HTMLDListElement, job: PlaygroundJob): void {
  list.replaceChildren(
    ...jobFigures(job).flatMap(([label, value]) => [
      el('dt', { textContent: label }),
      el('dd', { textContent: value }),
    ]),
  );
}

/** A download link for an object URL, named after the job. */
export function downloadLink(label: string, url: string, fileName: string): HTMLAnchorElement {
  return el('a', { href: url, download: fileName, className: 'button', textContent: label });
}
