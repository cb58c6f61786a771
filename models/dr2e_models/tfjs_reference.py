"""Evaluate a TF.js graph model op by op in numpy (convolutions and pooling through PyTorch).

No TensorFlow or TF.js runs here, yet a translated graph needs something to be compared with:
this evaluator runs the original graph, shape arithmetic and all (FaceBoxes builds its anchors
and input padding from the input's shape inside the graph), so the parts a translation cuts
away and re-implements elsewhere (gpu-task/src/photo/faceboxes.ts) can be checked against
the graph itself. It runs only what the wanted nodes need; loops (TF's Enter/Merge/Switch
frames) are not supported, so wanted nodes must lie before any.

    graph = Graph(Path("package/models/faceboxes.json"))
    boxes, scores = graph.run({"image_tensor": pixels}, ["postprocessing/clip_by_value_1",
                                                          "postprocessing/strided_slice_2"])
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from dr2e_models.tfjs_graph_to_onnx import UnsupportedGraph, _read_weights

_TF_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_BOOL": np.bool_,
}


def _int_attr(node: dict, key: str, default: int = 0) -> int:
    value = node.get("attr", {}).get(key)
    return default if value is None else int(value.get("i", default))


def _int_list(node: dict, key: str) -> list[int]:
    return [int(v) for v in node["attr"][key]["list"]["i"]]


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's SAME padding of one axis: the odd pixel goes after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padded_nchw(node: dict, x: np.ndarray, kernel: tuple[int, int], value: float) -> torch.Tensor:
    padding = base64.b64decode(node["attr"]["padding"]["s"]).decode()
    strides = _int_list(node, "strides")
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if padding == "VALID":
        return t
    if padding != "SAME":
        raise UnsupportedGraph(f"{node['name']}: padding {padding}")
    top, bottom = _same_padding(x.shape[1], kernel[0], strides[1])
    left, right = _same_padding(x.shape[2], kernel[1], strides[2])
    return F.pad(t, (left, right, top, bottom), value=value)


def _conv(node: dict, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
    if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
        raise UnsupportedGraph(f"{node['name']}: fused ops {fused}")
    strides = _int_list(node, "strides")
    t = _padded_nchw(node, x, kernel.shape[:2], 0.0)
    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    out = F.conv2d(t, weight, torch.from_numpy(bias), stride=(strides[1], strides[2]))
    if "Relu" in fused:
        out = F.relu(out)
    return out.numpy().transpose(0, 2, 3, 1)


def _depthwise(node: dict, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
    if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
        raise UnsupportedGraph(f"{node['name']}: fused ops {fused}")
    strides = _int_list(node, "strides")
    h, w, c, m = kernel.shape
    t = _padded_nchw(node, x, (h, w), 0.0)
    # output channel c * m + k reads input channel c (TF's channel multiplier)
    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w)))
    out = F.conv2d(t, weight, torch.from_numpy(bias), stride=(strides[1], strides[2]), groups=c)
    if "Relu" in fused:
        out = F.relu(out)
    return out.numpy().transpose(0, 2, 3, 1)


def _max_pool(node: dict, x: np.ndarray) -> np.ndarray:
    ksize, strides = _int_list(node, "ksize"), _int_list(node, "strides")
    t = _padded_nchw(node, x, (ksize[1], ksize[2]), -np.inf)
    out = F.max_pool2d(t, (ksize[1], ksize[2]), (strides[1], strides[2]))
    return out.numpy().transpose(0, 2, 3, 1)


def _strided_slice(node: dict, x: np.ndarray, begin, end, strides) -> np.ndarray:
    if _int_attr(node, "ellipsis_mask") or _int_attr(node, "new_axis_mask"):
        raise UnsupportedGraph(f"{node['name']}: ellipsis or new-axis slicing")
    begin_mask, end_mask = _int_attr(node, "begin_mask"), _int_attr(node, "end_mask")
    shrink = _int_attr(node, "shrink_axis_mask")
    index: list[int | slice] = []
    for axis, (b, e, s) in enumerate(zip(begin, end, strides)):
        if shrink >> axis & 1:
            index.append(int(b))
        else:
            index.append(slice(None if begin_mask >> axis & 1 else int(b),
                               None if end_mask >> axis & 1 else int(e), int(s)))
    return np.asarray(x[tuple(index)])


def _resize_bilinear(node: dict, x: np.ndarray, size: np.ndarray) -> np.ndarray:
    attrs = node.get("attr", {})
    if attrs.get("align_corners", {}).get("b") or not attrs.get("half_pixel_centers", {}).get("b"):
        raise UnsupportedGraph(f"{node['name']}: only half-pixel centres are evaluated")
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    # PyTorch's align_corners=False is TF's half_pixel_centers=True
    out = F.interpolate(t, size=tuple(_ints(size)), mode="bilinear", align_corners=False)
    return out.numpy().transpose(0, 2, 3, 1)


def _depth_to_space(node: dict, x: np.ndarray) -> np.ndarray:
    block = _int_attr(node, "block_size")
    n, h, w, c = x.shape
    # channel (row offset, column offset, channel) -> the block's pixel
    blocks = x.reshape(n, h, w, block, block, c // block**2).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h * block, w * block, c // block**2)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ints(value: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(value).ravel()]


# op -> f(node, inputs)
_OPS: dict[str, Callable[[dict, list], object]] = {
    "Identity": lambda n, a: a[0],
    "Cast": lambda n, a: a[0].astype(_TF_DTYPES[n["attr"]["DstT"]["type"]]),
    "Mul": lambda n, a: a[0] * a[1],
    "RealDiv": lambda n, a: a[0] / a[1],
    "Add": lambda n, a: a[0] + a[1],
    "AddV2": lambda n, a: a[0] + a[1],
    "AddN": lambda n, a: sum(a[1:], a[0]),
    "Sub": lambda n, a: a[0] - a[1],
    "Minimum": lambda n, a: np.minimum(a[0], a[1]),
    "Maximum": lambda n, a: np.maximum(a[0], a[1]),
    "Ceil": lambda n, a: np.ceil(a[0]),
    "Neg": lambda n, a: -a[0],
    "Relu": lambda n, a: np.maximum(a[0], 0),
    "Exp": lambda n, a: np.exp(a[0]),
    "Reciprocal": lambda n, a: 1 / a[0],
    "Shape": lambda n, a: np.array(a[0].shape, np.int32),
    "Size": lambda n, a: np.int32(a[0].size),
    "Unpack": lambda n, a: [np.take(a[0], k, axis=_int_attr(n, "axis"))
                            for k in range(a[0].shape[_int_attr(n, "axis")])],
    "Pack": lambda n, a: np.stack([np.asarray(v) for v in a], axis=_int_attr(n, "axis")),
    "Reshape": lambda n, a: a[0].reshape(_ints(a[1])),
    "ExpandDims": lambda n, a: np.expand_dims(a[0], int(a[1])),
    "Tile": lambda n, a: np.tile(a[0], _ints(a[1])),
    "Range": lambda n, a: np.arange(a[0], a[1], a[2]).astype(np.result_type(a[0], a[1])),
    "Fill": lambda n, a: np.full(_ints(a[0]), a[1]),
    "BroadcastTo": lambda n, a: np.broadcast_to(a[0], _ints(a[1])).copy(),
    "ConcatV2": lambda n, a: np.concatenate(a[:-1], axis=int(a[-1])),
    "Pad": lambda n, a: np.pad(a[0], np.asarray(a[1]).astype(int)),
    "Softmax": lambda n, a: _softmax(a[0]),
    "StridedSlice": lambda n, a: _strided_slice(n, *a),
    "_FusedConv2D": lambda n, a: _conv(n, *a),
    "MaxPool": lambda n, a: _max_pool(n, a[0]),
    "FusedDepthwiseConv2dNative": lambda n, a: _depthwise(n, *a),
    "ResizeBilinear": lambda n, a: _resize_bilinear(n, *a),
    "DepthToSpace": lambda n, a: _depth_to_space(n, a[0]),
}


class Graph:
    """A TF.js graph model (model.json with its weight shards beside it), ready to evaluate."""

    def __init__(self, model_json: Path) -> None:
        spec = json.loads(Path(model_json).read_text())
        self.nodes = {node["name"]: node for node in spec["modelTopology"]["node"]}
        self.weights = _read_weights(Path(model_json).parent, spec["weightsManifest"])

    def run(self, feeds: dict[str, np.ndarray], wanted: list[str]) -> list[np.ndarray]:
        """The values of `wanted` ("node" or "node:k") with the placeholders set by `feeds`."""
        values: dict[str, object] = {}

        def value_of(ref: str) -> np.ndarray:
            name, _, index = ref.partition(":")
            value = evaluate(name)
            return value[int(index or 0)] if isinstance(value, list) else value

        def evaluate(name: str) -> object:
            if name in values:
                return values[name]
            node = self.nodes[name]
            op = node["op"]
            if op == "Const":
                result: object = self.weights[name]
            elif op == "Placeholder":
                result = feeds[name]
            elif op in _OPS:
                args = [value_of(i) for i in node.get("input", []) if not i.startswith("^")]
                result = _OPS[op](node, args)
            else:
                raise UnsupportedGraph(f"op {op} ({name})")
            values[name] = result
            return result

        return [value_of(ref) for ref in wanted]
