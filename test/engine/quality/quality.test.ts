import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../../gpu-task/src/engine/image/index.js';
import {
  QUALITY_LADDER,
  calibrationBin,
  sizeHedgedCell,
  severityHedgedCell,
  SEVERITY_RAMP,
  SIZE_RAMP,
  type HedgedCell,
  type CalibrationTable,
  chooseSettings,
  fuseBands,
  splitBands,
  effectiveScale,
  estimateAtEffectiveSize,
  estimateDegradation,
  finishFace,
  fuseDetail,
  fusionCutoff,
  severityOf,
  creditedCoarseNoise,
  COLOUR_NOISE_BELOW,
  FINE_NOISE_SHARE_BELOW,
  LIGHT_BLOCKING_BELOW,
  TEXTURE_CAP_BELOW,
  TEXTURE_NOISE_CAP,
  DEFAULT_CALIBRATION,
  AC_ZEROS_WEIGHT,
  AC_ZERO_NOISE_MULTIPLE,
  acZeroBelow,
  SMALL_FACE_BELOW,
  DETECTED_SMALL_FACE_LEAN,
  choiceFidelity,
  isAutoRequest,
  faceQualityReport,
  keepsFace,
  keepsInput,
  keptShare,
  planFace,
  resizeRgb8,
} from '../../../gpu-task/src/engine/quality/index.js';
import { InvalidParametersError } from '../../../gpu-task/src/engine/errors.js';
import { lowPassFactorForCutoff, resolveDr2Params } from '../../../gpu-task/src/engine/sampler/dr2-params.js';
import { SeededNormalSource } from '../../../gpu-task/src/engine/random/noise-source.js';
import { FaceEstimateSchema, FaceSettingsSchema } from '../../../shared/src/index.js';
import { jpeg, testCard, withNoise } from './cards.js';

/** The same noise (std sigma) added to R, G and B of each pixel: luma grain, no colour. */
function withGreyNoise(image: RgbImage, sigma: number, seed = 1): RgbImage {
  const pixels = image.width * image.height;
  const noise = new Float32Array(pixels);
  new SeededNormalSource(seed).fill(noise);
  const data = new Uint8Array(image.data.length);
  for (let k = 0; k < data.length; k++)
    data[k] = Math.max(0, Math.min(255, Math.round(image.data[k]! + sigma * noise[Math.floor(k / 3)]!)));
  return { ...image, data };
}

/** Mean squared luma difference between neighbours: high-frequency energy. */
function highFrequencyEnergy(image: RgbImage): number {
  let sum = 0;
  let count = 0;
  const at = (x: number, y: number) => {
    const k = (y * image.width + x) * 3;
    return 0.299 * image.data[k]! + 0.587 * image.data[k + 1]! + 0.114 * image.data[k + 2]!;
  };
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x + 1 < image.width; x++) {
      sum += (at(x + 1, y) - at(x, y)) ** 2;
      count++;
    }
  }
  return sum / count;
}

function mse(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let k = 0; k < a.data.length; k++) sum += (a.data[k]! - b.data[k]!) ** 2;
  return sum / a.data.length;
}

