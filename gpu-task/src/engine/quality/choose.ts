/**
 * The automatic choice: from a face's degradation estimate and a fidelity in [0, 1] to DR2's
 * (N, τ) and the fusion settings, through a calibration table fitted on synthetic degradations
 * of training faces (`scripts/calibrate-quality.ts`, table in `calibration-table.ts`).
 *
 * **The ladder.** Candidate DR2 settings ordered from "keeps the most of the input" to "trusts
 * the prior the most": along it neither the low-pass cut-off (in face pixels, as the fixed
 * presets are defined, so a ladder step means the same at any model resolution) grows nor τ
 * shrinks. The calibration picks a step, an input weight (the input's share of the model's
 * bands) and a detail weight (the most of the input's finer bands kept) per cell of (face size,
 * estimated severity: JPEG blocking + noise / 20). The severity bins are per face-size row: the
 * same JPEG quality reads as more blocking on a larger (smoother per pixel) face. A face between
 * two rows takes the nearer row's setting, its weights raised toward the other row's where that
 * keeps more of the input, at the midpoint as far as that row keeps the face whole
 * (sizeHedgedCell); a face just past the edge of a severity bin that keeps faces whole is raised
 * toward that bin's cell (severityHedgedCell).
 *
 * **Fidelity** moves the choice monotonically around the calibrated one: with d = 2 (f - 0.5),
 * for d > 0 the step moves toward step 0 and both weights toward 1 by the fraction d; for d < 0
 * the step moves toward the last step and both weights toward 0 by |d|. f = 0.5 is the
 * calibrated choice; f = 1 keeps the input's bands wholly (the output is the input's low bands plus
 * its fine bands as far as they stand above noise, all of them where the cell does not attenuate
 * them); f = 0 is the strongest setting, the model's bands only.
 */
import { RESTORE_DEFAULTS } from '../../../../shared/src/index.js';
import { InvalidParametersError } from '../errors.js';
import { assertFidelity, lowPassFactorForCutoff } from '../sampler/dr2-params.js';
import { DEFAULT_CALIBRATION } from './calibration-table.js';
import { type DegradationEstimate, SMALL_FACE_BELOW } from './estimate.js';
import { type FusionSettings, fusionCutoff } from './fusion.js';

/** One ladder step: the low-pass keeps the detail of a `cutoff`-px face; τ on the K = 100 grid. */
export interface LadderStep {
  readonly cutoff: number;
  readonly tau: number;
}

/** Candidate settings, from the input's side to the prior's (cut-off non-increasing, τ non-decreasing). */
export const QUALITY_LADDER: readonly LadderStep[] = Object.freeze([
  { cutoff: 64, tau: 10 },
  { cutoff: 64, tau: 15 },
  { cutoff: 32, tau: 15 },
  { cutoff: 32, tau: 22 },
  { cutoff: 16, tau: 22 },
  { cutoff: 16, tau: 30 },
  { cutoff: 16, tau: 35 },
  { cutoff: 8, tau: 35 },
]);

/** The calibrated choice of one cell. */
export interface CalibrationCell {
  /** Index into QUALITY_LADDER. */
  step: number;
  inputWeight: number;
  detailWeight: number;
  /**
   * Whether the detail weight is scaled by the noise-driven Wiener gain (fusion.ts); false when
   * the calibration found the input's fine bands better kept as they are (absent = true).
   */
  attenuateDetail?: boolean;
  /** Training samples the cell was fitted on. */
  samples: number;
}

/**
 * The severity a face is binned by: JPEG blocking plus noise / 20, the noise measured at half
 * resolution (`coarseNoise`, which JPEG leaves; the finest-scale `noise` when absent) and capped
 * where it is the face's own texture (creditedCoarseNoise); for faces
 * under 37.9 px, blocking minus fine detail / 8 (see SMALL_FACE_BELOW); both plus
 * AC_ZEROS_WEIGHT x the share of quantised-away DCT coefficients (`acZeros`). Blocking
 * separates the calibration's splits best on its own; the coarse noise separates them among
 * faces without JPEG and among larger faces. Both also respond to face detail on small faces,
 * which the per-size rows of the table absorb.
 */
export function severityOf(estimate: DegradationEstimate): number {
  const compression = AC_ZEROS_WEIGHT * (estimate.acZeros ?? 0);
  if (estimate.faceSize < SMALL_FACE_BELOW) return estimate.jpeg - estimate.noise / 8 + compression;
  return estimate.jpeg + creditedCoarseNoise(estimate) / 20 + compression;
}

