/**
 * The `auto` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns; per row, upper edges of severityOf:
 * JPEG blocking + coarse noise / 20, or - fine noise / 8 under 37.9 px, + 4 x the DCT zero
 * share); each names a QUALITY_LADDER step, the input weight and the detail weight of the fusion,
 * and the number of training samples it was fitted on. Provenance at the end.
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = {
  sizes: [16, 32, 45, 64, 128, 256],
  severityEdges: [
    [-0.353, 0.183, 0.828, 1.349, 1.916, 2.547, 3.128],
    [0.165, 0.753, 1.312, 1.778, 2.69, 3.162, 3.644],
    [4.025, 4.199, 4.332, 4.532, 4.725, 4.878, 5.013, 5.128, 5.243, 5.421, 5.618],
    [3.63, 3.805, 3.987, 4.481, 4.784, 5.016, 5.292],
    [3.698, 4.618, 5.126],
    [4.551, 4.695, 4.857, 5.069, 5.194, 5.359, 5.686],
  ],
  cells: [
    [
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0,
        detailWeight: 0,
        samples: 36,
      },
    ],
    [
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 2,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0.5,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 36,
      },
      {
        step: 4,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 36,
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
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 23,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 24,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 23,
      },
      {
        step: 2,
        inputWeight: 0.5,
        detailWeight: 0,
        samples: 24,
      },
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 24,
      },
      {
        step: 2,
        inputWeight: 0.25,
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
        samples: 42,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 42,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 42,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 43,
      },
      {
        step: 0,
        inputWeight: 0.75,
        detailWeight: 0,
        samples: 42,
      },
      {
        step: 0,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 42,
      },
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 42,
      },
      {
        step: 2,
        inputWeight: 0.25,
        detailWeight: 0,
        samples: 43,
      },
    ],
    [
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 81,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 1,
        attenuateDetail: false,
        samples: 80,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 82,
      },
      {
        step: 4,
        inputWeight: 1,
        detailWeight: 0,
        samples: 81,
      },
    ],
    [
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
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 26,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 25,
      },
      {
        step: 0,
        inputWeight: 1,
        detailWeight: 0,
        samples: 26,
      },
    ],
  ],
  provenance: {
    script: 'scripts/calibrate-quality.ts',
    command:
      'npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 --sizes 16,32,64,128,256 (6.8 min); the same with --extend docs/quality/calibration/samples.csv --faces 192 (7.5 min); --faces 192 --sizes 45 (2.4 min, rows appended); --extend docs/quality/calibration/samples.csv --faces 96 --splits noisy (8 min); then --refit --reestimate',
    data: 'utkface-200.tar train/ (192 faces, evenly spaced over the sorted names)',
    model: 'utkface-64',
    modelSha256: [
      '1cf7132747a75ff8bda27d62f882220c080b99213e0ee05e79ad585d785ab724',
      '87d56225d6f53f66b21d4748702ce5f6f7791274bb3156bde60f54e067ba4930',
    ],
    sizes: [16, 32, 45, 64, 128, 256],
    splits: ['clean', 'mild', 'medium', 'severe', 'extreme', 'noisy'],
    seed: 11,
    samples: 1728,
    minutes: 7.5,
    date: '2026-12-01',
    objective:
      'J = 1 dPSNR + 100 dSSIM + 100 dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 0,0,3,0,0.5,0 per size row; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px',
    grid: 'steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1',
    refit:
      'npx tsx scripts/calibrate-quality.ts --clean ../shared/data/utkface/utkface-200.tar --refit docs/quality/calibration/samples.csv',
  },
};