describe('estimateDegradation', () => {
  it('measures white noise within 25% from 5 to 25 and near 0 on a clean card', () => {
    const clean = testCard(128);
    expect(estimateDegradation(clean).noise).toBeLessThan(2);
    for (const sigma of [5, 10, 25]) {
      const estimate = estimateDegradation(withNoise(clean, sigma)).noise;
      expect(Math.abs(estimate - sigma) / sigma).toBeLessThan(0.25);
    }
  });

  it('ranks blur: more blur, a larger blur estimate', () => {
    const sharpCard = testCard(128);
    const blurred = resizeRgb8(resizeRgb8(sharpCard, 64, 64), 128, 128);
    const veryBlurred = resizeRgb8(resizeRgb8(sharpCard, 24, 24), 128, 128);
    const [b0, b1, b2] = [sharpCard, blurred, veryBlurred].map((i) => estimateDegradation(i).blur);
    expect(b0!).toBeLessThan(b1!);
    expect(b1!).toBeLessThan(b2!);
    expect(b2!).toBeGreaterThan(0.5);
  });

  it('sees JPEG blocking at low quality and little at high quality', async () => {
    const card = withNoise(testCard(128), 3);
    const high = estimateDegradation(await jpeg(card, 95)).jpeg;
    const low = estimateDegradation(await jpeg(card, 15)).jpeg;
    expect(low).toBeGreaterThan(high + 0.1);
    expect(high).toBeLessThan(0.1);
  });

  it('reads compression strength from the share of quantised-away DCT coefficients, at any face size', async () => {
    for (const side of [32, 128]) {
      // Prepare: a card with light noise at falling JPEG qualities.
      const card = withNoise(testCard(side), 3);
      // Act
      const shares = (await Promise.all([95, 70, 40, 15].map((q) => jpeg(card, q)))).map(
        (image) => estimateDegradation(image).acZeros!,
      );
      // Assess: rises as the quality falls; at q 15 nearly every coefficient is gone.
      for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeGreaterThan(shares[i - 1]!);
      expect(shares[3]!).toBeGreaterThan(0.85);
    }
    expect(estimateDegradation(testCard(7)).acZeros).toBe(0);
  });

  it('reads more severity, not less, as noise without compression rises (coefficients under the noise carry no detail)', () => {
    // Prepare: one 64 px card, uncompressed, clean and with noise of std 5, 15 and 30.
    const card = testCard(64);
    const faces = [0, 5, 15, 30].map((sigma) => (sigma === 0 ? card : withNoise(card, sigma)));
    // Act
    const severities = faces.map((face) => severityOf(estimateDegradation(face)));
    // Assess: rises with the noise (before the noise-aware threshold, noise 5 read as milder than clean).
    for (let i = 1; i < severities.length; i++) expect(severities[i]!).toBeGreaterThan(severities[i - 1]!);
    expect(acZeroBelow(0)).toBe(1.5);
    expect(acZeroBelow(10)).toBeCloseTo(AC_ZERO_NOISE_MULTIPLE * 0.6685 * 10, 2);
  });

  it('finds the effective resolution of an enlarged crop and estimates it there', () => {
    const small = withNoise(testCard(64), 8);
    expect(effectiveScale(small)).toBe(1);
    const enlarged = resizeRgb8(small, 256, 256);
    expect(effectiveScale(enlarged)).toBe(4);
    const estimate = estimateAtEffectiveSize(enlarged, 256);
    expect(estimate.faceSize).toBe(64);
    expect(estimate.noise).toBeGreaterThan(2.5);
    expect(estimateDegradation(enlarged).noise).toBeLessThan(estimate.noise);
  });

  it('keeps seeing noise under JPEG at half resolution, where the finest-scale estimate loses it', async () => {
    const card = testCard(128);
    const noisy = await jpeg(withNoise(card, 15), 40);
    const clean = await jpeg(card, 40);
    const noisyEstimate = estimateDegradation(noisy);
    const cleanEstimate = estimateDegradation(clean);
    // JPEG removes most of the finest-scale noise...
    expect(noisyEstimate.noise).toBeLessThan(0.6 * 15);
    // ...not its coarser part: the coarse estimate separates the noisy face from the clean one.
    expect(noisyEstimate.coarseNoise!).toBeGreaterThan(cleanEstimate.coarseNoise! + 4);
    expect(noisyEstimate.coarseNoise!).toBeGreaterThan(noisyEstimate.noise);
    // On white noise without JPEG it agrees with the fine estimate (within 25 %).
    const white = estimateDegradation(withNoise(card, 12));
    expect(Math.abs(white.coarseNoise! - 12) / 12).toBeLessThan(0.25);
  });

  it('reads the blocking of an enlarged crop at its effective size (the grid it was compressed on)', async () => {
    const small = await jpeg(withNoise(testCard(64), 10), 40);
    const enlarged = await jpeg(resizeRgb8(small, 256, 256), 95);
    const lightOnly = await jpeg(resizeRgb8(withNoise(testCard(64), 6), 256, 256), 95);
    expect([effectiveScale(enlarged), effectiveScale(lightOnly)]).toEqual([4, 4]);
    expect(estimateAtEffectiveSize(enlarged, 256).jpeg).toBeGreaterThan(
      estimateAtEffectiveSize(lightOnly, 256).jpeg + 0.1,
    );
  });

  it('reads an enlarged crop cut off the compression grid on the grid of the image it was cut from', async () => {
    // Prepare: a 64 px face compressed hard, enlarged x4 (its blocks now every 32 px from the
    // corner) and lightly compressed again; a 200 px crop cut at (13, 21), off that grid.
    const decoded = await jpeg(resizeRgb8(await jpeg(withNoise(testCard(64), 10), 30), 256, 256), 95);
    const cut = (left: number, top: number, side: number): RgbImage => {
      const data = new Uint8Array(side * side * 3);
      for (let row = 0; row < side; row++) {
        const from = ((top + row) * decoded.width + left) * 3;
        data.set(decoded.data.subarray(from, from + side * 3), row * side * 3);
      }
      return { data, width: side, height: side };
    };
    const offGrid = cut(13, 21, 200);
    expect(effectiveScale(offGrid)).toBe(4);

    // Act
    const blind = estimateAtEffectiveSize(offGrid, 200);
    const placed = estimateAtEffectiveSize(offGrid, 200, { image: decoded, left: 13, top: 21 });
    const onGrid = estimateAtEffectiveSize(cut(0, 0, 216), 200);

    // Assess: cut at another phase the blocks hide; told where the crop lies, it reads them as
    // on the grid, at the crop's effective size.
    expect(blind.jpeg).toBeLessThan(0.5 * onGrid.jpeg);
    expect(onGrid.jpeg).toBeGreaterThan(0.3);
    expect(Math.abs(placed.jpeg - onGrid.jpeg)).toBeLessThan(0.15 * onGrid.jpeg);
    expect(placed.faceSize).toBe(50);
  });

  it('finds the compression grid of a photo that decoding turned by its EXIF orientation', async () => {
    // Prepare: a 205 px face (not a multiple of 8) compressed hard, then turned by 180 degrees
    // as decoding an EXIF orientation 3 file turns it: its blocks now end at its far sides.
    const stored = await jpeg(withNoise(testCard(205), 6), 15);
    const upright: RgbImage = { data: new Uint8Array(stored.data.length), width: 205, height: 205 };
    for (let p = 0; p < 205 * 205; p++)
      upright.data.set(stored.data.subarray(p * 3, p * 3 + 3), (205 * 205 - 1 - p) * 3);
    // Act
    const asStored = estimateAtEffectiveSize(stored, 205, { image: stored, left: 0, top: 0 });
    const told = estimateAtEffectiveSize(upright, 205, { image: upright, left: 0, top: 0, orientation: 3 });
    const untold = estimateAtEffectiveSize(upright, 205, { image: upright, left: 0, top: 0 });
    // Assess
    expect(asStored.jpeg).toBeGreaterThan(0.2);
    expect(Math.abs(told.jpeg - asStored.jpeg)).toBeLessThan(0.15 * asStored.jpeg);
    expect(untold.jpeg).toBeLessThan(0.5 * asStored.jpeg);
  });

  it('reads colour noise from the chroma planes: per-channel noise shows, luma texture and grey noise do not', async () => {
    // Prepare: a 64 px card whose texture is luma only (as wrinkles and hair mostly are), made
    // very rough; the smooth card with per-channel noise of std 12 and 25; the card with grey noise.
    const rough = testCard(64, 6);
    const card = testCard(64);
    // Act
    const roughEstimate = estimateDegradation(rough);
    const noisy12 = estimateDegradation(withNoise(card, 12));
    const noisy25Light = estimateDegradation(await jpeg(withNoise(card, 25), 92));
    const grey = estimateDegradation(withGreyNoise(card, 25));
    // Assess: the rough card's luma reads as strong coarse noise, its chroma as none.
    expect(roughEstimate.coarseNoise!).toBeGreaterThan(TEXTURE_NOISE_CAP);
    // (clipping at 0 and 255 gives its chroma a little structure)
    expect(roughEstimate.colourNoise!).toBeLessThan(COLOUR_NOISE_BELOW);
    // Per-channel noise reads at its level uncompressed (within 5 %) and stays above the
    // colour-noise floor under light JPEG (4:2:0 averages chroma 2x2, as the estimate does).
    expect(Math.abs(noisy12.colourNoise! - 12) / 12).toBeLessThan(0.05);
    expect(noisy25Light.colourNoise!).toBeGreaterThan(COLOUR_NOISE_BELOW);
    expect(noisy25Light.jpeg).toBeLessThan(LIGHT_BLOCKING_BELOW);
    // Grey noise is luma only.
    expect(grey.coarseNoise!).toBeGreaterThan(15);
    expect(grey.colourNoise!).toBeLessThan(0.5);
  });

  it('reports the face size it is given, else the crop width', () => {
    const card = testCard(32);
    expect(estimateDegradation(card).faceSize).toBe(32);
    expect(estimateDegradation(card, { faceSize: 90 }).faceSize).toBe(90);
  });
});

describe('severityOf', () => {
  it('bins faces under 38 px by blocking minus fine detail, larger ones by blocking plus coarse noise, both plus the DCT zero share', async () => {
    // Prepare: a sharp 32 px face and the same face blurred (enlarged from 16 px) and compressed.
    const sharp32 = testCard(32, 1);
    const ruined32 = await jpeg(resizeRgb8(resizeRgb8(testCard(32, 1), 16, 16), 32, 32), 30);
    // Act
    const sharpEstimate = estimateDegradation(sharp32, { faceSize: 32 });
    const ruinedEstimate = estimateDegradation(ruined32, { faceSize: 32 });
    // Assess
    expect(SMALL_FACE_BELOW).toBeCloseTo(37.95, 2);
    expect(severityOf(sharpEstimate)).toBeCloseTo(
      sharpEstimate.jpeg - sharpEstimate.noise / 8 + AC_ZEROS_WEIGHT * sharpEstimate.acZeros!,
      12,
    );
    expect(severityOf(ruinedEstimate)).toBeGreaterThan(severityOf(sharpEstimate));
    const large = { noise: 3, coarseNoise: 10, blur: 0, jpeg: 0.2, faceSize: 64 };
    expect(severityOf(large)).toBeCloseTo(0.2 + 10 / 20, 12);
    expect(severityOf({ ...large, acZeros: 0.5 })).toBeCloseTo(0.2 + 10 / 20 + AC_ZEROS_WEIGHT * 0.5, 12);
  });
});