/**
 * Colour noise (`colourNoise`, per channel) below which a face shows none: the calibration's
 * train faces (45-256 px) read under 1.9 on every split without heavy noise (one 2.04), 2.1 and
 * up with noise 15-35 under JPEG q 90-97 (the `noisy` split).
 */
export const COLOUR_NOISE_BELOW = 2;

/**
 * JPEG blocking below which the compression may have been light enough to keep colour noise
 * (the `noisy` split's faces, JPEG q 90-97, read 0-0.10 from 64 px up and up to 0.18 at 45 px).
 * Noise hides blocking too, so a noisy face of quality 70-85 also reads under it: hence the
 * fine-scale condition (FINE_NOISE_SHARE_BELOW).
 */
export const LIGHT_BLOCKING_BELOW = 0.15;

/**
 * The most coarse noise credited to a face that shows no colour noise under light compression.
 * Per-channel noise would show in its chroma, and light JPEG would have kept it there: the
 * luma's coarse reading above this is the face's own texture (deep wrinkles, hair). The 64 px
 * train faces of the mild split read at most 16.2 (clean 18.7, medium 16.9).
 */
export const TEXTURE_NOISE_CAP = 16;

/**
 * The share of the coarse noise that the finest-scale estimate (`noise`) must stay under for the
 * cap: white noise reads alike at both scales, and under JPEG of quality 70-89 0.30-1.0 of it
 * stayed at the finest on the calibration's `grainy` check (noise 15-35, 45-64 px; lower noise
 * near quality 70 can read 0.18-0.23 and still be capped), while a face's own texture lives at
 * the coarser scale (train faces of the mild split that the cap
 * would touch: 0.12-0.17; clean ones 0.23-0.27). Without it the cap took lightly compressed
 * noisy faces for textured ones (a reviewer's finding): 44 of 96 `grainy` train faces at 64 px
 * were kept as they were, and the split's mean identity gain over bicubic fell from 0.143 to 0.093.
 */
export const FINE_NOISE_SHARE_BELOW = 0.25;

/**
 * Faces from this side up (px; between the default table's 64 and 128 px rows, √(64 · 128)) are
 * never capped: there a face's own texture reads far below the cap (the train faces of every
 * split without heavy noise read at most 10.4 at 128 px and 9.3 at 256 px, lightly compressed),
 * so a coarse reading above it is noise, whatever the chroma says. Below, it does not: clean
 * train faces read up to 28.8 at 45 px and 18.7 at 64 px.
 */
export const TEXTURE_CAP_BELOW = Math.sqrt(64 * 128);

/**
 * The coarse noise the severity counts: `coarseNoise` (the finest `noise` when absent), capped
 * at TEXTURE_NOISE_CAP for a face under TEXTURE_CAP_BELOW with no colour noise under light
 * compression and little of its noise at the finest scale (FINE_NOISE_SHARE_BELOW). Only the
 * severity of faces from SMALL_FACE_BELOW up counts it. Without the cap, a face whose whole skin
 * is texture (a centenarian's) reads as heavily noisy and is restored like one, losing the
 * wrinkles that make it that person. Noise
 * that is the same in every channel (grey scans, monochrome grain, some phones' luma noise)
 * reads as texture here: such faces of 38-90 px are restored less, never more. Faces without a
 * colour estimate are not capped.
 */
export function creditedCoarseNoise(estimate: DegradationEstimate): number {
  const coarse = estimate.coarseNoise ?? estimate.noise;
  const { colourNoise } = estimate;
  if (colourNoise === undefined || colourNoise >= COLOUR_NOISE_BELOW) return coarse;
  if (estimate.jpeg >= LIGHT_BLOCKING_BELOW || estimate.faceSize >= TEXTURE_CAP_BELOW) return coarse;
  if (estimate.noise >= FINE_NOISE_SHARE_BELOW * coarse) return coarse;
  return Math.min(coarse, TEXTURE_NOISE_CAP);
}

/**
 * Weight of the DCT zero share (`acZeros`, 0..1) in the severity. Chosen on the calibration's
 * train samples only, by how well the severity orders its splits (the probability that a face
 * of the next split reads as more severe): on the 192 train faces, clean vs mild at 32 px 0.89
 * with it (0.67 without), mild vs medium 0.86 (0.74); at 64 px 0.99 and 0.98 (0.65, 0.91).
 * Larger weights order clean and mild faces a little better, severe and extreme worse.
 * Coefficients under twice the noise count as zero too (AC_ZERO_NOISE_MULTIPLE), so heavy noise
 * without compression raises the severity as heavy compression does.
 */
