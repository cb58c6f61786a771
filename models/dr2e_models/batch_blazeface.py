"""Derive the batched BlazeFace graph from the vendored one (dynamic batch instead of batch 1).

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.batch_blazeface            # write the derived graph, record it
    /usr/bin/python3 -m dr2e_models.batch_blazeface --check    # verify the committed one (offline)

Why: the photo detector runs BlazeFace on ~100 tiles of 256 x 256 per 12 MP photo. The vendored
graph (``gpu-task/models/blazeface/face_detection_back_256x256_barracuda.onnx``, tf2onnx output)
has its batch fixed to 1, and onnxruntime spends less per tile on a batch of tiles (2 intra-op
threads on the 2-core development machine: ~4.5 ms per tile alone, ~3.0 ms in a batch of 8).

What changes, and nothing else (weights, convolutions and outputs stay bit-identical per tile):

* the four output ``Reshape`` nodes have constant target shapes ``[1, A, K]``; their first entry
  becomes ``-1`` (the batch is whatever remains);
* the two channel pads of the BlazeBlocks that widen 24 -> 48 and 48 -> 96 channels are
  ``Concat(x, ConstantOfShape([1, C, H, W]))`` on the channel axis: a zero tensor of batch 1.
  Each becomes ``Pad(x)`` with ``C`` zero channels appended, which holds for any batch;
* the input's and outputs' first dimension becomes the symbolic ``N``; the recorded
  intermediate shapes (``value_info``, all of batch 1) are dropped, onnxruntime infers them.

The derived file carries the Apache-2.0 notice that it was modified (its ``doc_string`` and
``metadata_props``), and ``source.json`` beside it records which file (SHA-256) it came from and
by which command. The derivation is deterministic: the same source gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper, shape_inference

from .manifest import sha256_file
from .paths import REPO_ROOT

__all__ = [
    "BLAZEFACE_DIR",
    "SOURCE_NAME",
    "DERIVED_NAME",
    "BATCH_DIM",
    "BatchifyError",
    "batchify",
    "derive",
    "main",
]

BLAZEFACE_DIR = REPO_ROOT / "gpu-task" / "models" / "blazeface"
SOURCE_NAME = "face_detection_back_256x256_barracuda.onnx"
DERIVED_NAME = "face_detection_back_256x256_barracuda_batched.onnx"
#: Name of the symbolic batch dimension of the derived graph's input and outputs.
BATCH_DIM = "N"
COMMAND = "PYTHONPATH=models /usr/bin/python3 -m dr2e_models.batch_blazeface"
NOTICE = (
    "Modified by the dr2e project from {source} (SHA-256 {sha256}), MediaPipe BlazeFace as "
    "converted to ONNX (Apache-2.0): batch dimension made dynamic (output Reshape shapes [1, A, K] "
    "-> [-1, A, K]; Concat with a batch-1 ConstantOfShape of zeros -> Pad on the channel axis; "
    "input and output dimension 0 -> '" + BATCH_DIM + "'). Weights unchanged. Command: " + COMMAND + "."
)

# What the vendored graph holds: the rewrite refuses any other graph rather than guess.
EXPECTED_RESHAPES = 4
EXPECTED_CHANNEL_PADS = 2


class BatchifyError(ValueError):
    """The graph is not the one this rewrite was written for."""


def _consumers(model: ModelProto) -> Counter[str]:
    return Counter(name for node in model.graph.node for name in node.input)


def batchify(source: ModelProto, source_sha256: str, source_name: str = SOURCE_NAME) -> ModelProto:
    """Return a copy of the batch-1 BlazeFace graph with a dynamic batch dimension.

    ``source`` is left untouched. Raises BatchifyError when the graph does not have exactly the
    four batch-1 output Reshapes and two zero channel pads described in the module docstring.

    Example::

        model = batchify(onnx.load(path), sha256_file(path))
        onnx.save(model, out)
    """
    model = ModelProto()
    model.CopyFrom(source)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers = _consumers(model)
    # Shapes of the original's tensors, to check that each pad's zeros match its input.
    shapes = {
        info.name: [d.dim_value if d.HasField("dim_value") else None for d in info.type.tensor_type.shape.dim]
        for info in shape_inference.infer_shapes(source).graph.value_info
    }

    reshapes = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        target = initializers.get(node.input[1])
        if target is None:
            raise BatchifyError(f"Reshape {node.name}: its shape is not a constant")
        if consumers[target.name] != 1:
            raise BatchifyError(f"Reshape {node.name}: its shape constant {target.name} is shared")
        shape = numpy_helper.to_array(target).copy()
        if shape.ndim != 1 or shape.size < 2 or shape[0] != 1:
            raise BatchifyError(f"Reshape {node.name}: shape {shape.tolist()} does not start with batch 1")
        shape[0] = -1
        target.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), target.name))
        reshapes += 1

    zeros = {node.output[0]: node for node in graph.node if node.op_type == "ConstantOfShape"}
    nodes = []
    pads = 0
    dropped = set()
    for node in graph.node:
        if node.op_type == "ConstantOfShape":
            continue
        if node.op_type == "Concat" and len(node.input) == 2 and node.input[1] in zeros:
            fill = zeros[node.input[1]]
            axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), None)
            value = next((helper.get_attribute_value(a) for a in fill.attribute if a.name == "value"), None)
            if axis != 1:
                raise BatchifyError(f"Concat {node.name}: pads axis {axis}, not the channel axis 1")
            if value is not None and numpy_helper.to_array(value).any():
                raise BatchifyError(f"ConstantOfShape {fill.name}: fills with non-zero values")
            if fill.input[0] not in initializers or consumers[fill.output[0]] != 1:
                raise BatchifyError(f"ConstantOfShape {fill.name}: shape not constant or zeros shared")
            zero_shape = numpy_helper.to_array(initializers[fill.input[0]]).tolist()
            data_shape = shapes.get(node.input[0])
            if (
                len(zero_shape) != 4
                or zero_shape[0] != 1
                or data_shape is None
                or data_shape[:1] + data_shape[2:] != zero_shape[:1] + zero_shape[2:]
            ):
                raise BatchifyError(f"Concat {node.name}: zeros {zero_shape} do not match its input {data_shape}")
            # ONNX Pad: begins of every axis, then ends; the zeros go after the channels.
            amounts = numpy_helper.from_array(
                np.array([0, 0, 0, 0, 0, zero_shape[1], 0, 0], dtype=np.int64), f"{node.output[0]}_pads"
            )
            graph.initializer.append(amounts)
            pad = helper.make_node("Pad", [node.input[0], amounts.name], list(node.output), name=node.name,
                                   mode="constant")
            nodes.append(pad)
            dropped.add(fill.input[0])
            pads += 1
            continue
        if any(name in zeros for name in node.input):
            raise BatchifyError(f"{node.op_type} {node.name}: uses a ConstantOfShape other than a channel pad")
        nodes.append(node)
    if reshapes != EXPECTED_RESHAPES or pads != EXPECTED_CHANNEL_PADS or len(zeros) != EXPECTED_CHANNEL_PADS:
        raise BatchifyError(
            f"expected {EXPECTED_RESHAPES} batch-1 Reshapes and {EXPECTED_CHANNEL_PADS} zero channel pads, "
            f"found {reshapes} Reshapes, {pads} pads, {len(zeros)} ConstantOfShape"
        )
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [init for init in graph.initializer if init.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept)

    for value in list(graph.input) + list(graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if dim.dim_value != 1:
            raise BatchifyError(f"{value.name}: first dimension {dim} is not batch 1")
        dim.Clear()
        dim.dim_param = BATCH_DIM
    del graph.value_info[:]

    notice = NOTICE.format(source=source_name, sha256=source_sha256)
    model.doc_string = notice
    del model.metadata_props[:]
    for key, value in (("dr2e.derived_from", source_name), ("dr2e.derived_from_sha256", source_sha256),
                       ("dr2e.derived_by", COMMAND), ("dr2e.notice", notice)):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def derive(source: Path) -> bytes:
    """The derived graph's bytes for the ONNX file ``source`` (deterministic)."""
    model = batchify(onnx.load(str(source)), sha256_file(source), source.name)
    return model.SerializeToString()