describe('creditedCoarseNoise: texture is not noise', () => {
  const textured = {
    noise: 2.9,
    blur: 0.06,
    jpeg: 0.06,
    coarseNoise: 21,
    acZeros: 0.86,
    colourNoise: 0.7,
    faceSize: 64,
  };

  it('caps the coarse noise of a face under 91 px without colour noise under light JPEG, and only there', () => {
    expect(creditedCoarseNoise(textured)).toBe(TEXTURE_NOISE_CAP);
    expect(creditedCoarseNoise({ ...textured, coarseNoise: 9 })).toBe(9);
    // Colour noise present: the luma reading is noise.
    expect(creditedCoarseNoise({ ...textured, colourNoise: 6 })).toBe(21);
    // Heavy JPEG removes colour noise: its absence says nothing.
    expect(creditedCoarseNoise({ ...textured, jpeg: 0.5 })).toBe(21);
    // The edges: colour noise of 2 and blocking of 0.15 count as noise that could have shown.
    expect(creditedCoarseNoise({ ...textured, colourNoise: COLOUR_NOISE_BELOW })).toBe(21);
    expect(creditedCoarseNoise({ ...textured, jpeg: LIGHT_BLOCKING_BELOW })).toBe(21);
    // Much of it at the finest scale too: white noise that JPEG of quality 70-89 let through.
    expect(creditedCoarseNoise({ ...textured, noise: FINE_NOISE_SHARE_BELOW * 21 })).toBe(21);
    expect(creditedCoarseNoise({ ...textured, noise: FINE_NOISE_SHARE_BELOW * 21 - 0.01 })).toBe(
      TEXTURE_NOISE_CAP,
    );
    // A face of 91 px or more: its own texture never reads that high, so it is noise.
    expect(TEXTURE_CAP_BELOW).toBeCloseTo(90.51, 2);
    expect(creditedCoarseNoise({ ...textured, faceSize: 91 })).toBe(21);
    expect(creditedCoarseNoise({ ...textured, faceSize: 90 })).toBe(TEXTURE_NOISE_CAP);
    // No colour estimate (an older caller): as before.
    const { colourNoise: _unused, ...withoutColour } = textured;
    expect(creditedCoarseNoise(withoutColour)).toBe(21);
    expect(severityOf(textured)).toBeCloseTo(0.06 + TEXTURE_NOISE_CAP / 20 + AC_ZEROS_WEIGHT * 0.86, 12);
  });

  it('keeps a mildly degraded 64 px face whose skin reads as noise only in luma, and restores the same readings with colour noise', () => {
    // Prepare: the estimates of a val face that lost identity before the cap (100 years old,
    // 64 px mild: coarse 21, blocking 0.06), and the same readings with colour noise.
    const noisy = { ...textured, colourNoise: 6 };
    // Act
    const keep = chooseSettings(textured, { resolution: 64 });
    const restore = chooseSettings(noisy, { resolution: 64 });
    // Assess: the textured face is kept as it is; the noisy one is restored.
    expect([keep.fusion.inputWeight, keep.fusion.detailWeight]).toEqual([1, 1]);
    expect(restore.fusion.inputWeight).toBeLessThan(1);
  });

  it('keeps a rough 64 px face under light JPEG, and restores a noisy one whose JPEG removed its colour noise (pixels to plan)', async () => {
    // Prepare: a card whose texture is luma only and coarse (like wrinkles), JPEG q 85; the
    // smooth card with per-channel noise of std 20 under JPEG q 80 (its chroma noise gone, much
    // of its luma noise left at the finest scale; colour reads ~0.7, well under the floor).
    const resolve = (r: Parameters<typeof resolveDr2Params>[0]) => resolveDr2Params(r, 64);
    const rough = await jpeg(testCard(64, 6), 85);
    const grainy = await jpeg(withNoise(testCard(64), 20), 80);
    // Act
    const roughPlan = planFace(rough, 64, { preset: 'auto' }, resolve, 64);
    const grainyPlan = planFace(grainy, 64, { preset: 'auto' }, resolve, 64);
    // Assess: both read strong luma coarse noise and no colour noise; only the rough one is texture.
    expect(roughPlan.estimate.coarseNoise!).toBeGreaterThan(TEXTURE_NOISE_CAP);
    expect(grainyPlan.estimate.coarseNoise!).toBeGreaterThan(TEXTURE_NOISE_CAP);
    expect(grainyPlan.estimate.colourNoise!).toBeLessThan(COLOUR_NOISE_BELOW);
    expect(creditedCoarseNoise(roughPlan.estimate)).toBe(TEXTURE_NOISE_CAP);
    expect(keepsFace(roughPlan)).toBe(true);
    expect(keepsFace(grainyPlan)).toBe(false);
    // The job view's estimate carries the colour reading and passes the API's strict schema
    // (the worker drops an estimate that does not).
    const reported = faceQualityReport(roughPlan, true).estimate;
    expect(reported.colourNoise).toBeCloseTo(roughPlan.estimate.colourNoise!, 2);
    expect(FaceEstimateSchema.parse(reported)).toEqual(reported);
  });
});

describe('chooseSettings: fidelity', () => {
  const estimates = [16, 32, 38, 64, 90, 128, 256].flatMap((faceSize) =>
    [0, 5, 12, 30].map((noise) => ({ noise, blur: 0.3, jpeg: 0.1, faceSize })),
  );
  const fidelities = Array.from({ length: 11 }, (_, i) => i / 10);

  it('moves every choice monotonically toward the input as fidelity rises', () => {
    for (const estimate of estimates) {
      const choices = fidelities.map((fidelity) => chooseSettings(estimate, { resolution: 64, fidelity }));
      for (let i = 1; i < choices.length; i++) {
        const [before, after] = [choices[i - 1]!, choices[i]!];
        expect(after.step).toBeLessThanOrEqual(before.step);
        expect(after.params.n).toBeLessThanOrEqual(before.params.n);
        expect(after.params.tau).toBeLessThanOrEqual(before.params.tau);
        expect(after.fusion.inputWeight).toBeGreaterThanOrEqual(before.fusion.inputWeight);
        expect(after.fusion.detailWeight).toBeGreaterThanOrEqual(before.fusion.detailWeight);
      }
      expect(choices[0]!.step).toBe(QUALITY_LADDER.length - 1);
      expect(choices[0]!.fusion.inputWeight).toBe(0);
      expect(choices.at(-1)!.step).toBe(0);
      expect(choices.at(-1)!.fusion.inputWeight).toBe(1);
      expect(choices.at(-1)!.fusion.detailWeight).toBe(1);
    }
  });

  it('changes the output: fidelity 0 and 1 give different settings for every face', () => {
    for (const estimate of estimates) {
      const strong = chooseSettings(estimate, { resolution: 64, fidelity: 0 });
      const faithful = chooseSettings(estimate, { resolution: 64, fidelity: 1 });
      expect(strong.params).not.toEqual(faithful.params);
    }
  });

  it('keeps the ladder ordered from the input to the prior', () => {
    for (let i = 1; i < QUALITY_LADDER.length; i++) {
      expect(QUALITY_LADDER[i]!.cutoff).toBeLessThanOrEqual(QUALITY_LADDER[i - 1]!.cutoff);
      expect(QUALITY_LADDER[i]!.tau).toBeGreaterThanOrEqual(QUALITY_LADDER[i - 1]!.tau);
    }
  });

  it('bins severity per face-size row (one JPEG quality reads differently at each size)', () => {
    const table = { sizes: [32, 256], severityEdges: [[0.2], [0.6]] };
    const at = (faceSize: number, jpeg: number) =>
      calibrationBin({ noise: 0, blur: 0, jpeg, coarseNoise: 0, faceSize }, table);
    expect(at(30, 0.4)).toEqual({ sizeBin: 0, severityBin: 1 });
    expect(at(240, 0.4)).toEqual({ sizeBin: 1, severityBin: 0 });
    expect(at(240, 0.7)).toEqual({ sizeBin: 1, severityBin: 1 });
  });

  it("bins a face between the 32 and 64 px rows in the default table's 45 px row, by one severity formula per row", () => {
    // Prepare: the default table's rows and the formula boundary between the 32 and 45 px rows.
    const rows = DEFAULT_CALIBRATION.sizes;
    const rowOf = (faceSize: number) =>
      rows[
        calibrationBin({ noise: 1, blur: 0, jpeg: 0, coarseNoise: 5, faceSize }, DEFAULT_CALIBRATION).sizeBin
      ];
    // Act + Assess: 38-53 px faces fall in the 45 px row, smaller and larger ones in their own.
    expect(rows).toEqual([16, 32, 45, 64, 128, 256]);
    expect([30, 37, 39, 46, 53, 55].map(rowOf)).toEqual([32, 32, 45, 45, 45, 64]);
    const estimate = (faceSize: number) => ({
      noise: 4,
      blur: 0,
      jpeg: 0.3,
      coarseNoise: 10,
      acZeros: 0.5,
      faceSize,
    });
    expect(severityOf(estimate(37))).toBeCloseTo(0.3 - 4 / 8 + AC_ZEROS_WEIGHT * 0.5, 12);
    expect(severityOf(estimate(39))).toBeCloseTo(0.3 + 10 / 20 + AC_ZEROS_WEIGHT * 0.5, 12);
  });

  it('refuses a fidelity outside 0..1', () => {
    expect(() => chooseSettings(estimates[0]!, { resolution: 64, fidelity: 1.5 })).toThrow(/fidelity/);
    expect(() => chooseSettings(estimates[0]!, { resolution: 64, fidelity: Number.NaN })).toThrow(/fidelity/);
  });
});

