/**
 * `dr2e restore`: restore image files and folders with the engine, one batch at a time, a bad
 * file failing alone.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_IMAGE_LIMITS,
  Dr2eEngine,
  EngineError,
  type FaceReport,
  type ImageRestoration,
  type UpscaleFactor,
  InvalidParametersError,
  type InputFramingMode,
  type FitMode,
  type OutputFormat,
  type Device,
  type Dr2ParamsRequest,
  isAutoRequest,
  fidelityIgnoredBy,
} from '../engine/index.js';
import {
  AUTO_PRESET,
  type BackgroundMode,
  type BackgroundReport,
  RESTORE_DEFAULTS,
} from '../../../shared/src/index.js';
import { type PlannedItem, faceCropName, liesOutside, planRestore } from './inputs.js';
import { prepareOutputFolder } from './output-folder.js';
import { createProgress } from './progress.js';
import { writeOutputFile } from './write-output.js';
import { readInputFile } from './read-input.js';

export interface RestoreCommandOptions {
  inputs: string[];
  output: string;
  params: Dr2ParamsRequest;
  seed?: number;
  saveDr2: boolean;
  model?: string;
  enhancer?: string;
  device: Device;
  threads?: number;
  batch: number;
  format: OutputFormat;
  quality?: number;
  fit: FitMode;
  /** Face framing of aligned inputs (see engine/framing); default 'auto'. */
  inputFraming?: InputFramingMode;
  /** Output = input x upscale (default 2). */
  upscale?: UpscaleFactor;
  /** Inputs are aligned face crops (no detection). */
  aligned?: boolean;
  maxFaces?: number;
  minFace?: number;
  /** Whole photos: denoise a noisy photo around its faces (default) or keep its background as it is. */
  background?: BackgroundMode;
  /** Write each face's aligned input and restored face as <basename>.face<i>.{input,restored}.png. */
  saveFaces?: boolean;
  recursive: boolean;
  maxMegapixels?: number;
  /** The use is commercial: non-commercial weights are refused, RetinaFace is not run (Dr2eEngineOptions.commercialUse). */
  commercialUse?: boolean;
  quiet: boolean;
  json: boolean;
}

export interface CommandIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const EXTENSIONS: Record<OutputFormat, string> = { png: '.png', jpeg: '.jpg', webp: '.webp' };

