"""Write the ``pipeline.json`` that names a denoiser manifest and an optional enhancer manifest.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.make_pipeline --dir gpu-task/models/dr2-ffhq --name dr2-ffhq \
        [--denoiser denoiser.json] [--enhancer enhancer.json | --no-enhancer] [--preset mild] [--steps 100]

It checks that the named manifests exist beside it, have the right roles, and that their ONNX
files exist and match the recorded SHA-256, so a half-copied model folder is caught here rather
than when the engine starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


from .manifest import pipeline_manifest, sha256_file, write_json


def _check(folder: Path, manifest_name: str, role: str) -> list[str]:
    path = folder / manifest_name
    if not path.is_file():
        return [f"{path} does not exist"]
    manifest = json.loads(path.read_text())
    problems = []
    if manifest.get("role") != role:
        problems.append(f"{path} has role {manifest.get('role')!r}, expected {role!r}")
    onnx_file = folder / str(manifest.get("file", ""))
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
    parser.add_argument("--preset", choices=("mild", "medium", "severe"))
    parser.add_argument("--steps", type=int)
    args = parser.parse_args(argv)

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