describe('choiceFidelity: small faces found in photos lean toward their input', () => {
  const fidelities = Array.from({ length: 11 }, (_, i) => i / 10);

  it('leaves aligned crops and faces from SMALL_FACE_BELOW up as requested', () => {
    for (const fidelity of fidelities) {
      for (const size of [16, 24, 37]) expect(choiceFidelity(fidelity, size, false)).toBe(fidelity);
      for (const size of [Math.ceil(SMALL_FACE_BELOW), 45, 256])
        expect(choiceFidelity(fidelity, size, true)).toBe(fidelity);
    }
    expect(choiceFidelity(undefined, 64, true)).toBe(0.5);
  });

  it('moves a detected small face toward the input, still rising with the requested fidelity', () => {
    expect(choiceFidelity(undefined, 24, true)).toBeCloseTo(1 - 0.5 * (1 - DETECTED_SMALL_FACE_LEAN), 12);
    expect(choiceFidelity(0.5, 24, true)).toBeCloseTo(0.7, 12);
    expect(choiceFidelity(1, 24, true)).toBe(1);
    const leaned = fidelities.map((f) => choiceFidelity(f, 24, true));
    leaned.forEach((f, i) => {
      expect(f).toBeGreaterThanOrEqual(fidelities[i]!);
      if (i > 0) expect(f).toBeGreaterThan(leaned[i - 1]!);
    });
  });

  it('refuses a fidelity outside 0..1 before leaning it (-0.5 would lean into range)', () => {
    expect(() => choiceFidelity(-0.5, 24, true)).toThrow(/fidelity/);
    expect(() => choiceFidelity(1.2, 64, false)).toThrow(/fidelity/);
  });

  it('plans a detected small face with the leaned fidelity, never nearer the prior than the same face aligned', () => {
    const resolve = (r: Parameters<typeof resolveDr2Params>[0]) => resolveDr2Params(r, 64);
    for (const noise of [0, 5, 12]) {
      const face = withNoise(testCard(24, 2), noise);
      const aligned = planFace(face, 24, { preset: 'auto' }, resolve, 64);
      const detected = planFace(face, 24, { preset: 'auto' }, resolve, 64, { detected: true });
      expect(aligned.choice!.fidelity).toBe(0.5);
      expect(detected.choice!.fidelity).toBeCloseTo(0.7, 12);
      expect(detected.choice!.step).toBeLessThanOrEqual(aligned.choice!.step);
      expect(detected.choice!.fusion.inputWeight).toBeGreaterThanOrEqual(aligned.choice!.fusion.inputWeight);
      expect(detected.choice!.fusion.detailWeight).toBeGreaterThanOrEqual(
        aligned.choice!.fusion.detailWeight,
      );
    }
    const large = testCard(64, 2);
    expect(planFace(large, 64, {}, resolve, 64, { detected: true }).choice!.fidelity).toBe(0.5);
  });
});

