/**
 * The evaluation: clean faces -> synthetic degradations (degrade.ts) -> DR2E and the baselines
 * -> metrics (metrics.ts, eigenfaces.ts), per downsampling factor and severity split; and the
 * (N, τ) sweep.
 *
 * Sizes: the ground truth is the clean face resized (bicubic) to the evaluation size E = the
 * engine's output size (the enhancer's output, 128 for the default model). Every method's
 * output is measured at E:
 * - `bicubic`: the degraded low-resolution image y upsampled to E (bicubic);
 * - `enhancer`: y upsampled (bicubic) to DR2's resolution S, then the enhancer stage (which
 *   resizes to its input size and runs the network), output E;
 * - `dr2`: DR2's coarse output x0 at S, upsampled to E (bicubic), for reference;
 * - `dr2e`: DR2 on y upsampled to S, then the enhancer: the full method.
 * All outputs are rounded to 8 bits before measuring, as saved images would be.
 */
import {
  InvalidParametersError,
  type Dr2eEngine,
  FFHQ_FRAMING,
  type FaceFraming,
  cutSquare,
  planFaceCrop,
  roundSquare,
  decodeImageToRgb,
  tensorToRgb8,
  type RgbImage,
  type Dr2Params,
  type Dr2ParamsRequest,
  type DegradationEstimate,
  type QualityChoice,
  deriveSeed,
} from '../engine/index.js';
import type { CleanFaceRef } from './clean-faces.js';
import { type DegradationParams, type DegradationSplit, degradeFace, sampleDegradation } from './degrade.js';
import { type EigenfaceBasis, faceVector, identify, projectFace } from './eigenfaces.js';
import { gmsd, psnr, ssim } from './metrics.js';
import { enlargeNearest, resizeRgb, rgbIntoTensor } from './planes.js';
import { runAuto } from './auto.js';
import { embeddingCosine, type RecognizerScoring } from './recognizer.js';

export type MethodKind = 'bicubic' | 'enhancer' | 'dr2' | 'dr2e';

/** A DR2 setting to evaluate: a preset or explicit N, τ (ω). */
export interface Dr2Config {
  label: string;
  request: Dr2ParamsRequest;
}

/** Mean scores of one method on one (scale, split). */
export interface MethodScores {
  scale: number;
  /** Input face size (px) for input-size columns; absent for downscaling-factor columns. */
  inputSize?: number;
  split: string;
  method: MethodKind;
  /** Config label for dr2 / dr2e rows, else the method name. */
  label: string;
  params?: Dr2Params;
  images: number;
  psnr: number;
  ssim: number;
  gmsd: number;
  /** Eigenface identification accuracy (absent without a basis). */
  idAccuracy?: number;
  /** Mean eigenface cosine distance to the own ground truth (absent without a basis). */
  idDistance?: number;
  /**
   * Mean cosine similarity of face-recognition embeddings to the own ground truth (absent
   * without a recognizer): the identity measure of record (recognizer.ts).
   */
  idCosine?: number;
  /** Wall time of producing this method's outputs (not the metrics), seconds. */
  seconds: number;
}

/** The per-image outputs of one method. */
export interface MethodOutputs {
  method: MethodKind;
  label: string;
  params?: Dr2Params;
  images: RgbImage[];
  seconds: number;
}

/** Clean faces decoded and brought to the evaluation size. */
export interface GroundTruth {
  ids: string[];
  images: RgbImage[];
  /** Eigenface coefficients of each ground truth (empty without a basis). */
  coefficients: Float64Array[];
  /** The clean square crops before resizing (for ground truths at other sizes). */
  squares: RgbImage[];
}

/** How the clean faces are framed: like the model's training crops, or FFHQ-aligned (cropped to the model's framing first). */
export type CleanFraming = 'model' | 'ffhq';

/**
 * Decode the clean faces and resize them to the evaluation size E (bicubic, antialiased).
 * Non-square faces are centre-cropped to a square; with `framing: 'ffhq'` and a model that
 * declares another framing, each face is first cut to the model's framing (framing module).
 */
