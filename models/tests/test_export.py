"""Export: the command line, the parity gate, float16 graphs, and the full-size published layouts.

Full-size tests (93.6 M-parameter U-Net, 86 M-parameter SPARNetHD at 512x512) take about two
minutes of CPU together; set DR2E_SKIP_FULL_SIZE=1 to skip them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto

from dr2e_models.exporter import ExportError, ExportOptions, default_config, export_checkpoint, export_model
from dr2e_models.manifest import LICENSES, external_data_locations, sha256_file
from dr2e_models.onnx_export import convert_to_float16, run_onnx
from dr2e_models.paths import MODELS_DIR, REPO_ROOT
from dr2e_models.sparnethd import SPARNetConfig, build_sparnet
from dr2e_models.unet import UNetConfig, build_unet

from ._support import ScratchDirTestCase, layout, random_state, require_node

SMALL_UNET_FLAGS = ["--image-size", "32", "--model-channels", "32", "--channel-mult", "1,2", "--attention-ds", "2",
                    "--num-head-channels", "16"]
SMALL_UNET = UNetConfig(image_size=32, model_channels=32, channel_mult=(1, 2), attention_resolutions=(2,),
                        num_head_channels=16)
SMALL_SPARNET = SPARNetConfig(in_size=32, out_size=64, min_ch=8, max_ch=16, min_feat_size=8, res_depth=1,
                              bottleneck_size=16, attention_channels=8)


def _export_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dr2e_models.export", *args], cwd=MODELS_DIR,
                          capture_output=True, text=True, check=False)


def _small_unet_state(seed: int = 0, config: UNetConfig = SMALL_UNET) -> dict[str, torch.Tensor]:
    model = build_unet(config)
    return random_state([(n, tuple(t.shape)) for n, t in model.state_dict().items()], seed=seed)


def _trained_like(config: UNetConfig = SMALL_UNET, seed: int = 0) -> torch.nn.Module:
    """A U-Net with random non-zero weights: a fresh one outputs zeros (its last conv is
    zero-initialised), which the exporter refuses because parity against zeros proves nothing."""
    model = build_unet(config).eval()
    model.load_state_dict(_small_unet_state(seed, config))
    return model


class CommandLineTest(ScratchDirTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_node()

    def test_small_unet_export_writes_onnx_and_a_manifest_that_describes_it(self) -> None:
        # Prepare
        checkpoint = self.dir / "ema.pt"
        torch.save({"ema": {f"module.{k}": v for k, v in _small_unet_state().items()}}, checkpoint)
        out = self.dir / "small" / "denoiser.onnx"
        # Act
        completed = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(out),
                                "--license", "mit-test", "--framing", "none", *SMALL_UNET_FLAGS)
        # Assess
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertIn("parity fp32: max abs error", completed.stdout)
        manifest = json.loads(out.with_suffix(".json").read_text())
        self.assertEqual(manifest["role"], "denoiser")
        self.assertEqual(manifest["name"], "small")
        self.assertEqual(manifest["file"], "denoiser.onnx")
        self.assertEqual(manifest["resolution"], 32)
        self.assertEqual(manifest["io"], {"image": "x", "timestep": "t", "output": "out"})
        self.assertEqual(manifest["timestepType"], "int64")
        self.assertEqual(manifest["channels"], {"input": 3, "output": 6})
        self.assertEqual(manifest["variance"], "learned_range")
        self.assertEqual(manifest["schedule"], {"betaSchedule": "linear", "numTimesteps": 1000})
        self.assertFalse(manifest["license"]["commercialUse"] is None)
        provenance = manifest["provenance"]
        self.assertEqual(provenance["sha256"], sha256_file(out))
        self.assertEqual(provenance["source"], "ema.pt")
        self.assertEqual(provenance["converter"], "models/dr2e_models/export.py")
        self.assertEqual(provenance["checkpoint"]["container"], "ema")
        self.assertLessEqual(provenance["parityMaxAbsError"], 1e-4 * provenance["parity"]["outputScale"])
        self.assertEqual(UNetConfig.from_dict(provenance["architecture"]), SMALL_UNET)
        self.assertNotIn("framing", manifest)

    def test_renamed_and_reshaped_tensors_are_refused_by_name(self) -> None:
        # Prepare
        state = _small_unet_state()
        state["middle_block.1.qkv.kernel"] = state.pop("middle_block.1.qkv.weight")
        state["out.2.bias"] = torch.zeros(3)
        checkpoint = self.dir / "bad.pt"
        torch.save(state, checkpoint)
        out = self.dir / "bad" / "denoiser.onnx"
        # Act
        completed = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(out),
                                *SMALL_UNET_FLAGS)
        # Assess
        self.assertEqual(completed.returncode, 3)
        self.assertIn("missing: middle_block.1.qkv.weight [192, 64, 1]", completed.stderr)
        self.assertIn("unexpected: middle_block.1.qkv.kernel [192, 64, 1]", completed.stderr)
        self.assertIn("out.2.bias is [3], expected [6]", completed.stderr)
        self.assertFalse(out.exists())
        self.assertFalse(out.with_suffix(".json").exists())

    def test_refuses_flags_of_the_other_architecture_and_a_variance_that_does_not_fit(self) -> None:
        checkpoint = self.dir / "ok.pt"
        torch.save(_small_unet_state(), checkpoint)
        out = self.dir / "flags" / "denoiser.onnx"
        cases = [
            (("--arch", "sparnethd", "--timesteps", "4000", "--beta-schedule", "cosine"),
             "--beta-schedule, --timesteps do not apply to --arch sparnethd"),
            (("--arch", "dr2-unet", "--in-size", "128", *SMALL_UNET_FLAGS),
             "--in-size do not apply to --arch dr2-unet"),
            (("--arch", "dr2-unet", "--variance", "fixed_small", *SMALL_UNET_FLAGS),
             "--variance fixed_small does not fit 6 output channels"),
        ]
        for flags, message in cases:
            completed = _export_cli("--checkpoint", str(checkpoint), "--out", str(out), *flags)
            self.assertEqual(completed.returncode, 2, completed.stderr)
            self.assertIn(message, completed.stderr)
            self.assertFalse(out.exists())

    def test_re_export_from_a_manifest_keeps_its_schedule_and_variance(self) -> None:
        # Prepare: a cosine, T=4000 model exported once
        checkpoint = self.dir / "cosine.pt"
        torch.save(_small_unet_state(), checkpoint)
        first = self.dir / "first" / "denoiser.onnx"
        made = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(first),
                           "--framing", "none", "--beta-schedule", "cosine", "--timesteps", "4000",
                           *SMALL_UNET_FLAGS)
        self.assertEqual(made.returncode, 0, made.stderr)
        manifest = first.with_suffix(".json")
        architecture = self.dir / "architecture.json"
        architecture.write_text(json.dumps(json.loads(manifest.read_text())["provenance"]["architecture"]))
        again = self.dir / "again" / "denoiser.onnx"
        bare = self.dir / "bare" / "denoiser.onnx"
        # Act: from the whole manifest, and from its architecture alone
        from_manifest = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(again),
                                    "--framing", "none", "--config-json", str(manifest))
        from_architecture = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(bare),
                                        "--framing", "none", "--config-json", str(architecture))
        # Assess: the manifest's schedule carries over; the bare object says what it falls back to
        self.assertEqual(from_manifest.returncode, 0, from_manifest.stderr)
        written = json.loads(again.with_suffix(".json").read_text())
        self.assertEqual(written["schedule"], {"betaSchedule": "cosine", "numTimesteps": 4000})
        self.assertEqual(written["variance"], "learned_range")
        self.assertEqual(from_architecture.returncode, 0, from_architecture.stderr)
        self.assertIn("holds no diffusion schedule: linear over 1000 steps", from_architecture.stderr)
        # A flag beside the manifest wins: --learn-sigma false sets 3 channels, so not its variance
        three = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out",
                            str(self.dir / "three" / "denoiser.onnx"), "--config-json", str(manifest),
                            "--learn-sigma", "false")
        self.assertEqual(three.returncode, 3, three.stderr)  # the 6-channel checkpoint, refused by layout
        self.assertNotIn("--variance learned_range does not fit", three.stderr)
        self.assertIn("--learn-sigma true", three.stderr)

    def test_a_config_json_that_is_no_file_or_for_another_architecture_is_refused_plainly(self) -> None:
        checkpoint = self.dir / "ok.pt"
        torch.save(_small_unet_state(), checkpoint)
        sparnet = self.dir / "sparnet.json"
        sparnet.write_text(json.dumps({"arch": "sparnethd", "in_size": 32}))
        out = self.dir / "cfg" / "denoiser.onnx"
        broken = self.dir / "broken.json"
        broken.write_text(json.dumps({"provenance": None}))
        for config, message in [
            ('{"image_size": 64}', "--config-json takes a JSON file"),
            (str(broken), "whose provenance is not an object"),
            (str(sparnet), "is for --arch sparnethd, not dr2-unet"),
        ]:
            completed = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(out),
                                    "--config-json", config)
            self.assertEqual(completed.returncode, 2, completed.stderr)
            self.assertIn(message, completed.stderr)
            self.assertNotIn("Traceback", completed.stderr)

    def test_warns_of_outputs_no_trained_model_gives(self) -> None:
        # Prepare: a last layer a million times too large (as weights whose norms do not belong to them)
        state = _small_unet_state()
        state["out.2.weight"] = state["out.2.weight"] * 1e6
        checkpoint = self.dir / "huge.pt"
        torch.save(state, checkpoint)
        sane = self.dir / "sane.pt"
        torch.save(_small_unet_state(), sane)
        # Act
        huge = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out",
                           str(self.dir / "huge" / "denoiser.onnx"), "--framing", "none", *SMALL_UNET_FLAGS)
        fine = _export_cli("--arch", "dr2-unet", "--checkpoint", str(sane), "--out",
                           str(self.dir / "fine" / "denoiser.onnx"), "--framing", "none", *SMALL_UNET_FLAGS)
        # Assess: exported (parity holds), with a warning only where the outputs are implausible
        self.assertEqual(huge.returncode, 0, huge.stderr)
        self.assertIn("these weights look broken", huge.stderr)
        self.assertEqual(fine.returncode, 0, fine.stderr)
        self.assertNotIn("look broken", fine.stderr)

    def test_parity_outside_tolerance_fails_and_writes_nothing(self) -> None:
        checkpoint = self.dir / "ok.pt"
        torch.save(_small_unet_state(), checkpoint)
        out = self.dir / "strict" / "denoiser.onnx"
        completed = _export_cli("--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(out),
                                "--parity-tolerance", "1e-15", *SMALL_UNET_FLAGS)
        self.assertEqual(completed.returncode, 4, completed.stdout + completed.stderr)
        self.assertIn("parity failed", completed.stderr)
        self.assertFalse(out.exists())
        self.assertEqual([p.name for p in out.parent.iterdir()], [])

    def test_sparnet_export_with_fp16(self) -> None:
        # Prepare: a trained-like spectral-norm checkpoint of a small SPARNet.
        model = build_sparnet(SMALL_SPARNET)
        state = random_state([(n, tuple(t.shape)) for n, t in model.state_dict().items()], seed=2)
        checkpoint = self.dir / "sparnet.pth"
        torch.save(state, checkpoint)
        out = self.dir / "enh" / "enhancer.onnx"
        flags = ["--in-size", "32", "--out-size", "64", "--min-ch", "8", "--max-ch", "16", "--min-feat-size", "8",
                 "--res-depth", "1", "--bottleneck-size", "16", "--attention-channels", "8"]
        # Act
        completed = _export_cli("--arch", "sparnethd", "--checkpoint", str(checkpoint), "--out", str(out), "--fp16",
                                *flags)
        # Assess
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertIn("parity fp16", completed.stdout)
        manifest = json.loads(out.with_suffix(".json").read_text())
        self.assertEqual((manifest["role"], manifest["inputSize"], manifest["outputSize"]), ("enhancer", 32, 64))
        self.assertEqual(manifest["io"], {"image": "input", "output": "output"})
        self.assertEqual(manifest["provenance"]["precision"], "float16")
        self.assertIn("float16MaxAbsError", manifest["provenance"]["parity"])
        graph = onnx.load(str(out)).graph
        self.assertEqual([i.type.tensor_type.elem_type for i in graph.input], [TensorProto.FLOAT])
        self.assertEqual([o.type.tensor_type.elem_type for o in graph.output], [TensorProto.FLOAT])
        conv_weights = [i for i in graph.initializer if len(i.dims) == 4]
        self.assertTrue(conv_weights and all(i.data_type == TensorProto.FLOAT16 for i in conv_weights))


class Float16ConversionTest(unittest.TestCase):
    def test_timestep_path_and_norms_stay_float32(self) -> None:
        require_node()
        with tempfile.TemporaryDirectory() as scratch:
            model = build_unet(SMALL_UNET).eval()
            model.load_state_dict(_small_unet_state(seed=3))
            result = export_model("dr2-unet", SMALL_UNET, model, Path(scratch) / "d.onnx",
                                  ExportOptions(name="d", source="test", license=LICENSES["mit-test"], fp16=True))
            graph = onnx.load(str(result.onnx_path)).graph
            initializers = {i.name: i for i in graph.initializer}
            by_type: dict[str, set[int]] = {}
            for node in graph.node:
                for name in node.input:
                    floating = (TensorProto.FLOAT, TensorProto.FLOAT16)
                    if name in initializers and initializers[name].data_type in floating:
                        by_type.setdefault(node.op_type, set()).add(initializers[name].data_type)
            self.assertEqual(by_type["Conv"], {TensorProto.FLOAT16})
            self.assertEqual(by_type["Gemm"], {TensorProto.FLOAT})  # timestep MLPs: float32 like guided-diffusion
            self.assertEqual(by_type["InstanceNormalization"], {TensorProto.FLOAT})
            # The fp16 graph still computes the same function, to half precision.
            parity = result.parity_fp16
            assert parity is not None
            self.assertLess(parity.relative_error, 1e-2)

    def test_refuses_a_float16_graph_that_overflows(self) -> None:
        require_node()
        with tempfile.TemporaryDirectory() as scratch:
            model = build_unet(SMALL_UNET).eval()
            model.load_state_dict(_small_unet_state(seed=3))
            # Activations far beyond float16's 65504: the half-precision graph returns infinities.
            with torch.no_grad():
                for parameter in model.parameters():
                    if parameter.dim() == 4:
                        parameter.mul_(300.0)
            out = Path(scratch) / "d.onnx"
            with self.assertRaisesRegex(ExportError, "overflow float16; export it without --fp16"):
                export_model("dr2-unet", SMALL_UNET, model, out,
                             ExportOptions(name="d", source="test", license=LICENSES["mit-test"], fp16=True))
            self.assertFalse(out.exists())
            self.assertFalse(out.with_suffix(".json").exists())

    def test_conversion_keeps_float32_interface(self) -> None:
        require_node()
        with tempfile.TemporaryDirectory() as scratch:
            model = _trained_like()
            result = export_model("dr2-unet", SMALL_UNET, model, Path(scratch) / "d.onnx",
                                  ExportOptions(name="d", source="test", license=LICENSES["mit-test"]))
            half = convert_to_float16(onnx.load(str(result.onnx_path)), image_inputs=["x"])
            path = Path(scratch) / "h.onnx"
            onnx.save(half, str(path))
            run = run_onnx(path, {"x": np.zeros((3, 3, 32, 32), np.float32), "t": np.array([0, 1, 2], np.int64)})
            self.assertEqual(run.outputs["out"].dtype, np.float32)
            self.assertEqual(run.outputs["out"].shape, (3, 6, 32, 32))


class VarianceTest(unittest.TestCase):
    def test_three_channel_denoiser_defaults_to_fixed_large_and_accepts_fixed_small(self) -> None:
        require_node()
        config = UNetConfig.from_dict({**SMALL_UNET.to_dict(), "out_channels": 3})
        model = _trained_like(config)
        with tempfile.TemporaryDirectory() as scratch:
            base = dict(name="d", source="test", license=LICENSES["mit-test"])
            default = export_model("dr2-unet", config, model, Path(scratch) / "a.onnx", ExportOptions(**base))
            small = export_model("dr2-unet", config, model, Path(scratch) / "b.onnx",
                                 ExportOptions(**base, variance="fixed_small"))
            self.assertEqual((default.manifest["variance"], default.manifest["channels"]["output"]), ("fixed_large", 3))
            self.assertEqual(small.manifest["variance"], "fixed_small")
            with self.assertRaisesRegex(Exception, "does not fit 3 output channels"):
                export_model("dr2-unet", config, model, Path(scratch) / "c.onnx",
                             ExportOptions(**base, variance="learned_range"))


class ZeroOutputTest(ScratchDirTestCase):
    """Parity against an all-zero reference proves nothing: refused unless asked for."""

    @classmethod
    def setUpClass(cls) -> None:
        require_node()

    def test_a_freshly_initialised_unet_is_refused_and_nothing_is_written(self) -> None:
        # Prepare: guided-diffusion zero-initialises the last convolution, so the output is all zero.
        model = build_unet(SMALL_UNET).eval()
        out = self.dir / "fresh" / "denoiser.onnx"
        # Act
        with self.assertRaises(ExportError) as caught:
            export_model("dr2-unet", SMALL_UNET, model, out,
                         ExportOptions(name="d", source="test", license=LICENSES["mit-test"]))
        # Assess
        message = str(caught.exception)
        self.assertIn("parity proves nothing: the PyTorch output is all zero", message)
        self.assertIn("untrained or zero-initialised", message)
        self.assertIn("--allow-zero-output", message)
        self.assertFalse(out.exists())
        self.assertFalse(out.with_suffix(".json").exists())

    def test_the_command_line_fails_with_status_4_unless_allowed_and_then_records_it(self) -> None:
        # Prepare: a checkpoint of an untrained U-Net (what a wrong wrapper key can also yield).
        checkpoint = self.dir / "init.pt"
        torch.save(build_unet(SMALL_UNET).state_dict(), checkpoint)
        out = self.dir / "init" / "denoiser.onnx"
        args = ["--arch", "dr2-unet", "--checkpoint", str(checkpoint), "--out", str(out), "--license", "mit-test",
                *SMALL_UNET_FLAGS]
        # Act
        refused = _export_cli(*args)
        allowed = _export_cli(*args, "--allow-zero-output")
        # Assess
        self.assertEqual(refused.returncode, 4, refused.stdout + refused.stderr)
        self.assertIn("parity proves nothing", refused.stderr)
        self.assertEqual(allowed.returncode, 0, allowed.stderr)
        self.assertIn("parity NOT proven", allowed.stderr)
        parity = json.loads(out.with_suffix(".json").read_text())["provenance"]["parity"]
        self.assertEqual((parity["outputScale"], parity["proven"]), (0.0, False))


class ExternalDataExportTest(unittest.TestCase):
    def test_weights_beside_the_graph_are_listed_with_their_sha256_and_run(self) -> None:
        require_node()
        with tempfile.TemporaryDirectory() as scratch:
            # Prepare
            out = Path(scratch) / "ext" / "denoiser.onnx"
            # Act
            result = export_model("dr2-unet", SMALL_UNET, _trained_like(), out,
                                  ExportOptions(name="d", source="test", license=LICENSES["mit-test"],
                                                external_data=True))
            # Assess
            side_file = out.parent / "denoiser.onnx.data"
            self.assertEqual(external_data_locations(out), ["denoiser.onnx.data"])
            self.assertEqual(result.manifest["externalData"],
                             [{"path": "denoiser.onnx.data", "sha256": sha256_file(side_file)}])
            self.assertEqual(sorted(p.name for p in out.parent.iterdir()),
                             ["denoiser.json", "denoiser.onnx", "denoiser.onnx.data"])
            self.assertLess(out.stat().st_size, side_file.stat().st_size)
            run = run_onnx(out, {"x": np.zeros((1, 3, 32, 32), np.float32), "t": np.array([3], np.int64)})
            self.assertEqual(run.outputs["out"].shape, (1, 6, 32, 32))


@unittest.skipIf(os.environ.get("DR2E_SKIP_FULL_SIZE") == "1", "DR2E_SKIP_FULL_SIZE=1")
class FullSizeTest(ScratchDirTestCase):
    """Random weights with exactly the published names and shapes, exported and checked."""

    @classmethod
    def setUpClass(cls) -> None:
        require_node()

    def _export(self, arch: str, layout_file: str) -> tuple[dict, object]:
        checkpoint = self.dir / "published-layout.pt"
        state = random_state(layout(layout_file), seed=11)
        torch.save(state, checkpoint)
        options = ExportOptions(name=arch, source="random published layout", license=LICENSES["mit-test"])
        result = export_checkpoint(arch, default_config(arch), checkpoint, self.dir / f"{arch}.onnx", options)
        self._write_engine_probe(arch, state, result)
        return result.manifest, result

    def _write_engine_probe(self, arch: str, state: dict, result: object) -> None:
        """With DR2E_EXPORT_PROBE_DIR set (test/models/python.test.ts sets it), keep the exported
        model and a PyTorch reference computed from the *unconverted* checkpoint (spectral norm
        still as torch's own module), so the TypeScript engine's session wrapper can be checked
        against PyTorch on the full-size published layouts."""
        probe_root = os.environ.get("DR2E_EXPORT_PROBE_DIR")
        if not probe_root:
            return
        target = Path(probe_root) / arch
        target.mkdir(parents=True, exist_ok=True)
        onnx_path = result.onnx_path  # type: ignore[attr-defined]
        (target / onnx_path.name).write_bytes(onnx_path.read_bytes())
        (target / "manifest.json").write_text(result.manifest_path.read_text())  # type: ignore[attr-defined]
        generator = torch.Generator().manual_seed(5)
        if arch == "dr2-unet":
            model = build_unet(default_config(arch)).eval()
            model.load_state_dict(state, strict=True)
            size = default_config(arch).image_size
            x = torch.randn(1, 3, size, size, generator=generator)
            t = torch.tensor([500], dtype=torch.int64)
            with torch.no_grad():
                out = model(x, t)
            t.numpy().astype("<i8").tofile(target / "t.i64")
        else:
            model = build_sparnet(default_config(arch)).eval()
            model.load_state_dict(state, strict=True)
            size = default_config(arch).in_size
            x = torch.rand(1, 3, size, size, generator=generator) * 2 - 1
            with torch.no_grad():
                out = model(x)
        x.numpy().astype("<f4").tofile(target / "x.f32")
        out.numpy().astype("<f4").tofile(target / "out.f32")
        (target / "probe.json").write_text(json.dumps({"arch": arch, "x": list(x.shape), "out": list(out.shape)}))

    def test_dr2_unet_256(self) -> None:
        manifest, result = self._export("dr2-unet", "dr2-ffhq-256-unet.json")
        parity = result.parity_fp32  # type: ignore[attr-defined]
        self.assertTrue(parity.within(1e-4), parity)
        self.assertEqual(parity.output_shape, [2, 6, 256, 256])
        self.assertEqual(parity.input_names, ["x", "t"])
        self.assertEqual(manifest["resolution"], 256)
        print(f"\n  full U-Net: {result.seconds}, max abs {parity.max_abs_error:.3g}"  # type: ignore[attr-defined]
              f" / scale {parity.output_scale:.3g}", file=sys.stderr)

    def test_sparnethd_512(self) -> None:
        manifest, result = self._export("sparnethd", "sparnethd-2d-512.json")
        parity = result.parity_fp32  # type: ignore[attr-defined]
        self.assertTrue(parity.within(1e-4), parity)
        self.assertEqual(parity.output_shape, [2, 3, 512, 512])
        self.assertEqual((manifest["inputSize"], manifest["outputSize"]), (512, 512))
        print(f"\n  full SPARNetHD: {result.seconds}, max abs {parity.max_abs_error:.3g}"  # type: ignore[attr-defined]
              f" / scale {parity.output_scale:.3g}", file=sys.stderr)


class TinyModelsTest(unittest.TestCase):
    TINY = REPO_ROOT / "gpu-task" / "models" / "tiny"

    def test_committed_manifests_describe_their_files(self) -> None:
        pipeline = json.loads((self.TINY / "pipeline.json").read_text())
        self.assertEqual((pipeline["role"], pipeline["denoiser"], pipeline["enhancer"]),
                         ("pipeline", "denoiser.json", "enhancer.json"))
        for name in ("denoiser", "enhancer"):
            manifest = json.loads((self.TINY / f"{name}.json").read_text())
            self.assertEqual(manifest["role"], name)
            self.assertEqual(manifest["provenance"]["sha256"], sha256_file(self.TINY / manifest["file"]))
            self.assertEqual(manifest["provenance"]["source"], "random weights, test only")
            self.assertEqual(manifest["license"]["name"], "MIT")
        total = sum((self.TINY / f).stat().st_size for f in ("denoiser.onnx", "enhancer.onnx"))
        self.assertLess(total, 2_000_000)

    def test_regeneration_is_byte_identical(self) -> None:
        require_node()
        manifest = json.loads((self.TINY / "denoiser.json").read_text())
        if manifest["provenance"].get("tooling", {}).get("torch") != torch.__version__:
            self.skipTest("committed tiny models were exported with another torch version")
        with tempfile.TemporaryDirectory() as scratch:
            completed = subprocess.run([sys.executable, "-m", "dr2e_models.make_tiny_models", "--out", scratch],
                                       cwd=MODELS_DIR,
                                       capture_output=True, text=True, check=False)
            self.assertEqual(completed.returncode, 0, completed.stderr)
            for name in ("denoiser.onnx", "enhancer.onnx"):
                self.assertEqual(sha256_file(Path(scratch) / name), sha256_file(self.TINY / name), name)

    def test_tiny_outputs_have_the_promised_magnitudes(self) -> None:
        require_node()
        generator = torch.Generator().manual_seed(5)
        x = torch.randn(4, 3, 64, 64, generator=generator).numpy()
        t = np.array([0, 300, 600, 999], np.int64)
        out = run_onnx(self.TINY / "denoiser.onnx", {"x": x, "t": t}).outputs["out"]
        self.assertTrue(0.5 < out[:, :3].std() < 2.0, out[:, :3].std())
        self.assertLess(np.abs(out[:, 3:]).mean(), 0.1)
        image = (torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1).numpy()
        enhanced = run_onnx(self.TINY / "enhancer.onnx", {"input": image}).outputs["output"]
        bicubic = torch.nn.functional.interpolate(torch.from_numpy(image), size=(128, 128), mode="bicubic",
                                                  align_corners=False).numpy()
        self.assertEqual(enhanced.shape, (2, 3, 128, 128))
        self.assertLess(np.abs(enhanced - bicubic).mean(), 0.1)


if __name__ == "__main__":
    unittest.main()
