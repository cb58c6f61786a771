"""``make_pipeline``: the pipeline manifest written for a model folder, after its checks."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from dr2e_models.make_pipeline import main


def _denoiser(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "denoiser.onnx").write_bytes(b"not really a graph")
    (folder / "denoiser.json").write_text(json.dumps({"role": "denoiser", "file": "denoiser.onnx"}))


class MakePipelineTest(unittest.TestCase):
    def test_finds_a_manifest_file_beside_the_manifest_in_a_sub_folder(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            _denoiser(root / "sub")
            with contextlib.redirect_stdout(io.StringIO()):
                status = main(["--dir", str(root), "--denoiser", "sub/denoiser.json", "--no-enhancer"])
            self.assertEqual(status, 0)
            pipeline = json.loads((root / "pipeline.json").read_text())
            self.assertEqual(pipeline["denoiser"], "sub/denoiser.json")

    def test_refuses_fewer_than_two_steps(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            _denoiser(root)
            with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit) as exit_:
                main(["--dir", str(root), "--no-enhancer", "--steps", "1"])
            self.assertEqual(exit_.exception.code, 2)
            self.assertIn("--steps must be at least 2", err.getvalue())
            self.assertFalse((root / "pipeline.json").exists())


if __name__ == "__main__":
    unittest.main()
