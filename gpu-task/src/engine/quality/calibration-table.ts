/**
 * The `auto` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns; per row, upper edges of JPEG blocking +
 * noise / 20); each names a QUALITY_LADDER step, the input weight and the detail weight of the
 * fusion, and the number of training samples it was fitted on. Provenance at the end.
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = {
  sizes: [16, 32, 64, 128, 256],
  severityEdges: [
    [1.426, 1.76, 2.315],
    [0.995, 1.324, 1.745],
    [0.437, 0.705, 1.384],
    [0.313, 0.46, 1.143],
    [0.598, 1.049, 1.751],
  ],
  cells: [
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 6,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 6,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 2,
        inputWeight: 1,
        detailWeight: 0,
        samples: 6,
      },
    ],
    [
      {
        step: 2,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 2,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 6,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 6,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 6,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --faces 24 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --out docs/quality/calibration',
    data: 'utkface-200.tar train/ (24 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    samples: 120,
    minutes: 27.3,
    date: '2026-11-30',
    objective:
      'J = dPSNR + 100 dSSIM + 100 dCos(eigenface) vs bicubic; best mean J among options with mean gains >= 0 for the cell and for each split in it (>= 2 samples)',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit: 'npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --bins 4',
  },
};
