"""Write the ``pipeline.json`` that names a denoiser manifest and an optional enhancer manifest.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.make_pipeline --dir gpu-task/models/dr2-ffhq --name dr2-ffhq \
        [--denoiser denoiser.json] [--enhancer enhancer.json | --no-enhancer] [--preset auto] [--steps 100] \
        [--preset-values medium=4,22]

Before writing, it checks what it cheaply can, so that a half-copied or mismatched model folder
is caught here rather than when the engine starts (exit status 3, every problem listed):

* each manifest exists, is JSON, has the right role, every required field and no unknown one
  (the engine refuses misspelt keys), ``schemaVersion`` 1, and every value the engine's schema
  accepts (enums, ranges, sizes, the variance against the output channels, framing, licence);
* its ONNX file exists and matches the recorded SHA-256;
* every external-data side file the graph references exists, is listed under ``externalData``
  when the manifest records a ``sha256`` (with the exact entry to add when it is not), and every
  listed one matches its SHA-256;
* the graph's inputs and outputs carry the manifest's ``io`` names, element types and static
  sizes (``resolution``, ``inputSize``/``outputSize``, channels) and a dynamic batch axis.
* the two manifests and the pipeline's settings fit each other: ``--steps`` at most the
  denoiser's training timesteps, every ``--preset-values`` N dividing its resolution, and an
  enhancer of the denoiser's face framing (the engine frames faces as the denoiser says); a
  missing enhancer manifest is named with ``--no-enhancer``, for a DR2-only pipeline.

The engine validates everything again when it loads the models (manifest schema:
``gpu-task/src/engine/model/manifest.ts``); what only a run shows (NaN outputs, sizes of
dynamic graphs) is left to it.

``--preset`` names the pipeline's default DR2 setting. ``auto`` (the engine's default when none
is named) chooses (N, tau) and the fusion with the input per face from its estimated degradation;
``mild``, ``medium`` and ``severe`` are scale-aware: each is a low-pass cut-off relative to the
face (64, 32, 16 px) and a tau on the K = 100 grid, translated to the model's resolution by the
engine, so one name means the same on a 64-px and a 512-px model (docs/quality/README.md). The
names are those of ``PRESETS`` in shared/src/schemas.ts; the engine validates the file again when
it loads it. ``--preset-values NAME=N,TAU`` (repeatable) gives a fixed preset this model's own N
and tau (K = 100 grid) where it was measured to need others than the scale-aware ones.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto

from .manifest import external_data_locations, pipeline_manifest, sha256_file, write_json

#: DR2 preset names the engine accepts (shared/src/schemas.ts ``PRESETS``).
PRESETS = ("auto", "mild", "medium", "severe")

#: Top-level manifest fields per role, as the engine's zod schema declares them
#: (gpu-task/src/engine/model/manifest.ts; test/models/make-pipeline-fields.test.ts keeps the two equal).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "denoiser": ("schemaVersion", "role", "name", "file", "resolution", "io", "channels", "variance", "schedule",
                 "license", "provenance"),
    "enhancer": ("schemaVersion", "role", "name", "file", "io", "channels", "inputSize", "outputSize", "license",
                 "provenance"),
}
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "denoiser": ("description", "externalData", "layout", "colorOrder", "valueRange", "framing", "timestepType"),
    "enhancer": ("description", "externalData", "layout", "colorOrder", "valueRange", "framing"),
}
#: Tensor names each role's ``io`` object must give.
IO_NAMES = {"denoiser": ("image", "timestep", "output"), "enhancer": ("image", "output")}
TIMESTEP_TYPES = ("int64", "int32", "float32")
VARIANCES = ("learned_range", "fixed_small", "fixed_large")
BETA_SCHEDULES = ("linear", "cosine")

_TYPE_NAMES = {TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64", TensorProto.FLOAT16: "float16"}


def _is_int(value: Any) -> bool:
    # JSON's 64.0 is the engine's 64 (a JavaScript number): whole floats count.
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problems(path: Path, manifest: dict[str, Any], role: str) -> list[str]:
    """Fields the engine's schema would refuse, checked before anything reads the graph."""
    problems = []
    missing = [key for key in REQUIRED_FIELDS[role] if key not in manifest]
    if missing:
        problems.append(f"{path} lacks the required field(s) {', '.join(missing)} of a {role} manifest "
                        "(README.md, 'The model contract')")
    known = set(REQUIRED_FIELDS[role]) | set(OPTIONAL_FIELDS[role])
    unknown = [key for key in manifest if key not in known]
    if unknown:
        problems.append(f"{path} has unknown field(s) {', '.join(unknown)} (misspelt? the engine refuses them); "
                        f"a {role} manifest has {', '.join(sorted(known))}")
    if "schemaVersion" in manifest and manifest["schemaVersion"] != 1:
        problems.append(f"{path} has schemaVersion {manifest['schemaVersion']!r}, the engine reads 1")
    return problems + _value_problems(path, manifest, role)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any, longest: int | None = None) -> bool:
    return isinstance(value, str) and len(value) > 0 and (longest is None or len(value) <= longest)


