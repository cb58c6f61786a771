"""The TF.js graph -> ONNX translator on a small graph built here: every supported op, NHWC
semantics (SAME padding's extra pixel at the end, channel-last flattening before a dense
layer), checked against a PyTorch reference through onnxruntime-node; unsupported ops refused."""

from __future__ import annotations

import base64
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dr2e_models.onnx_export import run_onnx
from dr2e_models.tfjs_graph_to_onnx import UnsupportedGraph, convert
from dr2e_models.tfjs_reference import Graph

from ._support import SeededTestCase, require_node


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _conv_attrs(stride: int, padding: str, fused: list[str] | None = None) -> dict:
    attrs = {
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "padding": {"s": _b64(padding)},
        "data_format": {"s": _b64("NHWC")},
        "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
    }
    if fused is not None:
        attrs["fused_ops"] = {"list": {"s": [_b64(op) for op in fused]}}
        attrs["num_args"] = {"i": "1"}
    return attrs


def _write_graph(folder: Path, stem: str, weights: dict[str, np.ndarray], nodes: list[dict],
                 outputs: list[str] | None = None) -> Path:
    """Write a TF.js graph model: `stem`.json naming `nodes` (and `outputs` as its signature's),
    the `weights` in one shard `stem`.bin; float16 weights are marked as TF.js marks them."""
    (folder / f"{stem}.bin").write_bytes(b"".join(np.ascontiguousarray(v).tobytes() for v in weights.values()))
    specs = []
    for name, value in weights.items():
        spec = {"name": name, "shape": list(value.shape), "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if value.dtype == np.float16:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        specs.append(spec)
    model: dict = {"format": "graph-model", "modelTopology": {"node": nodes},
                   "weightsManifest": [{"paths": [f"{stem}.bin"], "weights": specs}]}
    if outputs:
        model["signature"] = {"outputs": {name: {"name": f"{name}:0"} for name in outputs}}
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(model))
    return path


