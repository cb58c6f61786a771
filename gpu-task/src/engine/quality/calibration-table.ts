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
    [-1.143, -0.807, -0.651, -0.454, -0.276, -0.083, 0.077],
    [-0.642, -0.49, -0.294, -0.173, -0.022, 0.123, 0.419],
    [0.422, 0.518, 0.607, 0.807, 1.137, 1.328, 1.666],
    [0.228, 0.345, 0.437, 0.706, 1.198, 1.603, 1.953],
    [0.197, 0.421, 0.68, 1.04, 1.435, 1.714, 1.998],
  ],
  cells: [
    [
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0.75,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0.75,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0,
        detailWeight: 0,
        samples: 12,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 13,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 11,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0,
        detailWeight: 0,
        samples: 12,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 0,
        detailWeight: 0,
        samples: 12,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 12,
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
        samples: 11,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 12,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --margin 1.5 --threads 2 --out docs/quality/calibration',
    data: 'utkface-200.tar train/ (96 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    samples: 480,
    minutes: 7.6,
    date: '2026-12-01',
    objective:
      'J = dPSNR + 100 dSSIM + 100 dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 2; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit:
      'npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --scored-by npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --margin 1.5 --threads 2 --out docs/quality/calibration',
  },
};