def _value_problems(path: Path, manifest: dict[str, Any], role: str) -> list[str]:
    """
    Values of the present fields that the engine's schema refuses (gpu-task/src/engine/model/
    manifest.ts), rule for rule; test/models/make-pipeline-fields.test.ts feeds both the same
    broken manifests.
    """
    problems = []

    def check(key: str, ok: bool, want: str) -> None:
        if key in manifest and not ok:
            problems.append(f"{path}: {key} must be {want}, got {json.dumps(manifest[key])}")

    def int_in(key: str, low: int, high: int) -> None:
        value = manifest.get(key)
        check(key, _is_int(value) and low <= value <= high, f"a whole number from {low} to {high}")

    get = manifest.get
    check("name", _is_text(get("name"), 128), "a non-empty string of at most 128 characters")
    check("description", isinstance(get("description"), str), "a string")
    check("file", _is_text(get("file")), "the ONNX file's path, relative to the manifest")
    check("layout", get("layout") == "NCHW", '"NCHW" (the only layout the engine feeds)')
    check("colorOrder", get("colorOrder") == "RGB", '"RGB" (the only channel order the engine feeds)')
    value_range = get("valueRange")
    range_ok = (isinstance(value_range, list) and len(value_range) == 2 and all(map(_is_number, value_range))
                and value_range[0] < value_range[1])
    if role == "denoiser":
        check("valueRange", range_ok and value_range == [-1, 1],
              "[-1, 1] (the DDPM space DR2 diffuses in; re-export the denoiser for that range)")
    else:
        check("valueRange", range_ok, "[low, high] with low < high")
    io = get("io")
    names_ok = isinstance(io, dict) and all(_is_text(io.get(key), 128) for key in IO_NAMES[role])
    check("io", names_ok, "{" + ", ".join(f'"{key}": <tensor name>' for key in IO_NAMES[role]) + "}")
    license_ = get("license")
    check("license", isinstance(license_, dict) and _is_text(license_.get("name"))
          and isinstance(license_.get("commercialUse"), bool)
          and ("url" not in license_ or _is_url(license_["url"]))
          and isinstance(license_.get("notes", ""), str),
          '{"name": "...", "commercialUse": true|false} (with an optional "url", a full URL, and "notes")')
    provenance = get("provenance")
    check("provenance", isinstance(provenance, dict) and _provenance_ok(provenance),
          '{"source": "<where the weights came from>", ...} (converter, createdAt and recipe strings, sha256 '
          '64 hex digits, parityMaxAbsError >= 0, architecture an object)')
    external = get("externalData")
    check("externalData", isinstance(external, list) and all(
        isinstance(entry, dict) and set(entry) == {"path", "sha256"} and _is_text(entry["path"])
        and _is_sha256(entry["sha256"]) for entry in external),
        '[{"path": "<side file>", "sha256": "<64 hex digits>"}, ...]')
    framing = get("framing")
    check("framing", _framing_ok(framing),
          '{"name", "eyeDistance" in (0, 1], "eyeY" and "mouthY" in [0, 1], optional "landmarks": '
          "five [x, y] pairs in [-0.5, 1.5]}")
    channels = get("channels")
    if role == "denoiser":
        int_in("resolution", 8, 4096)
        check("channels", isinstance(channels, dict) and channels.get("input") == 3
              and channels.get("output") in (3, 6) and not isinstance(channels.get("output"), bool),
              '{"input": 3, "output": 3 or 6}')
        check("variance", get("variance") in VARIANCES, " or ".join(f'"{v}"' for v in VARIANCES))
        if (get("variance") in VARIANCES and isinstance(channels, dict)
                and (get("variance") == "learned_range") != (channels.get("output") == 6)):
            problems.append(f"{path}: variance {json.dumps(get('variance'))} does not fit "
                            f"{json.dumps(channels.get('output'))} output channels (learned_range needs 6, "
                            "fixed_small and fixed_large need 3)")
        check("timestepType", get("timestepType") in TIMESTEP_TYPES, " or ".join(f'"{t}"' for t in TIMESTEP_TYPES))
        schedule = get("schedule")
        check("schedule", isinstance(schedule, dict) and schedule.get("betaSchedule") in BETA_SCHEDULES
              and _is_int(schedule.get("numTimesteps")) and 2 <= schedule["numTimesteps"] <= 100_000,
              '{"betaSchedule": "linear" or "cosine", "numTimesteps": 2 to 100000}')
    else:
        int_in("inputSize", 8, 4096)
        int_in("outputSize", 8, 8192)
        if _is_int(get("inputSize")) and _is_int(get("outputSize")) and get("outputSize") < get("inputSize"):
            problems.append(f"{path}: outputSize {get('outputSize')} must be at least inputSize {get('inputSize')}")
        check("channels", isinstance(channels, dict) and channels.get("input") == 3 and channels.get("output") == 3
              and not any(isinstance(channels.get(key), bool) for key in ("input", "output")),
              '{"input": 3, "output": 3}')
    return problems


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/]+", value) is not None


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _provenance_ok(provenance: dict[str, Any]) -> bool:
    if not _is_text(provenance.get("source")):
        return False
    if not all(isinstance(provenance.get(key, ""), str) for key in ("converter", "createdAt", "recipe")):
        return False
    if "sha256" in provenance and not _is_sha256(provenance["sha256"]):
        return False
    error = provenance.get("parityMaxAbsError", 0)
    if not (_is_number(error) and error >= 0):
        return False
    return isinstance(provenance.get("architecture", {}), dict)