class SmallGraph:
    """A graph using every op the translator supports, its weights, and a PyTorch reference."""

    def __init__(self, rng: np.random.Generator) -> None:
        f32 = np.float32
        self.weights = {
            "mean": np.array([127.5], f32),
            "scale": np.array([1 / 128], f32),
            "pad": np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32),
            "conv1_w": (rng.standard_normal((3, 3, 3, 8)) * 0.3).astype(f32),  # HWIO
            "zero": np.array(0, f32),
            "alpha": (rng.random(8) * 0.3).astype(f32),
            "conv2_w": (rng.standard_normal((1, 1, 8, 8)) * 0.3).astype(f32),
            "conv2_b": (rng.standard_normal(8) * 0.1).astype(f32),
            "dw_w": (rng.standard_normal((3, 3, 8, 2)) * 0.3).astype(f32),  # H W C multiplier (2)
            "dw_b": (rng.standard_normal(16) * 0.1).astype(f32),
            "flat": np.array([-1, 4 * 4 * 16], np.int32),
            "dense": (rng.standard_normal((256, 5)) * 0.1).astype(f32),
            "bn_mul": (rng.random(5) + 0.5).astype(f32),
            "bn_add": (rng.standard_normal(5) * 0.1).astype(f32),
            "axis": np.array(1, np.int32),
            "eps": np.array(1e-10, f32),
        }
        nodes = [{"name": name, "op": "Const", "attr": {}} for name in self.weights]
        nodes += [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
                {"size": "-1"}, {"size": "15"}, {"size": "15"}, {"size": "3"}]}}}},
            {"name": "sub", "op": "Sub", "input": ["x", "mean"]},
            {"name": "mul", "op": "Mul", "input": ["sub", "scale"]},
            {"name": "padded", "op": "Pad", "input": ["mul", "pad"]},
            {"name": "conv1", "op": "Conv2D", "input": ["padded", "conv1_w"], "attr": _conv_attrs(2, "VALID")},
            # PReLU as graphs write it: max(0, x) + alpha * min(0, x)
            {"name": "pos", "op": "Maximum", "input": ["zero", "conv1"]},
            {"name": "neg", "op": "Minimum", "input": ["zero", "conv1"]},
            {"name": "scaled", "op": "Mul", "input": ["alpha", "neg"]},
            {"name": "prelu", "op": "AddV2", "input": ["pos", "scaled"]},
            {"name": "conv2", "op": "_FusedConv2D", "input": ["prelu", "conv2_w", "conv2_b"],
             "attr": _conv_attrs(1, "SAME", ["BiasAdd"])},
            {"name": "dw", "op": "FusedDepthwiseConv2dNative", "input": ["conv2", "dw_w", "dw_b"],
             "attr": _conv_attrs(2, "SAME", ["BiasAdd", "Relu"])},
            {"name": "abs", "op": "Abs", "input": ["dw"]},
            {"name": "res", "op": "Add", "input": ["abs", "dw"]},
            {"name": "flattened", "op": "Reshape", "input": ["res", "flat"]},
            {"name": "dense_out", "op": "MatMul", "input": ["flattened", "dense"],
             "attr": {"transpose_a": {"b": False}, "transpose_b": {"b": False}}},
            {"name": "bn1", "op": "Mul", "input": ["dense_out", "bn_mul"]},
            {"name": "bn2", "op": "AddV2", "input": ["bn1", "bn_add"]},
            {"name": "sq", "op": "Square", "input": ["bn2"]},
            {"name": "sum", "op": "Sum", "input": ["sq", "axis"], "attr": {"keep_dims": {"b": True}}},
            {"name": "clamped", "op": "Maximum", "input": ["sum", "eps"]},
            {"name": "inv", "op": "Rsqrt", "input": ["clamped"]},
            {"name": "embedding", "op": "Mul", "input": ["bn2", "inv"]},
        ]
        self.nodes = nodes

    def write(self, folder: Path) -> Path:
        return _write_graph(folder, "g", self.weights, self.nodes, ["embedding"])

    def reference(self, x: np.ndarray) -> np.ndarray:
        w = {k: torch.from_numpy(np.array(v)) for k, v in self.weights.items()}
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        t = (t - 127.5) / 128
        t = F.pad(t, (1, 1, 1, 1))
        t = F.conv2d(t, w["conv1_w"].permute(3, 2, 0, 1), stride=2)
        t = torch.clamp(t, min=0) + w["alpha"].view(1, -1, 1, 1) * torch.clamp(t, max=0)
        t = F.conv2d(t, w["conv2_w"].permute(3, 2, 0, 1), w["conv2_b"])
        # TF SAME, stride 2, 3x3 on 8 px: output 4, total padding 1, put after (SAME_UPPER)
        t = F.pad(t, (0, 1, 0, 1))
        # output channel c * 2 + m reads input channel c, as TF's depthwise multiplier does
        t = F.conv2d(t, w["dw_w"].permute(2, 3, 0, 1).reshape(16, 1, 3, 3), w["dw_b"], stride=2, groups=8)
        t = torch.relu(t)
        t = torch.abs(t) + t
        t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)  # channel-last flattening
        t = (t @ w["dense"]) * w["bn_mul"] + w["bn_add"]
        return (t / torch.sqrt(torch.clamp((t * t).sum(1, keepdim=True), min=1e-10))).numpy()


