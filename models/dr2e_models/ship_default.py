"""Export the trained default models to ``gpu-task/models/default/`` (ONNX + manifests + pipeline).

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.ship_default denoiser   # EMA of models/runs/ddpm64/checkpoint.pt
    /usr/bin/python3 -m dr2e_models.ship_default enhancer   # EMA of models/runs/enhancer/checkpoint.pt
    /usr/bin/python3 -m dr2e_models.ship_default pipeline   # pipeline.json (preset auto, 100 steps)

Both exports go through ``dr2e_models.exporter.export_model`` (fp32, parity-gated against
onnxruntime-node) and record in the manifest: the UTKFace licence terms, the framing measured
by ``dr2e_models.measure_framing`` (``docs/model/framing.json``), and the training provenance
(the recipe command rebuilt from the checkpoint's arguments, data, seed, steps, images seen,
training minutes). No timestamp is written, so re-exporting the same checkpoint gives the same
manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch


from . import make_pipeline
from .exporter import ExportOptions, export_model
from .manifest import sha256_file
from .paths import REPO_ROOT, RUNS_DIR
from .sparnethd import SPARNetConfig, build_sparnet
from .unet import UNetConfig, build_unet, parameter_count

DEFAULT_DIR = REPO_ROOT / "gpu-task" / "models" / "default"
FRAMING_JSON = REPO_ROOT / "docs" / "model" / "framing.json"
DETECTOR_TEMPLATE_JSON = REPO_ROOT / "docs" / "model" / "detector-template.json"

#: The terms of ../shared/README.md for UTKFace, verbatim, and what they mean for the weights.
UTKFACE_LICENSE = {
    "name": "UTKFace: non-commercial research use only",
    "commercialUse": False,
    "notes": "Trained on UTKFace (\"UTKFace: non-commercial research use only\"). A model trained on them "
    "inherits their licence: a model trained here is a demonstration default, not for commercial use.",
}

COMPUTE = "2-core shared CPU (no GPU), torch 1.13 CPU"


def utkface_framing(path: Path = FRAMING_JSON, template: Path = DETECTOR_TEMPLATE_JSON) -> dict[str, Any]:
    """The manifest ``framing`` of UTKFace crops: the three numbers measured into
    ``docs/model/framing.json``, and the five-point template where the bundled detector's keypoints
    fall in these crops (``docs/model/detector-template.json``, scripts/measure-detector-template.ts),
    which whole-photo alignment maps keypoints onto."""
    measured = json.loads(path.read_text())["utkface"]
    framing = {key: measured[key] for key in ("name", "eyeDistance", "eyeY", "mouthY")}
    if not template.is_file():
        # Without it photo faces would be aligned onto a template derived from the three numbers,
        # which frames them 3-4 % tighter than the crops the model was trained on.
        raise FileNotFoundError(
            f"{template} is missing: measure it with scripts/measure-detector-template.ts (README in the script)")
    framing["landmarks"] = json.loads(template.read_text())["landmarks"]
    return framing


def recipe_command(module: str, args: dict[str, Any], skip: tuple[str, ...] = ("resume", "benchmark")) -> str:
    """The command line (run from the repository root) that reproduces a run of ``dr2e_models.<module>``,
    from the arguments stored in its checkpoint."""
    parts = [f"PYTHONPATH=models /usr/bin/python3 -m dr2e_models.{module}"]
    for key, value in args.items():
        if key in skip or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts.extend(f"{flag} {item}" for item in value)
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _training_provenance(state: dict[str, Any], checkpoint: Path, data: str) -> dict[str, Any]:
    training: dict[str, Any] = {
        "data": data,
        "seed": state["args"]["seed"],
        "steps": state["step"],
        "imagesSeen": state["images_seen"],
        "trainMinutes": round(state["train_seconds"] / 60, 1),
        "compute": f"{COMPUTE}, {state['args'].get('threads', 1)} intra-op thread(s)",
        "weights": "EMA",
        "checkpointSha256": sha256_file(checkpoint),
    }
    init = state.get("init")
    if init:
        # a run started from an earlier export's weights (train_ddpm --init): its record, and the totals
        training["initialisedFrom"] = init
        earlier = init.get("training")
        if earlier:  # an earlier continuation carries its own totals
            this_run = {"steps": state["step"], "imagesSeen": state["images_seen"],
                        "trainMinutes": state["train_seconds"] / 60}
            for key, value in this_run.items():
                total = "total" + key[0].upper() + key[1:]
                training[total] = round(earlier.get(total, earlier[key]) + value, 1)
    return {"training": training}


def ship_denoiser(checkpoint: Path, out_dir: Path) -> dict[str, Any]:
    state = torch.load(checkpoint, map_location="cpu")
    config = UNetConfig.from_dict(state["config"])
    model = build_unet(config)
    model.load_state_dict(state["ema"])
    model.eval()
    recipe = recipe_command("train_ddpm", state["args"])
    options = ExportOptions(
        name="utkface-64-ddpm",
        source=f"trained for dr2e on UTKFace train/ ({recipe})",
        license=UTKFACE_LICENSE,
        description=(
            f"64x64 face diffusion prior (guided-diffusion U-Net, {parameter_count(model) / 1e6:.2f} M parameters, "
            "linear schedule T=1000, learned-range variance), trained on UTKFace crops on a CPU: "
            "a demonstration default."
        ),
        framing=utkface_framing(),
        created_at=None,
        recipe=recipe,
        extra_provenance=_training_provenance(
            state, checkpoint, "utkface-200.tar train/ (22,206 faces), 64x64 area-downsampled"),
    )
    result = export_model("dr2-unet", config, model, out_dir / "denoiser.onnx", options)
    return {"file": str(result.onnx_path), "bytes": result.onnx_path.stat().st_size,
            "parity": result.parity_fp32.max_abs_error, "seconds": result.seconds}


def ship_enhancer(checkpoint: Path, out_dir: Path) -> dict[str, Any]:
    state = torch.load(checkpoint, map_location="cpu")
    config = SPARNetConfig.from_dict(state["config"])
    model = build_sparnet(config)
    model.load_state_dict(state["ema"])
    model.eval()
    recipe = recipe_command("train_enhancer", state["args"])
    pools = []
    for pool_dir in state["args"]["pool_dir"]:
        pool_index = Path(pool_dir) / "index.json"
        if pool_index.is_file():
            index = json.loads(pool_index.read_text())
            pools.append({"dir": pool_dir, "images": len(index["rows"]), "n": index["n"], "taus": index["taus"],
                          "steps": index["steps"], "seed": index["seed"], "denoiser": index["model"],
                          "seconds": round(index["seconds"])})
    pool = {"dr2Pools": pools, "dr2PoolMaker": "scripts/make-dr2-pool.ts"} if pools else {}
    extra = _training_provenance(
        state, checkpoint, "DR2 outputs of UTKFace train/ faces (64x64) -> the same faces at 128x128")
    extra["training"].update(pool)
    options = ExportOptions(
        name="utkface-64to128-sparnet",
        source=f"trained for dr2e on DR2 outputs of UTKFace train/ ({recipe})",
        license=UTKFACE_LICENSE,
        description=(
            f"SPARNet enhancer 64->128 with a bicubic skip ({parameter_count(model) / 1e6:.2f} M parameters), trained "
            "with L1 on DR2(x; N=4, tau in 5..20 of 100) blurred by a random Gaussian (the DR2 paper's Eq. 12)."
        ),
        framing=utkface_framing(),
        created_at=None,
        recipe=recipe,
        extra_provenance=extra,
    )
    result = export_model("sparnethd", config, model, out_dir / "enhancer.onnx", options)
    return {"file": str(result.onnx_path), "bytes": result.onnx_path.stat().st_size,
            "parity": result.parity_fp32.max_abs_error, "seconds": result.seconds}


def ship_pipeline(out_dir: Path) -> int:
    return make_pipeline.main([
        "--dir", str(out_dir), "--name", "utkface-64",
        "--description", "Default model: a 64x64 UTKFace diffusion prior and a 64->128 SPARNet enhancer, trained on a "
        "CPU for dr2e (demonstration quality; UTKFace terms: non-commercial research use only).",
        "--preset", "auto", "--steps", "100", "--face-upsampler", "face-upsampler",
        # At N = 2 with tau 22 or more on the 100-step schedule the 64-px prior leaves colour speckle
        # over the face (its model card, "Presets"): its medium is N = 4, tau 22.
        "--preset-values", "medium=4,22",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("denoiser", "enhancer", "pipeline"))
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "denoiser":
        shipped = ship_denoiser(args.checkpoint or RUNS_DIR / "ddpm64" / "checkpoint.pt", args.out_dir)
        print(json.dumps(shipped, indent=2))
    elif args.what == "enhancer":
        shipped = ship_enhancer(args.checkpoint or RUNS_DIR / "enhancer" / "checkpoint.pt", args.out_dir)
        print(json.dumps(shipped, indent=2))
    else:
        return ship_pipeline(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