export const AC_ZEROS_WEIGHT = 4;

/** The fitted table: cells by face size bin (rows) and severity bin (columns). */
export interface CalibrationTable {
  /**
   * Bin centres of the face size, px, ascending; a face takes the nearest in log2 for its ladder
   * step, and the two around it for its weights (sizeHedgedCell).
   */
  sizes: number[];
  /** Per size row: upper edges of the severity bins (severityOf), the last bin open. */
  severityEdges: number[][];
  /** `cells[sizeBin][noiseBin]`. */
  cells: CalibrationCell[][];
  /** How and on what the table was made. */
  provenance: Record<string, string | number | string[] | number[]>;
}

/** The chooser's answer for one face. */
export interface QualityChoice {
  /** DR2's request: N and τ (on the K = 100 grid; omega follows from N). */
  params: { n: number; tau: number };
  fusion: FusionSettings;
  /** Ladder step taken (after fidelity). */
  step: number;
  fidelity: number;
}

export interface ChooseOptions {
  /** 0..1, default 0.5 (the calibrated choice). */
  fidelity?: number;
  /** DR2's resolution S (the model's side). */
  resolution: number;
  table?: CalibrationTable;
}

/**
 * The table cell of the estimate's nearest row (`calibrationBin`); `chooseSettings` takes
 * `sizeHedgedCell`, which is this cell at a row's size.
 */
export function calibrationCell(estimate: DegradationEstimate, table: CalibrationTable): CalibrationCell {
  const { sizeBin, severityBin } = calibrationBin(estimate, table);
  const cell = table.cells[sizeBin]?.[severityBin];
  if (!cell) throw new InvalidParametersError(`calibration table has no cell [${sizeBin}][${severityBin}]`);
  return cell;
}

/** Row (face size, nearest bin centre in log2) and column (severity bin of that row) of an estimate. */
export function calibrationBin(
  estimate: DegradationEstimate,
  table: Pick<CalibrationTable, 'sizes' | 'severityEdges'>,
): { sizeBin: number; severityBin: number } {
  const size = Math.max(1, checkedFaceSize(estimate));
  let sizeBin = 0;
  table.sizes.forEach((centre, i) => {
    if (Math.abs(Math.log2(size / centre)) < Math.abs(Math.log2(size / (table.sizes[sizeBin] as number)))) {
      sizeBin = i;
    }
  });
  return { sizeBin, severityBin: severityBinOf(severityOf(estimate), table.severityEdges[sizeBin] ?? []) };
}

/**
 * The settings a face takes from the table: a cell's ladder step and its fusion weights, the
 * weights hedged toward the input between neighbouring cells (sizeHedgedCell). The cell's
 * `attenuateDetail` becomes a number here: `detailAttenuation`, 1 where the detail weight
 * follows the Wiener gain, 0 where it does not (fusion.ts), between the two for a hedged face.
 */
export interface HedgedCell {
  /** Index into QUALITY_LADDER. */
  step: number;
  inputWeight: number;
  detailWeight: number;
  detailAttenuation: number;
  /** Training samples of the cell whose step was taken. */
  samples: number;
  /**
   * 0..1, how far this is a cell that keeps the face whole: 1 for such a cell, the share of the
   * way to one for a face hedged toward it (severityHedgedCell), 0 otherwise. The size hedge
   * completes toward a row by this much (sizeHedgedCell).
   */
  keeping: number;
}