describe('sizeHedgedCell: faces between two rows of the table', () => {
  // Prepare: two rows that agree on nothing (the 32 px row restores, the 64 px row keeps).
  const table = {
    sizes: [32, 64],
    severityEdges: [[], []],
    cells: [
      [{ step: 2, inputWeight: 0.25, detailWeight: 0, samples: 10 }],
      [{ step: 0, inputWeight: 1, detailWeight: 1, attenuateDetail: false, samples: 20 }],
    ],
    provenance: {},
  };
  const at = (faceSize: number) => sizeHedgedCell({ noise: 2, blur: 0, jpeg: 0.1, faceSize }, table);
  // The rows' cells as the chooser takes them (a cell's attenuateDetail as a number).
  const restoring = {
    step: 2,
    inputWeight: 0.25,
    detailWeight: 0,
    detailAttenuation: 1,
    samples: 10,
    keeping: 0,
  };
  const keeping = { step: 0, inputWeight: 1, detailWeight: 1, detailAttenuation: 0, samples: 20, keeping: 1 };

  it("is a row's own cell at the row's size and beyond the first and last rows", () => {
    expect(at(32)).toEqual(restoring);
    expect(at(64)).toEqual(keeping);
    expect(at(20)).toEqual(restoring);
    expect(at(300)).toEqual(keeping);
  });

  it("raises the nearer row's weights toward the other row's, in log2 of the size, where the other keeps more input", () => {
    // Act: a quarter of the way from 32 to 64 px in log2 (nearer: the 32 px row, which restores).
    const quarter = at(32 * 2 ** 0.25);
    // Assess: the 32 px row's step, its weights and detail attenuation a quarter of the way to
    // the 64 px row's.
    expect(quarter.step).toBe(2);
    expect(quarter.detailAttenuation).toBeCloseTo(0.75, 12);
    expect(quarter.inputWeight).toBeCloseTo(0.25 + 0.75 * 0.25, 12);
    expect(quarter.detailWeight).toBeCloseTo(0.25, 12);
  });

  it('never takes more of the model than the nearer row: a face nearer a row that keeps it stays kept', () => {
    for (const t of [0.5, 0.6, 0.75, 0.9]) expect(at(32 * 2 ** t)).toEqual(keeping);
  });

  it('completes the hedge at the midpoint: a face just short of it takes nearly all of the other row', () => {
    // Act: SIZE_RAMP / 2 short of the midpoint (log2), and just short of it.
    const inRamp = at(32 * 2 ** (0.5 - SIZE_RAMP / 2));
    const nearMidpoint = at(32 * 2 ** 0.4999);
    // Assess: half-way along the ramp, the distance (0.375) and half of the rest of the way
    // (0.3125): 0.6875 of the way to the other row's cell; at the midpoint, all of it.
    expect(inRamp.step).toBe(2);
    expect(inRamp.inputWeight).toBeCloseTo(0.25 + 0.75 * 0.6875, 12);
    expect(inRamp.detailWeight).toBeCloseTo(0.6875, 12);
    expect(inRamp.detailAttenuation).toBeCloseTo(0.3125, 12);
    expect(nearMidpoint.step).toBe(2);
    expect(nearMidpoint.inputWeight).toBeCloseTo(1, 3);
    expect(nearMidpoint.detailWeight).toBeCloseTo(1, 3);
    expect(nearMidpoint.detailAttenuation).toBeCloseTo(0, 3);
  });

  it('is continuous in the size across the midpoint, whichever of the two rows keeps the face whole', () => {
    // Prepare: the rows as above, and mirrored (the 32 px row keeps, the 64 px row restores).
    const mirrored = { ...table, cells: [table.cells[1]!, table.cells[0]!] };
    for (const rows of [table, mirrored]) {
      const cells = Array.from({ length: 3201 }, (_, i) =>
        sizeHedgedCell({ noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** (i / 3200) }, rows),
      );
      // Act + Assess: no weight or attenuation jumps between neighbouring sizes.
      for (let i = 1; i < cells.length; i++) {
        expect(Math.abs(cells[i]!.inputWeight - cells[i - 1]!.inputWeight)).toBeLessThan(0.002);
        expect(Math.abs(cells[i]!.detailWeight - cells[i - 1]!.detailWeight)).toBeLessThan(0.002);
        expect(Math.abs(cells[i]!.detailAttenuation - cells[i - 1]!.detailAttenuation)).toBeLessThan(0.002);
      }
    }
  });

  it('leaves the midpoint between two restoring rows as it was: each side half-way to the other', () => {
    // Prepare: rows that both restore, one keeping more of the input's low bands, the other
    // more of its fine bands.
    const restoring = {
      ...table,
      cells: [
        [{ step: 1, inputWeight: 1, detailWeight: 0.25, samples: 1 }],
        [{ step: 3, inputWeight: 0.5, detailWeight: 0.75, attenuateDetail: false, samples: 1 }],
      ],
    };
    // Act: just either side of the midpoint.
    const below = sizeHedgedCell({ noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** 0.4999 }, restoring);
    const above = sizeHedgedCell({ noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** 0.5001 }, restoring);
    // Assess: each takes its nearer row's cell with the other's higher weight half-way.
    expect(below).toMatchObject({ step: 1, inputWeight: 1 });
    expect(below.detailWeight).toBeCloseTo(0.5, 3);
    expect(below.detailAttenuation).toBeCloseTo(0.5, 3);
    expect(above).toMatchObject({ step: 3, detailWeight: 0.75, detailAttenuation: 0 });
    expect(above.inputWeight).toBeCloseTo(0.75, 3);
  });

  it('moves the weights monotonically toward the input as the face grows toward the row that keeps it', () => {
    const cells = Array.from({ length: 33 }, (_, i) => at(32 + i));
    for (let i = 1; i < cells.length; i++) {
      expect(cells[i]!.detailWeight).toBeGreaterThanOrEqual(cells[i - 1]!.detailWeight);
      expect(cells[i]!.inputWeight).toBeGreaterThanOrEqual(cells[i - 1]!.inputWeight);
    }
    // Strictly, while the restoring row is the nearer one (33-45 px).
    for (let i = 2; i <= 13; i++) expect(cells[i]!.detailWeight).toBeGreaterThan(cells[i - 1]!.detailWeight);
  });

  it('is the cell chooseSettings takes', () => {
    const choice = chooseSettings(
      { noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** 0.25 },
      { resolution: 64, table },
    );
    expect(choice.step).toBe(2);
    expect(choice.fusion.inputWeight).toBeCloseTo(0.25 + 0.75 * 0.25, 12);
    expect(choice.fusion.detailWeight).toBeCloseTo(0.25, 12);
  });

  it('raises the weights of a nearer upper row toward a lower row that keeps more of the input', () => {
    // Prepare: the mirror image: the 32 px row keeps, the 64 px row restores.
    const mirrored = { ...table, cells: [table.cells[1]!, table.cells[0]!] };
    // Act: three quarters of the way from 32 to 64 px (nearer: the 64 px row).
    const cell = sizeHedgedCell({ noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** 0.75 }, mirrored);
    // Assess: the 64 px row's step, its weights a quarter of the way to the 32 px row's.
    expect(cell.step).toBe(2);
    expect(cell.inputWeight).toBeCloseTo(0.25 + 0.75 * 0.25, 12);
    expect(cell.detailWeight).toBeCloseTo(0.25, 12);
  });

  it('refuses a face size that is not a number rather than taking the first row', () => {
    const estimate = { noise: 2, blur: 0, jpeg: 0.1, faceSize: Number.NaN };
    expect(() => sizeHedgedCell(estimate, table)).toThrow(InvalidParametersError);
    expect(() => calibrationBin(estimate, table)).toThrow(/not a number/);
    expect(() => chooseSettings(estimate, { resolution: 64 })).toThrow(InvalidParametersError);
    // 0, negative and infinite sizes are numbers: the first or the last row.
    expect(at(0)).toEqual(restoring);
    expect(at(-5)).toEqual(restoring);
  });

  it('finds the rows around a size whatever their order in the table, and takes the last row beyond it', () => {
    const shuffled = { ...table, sizes: [64, 32], cells: [table.cells[1]!, table.cells[0]!] };
    const estimate = { noise: 2, blur: 0, jpeg: 0.1, faceSize: 32 * 2 ** 0.25 };
    expect(sizeHedgedCell(estimate, shuffled)).toEqual(sizeHedgedCell(estimate, table));
    expect(at(Number.POSITIVE_INFINITY)).toEqual(keeping);
  });

  it("bins the face in each row by that row's own severity formula (rows on both sides of SMALL_FACE_BELOW)", () => {
    // Prepare: rows at 32 and 45 px, each with one edge at severity 2: a textured face (fine
    // noise 12, coarse 40) reads 0.1 - 12 / 8 = -1.4 by the small-face formula (the 32 px row's)
    // and 0.1 + 40 / 20 = 2.1 by the larger faces' (the 45 px row's).
    const rows = {
      sizes: [32, 45],
      severityEdges: [[2], [2]],
      cells: [
        [
          { step: 0, inputWeight: 1, detailWeight: 0.5, samples: 1 },
          { step: 2, inputWeight: 0.25, detailWeight: 0, samples: 1 },
        ],
        [
          { step: 0, inputWeight: 0.5, detailWeight: 0.5, samples: 1 },
          { step: 0, inputWeight: 1, detailWeight: 1, attenuateDetail: false, samples: 1 },
        ],
      ],
      provenance: {},
    };
    const estimate = { noise: 12, blur: 0, jpeg: 0.1, coarseNoise: 40, faceSize: 34 };
    const t = Math.log2(34 / 32) / Math.log2(45 / 32);
    // Act
    const cell = sizeHedgedCell(estimate, rows);
    // Assess: the 32 px row's first cell, its detail weight raised toward the 45 px row's last
    // cell (binned at 34 px by one formula, the 45 px row would have given its first: 0.5).
    expect(severityOf({ ...estimate, faceSize: 32 })).toBeCloseTo(-1.4, 12);
    expect(severityOf({ ...estimate, faceSize: 45 })).toBeCloseTo(2.1, 12);
    expect(cell.step).toBe(0);
    expect(cell.inputWeight).toBe(1);
    expect(cell.detailWeight).toBeCloseTo(0.5 + 0.5 * t, 12);
  });

  describe("faces of one noise read just either side of the default table's midpoints", () => {
    // Noisy, lightly compressed faces: severity 0.05 + 15 / 20 + 4 x acZeros (colour noise 15:
    // no texture cap). The same estimate read either side of a midpoint must get alike weights.
    const noisy = (acZeros: number) => ({
      noise: 14,
      blur: 1,
      jpeg: 0.05,
      coarseNoise: 15,
      acZeros,
      colourNoise: 15,
    });
    const cell = (acZeros: number, faceSize: number) =>
      sizeHedgedCell({ ...noisy(acZeros), faceSize }, DEFAULT_CALIBRATION);
    const expectAlike = (a: HedgedCell, b: HedgedCell, within: number) => {
      expect(Math.abs(a.inputWeight - b.inputWeight)).toBeLessThan(within);
      expect(Math.abs(a.detailWeight - b.detailWeight)).toBeLessThan(within);
      expect(Math.abs(a.detailAttenuation - b.detailAttenuation)).toBeLessThan(within);
    };

    it('64-128 px, where the 128 px row keeps the face whole (severity 4.57)', () => {
      // Prepare + Assess: the rows disagree...
      expect(cell(0.9425, 64)).toMatchObject({ inputWeight: 0.75, detailWeight: 0, detailAttenuation: 1 });
      expect(cell(0.9425, 128)).toMatchObject({ inputWeight: 1, detailWeight: 1, detailAttenuation: 0 });
      // ...and two faces either side of sqrt(64 * 128) = 90.51 px do not.
      expectAlike(cell(0.9425, 90.4), cell(0.9425, 90.6), 0.01);
    });

    it('64-128 px, where the 128 px row is itself hedged part-way toward keeping (severity 4.622)', () => {
      // Prepare: just past the 128 px row's keeping edge (4.618), inside its severity ramp: a
      // review's example, w 0.87 / g 0.48 at 90.4 px and 0.99 / g 0.97 at 90.6 px before.
      const hedged = cell(0.9555, 128);
      expect(hedged.keeping).toBeGreaterThan(0.9);
      expect(hedged.keeping).toBeLessThan(1);
      // Assess: alike but for (1 - keeping) / 2 of the rows' difference (0.019 here).
      expectAlike(cell(0.9555, 90.4), cell(0.9555, 90.6), 0.025);
    });

    it('45-64 px, where the lower (45 px) row keeps the face whole (severity 4.62)', () => {
      expect(cell(0.955, 45)).toMatchObject({ inputWeight: 1, detailWeight: 1, detailAttenuation: 0 });
      expect(cell(0.955, 64)).toMatchObject({ inputWeight: 0.75, detailWeight: 0, detailAttenuation: 1 });
      // Either side of sqrt(45 * 64) = 53.67 px.
      expectAlike(cell(0.955, 53.6), cell(0.955, 53.75), 0.01);
    });

    it('stays continuous in the severity at sizes inside the ramp before a midpoint', () => {
      for (const faceSize of [80, 88, 90.4, 178, 182]) {
        let previous = cell(0.93, faceSize);
        // Severity 4.52 to 4.78 in steps of 0.0004: across the keeping edges of the 45, 64, 128
        // and 256 px rows (4.725, 4.481, 4.618, 4.551), short of the 64 px row's edge between two
        // restoring bins at 4.784 (left as it is, as between restoring rows).
        for (let acZeros = 0.9301; acZeros < 0.995; acZeros += 0.0001) {
          const next = cell(acZeros, faceSize);
          expectAlike(previous, next, 0.01);
          previous = next;
        }
      }
    });
  });

  it('keeps a face as it is when both rows keep it', () => {
    // Prepare: a lightly compressed face that the default 45 and 64 px rows both keep.
    const estimate = {
      noise: 1,
      blur: 0,
      jpeg: 0.1,
      coarseNoise: 5,
      acZeros: 0.2,
      colourNoise: 0.8,
      faceSize: 54,
    };
    for (const faceSize of [45, 64]) {
      expect(keepsInput(chooseSettings({ ...estimate, faceSize }, { resolution: 64 }).fusion)).toBe(true);
    }
    // Act + Assess
    expect(keepsInput(chooseSettings(estimate, { resolution: 64 }).fusion)).toBe(true);
  });
});