class CutGraph:
    """FaceBoxes' shapes in small: a scaling step before the cut, a convolution with CReLU
    (concatenated with its negation on the channels), SAME max pooling, weights stored float16;
    the ONNX graph starts after the scaling and hands out two named image tensors."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.weights = {
            "scale": np.array(1 / 255, np.float32),
            "conv_w": (rng.standard_normal((3, 3, 3, 4)) * 0.3).astype(np.float16),
            "conv_b": (rng.standard_normal(4) * 0.1).astype(np.float16),
            "axis": np.array(3, np.int32),
        }
        pool = {"ksize": {"list": {"i": ["1", "3", "3", "1"]}}, "strides": {"list": {"i": ["1", "2", "2", "1"]}},
                "padding": {"s": _b64("SAME")}}
        self.nodes = [{"name": name, "op": "Const", "attr": {}} for name in self.weights] + [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
                {"size": "-1"}, {"size": "-1"}, {"size": "-1"}, {"size": "3"}]}}}},
            {"name": "scaled", "op": "Mul", "input": ["x", "scale"]},
            {"name": "conv", "op": "_FusedConv2D", "input": ["scaled", "conv_w", "conv_b"],
             "attr": _conv_attrs(1, "SAME", ["BiasAdd"])},
            {"name": "neg", "op": "Neg", "input": ["conv"]},
            {"name": "crelu", "op": "ConcatV2", "input": ["conv", "neg", "axis"]},
            {"name": "pool", "op": "MaxPool", "input": ["crelu"], "attr": pool},
            {"name": "relu", "op": "Relu", "input": ["pool"]},
        ]

    def write(self, folder: Path) -> Path:
        return _write_graph(folder, "c", self.weights, self.nodes)

    def reference(self, scaled: np.ndarray) -> dict[str, np.ndarray]:
        t = torch.from_numpy(scaled).permute(0, 3, 1, 2)
        weight = torch.from_numpy(self.weights["conv_w"].astype(np.float32)).permute(3, 2, 0, 1)
        conv = F.conv2d(F.pad(t, (1, 1, 1, 1)), weight, torch.from_numpy(self.weights["conv_b"].astype(np.float32)))
        crelu = torch.cat([conv, -conv], 1)
        # TF SAME, 3x3 stride 2 on 7 px: output 4, total padding 2, one each side
        pooled = F.max_pool2d(F.pad(crelu, (1, 1, 1, 1), value=-np.inf), 3, 2)
        return {"pooled": pooled.permute(0, 2, 3, 1).numpy(), "out": torch.relu(pooled).permute(0, 2, 3, 1).numpy()}


class UpsamplingGraph:
    """MediaPipe's full-range face detector in small: a depthwise convolution, a bilinear
    upsampling to a constant size (half-pixel centres, as Keras' UpSampling2D writes it), added to
    a skip connection, and a head whose channels DepthToSpace turns into a finer grid."""

    def __init__(self, rng: np.random.Generator) -> None:
        f32 = np.float32
        self.weights = {
            "dw_w": (rng.standard_normal((3, 3, 3, 2)) * 0.3).astype(f32),
            "dw_b": (rng.standard_normal(6) * 0.1).astype(f32),
            "down_w": (rng.standard_normal((3, 3, 6, 8)) * 0.3).astype(f32),
            "down_b": (rng.standard_normal(8) * 0.1).astype(f32),
            "size": np.array([6, 6], np.int32),
            "skip_w": (rng.standard_normal((1, 1, 6, 8)) * 0.3).astype(f32),
            "skip_b": (rng.standard_normal(8) * 0.1).astype(f32),
        }
        self.nodes = [{"name": name, "op": "Const", "attr": {}} for name in self.weights] + [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
                {"size": "-1"}, {"size": "6"}, {"size": "6"}, {"size": "3"}]}}}},
            {"name": "dw", "op": "FusedDepthwiseConv2dNative", "input": ["x", "dw_w", "dw_b"],
             "attr": _conv_attrs(1, "SAME", ["BiasAdd", "Relu"])},
            {"name": "down", "op": "_FusedConv2D", "input": ["dw", "down_w", "down_b"],
             "attr": _conv_attrs(2, "SAME", ["BiasAdd", "Relu"])},
            {"name": "up", "op": "ResizeBilinear", "input": ["down", "size"],
             "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}}},
            {"name": "skip", "op": "_FusedConv2D", "input": ["dw", "skip_w", "skip_b"],
             "attr": _conv_attrs(1, "SAME", ["BiasAdd"])},
            {"name": "sum", "op": "AddV2", "input": ["up", "skip"]},
            {"name": "head", "op": "DepthToSpace", "input": ["sum"],
             "attr": {"block_size": {"i": "2"}, "data_format": {"s": _b64("NHWC")}}},
        ]

    def write(self, folder: Path) -> Path:
        return _write_graph(folder, "u", self.weights, self.nodes, ["head"])

    def reference(self, x: np.ndarray) -> np.ndarray:
        w = {k: torch.from_numpy(np.array(v)) for k, v in self.weights.items()}
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        dw = torch.relu(F.conv2d(F.pad(t, (1, 1, 1, 1)), w["dw_w"].permute(2, 3, 0, 1).reshape(6, 1, 3, 3),
                                 w["dw_b"], groups=3))
        # TF SAME, 3x3 stride 2 on an even side: total padding 1, put after
        down = torch.relu(F.conv2d(F.pad(dw, (0, 1, 0, 1)), w["down_w"].permute(3, 2, 0, 1), w["down_b"], stride=2))
        side = x.shape[1]
        up = F.interpolate(down, size=(side, side), mode="bilinear", align_corners=False)  # half-pixel centres
        summed = up + F.conv2d(dw, w["skip_w"].permute(3, 2, 0, 1), w["skip_b"])
        # TF's DepthToSpace: channel (row offset i, column offset j, channel c) -> pixel (2y+i, 2x+j)
        n, c = summed.shape[:2]
        nhwc = summed.permute(0, 2, 3, 1).reshape(n, side, side, 2, 2, c // 4).permute(0, 1, 3, 2, 4, 5)
        return nhwc.reshape(n, 2 * side, 2 * side, c // 4).numpy()


class TfjsGraphToOnnxTest(SeededTestCase):
    def test_upsamples_and_moves_depth_to_space_as_tf_does(self) -> None:
        require_node()
        graph = UpsamplingGraph(np.random.default_rng(7))
        x = np.random.default_rng(8).uniform(-1, 1, (2, 6, 6, 3)).astype(np.float32)
        with tempfile.TemporaryDirectory() as scratch:
            model_json = graph.write(Path(scratch))
            model = convert(model_json)
            onnx_file = Path(scratch) / "u.onnx"
            onnx_file.write_bytes(model.SerializeToString())
            out = run_onnx(onnx_file, {"x": x}, threads=1).outputs["head"]
            (evaluated,) = Graph(model_json).run({"x": x}, ["head"])
        expected = graph.reference(x)
        self.assertEqual(out.shape, (2, 12, 12, 2))
        np.testing.assert_allclose(out, expected, atol=2e-5)
        np.testing.assert_allclose(evaluated, expected, atol=2e-5)

    def test_any_size_opens_a_fully_convolutional_graph_to_other_sizes(self) -> None:
        require_node()
        graph = UpsamplingGraph(np.random.default_rng(7))
        with tempfile.TemporaryDirectory() as scratch:
            model = convert(graph.write(Path(scratch)), any_size=True)
            # the resizes are by a factor now: no size is computed from the input's shape
            self.assertFalse({"Shape", "Slice", "Concat"} & {n.op_type for n in model.graph.node})
            dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
            self.assertEqual(dims, ["batch", "height", "width", 3])
            onnx_file = Path(scratch) / "u.onnx"
            onnx_file.write_bytes(model.SerializeToString())
            for side in (6, 12, 18):
                x = np.random.default_rng(side).uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
                out = run_onnx(onnx_file, {"x": x}, threads=1).outputs["head"]
                self.assertEqual(out.shape, (1, 2 * side, 2 * side, 2))
                np.testing.assert_allclose(out, graph.reference(x), atol=2e-5)

    def test_any_size_refuses_a_resize_of_an_input_of_unknown_size(self) -> None:
        graph = UpsamplingGraph(np.random.default_rng(0))
        graph.nodes[len(graph.weights)]["attr"]["shape"]["shape"]["dim"][1:3] = [{"size": "-1"}, {"size": "-1"}]
        with tempfile.TemporaryDirectory() as scratch:
            with self.assertRaisesRegex(UnsupportedGraph, "whose size is not known"):
                convert(graph.write(Path(scratch)), any_size=True)

    def test_refuses_a_resize_it_would_get_wrong(self) -> None:
        graph = UpsamplingGraph(np.random.default_rng(0))
        graph.nodes[-4]["attr"]["align_corners"] = {"b": True}
        with tempfile.TemporaryDirectory() as scratch:
            with self.assertRaisesRegex(UnsupportedGraph, "aligned corners"):
                convert(graph.write(Path(scratch)))

    def test_cuts_a_graph_between_named_nodes(self) -> None:
        require_node()
        graph = CutGraph(np.random.default_rng(5))
        x = np.random.default_rng(6).uniform(0, 255, (1, 7, 7, 3)).astype(np.float32)
        scaled = x * np.float32(1 / 255)
        with tempfile.TemporaryDirectory() as scratch:
            model_json = graph.write(Path(scratch))
            model = convert(model_json, input_at="image=scaled", outputs=["pooled=pool", "out=relu"])
            self.assertEqual([i.name for i in model.graph.input], ["image"])
            self.assertEqual([o.name for o in model.graph.output], ["pooled", "out"])
            # the scaling before the cut is not in the ONNX graph
            self.assertNotIn("Mul", [n.op_type for n in model.graph.node])
            onnx_file = Path(scratch) / "c.onnx"
            onnx_file.write_bytes(model.SerializeToString())
            outputs = run_onnx(onnx_file, {"image": scaled}, threads=1).outputs
            # the original graph evaluated op by op, from its placeholder
            pooled, out = Graph(model_json).run({"x": x}, ["pool", "relu"])
        expected = graph.reference(scaled)
        self.assertEqual(outputs["out"].shape, (1, 4, 4, 8))
        for name in ("pooled", "out"):
            np.testing.assert_allclose(outputs[name], expected[name], atol=2e-5)
        np.testing.assert_allclose(pooled, expected["pooled"], atol=2e-5)
        np.testing.assert_allclose(out, expected["out"], atol=2e-5)

    def test_refuses_a_cut_its_outputs_do_not_reach(self) -> None:
        graph = CutGraph(np.random.default_rng(0))
        with tempfile.TemporaryDirectory() as scratch:
            model_json = graph.write(Path(scratch))
            with self.assertRaisesRegex(UnsupportedGraph, "do not depend on conv"):
                convert(model_json, input_at="conv", outputs=["scaled"])
            with self.assertRaisesRegex(UnsupportedGraph, "no node missing"):
                convert(model_json, outputs=["missing"])

    def test_matches_a_pytorch_reference(self) -> None:
        require_node()
        graph = SmallGraph(np.random.default_rng(3))
        x = np.random.default_rng(4).uniform(0, 255, (2, 15, 15, 3)).astype(np.float32)
        with tempfile.TemporaryDirectory() as scratch:
            model = convert(graph.write(Path(scratch)))
            onnx_file = Path(scratch) / "g.onnx"
            onnx_file.write_bytes(model.SerializeToString())
            out = run_onnx(onnx_file, {"x": x}, threads=1).outputs["embedding"]
        np.testing.assert_allclose(out, graph.reference(x), atol=2e-5)
        self.assertEqual(out.shape, (2, 5))

    def test_refuses_an_unsupported_op(self) -> None:
        graph = SmallGraph(np.random.default_rng(0))
        graph.nodes.append({"name": "odd", "op": "Softmax", "input": ["embedding"]})
        with tempfile.TemporaryDirectory() as scratch:
            with self.assertRaisesRegex(UnsupportedGraph, "op Softmax"):
                convert(graph.write(Path(scratch)))

    def test_refuses_a_layers_model(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "m.json"
            path.write_text(json.dumps({"format": "layers-model"}))
            with self.assertRaisesRegex(UnsupportedGraph, "expected 'graph-model'"):
                convert(path)

    def test_refuses_a_weight_file_of_the_wrong_length(self) -> None:
        graph = SmallGraph(np.random.default_rng(0))
        with tempfile.TemporaryDirectory() as scratch:
            path = graph.write(Path(scratch))
            weights = Path(scratch) / "g.bin"
            whole = weights.read_bytes()
            for wrong in (whole + b"\0\0\0\0", whole[:-8]):
                weights.write_bytes(wrong)
                with self.assertRaisesRegex(UnsupportedGraph, "weight shard holds"):
                    convert(path)

    def test_refuses_layouts_it_would_get_wrong(self) -> None:
        reshape = {"name": "odd", "op": "Reshape", "input": ["res", "shape4"]}
        scale = {"name": "odd", "op": "Mul", "input": ["res", "shape4"]}
        for node, const, message in (
            (reshape, np.array([-1, 4, 4, 16], np.int32), "reshape"),
            (scale, np.ones((1, 1, 1, 16), np.float32), "applied to an image"),
        ):
            graph = SmallGraph(np.random.default_rng(0))
            graph.weights["shape4"] = const
            graph.nodes.insert(len(graph.weights) - 1, {"name": "shape4", "op": "Const", "attr": {}})
            graph.nodes.append(node)
            with tempfile.TemporaryDirectory() as scratch:
                with self.assertRaisesRegex(UnsupportedGraph, message):
                    convert(graph.write(Path(scratch)))


if __name__ == "__main__":
    unittest.main()
