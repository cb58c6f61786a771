/**
 * Reports of the evaluation: Markdown tables and CSV per (scale, split) and for the whole run,
 * the example strips, and the sweep's grids and curves, written under one output folder:
 *
 *     <out>/results.md            summary, verdicts, every split's table, links to the strips
 *     <out>/results.csv           every row of every split
 *     <out>/degradations.csv      the drawn degradation of every image
 *     <out>/run.json              command, options, model, timings
 *     <out>/tables/x8-severe.md   one table per (scale, split), and .csv
 *     <out>/strips/x8-severe.png  input, bicubic, enhancer only, DR2, DR2E, ground truth
 *
 * and for a sweep: `sweep.md`, `sweep.csv`, `sweep-grid-dr2.png`, `sweep-grid-dr2e.png`,
 * `sweep-curves.png`.
 */
import type { DegradationSplit } from './degrade.js';
import { reportFiles } from './report-files.js';
import { severityOf } from '../engine/index.js';
import {
  type EvaluationResult,
  type MethodScores,
  type SplitResult,
  type SweepResult,
  columnName,
} from './evaluate.js';
import { type ChartPanel, type ChartSeries, renderImageGrid, renderLineCharts } from './visuals.js';

/** Metric columns: key, heading, direction, decimals. */
const METRICS = [
  { key: 'psnr', heading: 'PSNR (dB) ↑', higherIsBetter: true, digits: 2 },
  { key: 'ssim', heading: 'SSIM ↑', higherIsBetter: true, digits: 4 },
  { key: 'gmsd', heading: 'GMSD ↓', higherIsBetter: false, digits: 4 },
  { key: 'idAccuracy', heading: 'ID acc. ↑', higherIsBetter: true, digits: 3 },
  { key: 'idDistance', heading: 'ID dist. ↓', higherIsBetter: false, digits: 4 },
  { key: 'idCosine', heading: 'ID cos (recognizer) ↑', higherIsBetter: true, digits: 4 },
] as const;
type MetricKey = (typeof METRICS)[number]['key'];

function metricValue(row: MethodScores, key: MetricKey): number | undefined {
  return row[key];
}

function formatNumber(value: number | undefined, digits: number): string {
  if (value === undefined) return '';
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  return value.toFixed(digits);
}

/** The name of a row as shown in tables: method and setting. */
export function methodName(row: MethodScores): string {
  switch (row.method) {
    case 'bicubic':
      return 'bicubic';
    case 'enhancer':
      return 'enhancer only';
    case 'dr2':
      return `DR2 only (${row.label})`;
    case 'dr2e':
      return `DR2E (${row.label})`;
  }
}

/**
 * One (scale, split) as a Markdown table; the best value of each metric is bold.
 *
 * @example
 * ```ts
 * formatSplitTable(result.splits[0]); // "| method | N | τ | ω | PSNR (dB) ↑ | ..."
 * ```
 */