/**
 * The cell for a face between two rows of the table, hedged toward the input: the nearer row's
 * cell (ladder step and weights), except that a weight the other row sets higher (more of the
 * input), or a detail attenuation it sets lower, moves toward it by how far the face's size lies
 * between the two rows, in log2; and over the last SIZE_RAMP before the midpoint, the rest of
 * the way as far as the other row's cell keeps the face whole (its `keeping`; sizeHedgeShare).
 * Beside a cell that keeps the face (both weights 1, fine bands unattenuated) the face reaches
 * it at the midpoint from either side, so its weights are continuous in the size there (the
 * ladder step still switches); beside a cell hedged part-way toward keeping they step by
 * (1 - keeping) / 2 of the rows' difference; between two restoring rows each side stops
 * half-way, as between two restoring severity bins. Everything stays continuous in the
 * severity. Each row's cell is binned as if the face were that row's size (the row's severity
 * formula and bins) and hedged between that row's severity bins (severityHedgedCell). At a
 * row's size, and beyond the first and last rows, this is that row's cell; never does it take
 * more of the model than the nearer row would.
 *
 * Why: a whole-photo face is sized from detector landmarks, which scatter about ±7 % around
 * the true size on the calibration's train faces and read small degraded faces a few per cent
 * small, and neighbouring rows can disagree: at 32 px the model's detail helps a mildly
 * degraded face, from 45 px such a face is kept as it is. With the nearest row alone a 42 px
 * face read as 36 px took all of the 32 px row's model detail. Blending both ways was tried on
 * whole-photo scenes of train faces (`dr2e eval-photos --prefix train/`, seeds 1 and 2): it
 * gained on medium and severe faces but lost identity on mild ones (faces read 39-43 px took
 * some of the 32 px row's detail); hedging only toward the input keeps the mild faces'
 * identity, which is what a size the chooser cannot pin down should cost. Without the completion
 * at the midpoint, two faces of one noise read at 90.4 and 90.6 px took input weight 0.87 and
 * detail weight 0.48 (the 64 px row's cell, half-way to the 128 px row's) and 0.99 and 0.97
 * (the 128 px row's, hedged nearly to keeping): one photo treated two ways.
 *
 * @example
 * ```ts
 * const cell = sizeHedgedCell({ ...estimate, faceSize: 36 }, DEFAULT_CALIBRATION);
 * // the 32 px row's step; its weights raised toward the 45 px row's where that keeps more input
 * ```
 * @throws InvalidParametersError when the table lacks a cell the estimate falls in.
 */
export function sizeHedgedCell(estimate: DegradationEstimate, table: CalibrationTable): HedgedCell {
  const size = Math.max(1, checkedFaceSize(estimate));
  // The rows around the size: the largest centre below it and the smallest at or above it
  // (found by value, so the table's order does not matter).
  let lower = -1;
  let upper = -1;
  table.sizes.forEach((centre, i) => {
    if (centre < size && (lower < 0 || centre > (table.sizes[lower] as number))) lower = i;
    if (centre >= size && (upper < 0 || centre < (table.sizes[upper] as number))) upper = i;
  });
  if (lower < 0 || upper < 0) {
    // Below the first row or beyond the last (an infinite size too): that row's cell (row 0 of
    // a table without rows, which tableCell then refuses).
    return severityHedgedCell(Math.max(0, lower < 0 ? upper : lower), estimate, table);
  }
  const [below, above] = [table.sizes[lower] as number, table.sizes[upper] as number];
  const t = Math.log2(size / below) / Math.log2(above / below);
  const atRow = (row: number, centre: number) =>
    severityHedgedCell(row, { ...estimate, faceSize: centre }, table);
  const [nearer, other, distance] =
    t < 0.5
      ? [atRow(lower, below), atRow(upper, above), t]
      : [atRow(upper, above), atRow(lower, below), 1 - t];
  // Completed only as far as the other row keeps the face whole: grain against none shows;
  // between two restoring rows faces differ by a share of their input (completing there too
  // moved 11 faces of the train scenes instead of 5, and reshaped the README's halftone face;
  // docs/quality). By `keeping`, not by whether the cell keeps the face exactly: a cell hedged
  // part-way toward keeping (severityHedgedCell) stays continuous in the severity.
  return hedgedToward(nearer, other, sizeHedgeShare(distance, other.keeping));
}

/**
 * Of the log₂ distance between two rows, how much before the midpoint a face's hedge toward a
 * row that keeps it whole starts to complete (sizeHedgeShare): 0.25 is half of the half next to
 * the midpoint, as SEVERITY_RAMP is of a severity bin. Chosen on `train/` whole-photo scenes only
 * (docs/quality, "Between two rows"), with the completion toward keeping cells only.
 */
export const SIZE_RAMP = 0.25;

/**
 * How far (0..1) a face `distance` of the way (0..0.5, in log₂ of the size) from its nearer row
 * to the other one moves toward the other row's cell: `distance` itself (the hedge as it was),
 * plus `keeping` (the other cell's, 0..1) of the rest of the way times the face's progress
 * through the last SIZE_RAMP before the midpoint (0 at its start, 1 at the midpoint). With
 * `keeping` 1 the face reaches the other cell at the midpoint.
 */