export async function loadGroundTruth(
  faces: readonly CleanFaceRef[],
  size: number,
  options: { basis: EigenfaceBasis | null; framing?: CleanFraming; modelFraming?: FaceFraming },
): Promise<GroundTruth> {
  const images: RgbImage[] = [];
  const squares: RgbImage[] = [];
  for (const face of faces) {
    const { image } = await decodeImageToRgb(await face.read());
    let square: RgbImage;
    if (options.framing === 'ffhq' && options.modelFraming) {
      const plan = planFaceCrop(image.width, image.height, FFHQ_FRAMING, options.modelFraming, 'crop');
      square = cutSquare(image, roundSquare(plan.crop));
    } else {
      const side = Math.min(image.width, image.height);
      square = cutSquare(image, {
        left: Math.floor((image.width - side) / 2),
        top: Math.floor((image.height - side) / 2),
        side,
      });
    }
    squares.push(square);
    images.push(resizeRgb(square, size, size));
  }
  const coefficients = options.basis
    ? images.map((image) =>
        projectFace(options.basis as EigenfaceBasis, faceVector(image, options.basis!.size)),
      )
    : [];
  return { ids: faces.map((f) => f.id), images, coefficients, squares };
}

/** The same faces' ground truth at another size (resized from the clean squares). */
export function truthAtSize(truth: GroundTruth, size: number, basis: EigenfaceBasis | null): GroundTruth {
  if (truth.images[0]?.width === size) return truth;
  const images = truth.squares.map((square) => resizeRgb(square, size, size));
  const coefficients = basis ? images.map((image) => projectFace(basis, faceVector(image, basis.size))) : [];
  return { ids: truth.ids, images, coefficients, squares: truth.squares };
}

/** The degraded inputs of one (scale, split), ready for every method. */
export interface PreparedSplit {
  scale: number;
  split: DegradationSplit;
  degradations: DegradationParams[];
  lowRes: RgbImage[];
  /** DR2's input: y upsampled (bicubic) to S and rounded to 8 bits, as a batch `[n, 3, S, S]`. */
  modelInput: Float32Array;
}

/** Degrade every ground truth for one (scale, split). */
export async function prepareSplit(
  engine: Pick<Dr2eEngine, 'resolution'>,
  truth: GroundTruth,
  scale: number,
  split: DegradationSplit,
  seed: number,
): Promise<PreparedSplit> {
  const s = engine.resolution;
  const degradations: DegradationParams[] = [];
  const lowRes: RgbImage[] = [];
  const modelInput = new Float32Array(truth.images.length * 3 * s * s);
  for (let i = 0; i < truth.images.length; i++) {
    const params = sampleDegradation(seed, truth.ids[i]!, scale, split);
    const degraded = await degradeFace(truth.images[i]!, params, seed, truth.ids[i]!);
    degradations.push(params);
    lowRes.push(degraded.lowRes);
    rgbIntoTensor(resizeRgb(degraded.lowRes, s, s), modelInput, i);
  }
  return { scale, split, degradations, lowRes, modelInput };
}

function sliceBatch(tensor: Float32Array, start: number, count: number, size: number): Float32Array {
  const per = 3 * size * size;
  return tensor.subarray(start * per, (start + count) * per);
}

function tensorImages(tensor: Float32Array, count: number, size: number): RgbImage[] {
  const per = 3 * size * size;
  return Array.from({ length: count }, (_, b) => ({
    data: tensorToRgb8(tensor.subarray(b * per, (b + 1) * per), size, size),
    width: size,
    height: size,
  }));
}

/** The bicubic baseline: y upsampled to E. */
export function runBicubic(prepared: PreparedSplit, size: number): MethodOutputs {
  const start = performance.now();
  const images = prepared.lowRes.map((image) => resizeRgb(image, size, size));
  return { method: 'bicubic', label: 'bicubic', images, seconds: (performance.now() - start) / 1000 };
}

