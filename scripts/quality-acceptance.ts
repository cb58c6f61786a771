/**
 * Issue 11's acceptance table from `dr2e eval` runs: per input size and split, `auto` against
 * bicubic (PSNR, SSIM, identity) and against the best fixed preset (identity), with the verdict.
 * Reads the results.csv of one or more eval output folders (e.g. one per group of sizes, or the
 * presets and auto run apart on the same faces and seed) and prints a markdown table.
 *
 *   npx tsx scripts/quality-acceptance.ts docs/eval/quality/auto-small docs/eval/quality/auto-large \
 *     docs/eval/quality/presets-small docs/eval/quality/presets-large
 *
 * Identity is the face recognizer's mean cosine to the own ground truth (`ID cos`, higher is
 * better; eval/recognizer.ts) when the runs measured it; otherwise the eigenface proxy: accuracy
 * (higher is better), then mean cosine distance (lower is better). Ties count as met (equal to
 * bicubic where auto keeps the input). With a run of `--settings 4:22` beside them, the former
 * default (N = 4, τ = 22 on the 64-px model, before `auto`) gets a column too: issue 11 asks
 * identity on 32 and 64 px faces to rise over it and PSNR not to fall.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface Row {
  inputSize: number;
  split: string;
  method: string;
  setting: string;
  images: number;
  psnr: number;
  ssim: number;
  idAccuracy: number;
  idDistance: number;
  /** Recognizer cosine; NaN when the run did not measure it. */
  idCosine: number;
}

async function readRows(folder: string): Promise<Row[]> {
  const lines = (await readFile(path.join(folder, 'results.csv'), 'utf8')).trim().split('\n');
  const head = lines[0]!.split(',');
  const at = (cells: string[], name: string) => cells[head.indexOf(name)] ?? '';
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return {
      inputSize: Number(at(cells, 'input_size')),
      split: at(cells, 'split'),
      method: at(cells, 'method'),
      setting: at(cells, 'setting'),
      images: Number(at(cells, 'images')),
      psnr: Number(at(cells, 'psnr')),
      ssim: Number(at(cells, 'ssim')),
      idAccuracy: Number(at(cells, 'id_accuracy')),
      idDistance: Number(at(cells, 'id_distance')),
      idCosine:
        head.includes('id_cosine') && at(cells, 'id_cosine') !== '' ? Number(at(cells, 'id_cosine')) : NaN,
    };
  });
}

const byRecognizer = (a: Row, b: Row) => !Number.isNaN(a.idCosine) && !Number.isNaN(b.idCosine);

/**
 * Identity at least as good (strictly, as the CSV gives them): the recognizer's cosine not lower;
 * without it, eigenface accuracy not lower and distance not higher.
 */
function identityAtLeast(a: Row, b: Row): boolean {
  if (byRecognizer(a, b)) return a.idCosine >= b.idCosine;
  return a.idAccuracy >= b.idAccuracy && a.idDistance <= b.idDistance;
}

/** Better identity first (for picking the best preset). */
function identityOrder(a: Row, b: Row): number {
  if (byRecognizer(a, b)) return b.idCosine - a.idCosine;
  return b.idAccuracy - a.idAccuracy || a.idDistance - b.idDistance;
}

function identityText(row: Row): string {
  const cos = Number.isNaN(row.idCosine) ? '' : `${row.idCosine.toFixed(4)} / `;
  return `${cos}${row.idDistance.toFixed(5)}`;
}

function fmt(row: Row): string {
  return `${row.psnr.toFixed(2)} / ${row.ssim.toFixed(4)} / ${identityText(row)}`;
}

const FORMER_DEFAULT = 'N=4 τ=22';

async function main(): Promise<void> {
  const folders = process.argv.slice(2);
  if (folders.length === 0) throw new Error('usage: quality-acceptance.ts <eval folder>...');
  const rows = (await Promise.all(folders.map(readRows))).flat();
  const keys = [...new Set(rows.filter((r) => r.setting === 'auto').map((r) => `${r.inputSize}|${r.split}`))];
  const out = [
    '| size | split | faces | bicubic | auto | best fixed preset (identity) | former default | auto ≥ bicubic (PSNR, SSIM, ID) | auto ≥ best preset (ID) | auto vs former default (ID up, PSNR kept) |',
    '| ---: | --- | ---: | --- | --- | --- | --- | --- | --- | --- |',
  ];
  let allMet = true;
  for (const key of keys) {
    const [size, split] = key.split('|');
    const here = rows.filter((r) => String(r.inputSize) === size && r.split === split);
    const auto = here.find((r) => r.setting === 'auto')!;
    const bicubics = here.filter((r) => r.method === 'bicubic');
    // Runs combined here must hold the same faces and degradations: their bicubic rows agree.
    if (bicubics.some((b) => b.psnr !== bicubics[0]!.psnr || b.idDistance !== bicubics[0]!.idDistance)) {
      throw new Error(
        `${size} px ${split}: the folders' bicubic rows differ (other faces, seed or degradations)`,
      );
    }
    const bicubic = bicubics[0];
    const presets = here.filter(
      (r) => r.method === 'dr2e' && ['mild', 'medium', 'severe'].includes(r.setting),
    );
    const best = [...presets].sort(identityOrder)[0];
    const former = here.find((r) => r.setting === FORMER_DEFAULT);
    const vsFormer = former
      ? [
          byRecognizer(auto, former) ? auto.idCosine > former.idCosine : identityAtLeast(auto, former),
          auto.psnr >= former.psnr,
        ]
      : null;
    const vsBicubic = bicubic
      ? [auto.psnr >= bicubic.psnr, auto.ssim >= bicubic.ssim, identityAtLeast(auto, bicubic)]
      : null;
    const vsPreset = best ? identityAtLeast(auto, best) : null;
    const mark = (ok: boolean) => (ok ? 'yes' : '**no**');
    if (vsBicubic?.includes(false) || vsPreset === false) allMet = false;
    out.push(
      `| ${size} | ${split} | ${auto.images} | ${bicubic ? fmt(bicubic) : '–'} | ${fmt(auto)} | ` +
        `${best ? `${best.setting}: ${identityText(best)}` : '–'} | ${former ? fmt(former) : '–'} | ` +
        `${vsBicubic ? vsBicubic.map(mark).join(', ') : '–'} | ${vsPreset === null ? '–' : mark(vsPreset)} | ` +
        `${vsFormer ? vsFormer.map(mark).join(', ') : '–'} |`,
    );
  }
  out.push(
    '',
    'Cells: PSNR (dB) / SSIM / ID cos (face recognizer, higher is better) / ID dist. (eigenface proxy, lower is better).',
    'Identity verdicts use the recognizer where the runs measured it. The former-default column is informative',
    '(issue 11 asks identity on 32 and 64 px faces to rise over it, PSNR not to fall), not part of "every row meets".',
  );
  out.push(allMet ? 'Every row meets the acceptance.' : 'Not every row meets the acceptance (**no** above).');
  console.log(out.join('\n'));
}

await main();
