/**
 * The `auto` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns, upper edges of JPEG blocking + noise / 20);
 * each names a QUALITY_LADDER step, the input weight and the detail weight of the fusion, and the
 * number of training samples it was fitted on (0 = copied from the nearest filled cell).
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = {
  sizes: [16, 32, 64, 128, 256],
  severityEdges: [0, 1, 2, 3, 4].map(() => [0.15, 0.35, 0.7]),
  cells: [
    [
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 2,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 1,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 4,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 1,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 0,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 5,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 2,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 1,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 3,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 1,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 1,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 3,
      },
    ],
    [
      {
        step: 6,
        inputWeight: 1,
        detailWeight: 1,
        samples: 1,
      },
      {
        step: 2,
        inputWeight: 1,
        detailWeight: 1,
        samples: 3,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 3,
      },
      {
        step: 0,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 1,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 2,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 0,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 3,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 3,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command: 'npx tsx scripts/calibrate-quality.ts --faces 8 --out docs/quality/calibration',
    data: 'utkface-200.tar train/ (8 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    objective:
      'dPSNR + 100 dSSIM + 100 dCos(eigenface) vs bicubic; options with all mean gains >= 0 preferred',
    samples: 40,
    minutes: 18.7,
    date: '2026-11-30',
  },
};
