"""The JSON manifests the engine reads beside every ONNX file.

They follow the zod schema in ``gpu-task/src/engine/model/manifest.ts`` (schema version 1):
a denoiser or enhancer manifest per ONNX file and a pipeline manifest naming both.

A graph saved with ONNX external data keeps its weights in side files (``denoiser.onnx.data``)
that the ``.onnx`` names by relative path. The ``.onnx`` file's ``sha256`` says nothing about
them, so a manifest lists each under ``externalData`` with its own ``sha256``
(:func:`external_data_entries`); the engine refuses a checksummed manifest whose graph reads a
side file it does not list.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import onnx
from onnx import external_data_helper

__all__ = [
    "SCHEMA_VERSION",
    "LICENSES",
    "FRAMINGS",
    "sha256_file",
    "external_data_locations",
    "external_data_entries",
    "denoiser_manifest",
    "enhancer_manifest",
    "pipeline_manifest",
    "write_json",
]

SCHEMA_VERSION = 1

#: Licence presets for the weights (``--license`` in export.py).
LICENSES: dict[str, dict[str, Any]] = {
    "ffhq-nc": {
        "name": "CC BY-NC-SA 4.0",
        "url": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
        "commercialUse": False,
        "notes": "Weights trained on FFHQ (CC BY-NC-SA 4.0 images): non-commercial use only. "
        "The DR2 / SPARNet code licences (MIT) do not extend to the FFHQ-derived weights.",
    },
    "utkface-nc": {
        "name": "UTKFace non-commercial research",
        "commercialUse": False,
        "notes": "Trained on UTKFace (non-commercial research use only): a demonstration default.",
    },
    "mit-test": {
        "name": "MIT",
        "commercialUse": True,
        "notes": "Random weights for tests only; they restore nothing.",
    },
}

#: Face framings, as fractions of the image side (eye distance, eye line, mouth centre).
#: FFHQ: the 5-point template widely used for FFHQ-aligned 512x512 crops (eyes at
#: (193.0, 239.9) and (318.9, 240.2), mouth corners at (201.3, 371.4) and (313.1, 371.2)).
FRAMINGS: dict[str, dict[str, Any]] = {
    "ffhq": {"name": "ffhq", "eyeDistance": 0.2459, "eyeY": 0.4688, "mouthY": 0.7252},
}


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks (ONNX files reach hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    # Initializers, sparse initializers and tensor attributes, subgraphs (If / Loop bodies)
    # included: every place a TensorProto can keep its data outside the file.
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in [*([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []),
                       *attribute.sparse_tensors]:
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _graph_tensors(attribute.g)
        for subgraph in attribute.graphs:
            yield from _graph_tensors(subgraph)


def external_data_locations(model: str | Path | onnx.ModelProto) -> list[str]:
    """Side files a graph reads its weights from, as written in it (relative to its folder).

    ``model`` is an ``.onnx`` path (only that file is read: ``load_external_data=False``) or a
    loaded model. A tensor counts when its ``data_location`` is ``EXTERNAL``, as onnxruntime and
    ``onnx.external_data_helper`` judge it. The engine's loader finds the same list by scanning
    the protobuf (``gpu-task/src/engine/model/load-manifest.ts``).
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    tensors: list[onnx.TensorProto] = list(_graph_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_node_tensors(node))
    for info in model.training_info:
        tensors.extend(_graph_tensors(info.initialization))
        tensors.extend(_graph_tensors(info.algorithm))
    locations: list[str] = []
    for tensor in tensors:
        if external_data_helper.uses_external_data(tensor):
            location = external_data_helper.ExternalDataInfo(tensor).location
            if location not in locations:
                locations.append(location)
    return locations


def external_data_entries(onnx_path: str | Path, manifest_dir: str | Path) -> list[dict[str, str]]:
    """The manifest's ``externalData`` for a graph: ``[{"path", "sha256"}]``, paths relative to
    ``manifest_dir`` (like ``file``), in the order the graph first names them.

    :raises FileNotFoundError: naming a side file the graph references that is not there.
    """
    onnx_path = Path(onnx_path)
    entries = []
    for location in external_data_locations(onnx_path):
        side_file = onnx_path.parent / location
        if not side_file.is_file():
            raise FileNotFoundError(
                f"{onnx_path} keeps weights in the external data file {location!r}, but {side_file} does not exist"
            )
        relative = Path(os.path.relpath(side_file, manifest_dir)).as_posix()
        entries.append({"path": relative, "sha256": sha256_file(side_file)})
    return entries


