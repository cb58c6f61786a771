"""The batched BlazeFace graph: its structure, the committed file's provenance, and parity with the
vendored batch-1 graph (through onnxruntime-node, when node is available)."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from dr2e_models.batch_blazeface import (
    BATCH_DIM,
    BLAZEFACE_DIR,
    DERIVED_NAME,
    SOURCE_NAME,
    BatchifyError,
    batchify,
    derive,
    main as batch_main,
)
from dr2e_models.manifest import sha256_file
from dr2e_models.onnx_export import run_onnx

from ._support import require_node

SOURCE = BLAZEFACE_DIR / SOURCE_NAME
DERIVED = BLAZEFACE_DIR / DERIVED_NAME
OUTPUTS = {"Identity:0": (512, 1), "Identity_1:0": (384, 1), "Identity_2:0": (512, 16), "Identity_3:0": (384, 16)}


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


class StructureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.source = onnx.load(str(SOURCE))
        cls.model = batchify(cls.source, sha256_file(SOURCE))

    def test_batch_dimension_is_symbolic_everywhere_else_unchanged(self) -> None:
        graph = self.model.graph
        self.assertEqual([_dims(v) for v in graph.input], [[BATCH_DIM, 256, 256, 3]])
        self.assertEqual({v.name: _dims(v) for v in graph.output},
                         {name: [BATCH_DIM, *shape] for name, shape in OUTPUTS.items()})
        inferred = shape_inference.infer_shapes(self.model).graph
        self.assertEqual({v.name: _dims(v) for v in inferred.output},
                         {name: [BATCH_DIM, *shape] for name, shape in OUTPUTS.items()})

    def test_no_batch_one_constants_remain(self) -> None:
        graph = self.model.graph
        ops = [node.op_type for node in graph.node]
        self.assertNotIn("ConstantOfShape", ops)
        self.assertNotIn("Concat", ops)
        self.assertEqual(ops.count("Pad"), 2)
        initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Reshape":
                self.assertEqual(int(initializers[node.input[1]][0]), -1, node.name)
            if node.op_type == "Pad":
                pads = initializers[node.input[1]].tolist()
                self.assertEqual(pads[:5] + pads[6:], [0] * 7, node.name)
                self.assertIn(pads[5], (24, 48), node.name)

    def test_weights_and_other_nodes_are_untouched(self) -> None:
        def convs(model: onnx.ModelProto) -> list[bytes]:
            weights = {init.name: init.SerializeToString() for init in model.graph.initializer}
            return [weights[name] for node in model.graph.node if node.op_type == "Conv" for name in node.input[1:]]

        self.assertEqual(convs(self.model), convs(self.source))
        self.assertEqual(len(self.model.graph.node), len(self.source.graph.node) - 2)

    def test_carries_the_modification_notice(self) -> None:
        self.assertIn("Modified by the dr2e project", self.model.doc_string)
        props = {p.key: p.value for p in self.model.metadata_props}
        self.assertEqual(props["dr2e.derived_from_sha256"], sha256_file(SOURCE))

    def test_the_source_is_left_alone(self) -> None:
        self.assertEqual(self.source.SerializeToString(), onnx.load(str(SOURCE)).SerializeToString())

    def test_refuses_a_graph_it_was_not_written_for(self) -> None:
        already = onnx.load(str(DERIVED))
        with self.assertRaisesRegex(BatchifyError, "batch 1"):
            batchify(already, "x")
        other = onnx.load(str(SOURCE))
        reshape = next(node for node in other.graph.node if node.op_type == "Reshape")
        other.graph.node.remove(reshape)
        with self.assertRaisesRegex(BatchifyError, "expected 4"):
            batchify(other, "x")


def main(argv: list[str]) -> int:
    """The command line, its messages kept out of the test log."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return batch_main(argv)


class ProvenanceTest(unittest.TestCase):
    def test_committed_file_is_the_deterministic_derivation(self) -> None:
        derived = derive(SOURCE)
        self.assertEqual(derived, derive(SOURCE))
        self.assertEqual(DERIVED.read_bytes(), derived,
                         "re-run: PYTHONPATH=models python3 -m dr2e_models.batch_blazeface")

    def test_source_json_records_the_derivation(self) -> None:
        record = json.loads((BLAZEFACE_DIR / "source.json").read_text())
        entry = record["derived"][DERIVED_NAME]
        self.assertEqual(entry["from"], SOURCE_NAME)
        self.assertEqual(entry["fromSha256"], record["files"][SOURCE_NAME]["sha256"])
        self.assertEqual(entry["sha256"], sha256_file(DERIVED))
        self.assertIn("Modified", entry["modified"])
        self.assertEqual(main(["--check"]), 0)

    def test_check_fails_on_a_stale_derived_file(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            for name in (SOURCE_NAME, DERIVED_NAME, "source.json"):
                (folder / name).write_bytes((BLAZEFACE_DIR / name).read_bytes())
            self.assertEqual(main(["--dir", scratch, "--check"]), 0)
            (folder / DERIVED_NAME).write_bytes(b"stale")
            self.assertEqual(main(["--dir", scratch, "--check"]), 1)
            self.assertEqual(main(["--dir", scratch]), 0)
            self.assertEqual((folder / DERIVED_NAME).read_bytes(), DERIVED.read_bytes())
            self.assertEqual((folder / "source.json").read_text(), (BLAZEFACE_DIR / "source.json").read_text())


class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        require_node()

    def test_a_batch_of_different_tiles_gives_each_tile_its_own_outputs(self) -> None:
        rng = np.random.default_rng(3)
        # Smooth random fields (faces are not white noise) plus one flat tile, in [-1, 1].
        coarse = rng.uniform(-1, 1, size=(3, 16, 16, 3)).astype(np.float32)
        tiles = np.concatenate([np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2),
                                np.zeros((1, 256, 256, 3), np.float32)])
        batched = run_onnx(DERIVED, {"input:0": tiles}, threads=1).outputs
        for index in range(len(tiles)):
            single = run_onnx(SOURCE, {"input:0": tiles[index:index + 1]}, threads=1).outputs
            for name, shape in OUTPUTS.items():
                self.assertEqual(batched[name].shape, (len(tiles), *shape))
                np.testing.assert_allclose(batched[name][index], single[name][0], rtol=0, atol=1e-4,
                                           err_msg=f"tile {index}, {name}")


if __name__ == "__main__":
    unittest.main()
