"""Write the ``pipeline.json`` that names a denoiser manifest and an optional enhancer manifest.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.make_pipeline --dir gpu-task/models/dr2-ffhq --name dr2-ffhq \
        [--denoiser denoiser.json] [--enhancer enhancer.json | --no-enhancer] [--preset auto] [--steps 100]

It checks that the named manifests exist beside it, have the right roles, and that their ONNX
files exist and match the recorded SHA-256, so a half-copied model folder is caught here rather
than when the engine starts.

``--preset`` names the pipeline's default DR2 setting. ``auto`` (the engine's default when none
is named) chooses (N, tau) and the fusion with the input per face from its estimated degradation;
``mild``, ``medium`` and ``severe`` are scale-aware: each is a low-pass cut-off relative to the
face (64, 32, 16 px) and a tau on the K = 100 grid, translated to the model's resolution by the
engine, so one name means the same on a 64-px and a 512-px model (docs/quality/README.md). The
names are those of ``PRESETS`` in shared/src/schemas.ts; the engine validates the file again when
it loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


from .manifest import pipeline_manifest, sha256_file, write_json

#: DR2 preset names the engine accepts (shared/src/schemas.ts ``PRESETS``).
PRESETS = ("auto", "mild", "medium", "severe")


def _check(folder: Path, manifest_name: str, role: str) -> list[str]:
    path = folder / manifest_name
    if not path.is_file():
        return [f"{path} does not exist"]
    manifest = json.loads(path.read_text())
    problems = []
    if manifest.get("role") != role:
        problems.append(f"{path} has role {manifest.get('role')!r}, expected {role!r}")
    # The engine resolves a manifest's `file` beside the manifest itself, wherever it lies.
    onnx_file = path.parent / str(manifest.get("file", ""))
    if not onnx_file.is_file():
        problems.append(f"{path} names {onnx_file}, which does not exist")
    elif manifest.get("provenance", {}).get("sha256") not in (None, sha256_file(onnx_file)):
        problems.append(f"{onnx_file} does not match the sha256 recorded in {path}")
    return problems


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
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 2:
        parser.error(f"--steps must be at least 2 (the engine refuses fewer), got {args.steps}")

    enhancer = None if args.no_enhancer else args.enhancer
    problems = _check(args.dir, args.denoiser, "denoiser")
    if enhancer:
        problems += _check(args.dir, enhancer, "enhancer")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 3
    defaults = {key: value for key, value in (("preset", args.preset), ("steps", args.steps)) if value is not None}
    manifest = pipeline_manifest(
        name=args.name or args.dir.resolve().name,
        description=args.description,
        denoiser=args.denoiser,
        enhancer=enhancer,
        defaults=defaults or None,
    )
    write_json(args.dir / "pipeline.json", manifest)
    print(args.dir / "pipeline.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
