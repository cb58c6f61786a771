"""``make_pipeline``: the pipeline manifest written for a model folder, after its checks."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dr2e_models.make_pipeline import _field_problems, main
from dr2e_models.manifest import LICENSES, denoiser_manifest, external_data_locations, sha256_file, write_json
from dr2e_models.paths import REPO_ROOT


def _graph(side: int = 8, image: str = "x", timestep: str = "t", output: str = "out") -> onnx.ModelProto:
    """A denoiser-shaped graph: out = concat(x * scale, x * scale), t unused; dynamic batch."""
    nodes = [helper.make_node("Mul", [image, "scale"], ["scaled"]),
             helper.make_node("Concat", ["scaled", "scaled"], [output], axis=1)]
    scale = numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32), "scale")
    graph = helper.make_graph(
        nodes, "denoiser",
        [helper.make_tensor_value_info(image, TensorProto.FLOAT, ["B", 3, side, side]),
         helper.make_tensor_value_info(timestep, TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["B", 6, side, side])],
        [scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _denoiser(folder: Path, *, graph: onnx.ModelProto | None = None, external: str | None = None,
              edit: Any = None, resolution: int = 8) -> Path:
    """Write ``denoiser.onnx`` (weights in ``external`` when given) and a manifest with its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx_file = folder / "denoiser.onnx"
    if external:
        (folder / external).parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(graph or _graph(), str(onnx_file), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external, size_threshold=0)
    else:
        onnx.save(graph or _graph(), str(onnx_file))
    manifest = denoiser_manifest(name="test", file="denoiser.onnx", resolution=resolution, output_channels=6,
                                 beta_schedule="linear", num_timesteps=1000, license=LICENSES["mit-test"],
                                 provenance={"source": "test graph", "sha256": sha256_file(onnx_file)})
    if edit:
        edit(manifest)
    write_json(folder / "denoiser.json", manifest)
    return folder / "denoiser.json"


def _run(*args: str) -> tuple[int, str]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(list(args))
    return status, err.getvalue()


class _FolderTest(unittest.TestCase):
    """A scratch model folder per test."""

    def setUp(self) -> None:
        self.scratch = tempfile.TemporaryDirectory()
        self.root = Path(self.scratch.name)

    def tearDown(self) -> None:
        self.scratch.cleanup()

    def _refused(self, **kwargs: Any) -> str:
        """Write a denoiser folder, run make_pipeline on it, expect status 3 and no pipeline.json."""
        _denoiser(self.root, **kwargs)
        status, err = _run("--dir", str(self.root), "--no-enhancer")
        self.assertEqual(status, 3, err)
        self.assertFalse((self.root / "pipeline.json").exists())
        return err


class MakePipelineTest(_FolderTest):
    def test_finds_a_manifest_file_beside_the_manifest_in_a_sub_folder(self) -> None:
        # Prepare
        _denoiser(self.root / "sub")
        # Act
        status, err = _run("--dir", str(self.root), "--denoiser", "sub/denoiser.json", "--no-enhancer")
        # Assess
        self.assertEqual(status, 0, err)
        pipeline = json.loads((self.root / "pipeline.json").read_text())
        self.assertEqual(pipeline["denoiser"], "sub/denoiser.json")

    def test_refuses_fewer_than_two_steps(self) -> None:
        _denoiser(self.root)
        with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit) as exit_:
            main(["--dir", str(self.root), "--no-enhancer", "--steps", "1"])
        self.assertEqual(exit_.exception.code, 2)
        self.assertIn("--steps must be at least 2", err.getvalue())
        self.assertFalse((self.root / "pipeline.json").exists())

    def test_writes_a_model_s_own_preset_values(self) -> None:
        # Prepare
        _denoiser(self.root)
        # Act
        status, err = _run("--dir", str(self.root), "--no-enhancer", "--preset-values", "medium=4,22",
                           "--preset-values", "severe=8,35")
        # Assess
        self.assertEqual(status, 0, err)
        pipeline = json.loads((self.root / "pipeline.json").read_text())
        self.assertEqual(pipeline["presets"], {"medium": {"n": 4, "tau": 22}, "severe": {"n": 8, "tau": 35}})

    def test_refuses_preset_values_the_engine_would_refuse(self) -> None:
        _denoiser(self.root)
        for value, message in (("auto=4,22", "must be one of"), ("medium=3,22", "power of two"),
                               ("medium=4", "NAME=N,TAU"), ("medium=4,99", "at most 98")):
            with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit) as exit_:
                main(["--dir", str(self.root), "--no-enhancer", "--preset-values", value])
            self.assertEqual(exit_.exception.code, 2)
            self.assertIn(message, err.getvalue())
        self.assertFalse((self.root / "pipeline.json").exists())