function sizeHedgeShare(distance: number, keeping: number): number {
  const progress = Math.min(1, Math.max(0, (distance - (0.5 - SIZE_RAMP)) / SIZE_RAMP));
  return distance + keeping * (1 - distance) * progress;
}

/**
 * Of half a severity bin, the share next to an edge over which a face's settings ramp toward
 * the neighbouring bin's (severityHedgedCell): 0.5 is the quarter of the bin next to the edge.
 * Chosen on `train/` only (docs/quality, "Between two severity bins"): the ramp over the whole
 * half bin cost restored faces more identity. The bins come from training quantiles, so the
 * ramp is as wide as the bins are: 0.13 of severity beside the 128 px row's keeping bins, 0.04
 * to 0.08 beside the 45, 64 and 256 px rows'.
 */
export const SEVERITY_RAMP = 0.5;

/**
 * A row's cell for a face, hedged toward the input between the row's severity bins: the face's
 * bin's step and weights, except that near an edge whose other side keeps the face whole (both
 * weights 1, its fine bands unattenuated) the weights rise and the detail attenuation falls
 * toward that cell's: linearly, from none at SEVERITY_RAMP of the way from the edge to the bin's
 * centre to all of it at the edge. The settings are therefore continuous in the severity where
 * a restoring bin meets a keeping one; between two restoring bins the edge stays as it was.
 *
 * Why: the bins are hard edges in a severity read from one face's pixels, and faces of one
 * photo with the same noise read a little apart by their content (a σ 15 group photo: 4.497 to
 * 4.628 against the 128 px row's edge at 4.618). With hard edges two of its six faces were
 * restored without their grain and four kept with it; a user sees one photo treated two ways.
 * Between two restoring bins the faces differ by a share of the input, which does not show so;
 * hedging those edges too cost restored faces identity on `val/` (docs/quality, val run 8).
 * As for sizes, the hedge only ever keeps more of the input, never more of the model than the
 * bin's own cell, and the ladder step stays the bin's. Bin centres: the middle of an inner bin;
 * the open first and last bins are given the width of the bin next to them (no ramp where a
 * row has no inner bin).
 *
 * @example
 * ```ts
 * const cell = severityHedgedCell(4, { ...estimate, faceSize: 128 }, DEFAULT_CALIBRATION);
 * ```
 * @throws InvalidParametersError when the table lacks a cell the estimate falls in.
 */
export function severityHedgedCell(
  row: number,
  estimate: DegradationEstimate,
  table: CalibrationTable,
): HedgedCell {
  const edges = table.severityEdges[row] ?? [];
  const severity = severityOf(estimate);
  const bin = severityBinOf(severity, edges);
  const own = tableCell(table, row, bin);
  const lowerEdge = edges[bin - 1];
  const upperEdge = edges[bin];
  const lowerEdgeAbove = edges[bin - 2];
  const upperEdgeBeyond = edges[bin + 1];
  // The open bins take the width of the bin beside them.
  const low =
    lowerEdge ??
    (upperEdge !== undefined && upperEdgeBeyond !== undefined ? 2 * upperEdge - upperEdgeBeyond : undefined);
  const high =
    upperEdge ??
    (lowerEdge !== undefined && lowerEdgeAbove !== undefined ? 2 * lowerEdge - lowerEdgeAbove : undefined);
  if (low === undefined || high === undefined || !(high > low)) return own;
  // The ramp: from the edge toward the centre, SEVERITY_RAMP of the half bin.
  const ramp = (SEVERITY_RAMP * (high - low)) / 2;
  const centre = (low + high) / 2;
  const neighbour =
    severity < centre && lowerEdge !== undefined
      ? { cell: tableCell(table, row, bin - 1), distance: severity - lowerEdge }
      : severity > centre && upperEdge !== undefined
        ? { cell: tableCell(table, row, bin + 1), distance: upperEdge - severity }
        : undefined;
  if (neighbour && ramp > 0 && keepsWhole(neighbour.cell)) {
    return hedgedToward(own, neighbour.cell, 1 - neighbour.distance / ramp);
  }
  return own;
}

/**
 * The estimate's face size, refused when it is not a number: NaN would fall through every
 * comparison to the first row, binned by the larger faces' formula, which for most estimates is
 * the cell that takes the most of the model. A size of 0 or below, or an infinite one, is a
 * number and takes the first or the last row.
 */