/** The enhancer alone on y upsampled to S (null when the engine has no enhancer). */
export async function runEnhancerOnly(
  engine: Dr2eEngine,
  prepared: PreparedSplit,
  batch: number,
): Promise<MethodOutputs | null> {
  if (!engine.enhancer) return null;
  const start = performance.now();
  const count = prepared.lowRes.length;
  const images: RgbImage[] = [];
  for (let b = 0; b < count; b += batch) {
    const n = Math.min(batch, count - b);
    const out = await engine.enhance(sliceBatch(prepared.modelInput, b, n, engine.resolution), n);
    images.push(...tensorImages(out, n, engine.outputSize));
  }
  return { method: 'enhancer', label: 'enhancer only', images, seconds: (performance.now() - start) / 1000 };
}

/** DR2 and DR2E with one setting; DR2's coarse output is upsampled to E for measuring. */
export async function runDr2e(
  engine: Dr2eEngine,
  prepared: PreparedSplit,
  truth: GroundTruth,
  config: Dr2Config,
  options: { batch: number; seed: number; steps?: number },
): Promise<{ dr2: MethodOutputs; dr2e: MethodOutputs; dr2Native: RgbImage[] }> {
  const params = engine.resolveParams({
    ...config.request,
    ...(options.steps !== undefined ? { steps: options.steps } : {}),
  });
  const s = engine.resolution;
  const o = engine.outputSize;
  const count = prepared.lowRes.length;
  const dr2Native: RgbImage[] = [];
  const restored: RgbImage[] = [];
  let dr2Seconds = 0;
  let enhanceSeconds = 0;
  for (let b = 0; b < count; b += options.batch) {
    const n = Math.min(options.batch, count - b);
    const result = await engine.restoreTensors({
      y: sliceBatch(prepared.modelInput, b, n, s),
      batch: n,
      params,
      seeds: truth.ids.slice(b, b + n).map((id) => deriveSeed(options.seed, id, 'dr2')),
    });
    dr2Seconds += result.timings.dr2Ms / 1000;
    enhanceSeconds += result.timings.enhanceMs / 1000;
    dr2Native.push(...tensorImages(result.dr2, n, s));
    restored.push(...tensorImages(result.restored, n, result.outputSize));
  }
  const dr2Images = dr2Native.map((image) => resizeRgb(image, o, o));
  return {
    dr2: { method: 'dr2', label: config.label, params, images: dr2Images, seconds: dr2Seconds },
    dr2e: {
      method: 'dr2e',
      label: config.label,
      params,
      images: restored,
      seconds: dr2Seconds + enhanceSeconds,
    },
    dr2Native,
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Mean metrics of one method's outputs against the ground truth. */
export function scoreOutputs(
  outputs: MethodOutputs,
  truth: GroundTruth,
  basis: EigenfaceBasis | null,
  where: { scale: number; split: string; inputSize?: number },
): MethodScores {
  const { images } = outputs;
  if (images.length !== truth.images.length) {
    throw new InvalidParametersError(
      `${outputs.label}: ${images.length} outputs for ${truth.images.length} faces`,
    );
  }
  const identity =
    basis && truth.coefficients.length === images.length
      ? identify(
          images.map((image) => projectFace(basis, faceVector(image, basis.size))),
          truth.coefficients,
        )
      : null;
  return {
    scale: where.scale,
    ...(where.inputSize !== undefined ? { inputSize: where.inputSize } : {}),
    split: where.split,
    method: outputs.method,
    label: outputs.label,
    ...(outputs.params ? { params: outputs.params } : {}),
    images: images.length,
    psnr: mean(images.map((image, i) => psnr(image, truth.images[i]!))),
    ssim: mean(images.map((image, i) => ssim(image, truth.images[i]!))),
    gmsd: mean(images.map((image, i) => gmsd(image, truth.images[i]!))),
    ...(identity ? { idAccuracy: identity.accuracy, idDistance: identity.meanDistance } : {}),
    seconds: outputs.seconds,
  };
}

/** Example images of one (scale, split) for the strips. */
export interface SplitExamples {
  ids: string[];
  /** Per example: input (low-res, nearest-enlarged to E), bicubic, enhancer, DR2, DR2E, ground truth. */
  rows: RgbImage[][];
  columns: string[];
  /** The DR2 setting shown. */
  config: string;
}

export interface SplitResult {
  scale: number;
  /** Input face size (px) for input-size columns. */
  inputSize?: number;
  split: string;
  scores: MethodScores[];
  degradations: { id: string; params: DegradationParams }[];
  examples: SplitExamples;
  seconds: number;
  /** Per face, with an `auto` setting: the estimate and the choice. */
  auto?: { id: string; estimate: DegradationEstimate; choice: QualityChoice; params: Dr2Params }[];
}

/** Which baselines beside bicubic (always measured) a table carries. */
export interface EvaluationBaselines {
  /** The enhancer alone on the bicubic-upsampled input (one enhancer call per face). Default true. */
  enhancer?: boolean;
  /** DR2's coarse output per fixed setting (a by-product of DR2E, measured separately). Default false. */
  dr2?: boolean;
}

export interface EvaluationOptions {
  seed: number;
  baselines?: EvaluationBaselines;
  scales: readonly number[];
  /** Input face sizes (px): the clean face at T = max(E, size) degraded with r = T / size, measured at T. */
  sizes?: readonly number[];
  splits: readonly DegradationSplit[];
  configs: readonly Dr2Config[];
  steps?: number;
  batch: number;
  /** Example rows in each strip. */
  examples: number;
  basis: EigenfaceBasis | null;
  /** Face recognizer for the `idCosine` metric (absent or null: not measured). */
  recognizer?: RecognizerScoring | null;
  onProgress?: (line: string) => void;
}

/**
 * `scoreOutputs` plus the recognizer's identity (`idCosine`) when one is given.
 * `truthEmbeddings` are the ground truths' embeddings (same order).
 */
export async function scoreOutputsWithIdentity(
  outputs: MethodOutputs,
  truth: GroundTruth,
  basis: EigenfaceBasis | null,
  where: { scale: number; split: string; inputSize?: number },
  recognition: { scoring: RecognizerScoring; truthEmbeddings: readonly Float32Array[] } | null,
): Promise<MethodScores> {
  const scores = scoreOutputs(outputs, truth, basis, where);
  if (!recognition) return scores;
  const embeddings = await recognition.scoring.recognizer.embed(outputs.images, recognition.scoring.framing);
  const idCosine = mean(embeddings.map((e, i) => embeddingCosine(e, recognition.truthEmbeddings[i]!)));
  return { ...scores, idCosine };
}

export interface EvaluationResult {
  /** Measuring size of the downscaling-factor columns (input-size columns: max(E, size)). */
  evalSize: number;
  splits: SplitResult[];
  seconds: number;
}

/** Which DR2 setting the strip of a split shows: the preset named like the split, else the first. */
function stripConfig(configs: readonly Dr2Config[], split: string): Dr2Config {
  return configs.find((c) => c.request.preset === split) ?? configs[0]!;
}

/**
 * Run the whole evaluation on ground truths already loaded (loadGroundTruth).
 *
 * @example
 * ```ts
 * const truth = await loadGroundTruth(faces, engine.outputSize, { basis });
 * const result = await runEvaluation(engine, truth, { seed: 0, scales: [4, 8, 16], splits, configs, batch: 8, examples: 4, basis });
 * ```
 */
export async function runEvaluation(
  engine: Dr2eEngine,
  truth: GroundTruth,
  options: EvaluationOptions,
): Promise<EvaluationResult> {
  if (options.configs.length === 0) throw new InvalidParametersError('at least one DR2 setting is needed');
  const evalSize = engine.outputSize;
  const started = performance.now();
  const splits: SplitResult[] = [];
  const columns: { scale: number; inputSize?: number; size: number }[] = [
    ...options.scales.map((scale) => ({ scale, size: evalSize })),
    ...(options.sizes ?? []).map((inputSize) => {
      const size = Math.max(evalSize, inputSize);
      if (size % inputSize !== 0) {
        throw new InvalidParametersError(`input size ${inputSize} px must divide ${size} px`);
      }
      return { scale: size / inputSize, inputSize, size };
    }),
  ];
  for (const column of columns) {
    const { scale, size } = column;
    const columnTruth = truthAtSize(truth, size, options.basis);
    const recognition = options.recognizer
      ? {
          scoring: options.recognizer,
          truthEmbeddings: await options.recognizer.recognizer.embed(
            columnTruth.images,
            options.recognizer.framing,
          ),
        }
      : null;
    const score = (outputs: MethodOutputs, where: { scale: number; split: string; inputSize?: number }) =>
      scoreOutputsWithIdentity(outputs, columnTruth, options.basis, where, recognition);
    for (const split of options.splits) {
      const splitStart = performance.now();
      const where = {
        scale,
        split: split.name,
        ...(column.inputSize !== undefined ? { inputSize: column.inputSize } : {}),
      };
      const prepared = await prepareSplit(engine, columnTruth, scale, split, options.seed);
      const scores: MethodScores[] = [];
      const bicubic = runBicubic(prepared, size);
      scores.push(await score(bicubic, where));
      const enhancer =
        options.baselines?.enhancer === false
          ? null
          : atSize(await runEnhancerOnly(engine, prepared, options.batch), size);
      if (enhancer) scores.push(await score(enhancer, where));
      const shown = stripConfig(options.configs, split.name);
      let shownOutputs: { dr2: MethodOutputs; dr2e: MethodOutputs } | null = null;
      const dr2eScores: MethodScores[] = [];
      let auto: SplitResult['auto'];
      for (const config of options.configs) {
        if (config.request.preset === 'auto') {
          const seeds = columnTruth.ids.map((id) => deriveSeed(options.seed, id, 'dr2'));
          const run = await runAuto(engine, prepared.lowRes, seeds, {
            batch: options.batch,
            ...(config.request.fidelity !== undefined ? { fidelity: config.request.fidelity } : {}),
          });
          const outputs: MethodOutputs = {
            method: 'dr2e',
            label: config.label,
            images: run.images,
            seconds: run.seconds,
          };
          dr2eScores.push(await score(outputs, where));
          auto = columnTruth.ids.map((id, i) => ({
            id,
            estimate: run.estimates[i]!,
            choice: run.choices[i]!,
            params: run.params[i]!,
          }));
          if (config === shown) shownOutputs = { dr2: outputs, dr2e: outputs };
          options.onProgress?.(
            `${columnName(column)} ${split.name}: ${config.label} in ${run.seconds.toFixed(1)} s`,
          );
          continue;
        }
        const run = await runDr2e(engine, prepared, columnTruth, config, options);
        const dr2 = atSize(run.dr2, size)!;
        const dr2e = atSize(run.dr2e, size)!;
        if (options.baselines?.dr2) scores.push(await score(dr2, where));
        dr2eScores.push(await score(dr2e, where));
        if (config === shown) shownOutputs = { dr2, dr2e };
        options.onProgress?.(
          `${columnName(column)} ${split.name}: ${config.label} N=${run.dr2e.params?.n} tau=${run.dr2e.params?.tau} ` +
            `in ${run.dr2e.seconds.toFixed(1)} s`,
        );
      }
      scores.push(...dr2eScores);
      const count = Math.min(options.examples, columnTruth.images.length);
      const rows: RgbImage[][] = [];
      for (let i = 0; i < count; i++) {
        const low = prepared.lowRes[i]!;
        const factor = Math.max(1, Math.round(size / low.width));
        const input = factor * low.width === size ? enlargeNearest(low, factor) : resizeRgb(low, size, size);
        rows.push([
          input,
          bicubic.images[i]!,
          ...(enhancer ? [enhancer.images[i]!] : []),
          shownOutputs!.dr2.images[i]!,
          shownOutputs!.dr2e.images[i]!,
          columnTruth.images[i]!,
        ]);
      }
      const seconds = (performance.now() - splitStart) / 1000;
      options.onProgress?.(`${columnName(column)} ${split.name}: done in ${seconds.toFixed(1)} s`);
      splits.push({
        scale,
        ...(column.inputSize !== undefined ? { inputSize: column.inputSize } : {}),
        split: split.name,
        scores,
        degradations: prepared.degradations.map((params, i) => ({ id: columnTruth.ids[i]!, params })),
        examples: {
          ids: columnTruth.ids.slice(0, count),
          rows,
          columns: [
            `${columnName(column)} input (${lowResSide(prepared)}px)`,
            'bicubic',
            ...(enhancer ? ['enhancer only'] : []),
            shown.request.preset === 'auto' ? `auto (fused)` : `DR2 (${shown.label})`,
            shown.request.preset === 'auto' ? `auto (fused)` : `DR2E (${shown.label})`,
            'ground truth',
          ],
          config: shown.label,
        },
        seconds,
        ...(auto ? { auto } : {}),
      });
    }
  }
  return { evalSize, splits, seconds: (performance.now() - started) / 1000 };
}

/** `x8` for a downscaling-factor column, `32px` for an input-size column. */
export function columnName(column: { scale: number; inputSize?: number }): string {
  return column.inputSize !== undefined ? `${column.inputSize}px` : `x${column.scale}`;
}

/** Outputs resized (bicubic) to the measuring size when they are at another size. */
function atSize(outputs: MethodOutputs | null, size: number): MethodOutputs | null {
  if (!outputs || outputs.images.every((image) => image.width === size)) return outputs;
  return { ...outputs, images: outputs.images.map((image) => resizeRgb(image, size, size)) };
}

function lowResSide(prepared: PreparedSplit): number {
  return prepared.lowRes[0]?.width ?? 0;
}

export interface SweepOptions {
  seed: number;
  scale: number;
  split: DegradationSplit;
  ns: readonly number[];
  taus: readonly number[];
  steps?: number;
  batch: number;
  basis: EigenfaceBasis | null;
  /** Which face the image grids show (index into the evaluated faces). */
  exampleIndex: number;
  onProgress?: (line: string) => void;
}

export interface SweepResult {
  scale: number;
  split: string;
  /** Baselines (bicubic, enhancer only) then one DR2E row per (N, τ), N-major. */
  scores: MethodScores[];
  /** Grids: rows N, columns τ, of DR2's output (at S, enlarged to E) and DR2E's output. */
  grid: { dr2: RgbImage[][]; dr2e: RgbImage[][]; input: RgbImage; truth: RgbImage; id: string };
  ns: number[];
  taus: number[];
  seconds: number;
}

/**
 * The (N, τ) sweep on one (scale, split): every combination runs DR2E on all faces (like the
 * paper's Fig. 8 grid and Fig. 9 curves); ω follows from N and τ as in the engine's defaults.
 */
export async function runSweep(
  engine: Dr2eEngine,
  truth: GroundTruth,
  options: SweepOptions,
): Promise<SweepResult> {
  const started = performance.now();
  const size = engine.outputSize;
  const where = { scale: options.scale, split: options.split.name };
  const index = Math.min(Math.max(0, options.exampleIndex), truth.images.length - 1);
  const prepared = await prepareSplit(engine, truth, options.scale, options.split, options.seed);
  const scores: MethodScores[] = [];
  const bicubic = runBicubic(prepared, size);
  scores.push(scoreOutputs(bicubic, truth, options.basis, where));
  const enhancer = await runEnhancerOnly(engine, prepared, options.batch);
  if (enhancer) scores.push(scoreOutputs(enhancer, truth, options.basis, where));
  const dr2Grid: RgbImage[][] = [];
  const dr2eGrid: RgbImage[][] = [];
  for (const n of options.ns) {
    const dr2Row: RgbImage[] = [];
    const dr2eRow: RgbImage[] = [];
    for (const tau of options.taus) {
      const config = { label: `N=${n} tau=${tau}`, request: { n, tau } };
      const run = await runDr2e(engine, prepared, truth, config, options);
      scores.push(scoreOutputs(run.dr2e, truth, options.basis, where));
      dr2Row.push(run.dr2.images[index]!);
      dr2eRow.push(run.dr2e.images[index]!);
      options.onProgress?.(
        `sweep x${options.scale} ${options.split.name}: ${config.label} in ${run.dr2e.seconds.toFixed(1)} s`,
      );
    }
    dr2Grid.push(dr2Row);
    dr2eGrid.push(dr2eRow);
  }
  return {
    scale: options.scale,
    split: options.split.name,
    scores,
    grid: {
      dr2: dr2Grid,
      dr2e: dr2eGrid,
      input: bicubic.images[index]!,
      truth: truth.images[index]!,
      id: truth.ids[index]!,
    },
    ns: [...options.ns],
    taus: [...options.taus],
    seconds: (performance.now() - started) / 1000,
  };
}