class WholeFloatTest(unittest.TestCase):
    def test_whole_floats_are_the_whole_numbers_the_engine_reads_them_as(self) -> None:
        # JSON's 64.0 is a JavaScript 64: the engine takes it, so the check must too.
        tiny = json.loads((REPO_ROOT / "gpu-task" / "models" / "tiny" / "denoiser.json").read_text())
        floats = {**tiny, "resolution": 64.0, "schedule": {"betaSchedule": "linear", "numTimesteps": 1000.0}}
        self.assertEqual(_field_problems(Path("denoiser.json"), floats, "denoiser"), [])
        self.assertNotEqual(_field_problems(Path("denoiser.json"), {**tiny, "resolution": 64.5}, "denoiser"), [])


class ManifestFieldsTest(_FolderTest):
    """Required and unknown fields: what the engine's schema would refuse at start-up."""

    def test_refuses_a_denoiser_manifest_without_a_schedule_or_with_a_misspelt_key(self) -> None:
        # Prepare / Act
        err = self._refused(edit=lambda m: (m.pop("schedule"), m.update(timestep_type=m.pop("timestepType"))))
        # Assess
        self.assertIn("lacks the required field(s) schedule of a denoiser manifest", err)
        self.assertIn("unknown field(s) timestep_type (misspelt?", err)

    def test_refuses_another_schema_version(self) -> None:
        err = self._refused(edit=lambda m: m.update(schemaVersion=2))
        self.assertIn("schemaVersion 2, the engine reads 1", err)


class GraphCheckTest(_FolderTest):
    """The graph's io names, types and static sizes against its manifest."""

    def test_refuses_io_names_the_graph_does_not_have(self) -> None:
        err = self._refused(graph=_graph(image="input", timestep="timesteps", output="output"))
        self.assertIn('missing input "x" named by io (the graph\'s inputs are: "input", "timesteps")', err)
        self.assertIn('missing output "out" named by io (the graph\'s outputs are: "output")', err)

    def test_refuses_a_resolution_the_graph_does_not_have(self) -> None:
        err = self._refused(graph=_graph(side=16))
        self.assertIn('input "x" has height = 16, the manifest says 8', err)
        self.assertIn('output "out" has width = 16, the manifest says 8', err)

    def test_accepts_the_tiny_pair_and_refuses_an_enhancer_size_its_graph_does_not_have(self) -> None:
        # Prepare: the exported pair that ships with the code, then an enhancer manifest claiming 256 px out.
        tiny = REPO_ROOT / "gpu-task" / "models" / "tiny"
        for name in ("denoiser.json", "denoiser.onnx", "enhancer.json", "enhancer.onnx"):
            (self.root / name).write_bytes((tiny / name).read_bytes())
        # Act
        accepted, accepted_err = _run("--dir", str(self.root))
        enhancer = json.loads((self.root / "enhancer.json").read_text())
        write_json(self.root / "enhancer.json", {**enhancer, "outputSize": 256})
        refused, refused_err = _run("--dir", str(self.root))
        # Assess
        self.assertEqual(accepted, 0, accepted_err)
        self.assertEqual(refused, 3)
        self.assertIn('output "output" has height = 128, the manifest says 256', refused_err)

    def test_refuses_an_enhancer_of_another_framing_and_names_no_enhancer_when_there_is_none(self) -> None:
        # Prepare: the tiny pair, the enhancer claiming the FFHQ framing while the denoiser has another
        tiny = REPO_ROOT / "gpu-task" / "models" / "tiny"
        for name in ("denoiser.json", "denoiser.onnx", "enhancer.json", "enhancer.onnx"):
            (self.root / name).write_bytes((tiny / name).read_bytes())
        denoiser = json.loads((self.root / "denoiser.json").read_text())
        tight = {"eyeDistance": 0.45, "eyeY": 0.4, "mouthY": 0.75}
        write_json(self.root / "denoiser.json", {**denoiser, "framing": {"name": "tight", **tight}})
        enhancer = json.loads((self.root / "enhancer.json").read_text())
        write_json(self.root / "enhancer.json", {**enhancer, "framing": {"name": "also-tight", **tight}})
        renamed, renamed_err = _run("--dir", str(self.root))
        (self.root / "pipeline.json").unlink()
        write_json(self.root / "enhancer.json", {**enhancer, "framing": {"name": "ffhq", **tight, "eyeY": 0.47}})
        # Act
        mismatched, mismatched_err = _run("--dir", str(self.root))
        (self.root / "enhancer.json").unlink()
        missing, missing_err = _run("--dir", str(self.root))
        # Assess: a framing named otherwise but placing the face alike pairs
        self.assertEqual(renamed, 0, renamed_err)
        self.assertEqual(mismatched, 3)
        self.assertIn("was made for another face framing than denoiser.json", mismatched_err)
        self.assertEqual(missing, 3)
        self.assertIn("enhancer.json does not exist (a pipeline without an enhancer", missing_err)
        self.assertIn("--no-enhancer", missing_err)
        self.assertFalse((self.root / "pipeline.json").exists())

    def test_refuses_steps_beyond_the_training_timesteps_and_an_n_that_does_not_divide_the_resolution(self) -> None:
        _denoiser(self.root, edit=lambda m: m["schedule"].update(numTimesteps=50))
        too_many, too_many_err = _run("--dir", str(self.root), "--no-enhancer", "--steps", "200")
        too_coarse, too_coarse_err = _run("--dir", str(self.root), "--no-enhancer", "--preset-values", "medium=16,22")
        self.assertEqual(too_many, 3)
        self.assertIn("--steps 200 is more than the 50 timesteps denoiser.json was trained over", too_many_err)
        self.assertEqual(too_coarse, 3)
        self.assertIn("N = 16 must divide the denoiser's 8 px resolution", too_coarse_err)
        self.assertFalse((self.root / "pipeline.json").exists())

    def test_refuses_a_graph_with_a_fixed_batch(self) -> None:
        graph = _graph()
        graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
        err = self._refused(graph=graph)
        self.assertIn('input "x" has a fixed batch of 1; the engine needs a dynamic batch axis', err)


