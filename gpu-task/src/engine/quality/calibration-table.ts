/**
 * The `auto` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns; per row, upper edges of JPEG blocking +
 * noise / 20); each names a QUALITY_LADDER step, the input weight and the detail weight of the
 * fusion, and the number of training samples it was fitted on. Provenance at the end.
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = {
  sizes: [16, 32, 45, 64, 128, 256],
  severityEdges: [
    [0.851, 1.868, 2.72],
    [0.887, 1.267, 1.611, 2.142, 2.586, 2.818, 3.018, 3.2, 3.438, 3.69, 4.142],
    [2.609, 3.017, 3.354, 3.704, 3.971, 4.226, 4.427, 4.665, 4.971, 5.21, 5.461],
    [2.453, 2.563, 2.713, 2.99, 3.363, 3.572, 3.789, 4.179, 4.681, 4.895, 5.386],
    [2.571, 2.856, 3.297, 3.883, 4.494, 5.058, 5.596],
    [4.457, 4.675, 4.981, 5.15, 5.427, 5.649, 5.991],
  ],
  cells: [
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 48,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 48,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 48,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 48,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 15,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 17,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0.5,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 16,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 19,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 21,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 21,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 20,
      },
      {
        step: 0,
        inputWeight: 0,
        detailWeight: 0,
        samples: 21,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 28,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 29,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 28,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 29,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 28,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 29,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 28,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 29,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 14,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 14,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --extend docs/quality/calibration/samples.csv --faces 192 --sizes 16,32,64,128,256 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 (7.5 min; the first 96 faces by the same command with --faces 96, 6.8 min); then the 45 px row: --faces 192 --sizes 45, same grid (2.4 min), its rows appended',
    data: 'utkface-200.tar train/ (192 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    samples: 1152,
    minutes: 7.5,
    date: '2026-12-01',
    objective:
      'J = 1 dPSNR + 100 dSSIM + 100 dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 0,0,0,1,0.5,2 per size row; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit:
      'npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --sizes 16,32,45,64,128,256 --scored-by npx tsx scripts/calibrate-quality.ts --extend docs/quality/calibration/samples.csv --faces 192 --sizes 16,32,64,128,256 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 (7.5 min; the first 96 faces by the same command with --faces 96, 6.8 min); then the 45 px row: --faces 192 --sizes 45, same grid (2.4 min), its rows appended',
  },
};