def _common(
    name: str,
    file: str,
    license: Mapping[str, Any],
    provenance: Mapping[str, Any],
    description: str | None,
    framing: Mapping[str, Any] | None,
    external_data: list[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "name": name}
    if description:
        data["description"] = description
    data["file"] = file
    if external_data:
        data["externalData"] = [dict(entry) for entry in external_data]
    data.update({"layout": "NCHW", "colorOrder": "RGB", "valueRange": [-1, 1]})
    if framing:
        data["framing"] = dict(framing)
    data["license"] = dict(license)
    data["provenance"] = dict(provenance)
    return data


def denoiser_manifest(
    *,
    name: str,
    file: str,
    resolution: int,
    output_channels: int,
    beta_schedule: str,
    num_timesteps: int,
    license: Mapping[str, Any],
    provenance: Mapping[str, Any],
    description: str | None = None,
    framing: Mapping[str, Any] | None = None,
    io: Mapping[str, str] | None = None,
    variance: str | None = None,
    external_data: list[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Manifest of a denoiser: ``x`` [B,3,S,S] float32 + ``t`` [B] int64 -> ``out`` [B,3|6,S,S].

    ``variance`` defaults to ``learned_range`` for 6 channels and, for 3, to ``fixed_large``
    (guided-diffusion's default when sigma is not learned, ``sigma_small=False``).
    ``external_data`` is the graph's side files (:func:`external_data_entries`), if any.
    """
    if output_channels not in (3, 6):
        raise ValueError("a denoiser outputs 3 (noise) or 6 (noise + learned-range variance) channels")
    if variance is None:
        variance = "learned_range" if output_channels == 6 else "fixed_large"
    if (variance == "learned_range") != (output_channels == 6):
        raise ValueError(f"variance {variance!r} does not fit {output_channels} output channels")
    data = _common(name, file, license, provenance, description, framing, external_data)
    data.update(
        {
            "role": "denoiser",
            "resolution": resolution,
            "io": dict(io or {"image": "x", "timestep": "t", "output": "out"}),
            "timestepType": "int64",
            "channels": {"input": 3, "output": output_channels},
            "variance": variance,
            "schedule": {"betaSchedule": beta_schedule, "numTimesteps": num_timesteps},
        }
    )
    return _ordered(data)


def enhancer_manifest(
    *,
    name: str,
    file: str,
    input_size: int,
    output_size: int,
    license: Mapping[str, Any],
    provenance: Mapping[str, Any],
    description: str | None = None,
    framing: Mapping[str, Any] | None = None,
    io: Mapping[str, str] | None = None,
    external_data: list[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Manifest of an enhancer: ``input`` [B,3,H,W] in [-1,1] -> ``output`` [B,3,H',W']."""
    data = _common(name, file, license, provenance, description, framing, external_data)
    data.update(
        {
            "role": "enhancer",
            "io": dict(io or {"image": "input", "output": "output"}),
            "channels": {"input": 3, "output": 3},
            "inputSize": input_size,
            "outputSize": output_size,
        }
    )
    return _ordered(data)


def pipeline_manifest(
    *,
    name: str,
    denoiser: str,
    enhancer: str | None,
    description: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    presets: Mapping[str, Mapping[str, int]] | None = None,
    face_upsampler: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Manifest naming a denoiser manifest, an optional enhancer manifest and optional face upsampler
    banks (``{"x2": ..., "x4": ...}``; all paths relative to the pipeline), with the model's own values
    of fixed presets if any (``{"medium": {"n": 4, "tau": 22}}``)."""
    data: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "role": "pipeline", "name": name}
    if description:
        data["description"] = description
    data["denoiser"] = denoiser
    data["enhancer"] = enhancer
    if defaults:
        data["defaults"] = dict(defaults)
    if presets:
        data["presets"] = {name: dict(values) for name, values in presets.items()}
    if face_upsampler:
        data["faceUpsampler"] = dict(face_upsampler)
    return data


_KEY_ORDER = [
    "schemaVersion", "role", "name", "description", "file", "externalData", "resolution", "inputSize", "outputSize",
    "io", "timestepType", "channels", "variance", "schedule", "layout", "colorOrder", "valueRange", "framing",
    "license", "provenance",
]


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    # A stable, readable key order (role and name first, provenance last).
    return {key: data[key] for key in _KEY_ORDER if key in data} | {
        key: value for key, value in data.items() if key not in _KEY_ORDER
    }


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write pretty JSON with a trailing newline; NaN and infinities are refused (not JSON)."""
    Path(path).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
