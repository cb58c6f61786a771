/**
 * PLACEHOLDER until `scripts/calibrate-quality.ts` writes the fitted table: a hand-set prior
 * (mild settings, input kept in large faces).
 */
import type { CalibrationTable } from './choose.js';

const cell = (step: number, inputWeight: number, detailWeight: number) => ({
  step,
  inputWeight,
  detailWeight,
  samples: 0,
});

export const DEFAULT_CALIBRATION: CalibrationTable = {
  sizes: [16, 32, 64, 128, 256],
  severityEdges: [0.15, 0.35, 0.7],
  cells: [
    [cell(4, 0, 0), cell(4, 0, 0), cell(5, 0, 0), cell(6, 0, 0)],
    [cell(3, 0, 0), cell(4, 0, 0), cell(5, 0, 0), cell(6, 0, 0)],
    [cell(2, 0.25, 0.5), cell(3, 0.25, 0.5), cell(4, 0, 0.5), cell(5, 0, 0)],
    [cell(1, 0.75, 1), cell(2, 0.5, 1), cell(3, 0.25, 1), cell(4, 0, 0.5)],
    [cell(0, 1, 1), cell(1, 0.75, 1), cell(2, 0.5, 1), cell(3, 0.25, 1)],
  ],
  provenance: { source: 'hand-set placeholder' },
};
