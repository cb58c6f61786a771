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
    [1.349, 1.8, 2.345],
    [1.032, 1.274, 1.556],
    [0.518, 0.807, 1.328],
    [0.345, 0.706, 1.603],
    [0.421, 1.04, 1.714],
  ],
  cells: [
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0.5,
        samples: 24,
      },
      {
        step: 4,
        inputWeight: 0.75,
        detailWeight: 0.5,
        samples: 24,
      },
      {
        step: 2,
        inputWeight: 0.5,
        detailWeight: 1,
        samples: 24,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 24,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 24,
      },
      {
        step: 2,
        inputWeight: 1,
        detailWeight: 0,
        samples: 24,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 23,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 24,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 (grown from the committed 24-face run: --faces 48 --extend, then --faces 96 --extend; 4.3 + 8.6 min)',
    data: 'utkface-200.tar train/ (96 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    sizes: [16, 32, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme'],
    seed: 11,
    samples: 480,
    minutes: 8.6,
    date: '2026-11-30',
    objective:
      'J = dPSNR + 100 dSSIM + 100 dCos(eigenface) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 1.5; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit:
      'npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --margin 1.5 --scored-by npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 (grown from the committed 24-face run: --faces 48 --extend, then --faces 96 --extend; 4.3 + 8.6 min)',
  },
};
