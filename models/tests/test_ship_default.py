"""Shipping the default model (``dr2e_models.ship_default``) on tiny stand-ins: the pipeline
manifest is written from the package, and a prior trained on from an earlier export records
that export and the training totals in its manifest."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import torch

from dr2e_models import ship_default, train_ddpm
from dr2e_models.paths import REPO_ROOT

from ._support import require_node
from .test_training_scripts import TINY_DDPM


class ShipDefaultTest(unittest.TestCase):
    def setUp(self) -> None:
        torch.set_num_threads(1)
        self.dir = Path(tempfile.mkdtemp(prefix="dr2e-ship-test-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def test_pipeline_is_written_beside_the_two_networks(self) -> None:
        # Prepare: the tiny pair stands in for the default's networks; the shipped face upsampler
        # banks come later, in the model folder's face-upsampler/ as in gpu-task/models/default/
        out = self.dir / "default"
        out.mkdir()
        for name in ("denoiser.json", "denoiser.onnx", "enhancer.json", "enhancer.onnx"):
            shutil.copy(REPO_ROOT / "gpu-task" / "models" / "tiny" / name, out / name)
        # Act: first without the banks, then with them
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as errors:
            without_banks = ship_default.main(["pipeline", "--out-dir", str(out)])
        shutil.copytree(REPO_ROOT / "gpu-task" / "models" / "default" / "face-upsampler", out / "face-upsampler")
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            status = ship_default.main(["pipeline", "--out-dir", str(out)])
        # Assess
        self.assertEqual(without_banks, 3)
        self.assertIn("no face upsampler bank (x2)", errors.getvalue())
        self.assertEqual(status, 0)
        pipeline = json.loads((out / "pipeline.json").read_text())
        self.assertEqual((pipeline["denoiser"], pipeline["enhancer"]), ("denoiser.json", "enhancer.json"))
        self.assertEqual(pipeline["defaults"], {"preset": "auto", "steps": 100})
        self.assertEqual(pipeline["faceUpsampler"],
                         {"x2": "face-upsampler/x2.json", "x4": "face-upsampler/x4.json"})
        # The committed default's pipeline is what the tool writes.
        shipped = json.loads((REPO_ROOT / "gpu-task" / "models" / "default" / "pipeline.json").read_text())
        self.assertEqual(shipped, pipeline)

    def test_the_framing_carries_the_measured_detector_template_and_refuses_to_ship_without_one(self) -> None:
        # Prepare: the measured three numbers, and a template file beside them
        template = self.dir / "detector-template.json"
        landmarks = [[0.3, 0.31], [0.68, 0.31], [0.49, 0.51], [0.32, 0.7], [0.65, 0.7]]
        template.write_text(json.dumps({"landmarks": landmarks}))
        # Act
        framing = ship_default.utkface_framing(template=template)
        # Assess: the manifest's five points are the file's, beside the three numbers
        self.assertEqual(framing["landmarks"], landmarks)
        self.assertEqual(set(framing), {"name", "eyeDistance", "eyeY", "mouthY", "landmarks"})
        with self.assertRaisesRegex(FileNotFoundError, "measure-detector-template"):
            ship_default.utkface_framing(template=self.dir / "absent.json")

    def test_a_prior_trained_on_from_an_export_records_it_and_the_totals(self) -> None:
        # Prepare: one step of a tiny run started from weights that name their source
        require_node()
        faces = self.dir / "faces.npy"
        np.save(faces, np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
        config = train_ddpm.model_config(train_ddpm.parse_args(TINY_DDPM))
        weights = train_ddpm.build_unet(config).state_dict()
        earlier = {"steps": 100, "imagesSeen": 1600, "trainMinutes": 2.5}
        init = self.dir / "init.pt"
        torch.save({"config": config.to_dict(), "state_dict": weights,
                    "source": {"onnxSha256": "cd" * 32, "training": earlier}}, init)
        run = self.dir / "run"
        with redirect_stdout(io.StringIO()):
            train_ddpm.main(["--data", str(faces), "--run-dir", str(run), *TINY_DDPM, "--init", str(init),
                             "--max-steps", "1"])
        # Act
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            status = ship_default.main(["denoiser", "--checkpoint", str(run / "checkpoint.pt"),
                                        "--out-dir", str(self.dir / "out")])
        # Assess
        self.assertEqual(status, 0)
        training = json.loads((self.dir / "out" / "denoiser.json").read_text())["provenance"]["training"]
        self.assertEqual(training["initialisedFrom"]["onnxSha256"], "cd" * 32)
        self.assertEqual(training["steps"], 1)
        self.assertEqual(training["totalSteps"], 101)
        self.assertEqual(training["totalImagesSeen"], 1600 + 2)
        self.assertGreaterEqual(training["totalTrainMinutes"], 2.5)
        self.assertIn("--init", json.loads((self.dir / "out" / "denoiser.json").read_text())["provenance"]["recipe"])


if __name__ == "__main__":
    unittest.main()