def _record(source_sha256: str, derived_sha256: str) -> dict:
    """source.json's ``derived`` entry for the derived file."""
    return {
        "from": SOURCE_NAME,
        "fromSha256": source_sha256,
        "sha256": derived_sha256,
        "by": COMMAND,
        "modified": NOTICE.format(source=SOURCE_NAME, sha256=source_sha256),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=BLAZEFACE_DIR, help="the vendored folder (source.json, graphs)")
    parser.add_argument("--check", action="store_true", help="verify the committed derived file; write nothing")
    args = parser.parse_args(argv)
    folder: Path = args.dir
    source_file = folder / SOURCE_NAME
    derived_file = folder / DERIVED_NAME
    record_file = folder / "source.json"
    record = json.loads(record_file.read_text())
    vendored_sha256 = record["files"][SOURCE_NAME]["sha256"]
    source_sha256 = sha256_file(source_file)
    if source_sha256 != vendored_sha256:
        print(f"{source_file}: SHA-256 {source_sha256} is not the vendored {vendored_sha256} "
              "(run npm run vendor:blazeface)", file=sys.stderr)
        return 1
    derived = derive(source_file)
    entry = _record(source_sha256, hashlib.sha256(derived).hexdigest())
    if args.check:
        problems = []
        if not derived_file.is_file() or derived_file.read_bytes() != derived:
            problems.append(f"{derived_file} differs from the derivation of {SOURCE_NAME}")
        if record.get("derived", {}).get(DERIVED_NAME) != entry:
            problems.append(f"{record_file}: derived.{DERIVED_NAME} is missing or out of date")
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"ok   {DERIVED_NAME} sha256 {entry['sha256']} (from {SOURCE_NAME} {source_sha256})")
        return 1 if problems else 0
    derived_file.write_bytes(derived)
    record.setdefault("derived", {})[DERIVED_NAME] = entry
    record_file.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {derived_file} ({len(derived)} bytes, sha256 {entry['sha256']}) and {record_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