def _framing_ok(framing: Any) -> bool:
    if not (isinstance(framing, dict) and _is_text(framing.get("name"))):
        return False
    eye_distance, eye_y, mouth_y = (framing.get(key) for key in ("eyeDistance", "eyeY", "mouthY"))
    if not (_is_number(eye_distance) and 0 < eye_distance <= 1):
        return False
    if not all(_is_number(y) and 0 <= y <= 1 for y in (eye_y, mouth_y)):
        return False
    landmarks = framing.get("landmarks")
    return landmarks is None or (
        isinstance(landmarks, list) and len(landmarks) == 5
        and all(isinstance(point, list) and len(point) == 2
                and all(_is_number(c) and -0.5 <= c <= 1.5 for c in point) for point in landmarks)
    )


def _recorded_sha256(manifest: dict[str, Any]) -> Any:
    """The manifest's ``provenance.sha256``, or None (also for a provenance _value_problems refuses)."""
    provenance = manifest.get("provenance")
    return provenance.get("sha256") if isinstance(provenance, dict) else None


def _external_data_problems(path: Path, manifest: dict[str, Any], onnx_file: Path,
                            model: onnx.ModelProto) -> list[str]:
    """Side files (ONNX external data) the graph reads, against the manifest's ``externalData``."""
    problems = []
    referenced = {(onnx_file.parent / location).resolve(): location for location in external_data_locations(model)}
    entries = manifest.get("externalData")
    listed = {}
    # Malformed entries are reported by _value_problems; the well-formed ones are checked here.
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and all(isinstance(entry.get(key), str) for key in ("path", "sha256")):
            listed[(path.parent / entry["path"]).resolve()] = entry
    for side_file, location in referenced.items():
        if not side_file.is_file():
            problems.append(f"{onnx_file} keeps weights in the external data file {location!r}, but {side_file} "
                            "does not exist: copy it beside the graph")
        elif side_file not in listed and _recorded_sha256(manifest):
            entry = {"path": Path(os.path.relpath(side_file, path.parent)).as_posix(), "sha256": "<its sha256>"}
            problems.append(f"{path} records a sha256 for {onnx_file.name} but does not list the external data "
                            f"file {location!r} its graph reads, which would load unverified: add "
                            f"\"externalData\": [{json.dumps(entry)}] with the hash taken where the model was "
                            f"exported (this copy's is {sha256_file(side_file)}), or re-export with "
                            "dr2e_models.export, which lists side files")
    for side_file, entry in listed.items():
        if side_file not in referenced:
            problems.append(f"{path} lists the external data file {entry['path']!r}, which its graph does not "
                            "reference: the manifest and the graph do not belong together")
        elif side_file.is_file() and sha256_file(side_file) != entry["sha256"]:
            problems.append(f"{side_file} does not match the sha256 recorded for it in {path}")
    return problems