export function formatSplitTable(rows: readonly MethodScores[]): string {
  const metrics = METRICS.filter((m) => rows.some((r) => metricValue(r, m.key) !== undefined));
  const best = new Map<MetricKey, number>();
  for (const m of metrics) {
    const values = rows
      .map((r) => metricValue(r, m.key))
      .filter((v): v is number => v !== undefined && !Number.isNaN(v));
    if (values.length > 0) best.set(m.key, m.higherIsBetter ? Math.max(...values) : Math.min(...values));
  }
  const header = ['method', 'N', 'τ', 'ω', ...metrics.map((m) => m.heading), 'time (s)'];
  const lines = [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of rows) {
    const cells = [
      methodName(row),
      row.params ? String(row.params.n) : '',
      row.params ? String(row.params.tau) : '',
      row.params ? String(row.params.omega) : '',
      ...metrics.map((m) => {
        const value = metricValue(row, m.key);
        const text = formatNumber(value, m.digits);
        return value !== undefined && value === best.get(m.key) ? `**${text}**` : text;
      }),
      row.seconds.toFixed(1),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

const CSV_HEADER = [
  'scale',
  'split',
  'method',
  'setting',
  'n',
  'tau',
  'omega',
  'steps',
  'images',
  'psnr',
  'ssim',
  'gmsd',
  'id_accuracy',
  'id_distance',
  'id_cosine',
  'input_size',
  'seconds',
];

function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text =
    typeof value === 'number'
      ? Number.isFinite(value)
        ? String(Number(value.toPrecision(8)))
        : 'inf'
      : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV (header included). */
export function formatScoresCsv(rows: readonly MethodScores[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.scale,
        r.split,
        r.method,
        r.label,
        r.params?.n,
        r.params?.tau,
        r.params?.omega,
        r.params?.steps,
        r.images,
        r.psnr,
        r.ssim,
        r.gmsd,
        r.idAccuracy,
        r.idDistance,
        r.idCosine,
        r.inputSize,
        r.seconds,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Whether a DR2E row beats both baselines on a metric (a missing baseline does not block it). */
export interface Verdict {
  scale: number;
  inputSize?: number;
  split: string;
  setting: string;
  /** Metrics on which this DR2E setting is strictly better than bicubic and enhancer only. */
  beats: string[];
}

/**
 * For every DR2E row: the metrics (SSIM, GMSD, ID accuracy, ID distance; PSNR too) on which it is
 * strictly better than both the bicubic and the enhancer-only baseline of its split.
 */
export function verdicts(split: Pick<SplitResult, 'scale' | 'inputSize' | 'split' | 'scores'>): Verdict[] {
  const baselines = split.scores.filter((r) => r.method === 'bicubic' || r.method === 'enhancer');
  return split.scores
    .filter((r) => r.method === 'dr2e')
    .map((row) => ({
      scale: split.scale,
      ...(split.inputSize !== undefined ? { inputSize: split.inputSize } : {}),
      split: split.split,
      setting: row.label,
      beats: METRICS.filter((m) => {
        const value = metricValue(row, m.key);
        if (value === undefined) return false;
        return baselines.every((b) => {
          const other = metricValue(b, m.key);
          if (other === undefined) return true;
          return m.higherIsBetter ? value > other : value < other;
        });
      }).map((m) => m.heading.replace(/ [↑↓]$/, '')),
    }));
}

/**
 * One table per metric: rows (scale, split), columns bicubic, enhancer only, DR2 only and DR2E
 * per setting; the best value of each row in bold.
 */
export function formatSummaryTables(
  splits: readonly Pick<SplitResult, 'scale' | 'inputSize' | 'split' | 'scores'>[],
): string {
  const columns: { name: string; pick: (rows: readonly MethodScores[]) => MethodScores | undefined }[] = [];
  const seen = new Set<string>();
  for (const split of splits) {
    for (const row of split.scores) {
      const name = methodName(row);
      if (seen.has(name)) continue;
      seen.add(name);
      columns.push({ name, pick: (rows) => rows.find((r) => methodName(r) === name) });
    }
  }
  const out: string[] = [];
  for (const m of METRICS) {
    if (!splits.some((s) => s.scores.some((r) => metricValue(r, m.key) !== undefined))) continue;
    out.push(`**${m.heading}**\n`);
    out.push(`| scale | split | ${columns.map((c) => c.name).join(' | ')} |`);
    out.push(`| --- | --- | ${columns.map(() => '---:').join(' | ')} |`);
    for (const split of splits) {
      const values = columns.map((c) => {
        const row = c.pick(split.scores);
        return row ? metricValue(row, m.key) : undefined;
      });
      const finite = values.filter((v): v is number => v !== undefined && !Number.isNaN(v));
      const best = m.higherIsBetter ? Math.max(...finite) : Math.min(...finite);
      const cells = values.map((v) => {
        const text = formatNumber(v, m.digits);
        return v !== undefined && v === best ? `**${text}**` : text;
      });
      out.push(`| ${columnName(split)} | ${split.split} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

function splitKey(column: { scale: number; inputSize?: number }, split: string): string {
  return `${columnName(column)}-${split}`;
}

export interface RunInfo {
  command: string;
  model: { name: string; resolution: number; outputSize: number; enhancer: boolean };
  cleanSource: string;
  images: number;
  seed: number;
  basis: string | null;
  /** The face recognizer of the `ID cos` column (file name), null when not measured. */
  recognizer?: string | null;
  splits: readonly DegradationSplit[];
}

/** The settings table's mark of a detail attenuation: * for none, its share where partial. */
function attenuationMark(attenuation: number): string {
  if (attenuation === 0) return '*';
  return attenuation === 1 ? '' : ` a ${attenuation.toFixed(3)}`;
}

function rangeText(range: readonly [number, number], digits = 1): string {
  return `[${range[0].toFixed(digits)}, ${range[1].toFixed(digits)}]`;
}

/** Markdown of the whole run: setup, verdicts, summary and per-split tables. */
export function formatEvaluationMarkdown(result: EvaluationResult, info: RunInfo): string {
  const out: string[] = [];
  out.push('# DR2E evaluation\n');
  out.push('Command:\n');
  out.push('```sh\n' + info.command + '\n```\n');
  out.push(
    `Model \`${info.model.name}\` (DR2 at ${info.model.resolution} px, output ${info.model.outputSize} px); ` +
      `${info.images} clean faces from \`${info.cleanSource}\`, seed ${info.seed}; ground truth and all outputs measured at ` +
      `${result.evalSize}x${result.evalSize}. Identity proxy basis: ${info.basis ? `\`${info.basis}\`` : 'none'}; ` +
      `face recognizer (ID cos: cosine of its embeddings to the ground truth's): ${info.recognizer ? `\`${info.recognizer}\`` : 'none'}. ` +
      `Total time ${(result.seconds / 60).toFixed(1)} min.\n`,
  );
  out.push(
    'Degradation splits (σ in pixels of a 512-px face, scaled to the evaluation size; δ on 0-255; noise type drawn per image from Gaussian, Laplace, Poisson):\n',
  );
  out.push('| split | blur σ (512-px face) | noise δ | JPEG q |\n| --- | --- | --- | --- |');
  for (const s of info.splits) {
    out.push(
      `| ${s.name} | ${rangeText(s.sigma512)} | ${rangeText(s.noise)} | ${rangeText(s.jpegQuality, 0)} |`,
    );
  }
  out.push('');
  out.push(
    'Metrics: PSNR on RGB; SSIM on BT.601 luma (11x11 Gaussian window, σ = 1.5); GMSD (perceptual proxy, lower is better); ID acc. = eigenface identification accuracy among all evaluated faces, ID dist. = mean eigenface cosine distance to the own ground truth (see docs/eval/README.md).\n',
  );
  out.push('## Where DR2E beats both baselines\n');
  out.push(
    '| scale | split | DR2E setting | better than bicubic and enhancer only on |\n| --- | --- | --- | --- |',
  );
  for (const split of result.splits) {
    for (const v of verdicts(split)) {
      out.push(
        `| ${columnName(v)} | ${v.split} | ${v.setting} | ${v.beats.length > 0 ? v.beats.join(', ') : '(none)'} |`,
      );
    }
  }
  out.push('');
  out.push('## Summary\n');
  out.push(formatSummaryTables(result.splits));
  if (result.splits.some((split) => split.auto)) out.push(formatAutoChoices(result.splits));
  for (const split of result.splits) {
    const key = splitKey(split, split.split);
    out.push(`## ${columnName(split)} ${split.split}\n`);
    out.push(formatSplitTable(split.scores));
    out.push(`![${columnName(split)} ${split.split} examples](strips/${key}.png)\n`);
    out.push(`Strip: ${split.examples.columns.join(' · ')}. Split time ${split.seconds.toFixed(1)} s.\n`);
  }
  return out.join('\n');
}

/**
 * The `auto` sweep: per input size, each setting the chooser took (N, τ, input weight, detail
 * weight) against the estimated severity of the faces it took it for, and how many faces of each
 * degradation split got it.
 */
export function formatAutoChoices(splits: readonly SplitResult[]): string {
  const out = [
    '## auto: chosen settings against the estimated degradation\n',
    "Per input size, every setting `auto` chose: DR2's (N, τ) (ladder step), the input's share of the model's bands (w) and of the finer bands (g; * = no noise attenuation of the fine bands, a = 0; a 0.xxx = the share of the noise attenuation applied, where a face hedged between cells took part of it); the estimated severity (severityOf: JPEG blocking + coarse noise / 20 + 4 x DCT zero share, the coarse noise capped at 16 on 38-90 px faces read as textured; blocking − fine noise / 8 + 4 x DCT zero share under 37.9 px) of the faces that got it; and how many faces of each split got it. See auto.csv for every face.\n",
  ];
  const columns = [...new Set(splits.filter((s) => s.auto).map((s) => columnName(s)))];
  for (const column of columns) {
    const inColumn = splits.filter((s) => s.auto && columnName(s) === column);
    const names = inColumn.map((s) => s.split);
    const groups = new Map<string, { order: number[]; severities: number[]; counts: Map<string, number> }>();
    for (const split of inColumn) {
      for (const face of split.auto ?? []) {
        const fusion = face.choice.fusion;
        const key =
          `${face.choice.step}: N=${face.params.n} τ=${face.params.tau} / w ${fusion.inputWeight.toFixed(2)} / ` +
          `g ${fusion.detailWeight.toFixed(2)}${attenuationMark(fusion.detailAttenuation ?? 1)}`;
        const group = groups.get(key) ?? {
          order: [face.choice.step, -fusion.inputWeight, -fusion.detailWeight],
          severities: [],
          counts: new Map<string, number>(),
        };
        group.severities.push(severityOf(face.estimate));
        group.counts.set(split.split, (group.counts.get(split.split) ?? 0) + 1);
        groups.set(key, group);
      }
    }
    out.push(`**${column}**\n`);
    out.push(`| step: setting / w / g | faces | severity mean [min, max] | ${names.join(' | ')} |`);
    out.push(`| --- | ---: | --- | ${names.map(() => '---:').join(' | ')} |`);
    const sorted = [...groups.entries()].sort(([, a], [, b]) => {
      for (let i = 0; i < a.order.length; i++)
        if (a.order[i] !== b.order[i]) return a.order[i]! - b.order[i]!;
      return 0;
    });
    for (const [key, group] of sorted) {
      const sev = group.severities;
      const meanSev = sev.reduce((a, b) => a + b, 0) / sev.length;
      out.push(
        `| ${key} | ${sev.length} | ${meanSev.toFixed(2)} [${Math.min(...sev).toFixed(2)}, ${Math.max(...sev).toFixed(2)}] | ` +
          `${names.map((n) => group.counts.get(n) ?? 0).join(' | ')} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/** Write every file of an evaluation run under `outDir`. @returns the files written. */
export async function writeEvaluationReport(
  result: EvaluationResult,
  info: RunInfo,
  outDir: string,
): Promise<string[]> {
  const files = reportFiles(outDir);
  const write = files.write;
  const allRows = result.splits.flatMap((s) => s.scores);
  await write('results.md', formatEvaluationMarkdown(result, info));
  await write('results.csv', formatScoresCsv(allRows));
  const degradationLines = ['scale,split,image,sigma512,noise_type,noise,jpeg_quality'];
  for (const split of result.splits) {
    for (const { id, params } of split.degradations) {
      degradationLines.push(
        [
          params.scale,
          params.split,
          id,
          params.sigma512.toFixed(4),
          params.noiseType,
          params.noise.toFixed(4),
          params.jpegQuality,
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  await write('degradations.csv', `${degradationLines.join('\n')}\n`);
  const autoLines = [
    'column,split,image,noise_est,blur_est,jpeg_est,coarse_noise_est,ac_zeros_est,colour_noise_est,severity,face_size,step,n,tau,omega,input_weight,detail_weight,detail_attenuation',
  ];
  for (const split of result.splits) {
    for (const face of split.auto ?? []) {
      autoLines.push(
        [
          columnName(split),
          split.split,
          face.id,
          face.estimate.noise.toFixed(2),
          face.estimate.blur.toFixed(3),
          face.estimate.jpeg.toFixed(3),
          (face.estimate.coarseNoise ?? 0).toFixed(2),
          (face.estimate.acZeros ?? 0).toFixed(3),
          (face.estimate.colourNoise ?? 0).toFixed(2),
          severityOf(face.estimate).toFixed(3),
          face.estimate.faceSize,
          face.choice.step,
          face.params.n,
          face.params.tau,
          face.params.omega,
          face.choice.fusion.inputWeight.toFixed(3),
          face.choice.fusion.detailWeight.toFixed(3),
          (face.choice.fusion.detailAttenuation ?? 1).toFixed(3),
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  if (autoLines.length > 1) await write('auto.csv', `${autoLines.join('\n')}\n`);
  for (const split of result.splits) {
    const key = splitKey(split, split.split);
    await write(
      `tables/${key}.md`,
      `# ${columnName(split)} ${split.split}\n\n${formatSplitTable(split.scores)}`,
    );
    await write(`tables/${key}.csv`, formatScoresCsv(split.scores));
    if (split.examples.rows.length > 0) {
      await write(
        `strips/${key}.png`,
        await renderImageGrid({
          cells: split.examples.rows,
          columnLabels: split.examples.columns,
          rowLabels: split.examples.ids.map((id) => shortId(id)),
          title: `${columnName(split)} ${split.split}`,
        }),
      );
    }
  }
  await write(
    'run.json',
    `${JSON.stringify(
      {
        ...info,
        evalSize: result.evalSize,
        seconds: Number(result.seconds.toFixed(1)),
        splitSeconds: result.splits.map((s) => ({
          scale: s.scale,
          split: s.split,
          seconds: Number(s.seconds.toFixed(1)),
        })),
        verdicts: result.splits.flatMap((s) => verdicts(s)),
      },
      null,
      2,
    )}\n`,
  );
  return [...files.written];
}

/** A short label for an image id (its base name, shortened). */
function shortId(id: string): string {
  const base = id.split('/').pop() ?? id;
  const stem = base.replace(/(\.jpg)?\.chip\.jpg$|\.[a-z]+$/i, '');
  return stem.length > 14 ? `${stem.slice(0, 13)}…` : stem;
}

/** Markdown of a sweep: the grid of scores per (N, τ). */
export function formatSweepMarkdown(sweep: SweepResult, command: string): string {
  const out: string[] = [];
  out.push(`# DR2E (N, τ) sweep: x${sweep.scale} ${sweep.split}\n`);
  out.push('```sh\n' + command + '\n```\n');
  out.push(
    `Time ${(sweep.seconds / 60).toFixed(1)} min. ω = τ + the engine's default offset for N (capped at K - 1).\n`,
  );
  out.push(formatSplitTable(sweep.scores));
  out.push('![curves](sweep-curves.png)\n');
  out.push(
    `Grids (face \`${sweep.grid.id}\`; rows N, columns τ): DR2 output ![DR2](sweep-grid-dr2.png) and DR2E output ![DR2E](sweep-grid-dr2e.png)\n`,
  );
  return out.join('\n');
}

/** The sweep's metric curves: one panel per metric, a line per N over τ, baselines dashed. */
export function sweepPanels(sweep: SweepResult): ChartPanel[] {
  const baselines = sweep.scores.filter((r) => r.method !== 'dr2e');
  const rows = sweep.scores.filter((r) => r.method === 'dr2e');
  const taus = sweep.taus;
  return METRICS.filter((m) => sweep.scores.some((r) => metricValue(r, m.key) !== undefined)).map((m) => {
    const series: ChartSeries[] = sweep.ns.map((n) => ({
      label: `N=${n}`,
      points: rows
        .filter((r) => r.params?.n === n)
        .map((r) => ({ x: r.params!.tau, y: metricValue(r, m.key) ?? Number.NaN })),
    }));
    for (const b of baselines) {
      const y = metricValue(b, m.key) ?? Number.NaN;
      series.push({
        label: methodName(b),
        dashed: true,
        color: b.method === 'bicubic' ? '#777777' : '#222222',
        points: [
          { x: Math.min(...taus), y },
          { x: Math.max(...taus), y },
        ],
      });
    }
    return {
      title: m.heading,
      xLabel: 'τ (output step, of K)',
      yLabel: m.heading.replace(/ [↑↓]$/, ''),
      series,
    };
  });
}

/** Write a sweep's files under `outDir`. @returns the files written. */
export async function writeSweepReport(
  sweep: SweepResult,
  command: string,
  outDir: string,
): Promise<string[]> {
  const files: [string, string | Uint8Array][] = [
    ['sweep.md', formatSweepMarkdown(sweep, command)],
    ['sweep.csv', formatScoresCsv(sweep.scores)],
    [
      'sweep-curves.png',
      await renderLineCharts(sweepPanels(sweep), {
        title: `DR2E metrics vs τ per N, x${sweep.scale} ${sweep.split}`,
        columns: 3,
      }),
    ],
  ];
  for (const kind of ['dr2', 'dr2e'] as const) {
    files.push([
      `sweep-grid-${kind}.png`,
      await renderImageGrid({
        cells: sweep.grid[kind].map((row, r) => [
          r === 0 ? sweep.grid.input : blank(sweep.grid.input),
          ...row,
          r === 0 ? sweep.grid.truth : blank(sweep.grid.truth),
        ]),
        columnLabels: ['input (bicubic)', ...sweep.taus.map((t) => `τ=${t}`), 'ground truth'],
        rowLabels: sweep.ns.map((n) => `N=${n}`),
        title: `${kind === 'dr2' ? 'DR2 output' : 'DR2E output'}, x${sweep.scale} ${sweep.split}`,
      }),
    ]);
  }
  const out = reportFiles(outDir);
  for (const [name, data] of files) await out.write(name, data);
  return [...out.written];
}

function blank(like: { width: number; height: number }): { data: Uint8Array; width: number; height: number } {
  return {
    data: new Uint8Array(like.width * like.height * 3).fill(255),
    width: like.width,
    height: like.height,
  };
}
