/**
 * The `auto` method on degraded faces, as the evaluation and the calibration run it: estimate
 * each face's degradation from its low-resolution input, choose DR2's setting and the fusion
 * (engine/quality), run DR2E on the whole batch in one mixed-settings sampler loop, and fuse the
 * restored face with the input enlarged (bicubic) to the output side. In runAuto (the
 * evaluation; the calibration calls restoreMixed alone) a face whose input has no colour of its
 * own keeps the input's colour, as the service's aligned path does for every face it restores.
 *
 * The output side of a face is `max(O, faceSize)` (O = the engine's output size): a face with
 * more input pixels than the model's output is returned at its own size, its finer bands taken
 * from the input.
 */
import {
  type Dr2eEngine,
  tensorToRgb8,
  type RgbImage,
  type CalibrationTable,
  type DegradationEstimate,
  type FusionSettings,
  type QualityChoice,
  chooseSettings,
  estimateAtEffectiveSize,
  fuseDetail,
  keepsInput,
  resizeRgb8,
  type Dr2Params,
} from '../engine/index.js';
import { withInputColourIfColourless } from '../photo/index.js';
import { rgbIntoTensor } from './planes.js';

/** Whether a fusion returns the input exactly (the engine's rule, `keepsInput`). */
export { keepsInput };

/** The output side for a face of `faceSize` input pixels. */
export function outputSide(engine: Pick<Dr2eEngine, 'outputSize'>, faceSize: number): number {
  return Math.max(engine.outputSize, faceSize);
}

/** DR2E outputs (at the engine's output size O) for faces, each with its own setting, in batches. */
export async function restoreMixed(
  engine: Dr2eEngine,
  inputs: readonly RgbImage[],
  params: readonly Dr2Params[],
  seeds: readonly number[],
  batch: number,
): Promise<{ restored: RgbImage[]; seconds: number }> {
  const s = engine.resolution;
  const per = 3 * s * s;
  const restored: RgbImage[] = [];
  let seconds = 0;
  for (let start = 0; start < inputs.length; start += batch) {
    const count = Math.min(batch, inputs.length - start);
    const y = new Float32Array(count * per);
    for (let b = 0; b < count; b++) rgbIntoTensor(resizeRgb8(inputs[start + b]!, s, s), y, b);
    const result = await engine.restoreTensors({
      y,
      batch: count,
      params: params.slice(start, start + count),
      seeds: seeds.slice(start, start + count),
    });
    seconds += (result.timings.dr2Ms + result.timings.enhanceMs) / 1000;
    const o = result.outputSize;
    for (let b = 0; b < count; b++) {
      restored.push({
        data: tensorToRgb8(result.restored.subarray(b * 3 * o * o, (b + 1) * 3 * o * o), o, o),
        width: o,
        height: o,
      });
    }
  }
  return { restored, seconds };
}

/** Fuse a restored face (at O) with its low-resolution input, at the output side. */
export function fuseAtOutput(
  restored: RgbImage,
  lowRes: RgbImage,
  side: number,
  fusion: FusionSettings,
): RgbImage {
  return fuseDetail(resizeRgb8(restored, side, side), resizeRgb8(lowRes, side, side), fusion).image;
}

export interface AutoRun {
  images: RgbImage[];
  estimates: DegradationEstimate[];
  choices: QualityChoice[];
  params: Dr2Params[];
  seconds: number;
}

/**
 * `auto` on low-resolution faces (each `lowRes` is the whole face, so its width is its face size).
 *
 * @example
 * ```ts
 * const run = await runAuto(engine, prepared.lowRes, seeds, { batch: 8, fidelity: 0.5 });
 * ```
 */
export async function runAuto(
  engine: Dr2eEngine,
  lowRes: readonly RgbImage[],
  seeds: readonly number[],
  options: { batch: number; fidelity?: number; table?: CalibrationTable },
): Promise<AutoRun> {
  const started = performance.now();
  // As the engine measures a face (planFace): an input that reads as enlarged is estimated, binned
  // and fused at its effective size, so the evaluation measures what the service does.
  const estimates = lowRes.map((image) => estimateAtEffectiveSize(image, image.width));
  const choices = estimates.map((estimate) =>
    chooseSettings(estimate, {
      resolution: engine.resolution,
      ...(options.fidelity !== undefined ? { fidelity: options.fidelity } : {}),
      ...(options.table ? { table: options.table } : {}),
    }),
  );
  const params = choices.map((choice) =>
    engine.resolveParams({ n: choice.params.n, tau: choice.params.tau }),
  );
  // Faces whose fusion keeps the input whole need no DR2 run: their output is the input enlarged.
  const needed = choices.flatMap((choice, i) => (keepsInput(choice.fusion) ? [] : [i]));
  const { restored } = await restoreMixed(
    engine,
    needed.map((i) => lowRes[i]!),
    needed.map((i) => params[i]!),
    needed.map((i) => seeds[i]!),
    options.batch,
  );
  const s = engine.resolution;
  const images = await Promise.all(
    lowRes.map((input, i) => {
      const side = outputSide(engine, input.width);
      const at = needed.indexOf(i);
      if (at < 0) return resizeRgb8(input, side, side);
      // The service's rule (engine, aligned path), judged as there on what the model sees (the
      // input at S): the model paints colour into grey faces. Kept faces had no model.
      const fused = fuseAtOutput(restored[at]!, input, side, choices[i]!.fusion);
      return withInputColourIfColourless(fused, resizeRgb8(input, s, s));
    }),
  );
  return { images, estimates, choices, params, seconds: (performance.now() - started) / 1000 };
}
