"""Recovering a U-Net's weights from its ONNX export (what a longer run of the default prior starts
from), on a small U-Net with random weights: every parameter comes back exactly, the command line
writes what ``train_ddpm --init`` reads, and a file of another architecture is refused."""

from __future__ import annotations

import io
import json
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import torch

from dr2e_models import onnx_weights
from dr2e_models.onnx_export import export_onnx
from dr2e_models.unet import UNetConfig, build_unet

from ._support import random_state, require_node

SMALL = UNetConfig(image_size=16, model_channels=16, channel_mult=(1, 2), attention_resolutions=(2,),
                   num_head_channels=8, norm_groups=8)
OTHER = UNetConfig(image_size=16, model_channels=16, channel_mult=(1, 2), attention_resolutions=(1,),
                   num_head_channels=8, norm_groups=8)


def _export(config: UNetConfig, folder: Path, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    model = build_unet(config)
    state = random_state([(name, tuple(t.shape)) for name, t in model.state_dict().items()], seed=seed)
    model.load_state_dict(state)
    path = folder / "denoiser.onnx"
    export_onnx(model, (torch.zeros(1, 3, config.image_size, config.image_size), torch.tensor([1])), path,
                ["x", "t"], ["out"])
    manifest = {"name": "small", "provenance": {"architecture": {"arch": "dr2-unet", **config.to_dict()},
                                                "training": {"steps": 7}}}
    path.with_suffix(".json").write_text(json.dumps(manifest))
    return path, state


class RecoverWeightsTest(unittest.TestCase):
    def setUp(self) -> None:
        torch.set_num_threads(1)
        self.scratch = tempfile.TemporaryDirectory()
        self.dir = Path(self.scratch.name)

    def tearDown(self) -> None:
        self.scratch.cleanup()

    def test_every_parameter_comes_back_exactly(self) -> None:
        # Prepare
        path, state = _export(SMALL, self.dir)
        # Act
        recovered = onnx_weights.recover_unet_weights(path, SMALL)
        # Assess: the GroupNorm scales and shifts, folded into [C, 1, 1] constants, are read back too
        self.assertEqual(set(recovered), set(state))
        for name, tensor in state.items():
            self.assertTrue(torch.equal(recovered[name], tensor), name)

    def test_a_file_of_another_architecture_is_refused(self) -> None:
        # Prepare
        path, _ = _export(OTHER, self.dir)
        # Act / Assess
        with self.assertRaises(onnx_weights.WeightRecoveryError):
            onnx_weights.recover_unet_weights(path, SMALL)

    def test_the_manifest_names_the_architecture(self) -> None:
        # Act / Assess
        manifest = {"provenance": {"architecture": {"arch": "dr2-unet", **SMALL.to_dict()}}}
        self.assertEqual(onnx_weights.unet_config_of_manifest(manifest), SMALL)
        with self.assertRaises(onnx_weights.WeightRecoveryError):
            onnx_weights.unet_config_of_manifest({"provenance": {"architecture": {"arch": "sparnethd"}}})

    def test_command_line_checks_the_outputs_and_records_the_source(self) -> None:
        # Prepare
        require_node()
        path, state = _export(SMALL, self.dir)
        out = self.dir / "weights.pt"
        # Act
        with redirect_stdout(io.StringIO()) as printed, redirect_stderr(io.StringIO()):
            status = onnx_weights.main([str(path), "--out", str(out), "--check"])
        # Assess
        self.assertEqual(status, 0)
        report = json.loads(printed.getvalue().strip().splitlines()[-1])
        self.assertLess(report["relativeDifference"], 1e-4)
        saved = torch.load(out)
        self.assertEqual(saved["config"], SMALL.to_dict())
        self.assertEqual(saved["source"]["training"], {"steps": 7})
        self.assertEqual(len(saved["source"]["onnxSha256"]), 64)
        for name, tensor in state.items():
            self.assertTrue(torch.equal(saved["state_dict"][name], tensor), name)

    def test_equal_valued_parameters_merged_by_the_exporter_are_refused_with_the_reason(self) -> None:
        # Prepare: zeroed output layer (as a freshly built U-Net has): its weight and bias share one initialiser
        model = build_unet(SMALL)
        with torch.no_grad():
            for parameter in model.out[2].parameters():
                parameter.zero_()
        path = self.dir / "zeroed.onnx"
        export_onnx(model, (torch.zeros(1, 3, 16, 16), torch.tensor([1])), path, ["x", "t"], ["out"])
        # Act / Assess
        with self.assertRaisesRegex(onnx_weights.WeightRecoveryError, "equal-valued parameters merged"):
            onnx_weights.recover_unet_weights(path, SMALL)

    def test_command_line_refuses_a_file_of_another_torch_version(self) -> None:
        # Prepare
        path, _ = _export(SMALL, self.dir)
        manifest = json.loads(path.with_suffix(".json").read_text())
        manifest["provenance"]["tooling"] = {"torch": "2.1.0"}
        path.with_suffix(".json").write_text(json.dumps(manifest))
        # Act
        with redirect_stderr(io.StringIO()) as errors:
            status = onnx_weights.main([str(path), "--out", str(self.dir / "w.pt"), "--no-check"])
        # Assess
        self.assertEqual(status, 3)
        self.assertIn("torch 2.1.0", errors.getvalue())
        self.assertFalse((self.dir / "w.pt").exists())

    def test_command_line_refuses_a_missing_manifest(self) -> None:
        # Prepare
        path, _ = _export(SMALL, self.dir)
        path.with_suffix(".json").unlink()
        # Act
        with redirect_stderr(io.StringIO()) as errors:
            status = onnx_weights.main([str(path), "--out", str(self.dir / "w.pt")])
        # Assess
        self.assertEqual(status, 2)
        self.assertIn("manifest", errors.getvalue())
        self.assertFalse((self.dir / "w.pt").exists())


if __name__ == "__main__":
    unittest.main()