interface FileOutcome {
  input: string;
  ok: boolean;
  output?: string;
  dr2Output?: string;
  code?: string;
  message?: string;
  seed?: number;
  seconds?: number;
  width?: number;
  height?: number;
  upscale?: number;
  /** Restored faces, input pixel coordinates. */
  faces?: FaceReport[];
  skippedFaces?: FaceReport[];
  warnings?: string[];
  /** Whole photos: the noise the background denoiser read, and whether it denoised. */
  background?: BackgroundReport;
  faceFiles?: { input: string; restored: string }[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Run the command; returns the exit status (0 all restored, 1 any file failed). */
export async function runRestore(options: RestoreCommandOptions, io: CommandIo): Promise<number> {
  const extension = EXTENSIONS[options.format];
  const duplicates: { input: string; first: string }[] = [];
  const plan = await planRestore(options.inputs, {
    outDir: options.output,
    extension,
    saveDr2: options.saveDr2,
    saveFaces: options.saveFaces,
    // An aligned crop is one face; a photo writes up to --max-faces pairs.
    maxFaces: options.aligned ? 1 : (options.maxFaces ?? RESTORE_DEFAULTS.maxFaces),
    recursive: options.recursive,
    onDuplicate: (input, first) => duplicates.push({ input, first }),
  });
  if (!options.quiet) {
    for (const note of optionNotes(options, existsSync(options.output))) io.stderr.write(`note: ${note}\n`);
    for (const { input, first } of duplicates) {
      const same = input === first ? 'is named more than once' : `is the same file as ${display(first)}`;
      io.stderr.write(`note: ${display(input)} ${same}; restored once\n`);
    }
  }
  // Before the model loads: a folder that cannot be written fails at once, not after the work.
  await prepareOutputFolder(options.output);
  const startedAt = performance.now();
  const engine = await Dr2eEngine.load({
    ...(options.model ? { model: options.model } : {}),
    ...(options.enhancer ? { enhancer: options.enhancer } : {}),
    device: options.device,
    ...(options.threads ? { intraOpThreads: options.threads } : {}),
    ...(options.commercialUse ? { commercialUse: true } : {}),
  });
  // The model's pipeline may default to a fixed preset, which a --fidelity alone would not move.
  const merged = { ...engine.defaultRequest, ...options.params };
  if (fidelityIgnoredBy(merged) === 'preset') {
    await engine.dispose();
    throw fidelityIgnoredError(String(merged.preset), true);
  }
  const params = engine.resolveParams(options.params);
  const auto = isAutoRequest(merged);
  // With auto, each face has its own (N, tau, omega) (files[].faces[].settings); the resolved
  // fixed params would name a setting that did not run.
  const summaryParams = auto
    ? { preset: 'auto', fidelity: options.params.fidelity ?? RESTORE_DEFAULTS.fidelity, steps: params.steps }
    : params;
  const loadSeconds = (performance.now() - startedAt) / 1000;
  if (!options.quiet) {
    // Whole photos also run the face detector, one of whose graphs is non-commercial.
    const licenses = options.aligned ? engine.licenses : [...engine.licenses, ...engine.detectorLicenses];
    const nonCommercial = licenses.filter((l) => !l.commercialUse).map((l) => l.name);
    io.stderr.write(
      `model ${engine.name} (${engine.resolution}px -> ${engine.outputSize}px, ${options.device}) loaded in ${loadSeconds.toFixed(1)} s; ` +
        (auto
          ? `auto (per face${options.params.fidelity !== undefined ? `, fidelity ${options.params.fidelity}` : ''}) steps=${params.steps}\n`
          : `N=${params.n} tau=${params.tau} omega=${params.omega} steps=${params.steps}\n`),
    );
    if (fidelityIgnoredBy(options.params) === 'explicit') {
      io.stderr.write(
        `note: --fidelity ${String(options.params.fidelity)} is unused: explicit --n/--tau/--omega set the schedule in place of ${AUTO_PRESET}'s per-face choice, which fidelity moves\n`,
      );
    }
    if (auto && !engine.autoCalibrated) {
      io.stderr.write(
        `note: auto's calibration was fitted on the embedded default model, not on ${engine.name}: its per-face choices ` +
          'may keep faces this model could restore. Pass --preset mild|medium|severe (or --n/--tau), or fit a table for it ' +
          'with scripts/calibrate-quality.ts (docs/quality/README.md).\n',
      );
    }
    if (nonCommercial.length > 0) {
      io.stderr.write(
        `note: model weights licensed for non-commercial use only (${[...new Set(nonCommercial)].join(', ')})\n`,
      );
    }
  }

  const outcomes: FileOutcome[] = [];
  /** Files of a folder left out (not failed): formats dr2e cannot read. */
  const skipped: { input: string; code: string; message: string }[] = [];
  const runnable = plan.filter((item): item is PlannedItem & { output: string } => item.output !== null);
  // Skipped files (a folder's unreadable formats) get no line of their own: not counted.
  const reported = plan.filter((item) => !(item.output === null && item.skipped)).length;
  const progress = createProgress(reported, io.stderr, options.quiet || options.json);
  for (const item of plan) {
    if (item.output === null && item.skipped) {
      skipped.push({ input: item.input, code: item.skipped.code, message: item.problem ?? 'skipped' });
    } else if (item.output === null) {
      const outcome = {
        input: item.input,
        ok: false,
        code: item.problemCode ?? 'input_rejected',
        message: item.problem ?? 'cannot process',
      };
      outcomes.push(outcome);
      progress.fileDone(display(item.input), false, outcome.message);
    }
  }

  const requestedUpscale = options.upscale ?? RESTORE_DEFAULTS.upscale;
  const restoreStart = performance.now();
  for (let start = 0; start < runnable.length; start += options.batch) {
    const chunk = runnable.slice(start, start + options.batch);
    const inputs: { id: string; bytes: Uint8Array; seed?: number }[] = [];
    for (const item of chunk) {
      try {
        const bytes = await readInputFile(item.input, DEFAULT_IMAGE_LIMITS.maxFileBytes);
        inputs.push({ id: item.input, bytes, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
      } catch (error) {
        const code = error instanceof EngineError ? error.code : 'read_failed';
        outcomes.push({ input: item.input, ok: false, code, message: errorMessage(error) });
        progress.fileDone(display(item.input), false, `${code}: ${errorMessage(error)}`);
      }
    }
    if (inputs.length === 0) continue;
    let results: ImageRestoration[];
    try {
      results = await engine.restoreImages(inputs, {
        params: options.params,
        format: options.format,
        ...(options.quality !== undefined ? { quality: options.quality } : {}),
        keepDr2: options.saveDr2,
        fit: options.fit,
        ...(options.inputFraming !== undefined ? { inputFraming: options.inputFraming } : {}),
        ...(options.upscale !== undefined ? { upscale: options.upscale } : {}),
        ...(options.aligned ? { aligned: true, batchSize: options.batch } : {}),
        ...(options.maxFaces !== undefined ? { maxFaces: options.maxFaces } : {}),
        ...(options.minFace !== undefined ? { minFace: options.minFace } : {}),
        ...(options.background !== undefined ? { background: options.background } : {}),
        ...(options.saveFaces ? { saveFaces: true } : {}),
        ...(options.maxMegapixels !== undefined
          ? { limits: { maxInputPixels: options.maxMegapixels * 1e6 } }
          : {}),
        onStep: (p) => progress.step(p.step, p.total, p.images.map(display)),
      });
    } catch (error) {
      // A whole batch failed (the model, not an image): report it on every file of the batch.
      for (const input of inputs) {
        const code = (error as { code?: string }).code ?? 'internal_error';
        outcomes.push({ input: input.id, ok: false, code, message: errorMessage(error) });
        progress.fileDone(display(input.id), false, errorMessage(error));
      }
      continue;
    }
    for (const result of results) {
      const item = chunk.find((c) => c.input === result.id);
      if (!item) continue;
      if (!result.ok) {
        outcomes.push({
          input: item.input,
          ok: false,
          code: result.error.code,
          message: result.error.message,
        });
        progress.fileDone(display(item.input), false, `${result.error.code}: ${result.error.message}`);
        continue;
      }
      try {
        // Files from a folder's sub-folders keep their place under the output folder.
        await mkdir(path.dirname(item.output), { recursive: true });
        await writeOutputFile(item.output, result.restored);
        if (item.dr2Output && result.dr2) await writeOutputFile(item.dr2Output, result.dr2);
        const faceFiles: { input: string; restored: string }[] = [];
        for (const crop of result.faceCrops ?? []) {
          const stem = item.output.slice(0, item.output.length - path.extname(item.output).length);
          const files = {
            // Numbered from 1, as the summary's "face 1" lines and the JSON's faces in order.
            input: faceCropName(stem, crop.index, true),
            restored: faceCropName(stem, crop.index, false),
          };
          await writeOutputFile(files.input, crop.input);
          await writeOutputFile(files.restored, crop.restored);
          faceFiles.push(files);
        }
        const t = result.timings;
        outcomes.push({
          input: item.input,
          ok: true,
          output: item.output,
          ...(item.dr2Output ? { dr2Output: item.dr2Output } : {}),
          seed: result.seed,
          seconds: (t.decodeMs + t.detectMs + t.dr2Ms + t.enhanceMs + t.encodeMs) / 1000,
          width: result.width,
          height: result.height,
          upscale: result.upscale,
          faces: result.faces,
          skippedFaces: result.skippedFaces,
          warnings: result.warnings,
          ...(result.background ? { background: result.background } : {}),
          ...(faceFiles.length > 0 ? { faceFiles } : {}),
        });
        const skipped =
          result.skippedFaces.length > 0
            ? `, ${result.skippedFaces.length} skipped (${skippedFacesNote(result.skippedFaces)})`
            : '';
        const keptCount = result.faces.filter((f) => f.settings?.kept).length;
        const kept = keptCount > 0 ? ` (${keptCount} kept as is)` : '';
        const warned =
          result.warnings.length > 0
            ? `; warning: ${warningsNote(result.warnings, requestedUpscale, result.upscale)}`
            : '';
        const denoised = result.background?.denoised
          ? `, background denoised (noise ${result.background.noise.toFixed(1)}${atScale(result.background.enlargement ?? 1)})`
          : '';
        progress.fileDone(
          display(item.input),
          true,
          `-> ${display(item.output)} ${result.width}x${result.height}, ${result.faces.length} face${result.faces.length === 1 ? '' : 's'}${kept}${skipped}${denoised} (seed ${result.seed})${warned}`,
        );
      } catch (error) {
        outcomes.push({ input: item.input, ok: false, code: 'write_failed', message: errorMessage(error) });
        progress.fileDone(display(item.input), false, errorMessage(error));
      }
    }
  }
  progress.stop();
  await engine.dispose();

  const wallSeconds = (performance.now() - restoreStart) / 1000;
  const restored = outcomes.filter((o) => o.ok);
  const failed = outcomes.filter((o) => !o.ok);
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify({ model: engine.name, params: summaryParams, restored: restored.length, failed: failed.length, wallSeconds, files: outcomes, skipped }, null, 2)}\n`,
    );
  } else {
    const perImage = restored.length > 0 ? wallSeconds / restored.length : 0;
    io.stdout.write(
      `restored ${restored.length} of ${outcomes.length} file${outcomes.length === 1 ? '' : 's'} into ${display(path.resolve(options.output))} ` +
        `in ${wallSeconds.toFixed(1)} s (${perImage.toFixed(2)} s per image, model load ${loadSeconds.toFixed(1)} s)\n`,
    );
    for (const f of restored) {
      for (const [i, face] of (f.faces ?? []).entries()) {
        const line = faceSummary(face);
        if (line) io.stdout.write(`  ${display(f.input)} face ${i + 1}: ${line}\n`);
      }
      if (f.warnings && f.warnings.length > 0) {
        const note = warningsNote(f.warnings, requestedUpscale, f.upscale);
        io.stdout.write(`  warning ${display(f.input)}: ${note}\n`);
      }
      if (f.skippedFaces && f.skippedFaces.length > 0) {
        const count = f.skippedFaces.length;
        const flags = [
          f.skippedFaces.some((face) => face.reason === 'min_face') ? 'lower --min-face' : '',
          f.skippedFaces.some((face) => face.reason !== 'min_face') ? 'raise --max-faces' : '',
        ].filter(Boolean);
        io.stdout.write(
          `  ${display(f.input)}: ${count} face${count === 1 ? '' : 's'} left untouched: ${skippedFacesNote(f.skippedFaces)} ` +
            `(${flags.join(' or ')} to restore them)\n`,
        );
      }
    }
    for (const f of failed) io.stdout.write(`  failed ${display(f.input)}: ${f.code}: ${f.message}\n`);
    for (const f of skipped) io.stdout.write(`  skipped ${display(f.input)}: ${f.code}: ${f.message}\n`);
    const hint = keptFacesHint(restored.flatMap((f) => f.faces ?? []));
    if (hint) io.stdout.write(`${hint}\n`);
  }
  return failed.length > 0 ? 1 : 0;
}

/**
 * One face's chosen setting and estimates, e.g.
 * `N=2 tau=15 omega=25, input weight 1, detail 0; noise 0.7 (coarse 7.8), blur 0, jpeg 0.56, 64 px`,
 * or `kept as is (...)` for a face `auto` left as it was.
 */
export function faceSummary(face: FaceReport): string | null {
  const { settings, estimate } = face;
  if (!settings && !estimate) return null;
  const parts: string[] = [];
  if (settings?.kept) {
    parts.push(
      "kept as is (auto: input and detail weight 1: the output is the input enlarged, in photos by the model's face upsampler if it has one)",
    );
  } else if (settings) {
    let text = `N=${settings.n} tau=${settings.tau} omega=${settings.omega}`;
    if (settings.inputWeight !== undefined) text += `, input weight ${settings.inputWeight}`;
    if (settings.detailWeight !== undefined) text += `, detail ${settings.detailWeight}`;
    if (settings.detailAttenuation !== undefined)
      text += ` (noise attenuation ${settings.detailAttenuation})`;
    parts.push(text);
  }
  if (estimate) {
    const colour = estimate.colourNoise !== undefined ? `, colour ${estimate.colourNoise}` : '';
    const coarse = estimate.coarseNoise !== undefined ? ` (coarse ${estimate.coarseNoise}${colour})` : '';
    parts.push(
      `noise ${estimate.noise}${coarse}, blur ${estimate.blur}, jpeg ${estimate.jpeg}${estimate.acZeros !== undefined ? ` (DCT zeros ${estimate.acZeros})` : ''}, ${estimate.faceSize} px`,
    );
  }
  return parts.join('; ');
}

/**
 * The closing hint when `auto` kept faces as they were: a user who sees a face come back
 * unchanged should learn why, and which knob restores it anyway. Null when no face was kept.
 *
 * @example
 * ```ts
 * keptFacesHint(results.flatMap((r) => r.faces)); // '3 of 4 faces were kept as they were: ... Lower --fidelity ...'
 * ```
 */
export function keptFacesHint(faces: readonly FaceReport[]): string | null {
  const keptFaces = faces.filter((f) => f.settings?.kept);
  const kept = keptFaces.length;
  if (kept === 0) return null;
  // Above the default, fidelity only moves faces toward their input: one the default keeps stays kept.
  const highest = Math.max(...keptFaces.map((f) => f.settings?.fidelity ?? RESTORE_DEFAULTS.fidelity));
  const above =
    highest > RESTORE_DEFAULTS.fidelity
      ? ` (--fidelity ${highest} keeps even more of the input than the default ${RESTORE_DEFAULTS.fidelity}, so it cannot restore a face that ${RESTORE_DEFAULTS.fidelity} keeps.)`
      : '';
  return (
    `${kept} of ${faces.length} face${faces.length === 1 ? '' : 's'} ${kept === 1 ? 'was kept as it was' : 'were kept as they were'}: ` +
    "for faces of their size and degradation, auto's calibration found no setting of this model that beats enlarging them " +
    '(in photos they were enlarged by the model\'s face upsampler where it has one, docs/eval/README.md "Kept faces"; ' +
    'docs/quality/README.md). ' +
    'Lower --fidelity (e.g. 0.2) or pass --preset medium to restore them with the prior anyway.' +
    above
  );
}

/**
 * Notes on options that would otherwise pass without a word: `--quality` with PNG (lossless:
 * it changes nothing), and `-o` naming a new folder like an image file (`-o photo.png` is a
 * folder photo.png, with the output inside it).
 *
 * @example
 * ```ts
 * optionNotes({ format: 'png', quality: 50, output: 'out' }, true); // ['--quality 50 changes nothing: ...']
 * ```
 */
export function optionNotes(
  options: Pick<RestoreCommandOptions, 'format' | 'quality' | 'output'>,
  outputExists: boolean,
): string[] {
  const notes: string[] = [];
  if (options.quality !== undefined && options.format === 'png') {
    notes.push(
      `--quality ${options.quality} changes nothing: PNG is lossless (it applies to --format jpeg and webp)`,
    );
  }
  if (!outputExists && /\.(png|jpe?g|webp|avif|heic|heif|tiff?)$/i.test(options.output)) {
    notes.push(
      `-o names a folder: the outputs go into a new folder ${options.output}, named by their inputs (${path.basename(options.output)} is not a file name for the output)`,
    );
  }
  return notes;
}

/**
 * A file's warnings for the text summary: `upscale_capped` says from which upscale to which,
 * and why (the JSON keeps the codes, and the applied `upscale` beside them).
 *
 * @example
 * ```ts
 * warningsNote(['upscale_capped'], 4, 2);
 * // 'upscale_capped (x4 -> x2: the output would have passed the megapixel limit, --max-megapixels, or the format's largest side)'
 * ```
 */
export function warningsNote(
  warnings: readonly string[],
  requested: number,
  applied: number | undefined,
): string {
  return warnings
    .map((warning) =>
      warning === 'upscale_capped' && applied !== undefined
        ? `${warning} (x${requested} -> x${applied}: the output would have passed the megapixel limit, --max-megapixels, or the format's largest side)`
        : warning,
    )
    .join(', ');
}

/**
 * Why faces were left untouched, counted by reason (the flag that left them).
 *
 * @example
 * ```ts
 * skippedFacesNote(result.skippedFaces); // '91 beyond --max-faces, 2 smaller than --min-face'
 * ```
 */
export function skippedFacesNote(skipped: readonly FaceReport[]): string {
  const beyond = skipped.filter((f) => f.reason !== 'min_face').length;
  const small = skipped.length - beyond;
  return [
    beyond > 0 ? `${beyond} beyond --max-faces` : '',
    small > 0 ? `${small} smaller than --min-face` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function display(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return liesOutside(relative) ? file : relative;
}

/**
 * The refusal of a `fidelity` that a fixed preset would ignore: the request's own `--preset`, or
 * (`fromModel`) the one the model's pipeline sets by default.
 */
function fidelityIgnoredError(preset: string, fromModel = false): InvalidParametersError {
  return new InvalidParametersError(
    `--fidelity moves ${AUTO_PRESET}'s per-face choice; ` +
      (fromModel ? `this model's pipeline sets --preset ${preset} by default, ` : `--preset ${preset} is `) +
      `a fixed setting that ignores it (drop --fidelity, or use --preset ${AUTO_PRESET})`,
  );
}

/**
 * Checks that do not need the model (so a typo fails before a slow model load). A `fidelity`
 * beside a fixed preset is refused: the knob would do nothing, silently. Beside explicit N/tau it
 * is allowed (they override `auto`, as documented) and runRestore says it is unused.
 */
export function precheckParams(params: Dr2ParamsRequest): void {
  if (fidelityIgnoredBy(params) === 'preset') throw fidelityIgnoredError(String(params.preset));
  const { n, tau, omega } = params;
  if (n !== undefined && (n < 1 || (n & (n - 1)) !== 0)) {
    throw new InvalidParametersError(`N must be a power of two (1, 2, 4, 8, ...), got ${n}`);
  }
  if (tau !== undefined && omega !== undefined && tau >= omega) {
    throw new InvalidParametersError(`tau (${tau}) must be less than omega (${omega})`);
  }
}

/** The summary's note on a background read at the scale of a photo that is itself an enlargement. */
function atScale(enlargement: number): string {
  return enlargement > 1
    ? ` read at 1/${enlargement} size: the photo is itself an x${enlargement} enlargement`
    : '';
}
