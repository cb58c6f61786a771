"""ONNX export, float16 conversion and parity checks through onnxruntime-node.

Python on the build machines has torch and onnx but no onnxruntime, so the ONNX side of a
parity check runs in Node (``run_onnx.mjs`` beside this module, with the repository's
``onnxruntime-node``), the same runtime the engine uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .paths import PACKAGE_DIR, REPO_ROOT

__all__ = [
    "DEFAULT_OPSET",
    "OnnxRunError",
    "ParityReport",
    "export_onnx",
    "run_onnx",
    "measure_parity",
    "convert_to_float16",
]

#: torch 1.13's highest ONNX opset.
DEFAULT_OPSET = 17
RUNNER = PACKAGE_DIR / "run_onnx.mjs"

_NUMPY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
}


class OnnxRunError(RuntimeError):
    """onnxruntime-node could not be started or failed to run the model."""


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
) -> None:
    """Trace ``model`` on ``example_inputs`` and write an ONNX file with a dynamic batch axis."""
    model.eval()
    axes = {name: {0: "batch"} for name in [*input_names, *output_names]} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(
            model,
            example_inputs,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))


@dataclass
class OnnxRun:
    """Outputs of one onnxruntime-node run plus what the session reported."""

    outputs: dict[str, np.ndarray]
    input_names: list[str]
    output_names: list[str]
    input_metadata: list[dict[str, Any]]
    output_metadata: list[dict[str, Any]]
    load_ms: float
    run_ms: float


def _node_binary() -> str:
    node = os.environ.get("DR2E_NODE") or shutil.which("node")
    if not node:
        raise OnnxRunError("node is not on PATH (set DR2E_NODE); it runs onnxruntime-node for parity checks")
    return node


def run_onnx(path: str | Path, inputs: Mapping[str, np.ndarray], threads: int = 0) -> OnnxRun:
    """Run an ONNX file on numpy inputs with onnxruntime-node (CPU) and return the outputs."""
    with tempfile.TemporaryDirectory(prefix="dr2e-onnx-") as scratch:
        scratch_dir = Path(scratch)
        specs = {}
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            dtype = str(array.dtype)
            if dtype not in _NUMPY_DTYPES:
                raise OnnxRunError(f"input {name}: dtype {dtype} not supported by the runner")
            file = scratch_dir / f"in-{len(specs)}.bin"
            array.astype(array.dtype.newbyteorder("<"), copy=False).tofile(file)
            specs[name] = {"dtype": dtype, "shape": list(array.shape), "file": str(file)}
        request = {"model": str(Path(path).resolve()), "inputs": specs, "outputDir": scratch, "threads": threads}
        request_file = scratch_dir / "request.json"
        request_file.write_text(json.dumps(request))
        completed = subprocess.run(
            [_node_binary(), str(RUNNER), str(request_file)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise OnnxRunError(f"onnxruntime-node failed on {path}: {completed.stderr.strip()[-2000:]}")
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        outputs = {}
        for name, spec in report["outputs"].items():
            dtype = _NUMPY_DTYPES[spec["dtype"]]
            outputs[name] = np.fromfile(spec["file"], dtype=dtype).reshape(spec["shape"])
        return OnnxRun(
            outputs=outputs,
            input_names=report["inputNames"],
            output_names=report["outputNames"],
            input_metadata=report["inputMetadata"],
            output_metadata=report["outputMetadata"],
            load_ms=report["loadMs"],
            run_ms=report["runMs"],
        )


@dataclass
class ParityReport:
    """How closely an ONNX file reproduces the PyTorch module on the same inputs."""

    max_abs_error: float
    #: max |output| of the PyTorch result, the scale the tolerance is relative to.
    output_scale: float
    relative_error: float
    torch_ms: float
    onnx_ms: float
    onnx_load_ms: float
    output_shape: list[int]
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    def within(self, relative_tolerance: float) -> bool:
        """True when ``max_abs_error <= relative_tolerance * output_scale``."""
        return self.max_abs_error <= relative_tolerance * max(self.output_scale, 1e-12)


def measure_parity(
    model: torch.nn.Module,
    onnx_path: str | Path,
    inputs: Mapping[str, torch.Tensor],
    output_name: str,
    reference: torch.Tensor | None = None,
) -> ParityReport:
    """Run ``model(*inputs.values())`` and the ONNX file on the same inputs; compare one output.

    ``reference`` skips the PyTorch run when the caller already has its output (fp16 checks).
    """
    torch_ms = 0.0
    if reference is None:
        start = time.perf_counter()
        with torch.no_grad():
            reference = model(*inputs.values())
        torch_ms = (time.perf_counter() - start) * 1000
    expected = reference.detach().float().numpy()
    run = run_onnx(onnx_path, {name: tensor.detach().numpy() for name, tensor in inputs.items()})
    got = run.outputs[output_name].astype(np.float32)
    if got.shape != expected.shape:
        raise OnnxRunError(f"ONNX output {output_name} has shape {got.shape}, PyTorch gives {expected.shape}")
    max_abs = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return ParityReport(
        max_abs_error=max_abs,
        output_scale=scale,
        relative_error=max_abs / max(scale, 1e-12),
        torch_ms=torch_ms,
        onnx_ms=run.run_ms,
        onnx_load_ms=run.load_ms,
        output_shape=list(got.shape),
        input_names=run.input_names,
        output_names=run.output_names,
    )


# --- float16 conversion ---------------------------------------------------------------------

#: Ops that stay float32 inside a float16 graph: normalisation statistics and softmax (as
#: guided-diffusion's fp16 mode keeps them) and transcendental functions.
KEEP_FLOAT32_OPS = frozenset(
    {"InstanceNormalization", "LayerNormalization", "GroupNormalization", "BatchNormalization", "Softmax",
     "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceSumSquare", "Pow", "Sqrt", "Exp", "Log", "Sin", "Cos"}
)
#: Ops whose inputs are only inspected (shapes), never computed with.
_SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})
#: Input slots that must keep their own type whatever the node's precision.
_FIXED_TYPE_SLOTS = {"Resize": {1, 2}, "Upsample": {1}}
_FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16)


def convert_to_float16(model: onnx.ModelProto, image_inputs: Sequence[str]) -> onnx.ModelProto:
    """Convert a float32 graph to mixed float16, keeping float32 inputs and outputs.

    Nodes downstream of the ``image_inputs`` compute in float16, except the ops in
    :data:`KEEP_FLOAT32_OPS`. Nodes that do not depend on the image (the timestep embedding
    and the per-block conditioning MLPs of the U-Net) stay float32, like guided-diffusion's
    own fp16 mode, because sinusoids of timesteps up to 1000 need float32 angles. Cast nodes
    are inserted where precisions meet; graph inputs and outputs stay float32 so callers do
    not change.
    """
    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    types: dict[str, int] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        types[value.name] = value.type.tensor_type.elem_type
    initializers = {init.name: init for init in graph.initializer}
    for init in graph.initializer:
        types[init.name] = init.data_type

    # Constant nodes become initializers so that they are converted like weights.
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            initializers[tensor.name] = graph.initializer[-1]
            types[tensor.name] = tensor.data_type
        else:
            nodes.append(node)

    # Which values depend on the image input(s).
    image_path = set(image_inputs)
    for node in nodes:
        if any(name in image_path for name in node.input):
            image_path.update(node.output)

    def precision(node: onnx.NodeProto) -> int:
        on_path = any(name in image_path for name in node.input)
        if on_path and node.op_type not in KEEP_FLOAT32_OPS:
            return TensorProto.FLOAT16
        return TensorProto.FLOAT

    def computed_slots(node: onnx.NodeProto) -> list[int]:
        if node.op_type in _SHAPE_ONLY_OPS:
            return []
        fixed = _FIXED_TYPE_SLOTS.get(node.op_type, set())
        return [i for i, name in enumerate(node.input) if name and i not in fixed and types.get(name) in _FLOATS]

    # Initializers read only by float16 computations are stored as float16.
    readers: dict[str, set[int]] = {}
    for node in nodes:
        for slot in computed_slots(node):
            readers.setdefault(node.input[slot], set()).add(precision(node))
    for name, wanted in readers.items():
        init = initializers.get(name)
        if init is not None and init.data_type == TensorProto.FLOAT and wanted == {TensorProto.FLOAT16}:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name)
            init.CopyFrom(half)
            types[name] = TensorProto.FLOAT16

    new_nodes: list[onnx.NodeProto] = []
    casts: dict[tuple[str, int], str] = {}

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            suffix = "fp16" if to == TensorProto.FLOAT16 else "fp32"
            out = f"{name}__{suffix}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=f"{out}__cast"))
            types[out] = to
            casts[key] = out
        return casts[key]

    for node in nodes:
        target = precision(node)
        for slot in computed_slots(node):
            name = node.input[slot]
            if types[name] != target:
                node.input[slot] = cast(name, target)
        if target == TensorProto.FLOAT16:
            if node.op_type == "Cast":
                for attribute in node.attribute:
                    if attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                        attribute.i = TensorProto.FLOAT16
            elif node.op_type == "ConstantOfShape":
                for attribute in node.attribute:
                    if attribute.name == "value" and attribute.t.data_type == TensorProto.FLOAT:
                        value = numpy_helper.to_array(attribute.t).astype(np.float16)
                        attribute.t.CopyFrom(numpy_helper.from_array(value))
            for out in node.output:
                if types.get(out) == TensorProto.FLOAT:
                    types[out] = TensorProto.FLOAT16
        new_nodes.append(node)

    # Outputs keep float32: the last producer writes a renamed value, a Cast restores the name.
    for output in graph.output:
        if types.get(output.name) == TensorProto.FLOAT16:
            internal = f"{output.name}__fp16"
            for node in new_nodes:
                for i, name in enumerate(node.input):
                    if name == output.name:
                        node.input[i] = internal
                for i, name in enumerate(node.output):
                    if name == output.name:
                        node.output[i] = internal
            new_nodes.append(
                helper.make_node("Cast", [internal], [output.name], to=TensorProto.FLOAT, name=f"{output.name}__cast")
            )

    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.value_info[:]
    # Put nodes back in topological order (casts were appended before their consumers already,
    # except the output casts, which come last by construction).
    onnx.checker.check_model(model)
    return onnx.shape_inference.infer_shapes(model)
