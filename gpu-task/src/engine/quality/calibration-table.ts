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
    [0.097, 1.293, 1.622, 2.01, 2.383, 2.844, 3.152],
    [0.994, 1.543, 2.077, 2.616, 2.946, 3.215, 3.777],
    [2.5, 2.761, 3.207, 3.626, 3.951, 4.719, 4.947],
    [2.535, 2.821, 3.235, 3.694, 4.315, 4.955, 5.629],
    [4.398, 4.639, 5.002, 5.175, 5.377, 5.638, 5.97],
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
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0,
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
        inputWeight: 1,
        detailWeight: 1,
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
        detailWeight: 0,
        samples: 12,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 12,
      },
      {
        step: 4,
        inputWeight: 0.75,
        detailWeight: 0.5,
        samples: 12,
      },
      {
        step: 2,
        inputWeight: 0.25,
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
        samples: 15,
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
        samples: 15,
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
        samples: 15,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 16,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 15,
      },
      {
        step: 0,
        inputWeight: 0,
        detailWeight: 0,
        samples: 16,
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
        samples: 14,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 14,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 14,
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
        samples: 14,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 14,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 14,
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
        samples: 7,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 7,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 7,
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
        samples: 7,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 7,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 7,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 --out docs/quality/calibration',
    data: 'utkface-200.tar train/ (96 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    samples: 480,
    minutes: 6.8,
    date: '2026-12-01',
    objective:
      'J = 1 dPSNR + 100 dSSIM + 100 dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 1.5; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit:
      'npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --reestimate --margin 1.5',
  },
};