def _dims(value: onnx.ValueInfoProto) -> list[int | str] | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?") for dim in tensor_type.shape.dim]


def _type_name(value: onnx.ValueInfoProto) -> str:
    elem = value.type.tensor_type.elem_type
    return _TYPE_NAMES.get(elem) or TensorProto.DataType.Name(elem).lower()


def _graph_problems(path: Path, manifest: dict[str, Any], role: str, model: onnx.ModelProto) -> list[str]:
    """The graph's inputs and outputs against the manifest, as the engine's contract check sees them
    (gpu-task/src/engine/model/contract.ts), without running it."""
    io = manifest["io"]
    if role == "denoiser":
        side = manifest["resolution"]
        inputs = [(io["image"], "float32", [None, 3, side, side]),
                  (io["timestep"], manifest.get("timestepType", "int64"), [None])]
        outputs = [(io["output"], "float32", [None, manifest["channels"]["output"], side, side])]
    else:
        inputs = [(io["image"], "float32", [None, 3, manifest["inputSize"], manifest["inputSize"]])]
        outputs = [(io["output"], "float32", [None, 3, manifest["outputSize"], manifest["outputSize"]])]
    axes = {1: ["batch"], 4: ["batch", "channels", "height", "width"]}
    initializers = {init.name for init in model.graph.initializer}
    # Old exporters list weights as graph inputs too; onnxruntime does not ask for those.
    graph_inputs = {value.name: value for value in model.graph.input if value.name not in initializers}
    # Exporters often declare output sizes as symbols (torch names them after the last op); shape
    # inference usually finds the numbers, which is what catches a wrong outputSize here.
    try:
        outputs_model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference is best effort (unknown ops); the engine checks at warm-up
        outputs_model = model
    graph_outputs = {value.name: value for value in outputs_model.graph.output}
    problems = []

    def check(kind: str, available: dict[str, onnx.ValueInfoProto], name: str, type_name: str,
              want: list[int | None]) -> None:
        if name not in available:
            names = ", ".join(f'"{n}"' for n in available) or "none"
            problems.append(f'missing {kind} "{name}" named by io (the graph\'s {kind}s are: {names})')
            return
        got_type = _type_name(available[name])
        if got_type != type_name:
            problems.append(f'{kind} "{name}" has type {got_type}, the manifest needs {type_name}')
        dims = _dims(available[name])
        if dims is None:
            return
        if len(dims) != len(want):
            problems.append(f'{kind} "{name}" has rank {len(dims)} {dims}, the contract needs rank {len(want)} '
                            f"[{', '.join(axes[len(want)])}]")
            return
        for axis, (got, wanted) in enumerate(zip(dims, want)):
            label = axes[len(want)][axis]
            if label == "batch" and isinstance(got, int) and got > 0:
                problems.append(f'{kind} "{name}" has a fixed batch of {got}; the engine needs a dynamic batch '
                                "axis: re-export with one (models/dr2e_models/export.py does)")
            elif wanted is not None and isinstance(got, int) and got > 0 and got != wanted:
                problems.append(f'{kind} "{name}" has {label} = {got}, the manifest says {wanted} (shape {dims})')

    for name, type_name, want in inputs:
        check("input", graph_inputs, name, type_name, want)
    for name, type_name, want in outputs:
        check("output", graph_outputs, name, type_name, want)
    extra = [name for name in graph_inputs if name not in {name for name, _, _ in inputs}]
    if extra:
        problems.append(f"unexpected extra inputs the engine cannot feed: {', '.join(extra)}")
    return [f"{path}: the graph does not fit the manifest: {problem}" for problem in problems]


