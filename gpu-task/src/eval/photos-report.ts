/**
 * Reports of the whole-photo evaluation: `results.md` (per split: detection, output size, face
 * and whole-image scores of DR2E, bicubic and the pipeline's background alone; the verdict against bicubic; scores by
 * face size; the settings `auto` chose), `results.csv`, `faces.csv`, `photos.csv`, example
 * strips and `run.json`.
 */
import type { SceneOptions } from './photo-scenes.js';
import { reportFiles } from './report-files.js';
import {
  type FaceResult,
  type MethodSummary,
  PHOTO_METHODS,
  type PhotoEvalResult,
  type PhotoSplitResult,
  mean,
  summarise,
} from './photos.js';
import sharp from 'sharp';
import { renderImageGrid } from './visuals.js';
import type { FaceSettings } from '../photo/index.js';

/** A strip as a palette PNG (a third of the bytes; these are committed to the docs). */
async function compactPng(png: Uint8Array): Promise<Uint8Array> {
  const out = await sharp(png).png({ palette: true, quality: 90, effort: 7 }).toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** What the report says about the run. */
export interface PhotoRunInfo {
  command: string;
  model: { name: string; resolution: number; outputSize: number };
  faces: string;
  background: string;
  seed: number;
  photos: number;
  /** Output = photo x upscale. */
  upscale: number;
  /** The synthetic scenes' options (absent when the scenes are real photos). */
  scene?: SceneOptions;
  /**
   * The real photos the scenes are draws of (real-photo-scenes.ts), with the faces found on
   * each clean photo.
   */
  realPhotos?: { name: string; width: number; height: number; faces: number }[];
  params: Record<string, unknown>;
  /** The face region measured: the clean crop's square (`crop`, the default) or the FFHQ-aligned one. */
  region?: 'crop' | 'ffhq';
  /** The pipeline's background mode (absent in runs made before it existed: keep). */
  backgroundMode?: 'denoise' | 'keep';
}

/** Face size bins (crop side in photo pixels) of the by-size table. */
export const SIZE_BINS: readonly { label: string; min: number; max: number }[] = [
  { label: '< 64 px', min: 0, max: 64 },
  { label: '64-100 px', min: 64, max: 100 },
  { label: '>= 100 px', min: 100, max: Infinity },
];

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

function csvField(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Whether DR2E holds against bicubic on a split: identity (eigenface cos) and face SSIM. */
export interface PhotoVerdict {
  split: string;
  idCos: { dr2e?: number; bicubic?: number; holds: boolean };
  /** Face-recognizer identity (absent when not measured). */
  recCos?: { dr2e: number; bicubic: number; holds: boolean };
  ssim: { dr2e: number; bicubic: number; holds: boolean };
  recall: number;
  sizeOk: boolean;
}

export function photoVerdict(split: PhotoSplitResult): PhotoVerdict {
  const rows = summarise(split);
  const dr2e = rows.find((r) => r.method === 'dr2e')!;
  const bicubic = rows.find((r) => r.method === 'bicubic')!;
  const faces = split.photos.reduce((n, p) => n + p.faces, 0);
  return {
    split: split.split,
    idCos: {
      ...(dr2e.idCos !== undefined ? { dr2e: dr2e.idCos } : {}),
      ...(bicubic.idCos !== undefined ? { bicubic: bicubic.idCos } : {}),
      holds: dr2e.idCos === undefined || bicubic.idCos === undefined || dr2e.idCos >= bicubic.idCos,
    },
    ...(dr2e.recCos !== undefined && bicubic.recCos !== undefined
      ? { recCos: { dr2e: dr2e.recCos, bicubic: bicubic.recCos, holds: dr2e.recCos >= bicubic.recCos } }
      : {}),
    ssim: { dr2e: dr2e.faceSsim, bicubic: bicubic.faceSsim, holds: dr2e.faceSsim >= bicubic.faceSsim },
    recall: faces === 0 ? 0 : split.photos.reduce((n, p) => n + p.found, 0) / faces,
    sizeOk: split.photos.every((p) => p.sizeOk),
  };
}

/** Identity differences smaller than this are below the eigenface proxy's resolution. */
export const IDENTITY_TIE = 1e-5;

function idDistance(cos: number | undefined): string {
  return cos === undefined ? '-' : ((1 - cos) * 1e4).toFixed(2);
}

function identityWord(v: PhotoVerdict): string {
  if (v.idCos.holds) return 'holds';
  const gap = (v.idCos.bicubic ?? 0) - (v.idCos.dr2e ?? 0);
  return gap < IDENTITY_TIE ? `tie: ${gap.toExponential(1)} below` : 'LOSES';
}

function summaryRow(split: PhotoSplitResult, row: MethodSummary, first: boolean): string {
  const faces = split.photos.reduce((n, p) => n + p.faces, 0);
  const found = split.photos.reduce((n, p) => n + p.found, 0);
  const extra = split.photos.reduce((n, p) => n + p.extra, 0);
  const sizeOk = split.photos.filter((p) => p.sizeOk).length;
  const lead = first
    ? [
        split.split,
        `${split.photos.length}`,
        `${found}/${faces}`,
        `${extra}`,
        `${sizeOk}/${split.photos.length}`,
      ]
    : ['', '', '', '', ''];
  return `| ${[
    ...lead,
    row.method === 'dr2e' ? '**DR2E**' : row.method,
    fixed(row.facePsnr, 2),
    fixed(row.faceSsim, 4),
    fixed(row.idCos, 5),
    idDistance(row.idCos),
    row.idAccuracy === undefined ? '-' : `${Math.round(row.idAccuracy * 100)} %`,
    fixed(row.recCos, 4),
    fixed(row.wholePsnr, 2),
    fixed(row.wholeSsim, 4),
  ].join(' | ')} |`;
}

function bySizeTable(splits: readonly PhotoSplitResult[]): string {
  const lines = [
    '| split | face side | faces | SSIM DR2E | SSIM bicubic | Δ SSIM | id cos DR2E | id cos bicubic | Δ id cos |',
    '| ----- | --------- | ----: | --------: | -----------: | -----: | ----------: | -------------: | -------: |',
  ];
  for (const split of splits) {
    for (const bin of SIZE_BINS) {
      const inBin = (f: FaceResult): boolean => f.face.side >= bin.min && f.face.side < bin.max;
      const n = split.faces.filter(inBin).length;
      if (n === 0) continue;
      const rows = summarise(split, inBin);
      const d = rows.find((r) => r.method === 'dr2e')!;
      const b = rows.find((r) => r.method === 'bicubic')!;
      const delta = (x: number | undefined, y: number | undefined): string =>
        x === undefined || y === undefined ? '-' : `${x - y >= 0 ? '+' : ''}${(x - y).toFixed(5)}`;
      lines.push(
        `| ${[
          split.split,
          bin.label,
          n,
          fixed(d.faceSsim, 4),
          fixed(b.faceSsim, 4),
          delta(d.faceSsim, b.faceSsim),
          fixed(d.idCos, 5),
          fixed(b.idCos, 5),
          delta(d.idCos, b.idCos),
        ].join(' | ')} |`,
      );
    }
  }
  return lines.join('\n');
}

function settingsTable(splits: readonly PhotoSplitResult[]): string {
  const lines = [
    '| split | (N, τ, ω) chosen | faces | mean est. face size | mean est. noise | mean est. JPEG |',
    '| ----- | ---------------- | ----: | ------------------: | --------------: | -------------: |',
  ];
  for (const split of splits) {
    const groups = new Map<string, FaceResult[]>();
    for (const face of split.faces) {
      const s = face.detected?.settings;
      const key = s ? `(${s.n}, ${s.tau}, ${s.omega})` : 'not found';
      groups.set(key, [...(groups.get(key) ?? []), face]);
    }
    for (const [key, faces] of [...groups].sort()) {
      const est = faces.map((f) => f.detected?.estimate).filter((e) => e !== undefined);
      lines.push(
        `| ${[
          split.split,
          key,
          faces.length,
          fixed(mean(est.map((e) => e.faceSize)), 1),
          fixed(mean(est.map((e) => e.noise)), 2),
          fixed(mean(est.map((e) => e.jpeg)), 3),
        ].join(' | ')} |`,
      );
    }
  }
  return lines.join('\n');
}

/** The markdown report. */
export function formatPhotoMarkdown(result: PhotoEvalResult, info: PhotoRunInfo): string {
  const { scene, upscale } = info;
  const scenes = scene
    ? `${info.photos} photos per split of ${scene.width}x${scene.height} px, ${scene.faces} faces each ` +
      `(crop side ${scene.minSide}-${scene.maxSide} px, log-uniform; rotation within ±${Math.round((scene.maxAngle * 180) / Math.PI)}°), ` +
      `faces from ${info.faces}; background: ${info.background}; ground truth and outputs at x${upscale} ` +
      `(${scene.width * upscale}x${scene.height * upscale}).`
    : `${info.photos} photos per split, each a draw of the split's degradation of a real clean photo at 1/${upscale} of its size ` +
      `(${(info.realPhotos ?? []).map((p) => `${p.name}, ${p.width}x${p.height}, ${p.faces} faces`).join('; ')}); ` +
      `the faces are those the detector finds in the clean photo, each region the frame the pipeline would align it to there; ` +
      `ground truth: the clean photo; outputs at x${upscale}.`;
  const out: string[] = [
    '# Whole-photo evaluation',
    '',
    'Command:',
    '',
    '```sh',
    info.command,
    '```',
    '',
    `Model ${info.model.name} (${info.model.resolution} px -> ${info.model.outputSize} px); request ${JSON.stringify(info.params)}; ` +
      `seed ${info.seed}. ${scenes} Total ${(result.seconds / 60).toFixed(1)} min.`,
    '',
    info.region === 'ffhq'
      ? `Face regions here are FFHQ-aligned: the square around each ${scene ? 'clean crop' : "face's frame"} that puts its face where the FFHQ template does (about 1.6 times the ${scene ? "crop's" : "frame's"} side: hair, ears, background), scored with the recognizer at FFHQ framing.`
      : scene
        ? "Face regions are the clean crops' own squares."
        : "Face regions are the faces' frames (the model's framing).",
    '',
    'Face scores are measured in each face region (at ground-truth scale, cut by the known',
    'transform from every output alike); id cos = eigenface cosine to the ground truth region (higher is better),',
    'id dist = 1 - id cos, x10⁴; id acc = identified among all faces of the split; whole = the whole image against',
    "the ground truth. Identity differences below 1e-5 are under the proxy's resolution (8-bit rounding moves it",
    'that much) and are called a tie. recognizer cos = cosine of face-recognition embeddings (eval/recognizer.ts) of',
    'the region and the ground truth region: the identity measure of record.',
    "`background` is the pipeline's own background of the whole photo with no face pasted (background mode `" +
      (info.backgroundMode ?? 'keep') +
      '`; `denoise` denoises a photo that reads noisy before enlarging it, here with no face left out, where the',
    'pipeline leaves the faces it keeps as they were); what the restored faces add is the',
    'difference to it); `bicubic` is MATLAB-style bicubic x' +
      String(upscale) +
      ' of the whole degraded photo.',
    '',
    '| split | photos | found | extra | size ok | method | face PSNR | face SSIM | id cos | id dist x10⁴ | id acc | recognizer cos | whole PSNR | whole SSIM |',
    '| ----- | -----: | ----: | ----: | ------: | ------ | --------: | --------: | -----: | -----------: | -----: | -------------: | ---------: | ---------: |',
  ];
  for (const split of result.splits) {
    summarise(split).forEach((row, i) => out.push(summaryRow(split, row, i === 0)));
  }
  out.push('', '## Verdict: DR2E against bicubic x' + upscale + ' of the whole photo', '');
  for (const split of result.splits) {
    const v = photoVerdict(split);
    out.push(
      `- **${v.split}**: recall ${Math.round(v.recall * 100)} %, output size ${v.sizeOk ? 'exact' : 'WRONG'}; ` +
        `identity ${fixed(v.idCos.dr2e, 5)} vs ${fixed(v.idCos.bicubic, 5)} (${identityWord(v)}); ` +
        (v.recCos
          ? `recognizer ${fixed(v.recCos.dr2e, 4)} vs ${fixed(v.recCos.bicubic, 4)} (${v.recCos.holds ? 'holds' : 'LOSES'}); `
          : '') +
        `SSIM ${fixed(v.ssim.dr2e, 4)} vs ${fixed(v.ssim.bicubic, 4)} (${v.ssim.holds ? 'holds' : 'LOSES'})`,
    );
  }
  out.push('', '## By face size', '', bySizeTable(result.splits), '');
  out.push(
    '## Settings `auto` chose (from the pipeline’s face reports)',
    '',
    settingsTable(result.splits),
    '',
  );
  out.push(
    '## Files',
    '',
    '`results.csv` (this table), `faces.csv` (every face: placement, detection, settings, estimates, scores),',
    '`photos.csv` (every photo: degradation, sizes, detection, whole-image scores), `strips/<split>.png`',
    '(input region, DR2E, bicubic, background alone, ground truth), `run.json`.',
    '',
  );
  return out.join('\n');
}

function resultsCsv(result: PhotoEvalResult): string {
  const lines = [
    'split,method,face_psnr,face_ssim,id_cos,id_accuracy,whole_psnr,whole_ssim,recall,size_ok,rec_cos',
  ];
  for (const split of result.splits) {
    const v = photoVerdict(split);
    for (const row of summarise(split)) {
      lines.push(
        [
          split.split,
          row.method,
          fixed(row.facePsnr, 4),
          fixed(row.faceSsim, 5),
          fixed(row.idCos, 5),
          fixed(row.idAccuracy, 4),
          fixed(row.wholePsnr, 4),
          fixed(row.wholeSsim, 5),
          v.recall.toFixed(4),
          v.sizeOk,
          fixed(row.recCos, 5),
        ].join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function facesCsv(result: PhotoEvalResult): string {
  const methodColumns = PHOTO_METHODS.flatMap((m) => [
    `${m}_psnr`,
    `${m}_ssim`,
    `${m}_id_cos`,
    `${m}_identified`,
    `${m}_rec_cos`,
  ]);
  const lines = [
    [
      'split',
      'photo',
      'face',
      'side',
      'angle_deg',
      'found',
      'n',
      'tau',
      'omega',
      'box_side',
      'est_face_size',
      'est_noise',
      'est_blur',
      'est_jpeg',
      'est_coarse_noise',
      'est_ac_zeros',
      'est_colour_noise',
      'input_weight',
      'detail_weight',
      'detail_attenuation',
      ...methodColumns,
    ].join(','),
  ];
  for (const split of result.splits) {
    for (const f of split.faces) {
      const s = f.detected?.settings;
      const e = f.detected?.estimate;
      lines.push(
        [
          split.split,
          f.photo,
          f.face.id,
          f.face.side.toFixed(1),
          ((f.face.angle * 180) / Math.PI).toFixed(1),
          f.detected !== undefined,
          s?.n,
          s?.tau,
          s?.omega,
          f.detected ? Math.sqrt(f.detected.box[2] * f.detected.box[3]).toFixed(1) : undefined,
          e?.faceSize,
          e?.noise,
          e?.blur,
          e?.jpeg,
          e?.coarseNoise,
          e?.acZeros,
          e?.colourNoise,
          s?.inputWeight,
          s?.detailWeight,
          detailAttenuationOf(s),
          ...PHOTO_METHODS.flatMap((m) => [
            f.scores[m].psnr.toFixed(3),
            f.scores[m].ssim.toFixed(5),
            f.scores[m].idCos?.toFixed(5),
            f.identified?.[m],
            f.scores[m].recCos?.toFixed(5),
          ]),
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function photosCsv(result: PhotoEvalResult): string {
  const lines = [
    [
      'split',
      'photo',
      'sigma512',
      'noise_type',
      'noise',
      'jpeg_quality',
      'width',
      'height',
      'output_width',
      'output_height',
      'size_ok',
      'faces',
      'found',
      'extra',
      ...PHOTO_METHODS.flatMap((m) => [`${m}_whole_psnr`, `${m}_whole_ssim`]),
      'warnings',
      'seconds',
    ].join(','),
  ];
  for (const split of result.splits) {
    for (const p of split.photos) {
      lines.push(
        [
          split.split,
          p.id,
          p.degradation.sigma512.toFixed(3),
          p.degradation.noiseType,
          p.degradation.noise.toFixed(3),
          p.degradation.jpegQuality,
          p.width,
          p.height,
          p.outputWidth,
          p.outputHeight,
          p.sizeOk,
          p.faces,
          p.found,
          p.extra,
          ...PHOTO_METHODS.flatMap((m) => [p.whole[m].psnr.toFixed(3), p.whole[m].ssim.toFixed(5)]),
          p.warnings.join(' '),
          p.seconds.toFixed(1),
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Write every file of a run under `outDir`. @returns the files written. */
export async function writePhotoReport(
  result: PhotoEvalResult,
  info: PhotoRunInfo,
  outDir: string,
): Promise<string[]> {
  const files = reportFiles(outDir);
  const write = files.write;
  await write('results.md', formatPhotoMarkdown(result, info));
  await write('results.csv', resultsCsv(result));
  await write('faces.csv', facesCsv(result));
  await write('photos.csv', photosCsv(result));
  for (const split of result.splits) {
    if (split.examples.length === 0) continue;
    await write(
      `strips/${split.split}.png`,
      await compactPng(
        await renderImageGrid({
          cells: split.examples.map((e) => e.cells),
          columnLabels: ['input', 'DR2E', 'bicubic', 'background alone', 'ground truth'],
          rowLabels: split.examples.map((e) => e.label),
          title: `whole photos, ${split.split}: face regions at x${info.upscale}`,
          cellSize: 160,
        }),
      ),
    );
  }
  await write(
    'run.json',
    `${JSON.stringify(
      {
        ...info,
        seconds: Number(result.seconds.toFixed(1)),
        splitSeconds: result.splits.map((s) => ({
          split: s.split,
          seconds: Number(s.seconds.toFixed(1)),
          pipelineSeconds: Number(s.pipelineSeconds.toFixed(1)),
        })),
        verdicts: result.splits.map(photoVerdict),
      },
      null,
      2,
    )}\n`,
  );
  return [...files.written];
}

/**
 * A face's detail attenuation as the fusion applied it: the report's field where it is partial,
 * 0 for a kept face, 1 for any other face `auto` chose for, none for a fixed setting.
 */
function detailAttenuationOf(settings: FaceSettings | undefined): number | undefined {
  if (settings?.inputWeight === undefined) return undefined;
  return settings.detailAttenuation ?? (settings.kept ? 0 : 1);
}
