/**
 * Issue 11's acceptance table from `dr2e eval` runs: per input size and split, `auto` against
 * bicubic (PSNR, SSIM, identity) and against the best fixed preset (identity), with the verdict.
 * Reads the results.csv of one or more eval output folders (e.g. one per group of sizes, or the
 * presets and auto run apart on the same faces and seed) and prints a markdown table.
 *
 *   npx tsx scripts/quality-acceptance.ts docs/eval/quality/auto-small docs/eval/quality/auto-large \
 *     docs/eval/quality/presets-small docs/eval/quality/presets-large
 *
 * Identity is the eval's eigenface proxy: accuracy (higher is better), then mean cosine distance
 * to the own ground truth (lower is better); "at least as good" on identity means accuracy not
 * lower and distance not higher. Ties count as met (equal to bicubic where auto keeps the input).
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
    };
  });
}

/** Identity at least as good: accuracy not lower, distance not higher (strictly, as the CSV gives them). */
function identityAtLeast(a: Row, b: Row): boolean {
  return a.idAccuracy >= b.idAccuracy && a.idDistance <= b.idDistance;
}

function fmt(row: Row): string {
  return `${row.psnr.toFixed(2)} / ${row.ssim.toFixed(4)} / ${row.idAccuracy.toFixed(3)} / ${row.idDistance.toFixed(5)}`;
}

async function main(): Promise<void> {
  const folders = process.argv.slice(2);
  if (folders.length === 0) throw new Error('usage: quality-acceptance.ts <eval folder>...');
  const rows = (await Promise.all(folders.map(readRows))).flat();
  const keys = [...new Set(rows.filter((r) => r.setting === 'auto').map((r) => `${r.inputSize}|${r.split}`))];
  const out = [
    '| size | split | faces | bicubic | auto | best fixed preset (identity) | auto ≥ bicubic (PSNR, SSIM, ID) | auto ≥ best preset (ID) |',
    '| ---: | --- | ---: | --- | --- | --- | --- | --- |',
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
    const best = [...presets].sort((a, b) => b.idAccuracy - a.idAccuracy || a.idDistance - b.idDistance)[0];
    const vsBicubic = bicubic
      ? [auto.psnr >= bicubic.psnr, auto.ssim >= bicubic.ssim, identityAtLeast(auto, bicubic)]
      : null;
    const vsPreset = best ? identityAtLeast(auto, best) : null;
    const mark = (ok: boolean) => (ok ? 'yes' : '**no**');
    if (vsBicubic?.includes(false) || vsPreset === false) allMet = false;
    out.push(
      `| ${size} | ${split} | ${auto.images} | ${bicubic ? fmt(bicubic) : '–'} | ${fmt(auto)} | ` +
        `${best ? `${best.setting}: ${best.idAccuracy.toFixed(3)} / ${best.idDistance.toFixed(5)}` : '–'} | ` +
        `${vsBicubic ? vsBicubic.map(mark).join(', ') : '–'} | ${vsPreset === null ? '–' : mark(vsPreset)} |`,
    );
  }
  out.push('', 'Cells: PSNR (dB) / SSIM / ID acc. / ID dist. (eigenface proxy).');
  out.push(allMet ? 'Every row meets the acceptance.' : 'Not every row meets the acceptance (**no** above).');
  console.log(out.join('\n'));
}

await main();