def _check(folder: Path, manifest_name: str, role: str) -> list[str]:
    path = folder / manifest_name
    if not path.is_file():
        return [f"{path} does not exist"]
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        return [f"{path} is not valid JSON: {error}"]
    if not isinstance(manifest, dict):
        return [f"{path} is not a JSON object"]
    if manifest.get("role") != role:
        return [f"{path} has role {manifest.get('role')!r}, expected {role!r}"]
    problems = _field_problems(path, manifest, role)
    # The engine resolves a manifest's `file` beside the manifest itself, wherever it lies.
    onnx_file = path.parent / str(manifest.get("file", ""))
    if not onnx_file.is_file():
        return [*problems, f"{path} names {onnx_file}, which does not exist"]
    if _recorded_sha256(manifest) not in (None, sha256_file(onnx_file)):
        problems.append(f"{onnx_file} does not match the sha256 recorded in {path}")
    try:
        model = onnx.load(str(onnx_file), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf raises several kinds for a file that is not ONNX
        return [*problems, f"{onnx_file} is not an ONNX graph: {error}"]
    problems += _external_data_problems(path, manifest, onnx_file, model)
    if not problems:  # the graph check reads the fields checked above
        problems += _graph_problems(path, manifest, role, model)
    return problems


#: Framing fields that place the face in the crop (a name or a description may differ).
_FRAMING_GEOMETRY = ("eyeDistance", "eyeY", "mouthY", "landmarks")


def _geometry(framing: dict[str, Any]) -> dict[str, Any]:
    return {key: framing.get(key) for key in _FRAMING_GEOMETRY}


def _pairing_problems(folder: Path, denoiser_name: str, enhancer_name: str | None, steps: int | None,
                      presets: dict[str, dict[str, int]]) -> list[str]:
    """
    What the two (valid) manifests and the pipeline's own settings say about each other, which
    the engine would only refuse when it loads the pipeline (or never: a framing mismatch runs).
    """
    denoiser = json.loads((folder / denoiser_name).read_text())
    problems = []
    trained = denoiser["schedule"]["numTimesteps"]
    if steps is not None and steps > trained:
        problems.append(f"--steps {steps} is more than the {trained} timesteps {denoiser_name} was trained over; "
                        f"the engine would refuse every run (at most --steps {trained})")
    resolution = denoiser["resolution"]
    for name, values in presets.items():
        if values["n"] > resolution or resolution % values["n"]:
            problems.append(f"--preset-values {name}: N = {values['n']} must divide the denoiser's "
                            f"{resolution} px resolution")
    if enhancer_name:
        enhancer = json.loads((folder / enhancer_name).read_text())
        mine, theirs = denoiser.get("framing"), enhancer.get("framing")
        if mine is not None and theirs is not None and _geometry(mine) != _geometry(theirs):
            problems.append(f"{enhancer_name} was made for another face framing than {denoiser_name} "
                            f"({json.dumps(theirs)} against {json.dumps(mine)}): the engine frames faces as "
                            "the denoiser says, so the enhancer would see faces cropped as it never was trained; "
                            "pair models of one framing")
    return problems


def _preset_values(text: str) -> dict[str, dict[str, int]]:
    """``medium=4,22`` as ``{"medium": {"n": 4, "tau": 22}}``; ValueError saying what is wrong."""
    name, _, values = text.partition("=")
    if name not in PRESETS or name == "auto":
        raise ValueError(f"the preset must be one of {', '.join(p for p in PRESETS if p != 'auto')}")
    parts = values.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise ValueError("expected NAME=N,TAU with whole numbers")
    n, tau = (int(part) for part in parts)
    if n < 1 or n & (n - 1) or tau > 98:
        raise ValueError("N must be a power of two and TAU at most 98 (the K = 100 grid)")
    return {name: {"n": n, "tau": tau}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="model folder holding the manifests")
    parser.add_argument("--name", help="pipeline name (default: the folder name)")
    parser.add_argument("--description")
    parser.add_argument("--denoiser", default="denoiser.json")
    parser.add_argument("--enhancer", default="enhancer.json")
    parser.add_argument("--no-enhancer", action="store_true", help="DR2 output only")
    parser.add_argument(
        "--preset", choices=PRESETS,
        help="default DR2 setting: auto (per face) or a scale-aware fixed preset (default: the engine's, auto)",
    )
    parser.add_argument("--steps", type=int)
    parser.add_argument(
        "--preset-values", action="append", default=[], metavar="NAME=N,TAU",
        help="this model's own N and tau (K = 100 grid) for a fixed preset, e.g. medium=4,22 (repeatable)",
    )
    parser.add_argument(
        "--face-upsampler", metavar="DIR",
        help="folder (relative to --dir) holding the face upsampler's x2.json and x4.json (train_face_upsampler); "
        "without it, faces auto keeps get the photo's plain enlargement",
    )
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 2:
        parser.error(f"--steps must be at least 2 (the engine refuses fewer), got {args.steps}")
    presets = {}
    for value in args.preset_values:
        try:
            presets.update(_preset_values(value))
        except ValueError as error:
            parser.error(f"--preset-values {value}: {error}")

    enhancer = None if args.no_enhancer else args.enhancer
    problems = _check(args.dir, args.denoiser, "denoiser")
    if enhancer:
        found = _check(args.dir, enhancer, "enhancer")
        if not (args.dir / enhancer).is_file():
            found = [f"{found[0]} (a pipeline without an enhancer, DR2's output only: pass --no-enhancer)"]
        problems += found
    if not problems:
        problems += _pairing_problems(args.dir, args.denoiser, enhancer, args.steps, presets)
    face_upsampler = None
    if args.face_upsampler:
        face_upsampler = {f"x{factor}": f"{args.face_upsampler.rstrip('/')}/x{factor}.json" for factor in (2, 4)}
        for key, relative in face_upsampler.items():
            bank = args.dir / relative
            if not bank.is_file():
                problems.append(f"{bank}: no face upsampler bank ({key}) there")
            elif json.loads(bank.read_text()).get("factor") != int(key[1:]):
                problems.append(f"{bank}: not a {key} face upsampler bank")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("error: pipeline.json not written", file=sys.stderr)
        return 3
    defaults = {key: value for key, value in (("preset", args.preset), ("steps", args.steps)) if value is not None}
    manifest = pipeline_manifest(
        name=args.name or args.dir.resolve().name,
        description=args.description,
        denoiser=args.denoiser,
        enhancer=enhancer,
        defaults=defaults or None,
        presets=presets or None,
        face_upsampler=face_upsampler,
    )
    write_json(args.dir / "pipeline.json", manifest)
    print(args.dir / "pipeline.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
