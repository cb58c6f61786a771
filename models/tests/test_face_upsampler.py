"""The face upsampler's training module: its bicubic phase filters are cubic interpolation, a bank
fitted on a tiny synthetic archive beats bicubic on the held-out faces it reports, and the file
it writes loads back to the same filters (the TypeScript side's parity is tested on its fixtures).

Synthetic and small: needs neither ../shared nor a GPU.
"""

from __future__ import annotations

import io
import json
import tarfile
import unittest
from contextlib import redirect_stdout

import numpy as np
from PIL import Image

from dr2e_models import train_face_upsampler as fu

from ._support import ScratchDirTestCase


class BicubicFiltersTest(unittest.TestCase):
    def test_phases_sum_to_one_and_reproduce_a_linear_ramp(self) -> None:
        for factor in (2, 4):
            filters = fu.bicubic_filters(factor)
            np.testing.assert_allclose(filters.sum(axis=1), 1.0, atol=1e-12)
            # Cubic interpolation reproduces linear functions: a ramp x enlarges to (X + 0.5) / r - 0.5.
            ramp = np.tile(np.arange(12, dtype=np.float64)[None, :, None], (9, 1, 3))
            bank = {"factor": factor, "weights": np.broadcast_to(filters, (48,) + filters.shape),
                    "strength": np.array([1.0, 2.0]), "coherence": np.array([0.5])}
            out = fu.enlarge(ramp, bank)
            expected = (np.arange(12 * factor) + 0.5) / factor - 0.5
            # Away from the replicated edges.
            np.testing.assert_allclose(out[4, 3 * factor:9 * factor, 0], expected[3 * factor:9 * factor], atol=1e-9)


class TrainTest(ScratchDirTestCase):
    def _archive(self, count: int) -> str:
        rng = np.random.default_rng(0)
        path = self.dir / "faces.tar"
        with tarfile.open(path, "w") as tar:
            for i in range(count):
                # Overlapping flat discs with sharp edges: something a sharpening interpolator wins on.
                y, x = np.mgrid[0:64, 0:64]
                image = np.zeros((64, 64, 3))
                for _ in range(4):
                    cx, cy, diameter = rng.uniform(0, 64, 3)
                    disc = ((x - cx) ** 2 + (y - cy) ** 2 < (diameter / 2) ** 2)[..., None]
                    image = np.where(disc, rng.uniform(0, 255, 3), image)
                image = image.astype(np.uint8)
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, "PNG")
                info = tarfile.TarInfo(f"train/{i:03d}.png")
                info.size = len(buffer.getvalue())
                tar.addfile(info, io.BytesIO(buffer.getvalue()))
        return str(path)

    def test_fits_a_bank_that_beats_bicubic_and_loads_back(self) -> None:
        out = self.dir / "x2.json"
        fixture = self.dir / "parity.json"
        with redirect_stdout(io.StringIO()) as printed:
            fu.main(["--factor", "2", "--faces", "30", "--held-out", "10", "--min-side", "24", "--max-side", "48",
                     "--archive", self._archive(40), "--out", str(out), "--fixture", str(fixture)])
        report = json.loads(printed.getvalue())
        self.assertGreater(report["psnr_learned"], report["psnr_bicubic"])
        written = json.loads(out.read_text())
        self.assertEqual(written["format"], "dr2e-face-upsampler/1")
        self.assertEqual(written["shape"], [48, 4, 25])
        self.assertIn("train/", written["provenance"]["data"])
        bank = fu.load_bank(out)
        self.assertEqual(bank["weights"].shape, (48, 4, 25))
        # Read back in the layout written, each (bucket, phase) filter is an interpolator: its taps
        # sum to about 1 (flat colour stays flat); a transposed layout would not.
        np.testing.assert_allclose(bank["weights"].sum(axis=2), 1.0, atol=0.05)
        self.assertGreater(np.abs(bank["weights"] - fu.bicubic_filters(2)).max(), 0.05)
        parity = json.loads(fixture.read_text())
        self.assertEqual(len(parity["output"]), parity["width"] * parity["height"] * 3 * 4)


if __name__ == "__main__":
    unittest.main()