describe('severityHedgedCell: faces near the edge of a severity bin', () => {
  // Prepare: one 128 px row, edges at 1, 2 and 3 (the larger faces' severity formula: blocking
  // + coarse noise / 20): a restoring bin, one that keeps the face whole, then two restoring.
  const table: CalibrationTable = {
    sizes: [128],
    severityEdges: [[1, 2, 3]],
    cells: [
      [
        { step: 2, inputWeight: 0.25, detailWeight: 0, samples: 5 },
        { step: 0, inputWeight: 1, detailWeight: 1, attenuateDetail: false, samples: 5 },
        { step: 0, inputWeight: 0.75, detailWeight: 0, samples: 5 },
        { step: 1, inputWeight: 0.5, detailWeight: 0, samples: 5 },
      ],
    ],
    provenance: {},
  };
  const keep = { step: 0, inputWeight: 1, detailWeight: 1, detailAttenuation: 0, samples: 5, keeping: 1 };
  const third = { step: 0, inputWeight: 0.75, detailWeight: 0, detailAttenuation: 1, samples: 5, keeping: 0 };
  const last = { step: 1, inputWeight: 0.5, detailWeight: 0, detailAttenuation: 1, samples: 5, keeping: 0 };
  // The ramp: SEVERITY_RAMP of a half bin (every bin here is 1 wide) from the edge.
  const ramp = SEVERITY_RAMP * 0.5;
  const at = (severity: number) =>
    severityHedgedCell(0, { noise: 0, blur: 0, jpeg: severity, coarseNoise: 0, faceSize: 128 }, table);

  it("is the bin's own cell beyond its ramps, and the keeping bin's cell throughout", () => {
    for (const severity of [2 + ramp, 2.4, 2.5, 2.9]) expect(at(severity)).toEqual(third);
    for (const severity of [1, 1.5, 1.99]) expect(at(severity)).toEqual(keep);
  });

  it('takes the keeping cell at the edge and moves linearly to its own cell along the ramp', () => {
    const nearEdge = at(2.0001);
    expect(nearEdge.step).toBe(0);
    expect(nearEdge.inputWeight).toBeCloseTo(1, 3);
    expect(nearEdge.detailWeight).toBeCloseTo(1, 3);
    expect(nearEdge.detailAttenuation).toBeCloseTo(0, 3);
    const halfway = at(2 + ramp / 2);
    expect(halfway.inputWeight).toBeCloseTo(0.875, 12);
    expect(halfway.detailWeight).toBeCloseTo(0.5, 12);
    expect(halfway.detailAttenuation).toBeCloseTo(0.5, 12);
    // ...and reports how far it is the kept cell, which the size hedge completes by.
    expect(halfway.keeping).toBeCloseTo(0.5, 12);
    expect(nearEdge.keeping).toBeCloseTo(1, 3);
  });

  it('gives the open first bin the width of the bin after it, and keeps its own step', () => {
    const cell = at(1 - ramp / 2);
    expect(cell.step).toBe(2);
    expect(cell.inputWeight).toBeCloseTo(0.625, 12);
    expect(cell.detailWeight).toBeCloseTo(0.5, 12);
    expect(at(1 - ramp)).toEqual({
      ...keep,
      step: 2,
      inputWeight: 0.25,
      detailWeight: 0,
      detailAttenuation: 1,
      keeping: 0,
    });
    expect(at(-5)).toEqual(at(1 - ramp));
  });

  it("relies on edges that ascend strictly, as every row of the default table's do", () => {
    for (const edges of DEFAULT_CALIBRATION.severityEdges) {
      for (let i = 1; i < edges.length; i++) expect(edges[i]!).toBeGreaterThan(edges[i - 1]!);
    }
  });

  it('leaves the edge between two restoring bins as it is', () => {
    expect(at(2.9999)).toEqual(third);
    expect(at(3)).toEqual(last);
    expect(at(3.0001)).toEqual(last);
  });

  it('is continuous across the edges of a keeping bin and never takes more of the model than its own bin', () => {
    let previous = at(0);
    for (let severity = 0.001; severity < 2.99; severity += 0.001) {
      const cell = at(severity);
      const own = [table.cells[0]![0]!, table.cells[0]![1]!, table.cells[0]![2]!][Math.floor(severity)]!;
      expect(cell.inputWeight).toBeGreaterThanOrEqual(own.inputWeight);
      expect(cell.detailWeight).toBeGreaterThanOrEqual(own.detailWeight);
      if (own.attenuateDetail === false) expect(cell.detailAttenuation).toBe(0);
      expect(Math.abs(cell.inputWeight - previous.inputWeight)).toBeLessThan(0.01);
      expect(Math.abs(cell.detailWeight - previous.detailWeight)).toBeLessThan(0.01);
      expect(Math.abs(cell.detailAttenuation - previous.detailAttenuation)).toBeLessThan(0.01);
      previous = cell;
    }
  });

  it('treats alike the faces of a noisy group photo whose severities straddle an edge of the default table', () => {
    // Prepare: the six faces of a group photo with Gaussian noise σ 15 (a quality review's
    // photo; estimates as `dr2e restore --json` reported them). Severities 4.50-4.63 against the
    // 128 px row's edge at 4.618: with hard edges two faces were restored at input weight 0.76
    // without their fine bands, four kept whole.
    const faces = [
      { noise: 14.79, jpeg: 0.054, coarseNoise: 16.72, acZeros: 0.933, colourNoise: 15.22, faceSize: 131 },
      { noise: 14.83, jpeg: 0.045, coarseNoise: 17.9, acZeros: 0.922, colourNoise: 15.01, faceSize: 133 },
      { noise: 14.79, jpeg: 0.076, coarseNoise: 16.99, acZeros: 0.913, colourNoise: 15.09, faceSize: 131 },
      { noise: 14.76, jpeg: 0.061, coarseNoise: 15.84, acZeros: 0.911, colourNoise: 15.37, faceSize: 113 },
      { noise: 14.86, jpeg: 0.064, coarseNoise: 16.5, acZeros: 0.916, colourNoise: 15.27, faceSize: 110 },
      { noise: 14.78, jpeg: 0.032, coarseNoise: 16.14, acZeros: 0.929, colourNoise: 15.72, faceSize: 114 },
    ].map((estimate) => ({ ...estimate, blur: 1 }));
    // Act
    const fusions = faces.map((estimate) => chooseSettings(estimate, { resolution: 64 }).fusion);
    // Assess: every face keeps nearly all of its input's bands, its grain included.
    for (const fusion of fusions) {
      expect(fusion.inputWeight).toBeGreaterThan(0.97);
      expect(fusion.detailWeight).toBeGreaterThan(0.9);
      expect(fusion.detailAttenuation ?? 1).toBeLessThan(0.1);
    }
    expect(fusions.filter((fusion) => keepsInput(fusion))).toHaveLength(4);
    // The face report names the partial attenuation of a hedged face (it shapes the output),
    // and passes the API's strict schema.
    const resolve = (r: Parameters<typeof resolveDr2Params>[0]) => resolveDr2Params(r, 64);
    const hedged = faces[1]!;
    const choice = chooseSettings(hedged, { resolution: 64 });
    const report = faceQualityReport({ estimate: hedged, choice, params: resolve(choice.params) }).settings;
    expect(report.detailAttenuation).toBeCloseTo(choice.fusion.detailAttenuation!, 3);
    expect(report.detailAttenuation).toBeGreaterThan(0);
    expect(FaceSettingsSchema.parse(report)).toEqual(report);
    const keptChoice = chooseSettings(faces[2]!, { resolution: 64 });
    const keptReport = faceQualityReport(
      { estimate: faces[2]!, choice: keptChoice, params: resolve(keptChoice.params) },
      true,
    );
    expect(keptReport.settings).not.toHaveProperty('detailAttenuation');
    // A face far from any keeping cell carries no attenuation field (the full Wiener gain).
    const severe = chooseSettings({ ...faces[0]!, jpeg: 0.6 }, { resolution: 64 }).fusion;
    expect(severe.inputWeight).toBeLessThan(0.8);
    expect(severe).not.toHaveProperty('detailAttenuation');
  });
});