function checkedFaceSize(estimate: DegradationEstimate): number {
  if (Number.isNaN(estimate.faceSize)) {
    throw new InvalidParametersError('the face size of a degradation estimate is not a number (NaN)');
  }
  return estimate.faceSize;
}

/** Whether a cell returns the face as it was: both weights 1, the fine bands unattenuated. */
function keepsWhole(cell: HedgedCell): boolean {
  return cell.inputWeight === 1 && cell.detailWeight === 1 && cell.detailAttenuation === 0;
}

/** A table cell as a HedgedCell (its boolean attenuation as 0 or 1). */
function tableCell(table: CalibrationTable, row: number, bin: number): HedgedCell {
  const cell = table.cells[row]?.[bin];
  if (!cell) throw new InvalidParametersError(`calibration table has no cell [${row}][${bin}]`);
  const hedged = {
    step: cell.step,
    inputWeight: cell.inputWeight,
    detailWeight: cell.detailWeight,
    detailAttenuation: cell.attenuateDetail === false ? 0 : 1,
    samples: cell.samples,
    keeping: 0,
  };
  return keepsWhole(hedged) ? { ...hedged, keeping: 1 } : hedged;
}

/**
 * `own`, its weights raised and its detail attenuation lowered toward `other`'s by `share`
 * (clamped to 0..1) where `other` keeps more of the input, and its `keeping` likewise; `own`'s
 * step.
 */
function hedgedToward(own: HedgedCell, other: HedgedCell, share: number): HedgedCell {
  const s = Math.min(1, Math.max(0, share));
  const up = (mine: number, theirs: number) => (theirs > mine ? mine + (theirs - mine) * s : mine);
  const down = (mine: number, theirs: number) => (theirs < mine ? mine - (mine - theirs) * s : mine);
  return {
    ...own,
    inputWeight: up(own.inputWeight, other.inputWeight),
    detailWeight: up(own.detailWeight, other.detailWeight),
    detailAttenuation: down(own.detailAttenuation, other.detailAttenuation),
    keeping: up(own.keeping, other.keeping),
  };
}

/** The bin of a severity among a row's upper edges (the last bin open). */
function severityBinOf(severity: number, edges: readonly number[]): number {
  const bin = edges.findIndex((edge) => severity < edge);
  return bin < 0 ? edges.length : bin;
}

/** Move a weight toward 1 (d > 0) or 0 (d < 0) by the fraction |d|. */
function shiftWeight(weight: number, d: number): number {
  return d >= 0 ? weight + d * (1 - weight) : weight * (1 + d);
}

/**
 * Choose DR2's setting and the fusion for one face.
 *
 * @example
 * ```ts
 * const estimate = estimateDegradation(crop, { faceSize: 40 });
 * const choice = chooseSettings(estimate, { resolution: engine.resolution, fidelity: 0.7 });
 * const params = engine.resolveParams({ n: choice.params.n, tau: choice.params.tau });
 * ```
 * @throws InvalidParametersError for a fidelity outside 0..1.
 */
export function chooseSettings(estimate: DegradationEstimate, options: ChooseOptions): QualityChoice {
  const fidelity = options.fidelity ?? RESTORE_DEFAULTS.fidelity;
  assertFidelity(fidelity);
  const table = options.table ?? DEFAULT_CALIBRATION;
  const cell = sizeHedgedCell(estimate, table);
  const last = QUALITY_LADDER.length - 1;
  const d = 2 * (fidelity - 0.5);
  const base = Math.min(last, Math.max(0, cell.step));
  const step = d >= 0 ? Math.round(base * (1 - d)) : Math.round(base + -d * (last - base));
  const ladder = QUALITY_LADDER[step] as LadderStep;
  return {
    params: { n: lowPassFactorForCutoff(ladder.cutoff, options.resolution), tau: ladder.tau },
    fusion: {
      cutoff: fusionCutoff(options.resolution, estimate.faceSize),
      inputWeight: shiftWeight(cell.inputWeight, d),
      detailWeight: shiftWeight(cell.detailWeight, d),
      noise: estimate.noise,
      faceSize: estimate.faceSize,
      ...(cell.detailAttenuation !== 1 ? { detailAttenuation: cell.detailAttenuation } : {}),
    },
    step,
    fidelity,
  };
}
