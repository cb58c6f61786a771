/**
 * The `auto` calibration, written by scripts/calibrate-quality.ts (do not edit by hand; rerun it).
 * Cells: face size bins (rows, px) x severity bins (columns; per row, upper edges of JPEG blocking +
 * noise / 20); each names a QUALITY_LADDER step, the input weight and the detail weight of the
 * fusion, and the number of training samples it was fitted on. Provenance at the end.
 */
import type { CalibrationTable } from './choose.js';

export const DEFAULT_CALIBRATION: CalibrationTable = {
  "sizes": [
    16,
    32,
    64,
    128,
    256
  ],
  "severityEdges": [
    [
      -1.143,
      -0.807,
      -0.651,
      -0.454,
      -0.276,
      -0.083,
      0.077
    ],
    [
      -0.642,
      -0.49,
      -0.294,
      -0.173,
      -0.022,
      0.123,
      0.419
    ],
    [
      0.289,
      0.403,
      0.478,
      0.591,
      0.814,
      1.24,
      1.483
    ],
    [
      0.185,
      0.249,
      0.318,
      0.437,
      0.972,
      1.451,
      1.872
    ],
    [
      1.006,
      1.111,
      1.476,
      1.631,
      1.749,
      1.953,
      2.189
    ]
  ],
  "cells": [
    [
      {
        "step": 0,
        "inputWeight": 0.75,
        "detailWeight": 0,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 2,
        "inputWeight": 0.5,
        "detailWeight": 0.5,
        "samples": 12
      },
      {
        "step": 4,
        "inputWeight": 0.5,
        "detailWeight": 0.5,
        "samples": 12
      },
      {
        "step": 4,
        "inputWeight": 0,
        "detailWeight": 0,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 0.5,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 4,
        "inputWeight": 0,
        "detailWeight": 0,
        "samples": 12
      }
    ],
    [
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 13
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0.5,
        "samples": 11
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 12
      },
      {
        "step": 0,
        "inputWeight": 0.5,
        "detailWeight": 0,
        "samples": 12
      },
      {
        "step": 4,
        "inputWeight": 0,
        "detailWeight": 0,
        "samples": 12
      }
    ],
    [
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 15
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 16
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 15
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 16
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "samples": 15
      },
      {
        "step": 2,
        "inputWeight": 1,
        "detailWeight": 0.5,
        "samples": 16
      },
      {
        "step": 0,
        "inputWeight": 0.25,
        "detailWeight": 0,
        "samples": 15
      },
      {
        "step": 0,
        "inputWeight": 0.25,
        "detailWeight": 0,
        "samples": 16
      }
    ],
    [
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 13
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 14
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 14
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 14
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 13
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 14
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 14
      },
      {
        "step": 4,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 14
      }
    ],
    [
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 6
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 7
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 7
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 7
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 6
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 1,
        "attenuateDetail": false,
        "samples": 7
      },
      {
        "step": 4,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 7
      },
      {
        "step": 0,
        "inputWeight": 1,
        "detailWeight": 0,
        "samples": 7
      }
    ]
  ],
  "provenance": {
    "script": "scripts/calibrate-quality.ts",
    "command": "npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 --out docs/quality/calibration",
    "data": "utkface-200.tar train/ (96 faces, evenly spaced over the sorted names)",
    "model": "utkface-64",
    "sizes": [
      16,
      32,
      64,
      128,
      256
    ],
    "splits": [
      "clean",
      "mild",
      "medium",
      "severe",
      "extreme"
    ],
    "seed": 11,
    "samples": 480,
    "minutes": 6.8,
    "date": "2026-12-01",
    "objective": "J = 1 dPSNR + 100 dSSIM + 100 dId(recognizer) vs bicubic; best mean J among options whose mean gain - z SE >= 0 (z = 3; every metric strictly) for the cell and for each split of >= 2 samples in it; input weight 1 for faces over 64 px",
    "grid": "steps 0,2,4; input weights 0,0.25,0.5,0.75,1; detail weights 0,0.5,1",
    "refit": "npx tsx scripts/calibrate-quality.ts --refit docs/quality/calibration/samples.csv --scored-by npx tsx scripts/calibrate-quality.ts --faces 96 --seed 11 --steps 0,2,4 --input-weights 0,0.25,0.5,0.75,1 --detail-weights 0,0.5,1 --threads 2 --out docs/quality/calibration"
  }
};