class ExternalDataTest(_FolderTest):
    """Weights kept beside the graph (ONNX external data) are checked like the graph itself."""

    def _listed(self, manifest: dict[str, Any], location: str = "denoiser.onnx.data") -> None:
        manifest["externalData"] = [{"path": location, "sha256": sha256_file(self.root / location)}]

    def test_finds_the_side_files_the_engine_scan_finds(self) -> None:
        # The fixture test/engine/model/external-data.test.ts scans too: the two must agree.
        nested = REPO_ROOT / "test" / "fixtures" / "models" / "external-data" / "nested.onnx"
        self.assertEqual(sorted(external_data_locations(nested)), ["branch.bin", "const.bin", "weights/init.bin"])

    def test_accepts_side_files_listed_with_their_sha256(self) -> None:
        # Prepare
        _denoiser(self.root, external="weights/denoiser.bin", edit=lambda m: self._listed(m, "weights/denoiser.bin"))
        # Act
        status, err = _run("--dir", str(self.root), "--no-enhancer")
        # Assess
        self.assertEqual(status, 0, err)

    def test_refuses_a_missing_side_file(self) -> None:
        # Prepare
        _denoiser(self.root, external="denoiser.onnx.data", edit=self._listed)
        (self.root / "denoiser.onnx.data").unlink()
        # Act
        status, err = _run("--dir", str(self.root), "--no-enhancer")
        # Assess
        self.assertEqual(status, 3)
        self.assertIn("keeps weights in the external data file 'denoiser.onnx.data'", err)
        self.assertIn("does not exist", err)
        self.assertFalse((self.root / "pipeline.json").exists())

    def test_refuses_a_changed_side_file(self) -> None:
        # Prepare
        _denoiser(self.root, external="denoiser.onnx.data", edit=self._listed)
        data = self.root / "denoiser.onnx.data"
        data.write_bytes(data.read_bytes()[:-4] + b"\0\0\0\0")
        # Act
        status, err = _run("--dir", str(self.root), "--no-enhancer")
        # Assess
        self.assertEqual(status, 3)
        self.assertIn("denoiser.onnx.data does not match the sha256 recorded for it", err)

    def test_refuses_a_checksummed_manifest_that_does_not_list_the_side_file(self) -> None:
        # Prepare: the .onnx file's sha256 is right, but it says nothing about the weights.
        _denoiser(self.root, external="denoiser.onnx.data")
        # Act
        status, err = _run("--dir", str(self.root), "--no-enhancer")
        # Assess
        self.assertEqual(status, 3)
        self.assertIn("does not list the external data file 'denoiser.onnx.data'", err)
        self.assertIn('"externalData": [{"path": "denoiser.onnx.data"', err)
        self.assertIn(sha256_file(self.root / "denoiser.onnx.data"), err)


if __name__ == "__main__":
    unittest.main()
