/** The result panel's figures (timings, usage, parameters) and download links. */
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
    ['Faces found', faces ? String(faces.length) : undefined],
    // `auto` keeps a face the model would not improve (settings.kept): found, not restored.
    ['Faces restored', faces ? String(faces.filter((face) => !face.settings?.kept).length) : undefined],
    ['Faces kept as they were', kept > 0 ? String(kept) : undefined],
    ['Faces skipped', job.output?.skippedFaces?.length ? String(job.output.skippedFaces.length) : undefined],
    ['Warnings', job.output?.warnings?.length ? job.output.warnings.map(String).join(', ') : undefined],
    ['Schedule', `${schedule}, ${String(params.steps)} steps`],
    ['Seed', params.seed === undefined ? undefined : String(params.seed)],
    ['Model', job.model],
    ['Job', job.id],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
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
