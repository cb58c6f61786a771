"""The JSON manifests the engine reads beside every ONNX file.

They follow the zod schema in ``gpu-task/src/engine/model/manifest.ts`` (schema version 1):
a denoiser or enhancer manifest per ONNX file and a pipeline manifest naming both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "SCHEMA_VERSION",
    "LICENSES",
    "FRAMINGS",
    "sha256_file",
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


def _common(
    name: str,
    file: str,
    license: Mapping[str, Any],
    provenance: Mapping[str, Any],
    description: str | None,
    framing: Mapping[str, Any] | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "name": name}
    if description:
        data["description"] = description
    data.update({"file": file, "layout": "NCHW", "colorOrder": "RGB", "valueRange": [-1, 1]})
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
) -> dict[str, Any]:
    """Manifest of a denoiser: ``x`` [B,3,S,S] float32 + ``t`` [B] int64 -> ``out`` [B,3|6,S,S].

    ``variance`` defaults to ``learned_range`` for 6 channels and, for 3, to ``fixed_large``
    (guided-diffusion's default when sigma is not learned, ``sigma_small=False``).
    """
    if output_channels not in (3, 6):
        raise ValueError("a denoiser outputs 3 (noise) or 6 (noise + learned-range variance) channels")
    if variance is None:
        variance = "learned_range" if output_channels == 6 else "fixed_large"
    if (variance == "learned_range") != (output_channels == 6):
        raise ValueError(f"variance {variance!r} does not fit {output_channels} output channels")
    data = _common(name, file, license, provenance, description, framing)
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
) -> dict[str, Any]:
    """Manifest of an enhancer: ``input`` [B,3,H,W] in [-1,1] -> ``output`` [B,3,H',W']."""
    data = _common(name, file, license, provenance, description, framing)
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
) -> dict[str, Any]:
    """Manifest naming a denoiser manifest and an optional enhancer manifest (relative paths)."""
    data: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "role": "pipeline", "name": name}
    if description:
        data["description"] = description
    data["denoiser"] = denoiser
    data["enhancer"] = enhancer
    if defaults:
        data["defaults"] = dict(defaults)
    return data


_KEY_ORDER = [
    "schemaVersion", "role", "name", "description", "file", "resolution", "inputSize", "outputSize", "io",
    "timestepType", "channels", "variance", "schedule", "layout", "colorOrder", "valueRange", "framing",
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