describe('fuseDetail', () => {
  it('returns the input exactly with full input and detail weights on a clean large face', () => {
    const input = testCard(200);
    const restored = resizeRgb8(resizeRgb8(input, 64, 64), 200, 200);
    const { image } = fuseDetail(restored, input, {
      cutoff: 64,
      inputWeight: 1,
      detailWeight: 1,
      noise: 0,
      faceSize: 200,
    });
    expect(mse(image, input)).toBeLessThan(0.5);
  });

  it.each([96, 144, 200, 256, 384])(
    'never comes out blurrier than the input enlarged (bicubic) on a clean %i-px face, with auto',
    (side) => {
      // A clean face larger than the model's output; the model (64 px, output 128) returns a smooth version of it.
      const input = testCard(side);
      const restored = resizeRgb8(resizeRgb8(input, 64, 64), 128, 128);
      const estimate = estimateDegradation(input, { faceSize: side });
      const plan = {
        estimate,
        choice: chooseSettings(estimate, { resolution: 64 }),
        params: { n: 1, tau: 10, omega: 15, steps: 100 },
      };
      const out = finishFace(restored, input, plan);
      const restoredAtInput = resizeRgb8(restored, side, side);
      expect(highFrequencyEnergy(out)).toBeGreaterThanOrEqual(0.9 * highFrequencyEnergy(input));
      expect(mse(out, input)).toBeLessThan(mse(restoredAtInput, input));
    },
  );

  it('keptShare is a share of the input both bands keep, 1 exactly when the input is kept', () => {
    // Prepare: a noisy input and a restoration, every corner of the settings, faces larger and
    // smaller than the cut-off, pasted larger than it and (48 px) not (one band: the input's
    // share of all of it is the input weight).
    const clean = testCard(128);
    const pairs = [128, 48].map((side) => ({
      side,
      input: withNoise(resizeRgb8(clean, side, side), 8),
      restored: resizeRgb8(resizeRgb8(clean, 64, 64), side, side),
    }));
    for (const { side, input, restored } of pairs)
      for (const inputWeight of [0, 0.5, 0.9, 1])
        for (const detailWeight of [0, 0.6, 1])
          for (const detailAttenuation of [undefined, 0, 0.3, 1])
            for (const faceSize of [40, 128]) {
              const settings = {
                cutoff: 64,
                inputWeight,
                detailWeight,
                noise: 8,
                faceSize,
                ...(detailAttenuation !== undefined ? { detailAttenuation } : {}),
              };
              // Act
              const share = keptShare(settings);
              const { detailGain } = fuseDetail(restored, input, settings);
              // Assess: no more than either band's input share, so the fused face is that share of
              // the input and a mix of both faces for the rest; 1 only for a face kept as it is,
              // 0 for a cell that attenuates all of a large face's detail.
              const where = JSON.stringify({ side, ...settings });
              expect(share, where).toBeGreaterThanOrEqual(0);
              expect(share, where).toBeLessThanOrEqual(inputWeight);
              if (side > 64) expect(share, where).toBeLessThanOrEqual(detailGain + 1e-12);
              expect(share === 1, where).toBe(keepsInput(settings));
              if (faceSize > 64 && (detailAttenuation ?? 1) === 1) expect(share, where).toBe(0);
            }
  });

  it('attenuates the input detail by its noise', () => {
    const clean = testCard(200);
    const noisy = withNoise(clean, 20);
    const restored = resizeRgb8(resizeRgb8(clean, 64, 64), 200, 200);
    const settings = { cutoff: 64, inputWeight: 0, detailWeight: 1, faceSize: 200 };
    const cleanGain = fuseDetail(restored, clean, { ...settings, noise: estimateDegradation(clean).noise });
    const noisyGain = fuseDetail(restored, noisy, { ...settings, noise: estimateDegradation(noisy).noise });
    expect(cleanGain.detailGain).toBeGreaterThan(0.9);
    expect(noisyGain.detailGain).toBeLessThan(cleanGain.detailGain);
  });

  it('does not attenuate the fine bands of a face smaller than the cut-off (they hold no input noise)', () => {
    const input = resizeRgb8(testCard(32), 128, 128);
    const restored = testCard(128);
    const settings = { cutoff: 64, inputWeight: 0.5, noise: 12, faceSize: 32 };
    expect(fuseDetail(restored, input, { ...settings, detailWeight: 0.7 }).detailGain).toBe(0.7);
    expect(fuseDetail(restored, input, { ...settings, detailWeight: 0 }).detailGain).toBe(0);
  });

  it('returns the input exactly when both weights are 1 and the fine bands are kept unattenuated', () => {
    const input = withNoise(testCard(200), 10);
    const restored = resizeRgb8(testCard(64, 1, 3), 200, 200);
    const settings = { cutoff: 64, inputWeight: 1, detailWeight: 1, noise: 10, faceSize: 200 };
    const exact = fuseDetail(restored, input, { ...settings, detailAttenuation: 0 });
    expect(exact.detailGain).toBe(1);
    expect(Buffer.from(exact.image.data).equals(Buffer.from(input.data))).toBe(true);
    // With the noise-driven gain the noisy input's fine bands are partly replaced.
    expect(fuseDetail(restored, input, settings).detailGain).toBeLessThan(1);
  });

  it('applies a partial detail attenuation as that share of the Wiener gain', () => {
    // Prepare: a noisy face whose fine bands the full gain keeps only in part.
    const input = withNoise(testCard(200), 10);
    const restored = resizeRgb8(testCard(64, 1, 3), 200, 200);
    const settings = { cutoff: 64, inputWeight: 1, detailWeight: 0.8, noise: 10, faceSize: 200 };
    // Act
    const full = fuseDetail(restored, input, settings).detailGain;
    const half = fuseDetail(restored, input, { ...settings, detailAttenuation: 0.5 }).detailGain;
    // Assess: g = w_d (1 - a + a G), with w_d G the full attenuation's gain.
    const wiener = full / 0.8;
    expect(wiener).toBeGreaterThan(0.05);
    expect(wiener).toBeLessThan(0.95);
    expect(half).toBeCloseTo(0.8 * (0.5 + 0.5 * wiener), 12);
    expect(fuseDetail(restored, input, { ...settings, detailAttenuation: 1 }).detailGain).toBe(full);
  });

  it('keeps the input only when both weights are 1 and nothing of the Wiener gain applies', () => {
    const settings = { cutoff: 64, inputWeight: 1, detailWeight: 1, noise: 10, faceSize: 200 };
    expect(keepsInput({ ...settings, detailAttenuation: 0 })).toBe(true);
    expect(keepsInput({ ...settings, detailAttenuation: 0.03 })).toBe(false);
    expect(keepsInput(settings)).toBe(false);
  });

  it('fuses the same from pre-split bands (fuseBands) as from the faces (fuseDetail)', () => {
    const input = withNoise(testCard(160), 6);
    const restored = resizeRgb8(testCard(128, 1, 5), 160, 160);
    const settings = { cutoff: 64, inputWeight: 0.25, detailWeight: 0.5, noise: 6, faceSize: 160 };
    const direct = fuseDetail(restored, input, settings);
    const split = fuseBands(splitBands(restored, 64), splitBands(input, 64), settings);
    expect(split.detailGain).toBe(direct.detailGain);
    expect(Buffer.from(split.image.data).equals(Buffer.from(direct.image.data))).toBe(true);
  });

  it('splits at the model resolution or the face size, whichever is smaller (fusionCutoff)', () => {
    expect(fusionCutoff(64, 200)).toBe(64);
    expect(fusionCutoff(64, 64)).toBe(64);
    expect(fusionCutoff(64, 32)).toBe(32);
    expect(fusionCutoff(64, 23.6)).toBe(24);
    expect(fusionCutoff(64, 40.4)).toBe(41); // never below the face's own size
    expect(fusionCutoff(64, 0.2)).toBe(1);
    expect(fusionCutoff(64, Number.NaN)).toBe(64);
    const small = estimateDegradation(testCard(32), { faceSize: 32 });
    expect(chooseSettings(small, { resolution: 64 }).fusion.cutoff).toBe(32);
    const large = estimateDegradation(testCard(200), { faceSize: 200 });
    expect(chooseSettings(large, { resolution: 64 }).fusion.cutoff).toBe(64);
  });

  it("keeps a small face's own band with input weight 1 and takes only the finer bands from the model", () => {
    // Prepare: a 32 px face enlarged to 128, and a "restored" face that differs everywhere.
    const input = resizeRgb8(withNoise(testCard(32), 4), 128, 128);
    const restored = testCard(128, 1, 5);
    const settings = {
      cutoff: fusionCutoff(64, 32),
      inputWeight: 1,
      detailWeight: 0,
      noise: 4,
      faceSize: 32,
    };
    // Act
    const fused = fuseDetail(restored, input, settings).image;
    // Assess: brought back to the face's 32 px, the output is the input (up to 8-bit rounding
    // and the resizer's small overshoot), while at 128 px it carries the restored face's detail.
    const back = resizeRgb8(fused, 32, 32);
    const inputBack = resizeRgb8(input, 32, 32);
    expect(Math.sqrt(mse(back, inputBack))).toBeLessThan(2.5);
    expect(Math.sqrt(mse(fused, input))).toBeGreaterThan(3);
    expect(highFrequencyEnergy(fused)).toBeGreaterThan(highFrequencyEnergy(input));
  });

  it('refuses faces of different sizes and weights outside 0..1', () => {
    const a = testCard(32);
    const b = testCard(48);
    const settings = { cutoff: 16, inputWeight: 0.5, detailWeight: 0.5, noise: 0, faceSize: 32 };
    expect(() => fuseDetail(a, b, settings)).toThrow(/one size/);
    expect(() => fuseDetail(a, a, { ...settings, inputWeight: 2 })).toThrow(/inputWeight/);
    for (const detailAttenuation of [-0.1, 1.1, Number.NaN]) {
      expect(() => fuseDetail(a, a, { ...settings, detailAttenuation })).toThrow(/detailAttenuation/);
    }
  });
});

describe('presets and planFace', () => {
  it('defines the fixed presets relative to the face: N scales with the model resolution', () => {
    expect(resolveDr2Params({ preset: 'mild' }, 256)).toEqual({ n: 4, tau: 22, omega: 42, steps: 100 });
    expect(resolveDr2Params({ preset: 'mild' }, 64)).toMatchObject({ n: 1, tau: 22 });
    expect(resolveDr2Params({ preset: 'medium' }, 64)).toMatchObject({ n: 2, tau: 35 });
    expect(resolveDr2Params({ preset: 'severe' }, 64)).toMatchObject({ n: 4, tau: 35 });
    expect(resolveDr2Params({ preset: 'severe' }, 512)).toMatchObject({ n: 32, tau: 35 });
    expect(lowPassFactorForCutoff(16, 48)).toBe(2);
  });

  it('resolves auto without a face like mild, and refuses a bad fidelity', () => {
    expect(resolveDr2Params({ preset: 'auto' }, 64)).toEqual(resolveDr2Params({ preset: 'mild' }, 64));
    expect(() => resolveDr2Params({ fidelity: -0.1 }, 64)).toThrow(/fidelity/);
  });

  it('keeps a clean 80 px face exactly (a 64 px row keep cell: its bands above the model are not attenuated)', () => {
    // Prepare: a clean, detailed 80 px face; auto bins it in the default table's 64 px row.
    const resolve = (r: Parameters<typeof resolveDr2Params>[0]) => resolveDr2Params(r, 64);
    const face = testCard(80, 3);
    // Act
    const plan = planFace(face, 80, { preset: 'auto' }, resolve, 64);
    // Assess: kept as it is (not run, not pasted), and its fusion returns the input itself.
    expect(calibrationBin(plan.estimate, DEFAULT_CALIBRATION).sizeBin).toBe(
      DEFAULT_CALIBRATION.sizes.indexOf(64),
    );
    expect(keepsFace(plan)).toBe(true);
    expect(finishFace(resizeRgb8(face, 64, 64), face, plan).data).toEqual(face.data);
  });

  it('chooses per face for auto and keeps explicit settings', () => {
    const resolve = (r: Parameters<typeof resolveDr2Params>[0]) => resolveDr2Params(r, 64);
    const face = testCard(48);
    expect(isAutoRequest({})).toBe(true);
    expect(isAutoRequest({ preset: 'auto', steps: 100 })).toBe(true);
    expect(isAutoRequest({ preset: 'auto', n: 2, tau: 10 })).toBe(false);
    const auto = planFace(face, 48, { preset: 'auto' }, resolve, 64);
    expect(auto.choice).not.toBeNull();
    const fixed = planFace(face, 48, { n: 2, tau: 12 }, resolve, 64);
    expect(fixed.choice).toBeNull();
    expect(fixed.params).toMatchObject({ n: 2, tau: 12 });
    expect(finishFace(face, face, fixed)).toBe(face);
    const shortSchedule = planFace(face, 48, { preset: 'auto', steps: 10 }, resolve, 64);
    expect(shortSchedule.params.steps).toBe(10);
    expect(shortSchedule.params.omega).toBeLessThanOrEqual(9);
  });
});
