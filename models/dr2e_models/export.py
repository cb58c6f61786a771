"""Convert a PyTorch checkpoint of DR2's networks to ONNX plus the engine's JSON manifest.

Examples (from the repository root, with ``PYTHONPATH=models``; see models/README.md):

    # DR2's diffusion U-Net (FFHQ 256, learned-range variance, linear schedule, T=1000)
    /usr/bin/python3 -m dr2e_models.export --arch dr2-unet --checkpoint DR2_FFHQ.pkl \
        --out gpu-task/models/dr2-ffhq/denoiser.onnx --name dr2-ffhq-256 --license ffhq-nc

    # SPARNetHD enhancer used by DR2 (512 -> 512, spectral norm folded)
    /usr/bin/python3 -m dr2e_models.export --arch sparnethd --checkpoint SPARNetHD_FFHQ_DR2aug.pth \
        --out gpu-task/models/dr2-ffhq/enhancer.onnx --name sparnethd-ffhq-512 --license ffhq-nc

    # Any other member of the families: override the preset
    /usr/bin/python3 -m dr2e_models.export --arch dr2-unet --checkpoint run/ema.pt \
        --out m/denoiser.onnx \
        --image-size 64 --model-channels 64 --channel-mult 1,2,2 --attention-resolutions 16,8 \
        --num-head-channels 32 --license utkface-nc

The manifest is written beside the ONNX file with the same stem (``denoiser.json``). The
checkpoint must match the architecture exactly (names and shapes); otherwise the export is
refused with the first mismatches listed. After export the ONNX file is run through
onnxruntime-node (``node models/dr2e_models/run_onnx.mjs``) and compared with PyTorch: float32 must
agree within ``--parity-tolerance`` (1e-4) times the output's max magnitude, or nothing is written.
An all-zero PyTorch output (untrained or zero-initialised weights) fails too, since matching it
proves nothing, unless ``--allow-zero-output`` (plumbing tests of an untrained network only).
``--external-data`` keeps the weights in ``<out>.data`` beside the graph; the manifest then lists
that file with its sha256 under ``externalData`` (graphs over 2 GB are always written so).
Exit status: 0 ok, 2 bad arguments, 3 checkpoint refused, 4 parity failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


from .checkpoints import CheckpointError
from .exporter import (
    ARCHITECTURES,
    ExportError,
    ExportOptions,
    config_from_dict,
    default_config,
    export_checkpoint,
)
from .manifest import FRAMINGS, LICENSES
from .onnx_export import OnnxRunError
from .sparnethd import SPARNetConfig
from .unet import UNetConfig


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Architecture flags override the official preset of --arch; see models/README.md.",
    )
    parser.add_argument("--arch", required=True, choices=ARCHITECTURES)
    parser.add_argument("--checkpoint", required=True, type=Path, help=".pt/.pth/.pkl written by torch.save")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write; the manifest goes beside it")
    parser.add_argument("--key", help="wrapper key holding the weights (dotted), instead of the automatic search")
    parser.add_argument(
        "--strip-prefix", action="append", default=[], metavar="PREFIX",
        help="drop this prefix from every tensor name, e.g. model. for a Lightning module's weights "
        "(repeatable; module. is always dropped)",
    )
    parser.add_argument("--fp16", action="store_true", help="write a float16 graph (float32 inputs/outputs)")
    parser.add_argument("--name", help="manifest name (default: the output file's folder name)")
    parser.add_argument("--description")
    parser.add_argument("--source", help="provenance source (default: the checkpoint file name)")
    parser.add_argument("--recipe", help="how the weights were made (free text, stored in provenance)")
    parser.add_argument("--license", default="ffhq-nc", help=f"preset ({', '.join(LICENSES)}) or a JSON object")
    parser.add_argument("--framing", default="ffhq", help=f"face framing preset ({', '.join(FRAMINGS)}) or 'none'")
    parser.add_argument(
        "--config-json", type=Path,
        help="a JSON file: a manifest this exporter wrote (its architecture, and for dr2-unet its schedule "
        "and variance, unless flags say otherwise), or an architecture object (a manifest's "
        "provenance.architecture)",
    )
    parser.add_argument("--parity-batch", type=int, default=2)
    parser.add_argument("--parity-tolerance", type=float, default=1e-4, help="relative to max |output|")
    parser.add_argument("--no-timestamp", action="store_true", help="omit createdAt (reproducible manifests)")
    parser.add_argument(
        "--allow-zero-output", action="store_true",
        help="export although the PyTorch output is all zero (untrained weights), so parity proves nothing; "
        "for plumbing tests only (the manifest records parity.proven false)",
    )
    parser.add_argument("--external-data", action="store_true",
                        help="keep the weights in <out>.data beside the graph (listed in the manifest's externalData)")

    unet = parser.add_argument_group("dr2-unet (guided-diffusion U-Net) options")
    unet.add_argument("--image-size", type=int)
    unet.add_argument("--model-channels", type=int)
    unet.add_argument("--channel-mult", type=_ints, help="e.g. 1,1,2,2,4,4")
    unet.add_argument("--num-res-blocks", type=int)
    unet.add_argument(
        "--attention-resolutions",
        type=_ints,
        help="feature-map sides with attention, guided-diffusion's convention (e.g. 16 at 256px)",
    )
    unet.add_argument("--attention-ds", type=_ints, help="the same as downsample rates (16 at 256px = 16x16 maps)")
    unet.add_argument("--num-heads", type=int)
    unet.add_argument("--num-head-channels", type=int, help="-1 to use --num-heads")
    unet.add_argument("--num-heads-upsample", type=int)
    unet.add_argument("--learn-sigma", type=_bool, help="true: 6 output channels (learned-range variance)")
    unet.add_argument("--use-scale-shift-norm", type=_bool)
    unet.add_argument("--resblock-updown", type=_bool)
    unet.add_argument("--norm-groups", type=int)
    unet.add_argument("--use-new-attention-order", type=_bool)
    unet.add_argument("--beta-schedule", choices=("linear", "cosine"), help="default linear")
    unet.add_argument("--timesteps", type=int, help="training diffusion steps T (default 1000)")
    unet.add_argument(
        "--variance",
        choices=("learned_range", "fixed_small", "fixed_large"),
        help="default: learned_range with 6 outputs, fixed_large with 3 (guided-diffusion's sigma_small=False)",
    )

    sparnet = parser.add_argument_group("sparnethd (SPARNet) options")
    sparnet.add_argument("--in-size", type=int)
    sparnet.add_argument("--out-size", type=int)
    sparnet.add_argument("--min-ch", type=int)
    sparnet.add_argument("--max-ch", type=int)
    sparnet.add_argument("--min-feat-size", type=int)
    sparnet.add_argument("--res-depth", type=int)
    sparnet.add_argument("--bottleneck-size", type=int)
    sparnet.add_argument("--norm", choices=("in", "bn", "gn", "none"))
    sparnet.add_argument("--activation", choices=("leakyrelu", "relu", "prelu", "none"))
    sparnet.add_argument("--attention", choices=("spar", "spar3d"))
    sparnet.add_argument("--attention-channels", type=int)
    sparnet.add_argument("--spectral-norm", type=_bool, help="checkpoint has weight_orig/u/v (default true)")
    sparnet.add_argument("--input-skip", choices=("none", "bilinear", "bicubic"))
    return parser


#: Largest output magnitude (on the parity inputs) that trained weights plausibly give: noise
#: estimates and [-1, 1] images stay within a few units; a random SPARNetHD whose spectral-norm
#: vectors did not belong to its weights gave 7e20, and restored saturated images without a word.
IMPLAUSIBLE_OUTPUT = 1e3

#: Flags (argparse destinations) that only one architecture reads.
UNET_ONLY = (
    "image_size", "model_channels", "channel_mult", "num_res_blocks", "attention_resolutions", "attention_ds",
    "num_heads", "num_head_channels", "num_heads_upsample", "learn_sigma", "use_scale_shift_norm",
    "resblock_updown", "norm_groups", "use_new_attention_order", "beta_schedule", "timesteps", "variance",
)
SPARNET_ONLY = (
    "in_size", "out_size", "min_ch", "max_ch", "min_feat_size", "res_depth", "bottleneck_size", "norm",
    "activation", "attention", "attention_channels", "spectral_norm", "input_skip",
)


def read_config_json(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    The architecture and the diffusion settings (``beta_schedule``, ``timesteps``, ``variance``;
    empty for a bare architecture object) of a --config-json file. A manifest carries its
    schedule outside ``provenance.architecture``: re-exported from the architecture alone, a
    cosine or T=4000 model came out linear/1000 without a word, and sampled wrongly.
    """
    try:
        loaded = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(
            f"--config-json takes a JSON file (a manifest, or a manifest's provenance.architecture); "
            f"cannot read {str(path)[:80]!r}: {error.strerror}"
        ) from error
    except json.JSONDecodeError as error:
        raise ValueError(f"--config-json {path} is not JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise ValueError(f"--config-json {path} must hold a JSON object")
    if "provenance" not in loaded:
        return dict(loaded), {}
    if not isinstance(loaded["provenance"], dict):
        raise ValueError(f"--config-json {path} is a manifest whose provenance is not an object")
    architecture = loaded["provenance"].get("architecture")
    if not isinstance(architecture, dict):
        raise ValueError(f"--config-json {path} is a manifest without provenance.architecture")
    diffusion: dict[str, Any] = {}
    schedule = loaded.get("schedule") or {}
    if "betaSchedule" in schedule:
        diffusion["beta_schedule"] = schedule["betaSchedule"]
    if "numTimesteps" in schedule:
        diffusion["timesteps"] = schedule["numTimesteps"]
    if loaded.get("variance"):
        diffusion["variance"] = loaded["variance"]
    return dict(architecture), diffusion


def apply_config_diffusion(args: argparse.Namespace) -> list[str]:
    """
    Fill --beta-schedule, --timesteps and --variance from a --config-json manifest where the
    command line leaves them out; returns notes for what a bare architecture object leaves to
    the defaults (a dr2-unet then says which schedule it gets).
    """
    if not args.config_json or args.arch != "dr2-unet":
        return []
    _, diffusion = read_config_json(args.config_json)
    # --learn-sigma given beside the manifest sets the output channels, and with them the variance.
    keys = ["beta_schedule", "timesteps"] + (["variance"] if args.learn_sigma is None else [])
    for key in keys:
        if getattr(args, key) is None and key in diffusion:
            setattr(args, key, diffusion[key])
    if diffusion or args.beta_schedule is not None or args.timesteps is not None:
        return []
    return [
        f"note: {args.config_json} holds no diffusion schedule: linear over 1000 steps is written; "
        "pass --beta-schedule and --timesteps, or give the model's manifest as --config-json"
    ]


def resolve_config(args: argparse.Namespace) -> UNetConfig | SPARNetConfig:
    """Preset of --arch, then --config-json, then individual flags."""
    other = SPARNET_ONLY if args.arch == "dr2-unet" else UNET_ONLY
    ignored = [name for name in other if getattr(args, name, None) is not None]
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        raise ValueError(f"{flags} do not apply to --arch {args.arch}")
    data: dict[str, Any] = default_config(args.arch).to_dict()
    if args.config_json:
        loaded, _ = read_config_json(args.config_json)
        if loaded.get("arch", args.arch) != args.arch:
            raise ValueError(f"--config-json {args.config_json} is for --arch {loaded['arch']}, not {args.arch}")
        loaded.pop("arch", None)
        data.update(loaded)
    if args.arch == "dr2-unet":
        for flag, key in [
            ("image_size", "image_size"),
            ("model_channels", "model_channels"),
            ("channel_mult", "channel_mult"),
            ("num_res_blocks", "num_res_blocks"),
            ("num_heads", "num_heads"),
            ("num_head_channels", "num_head_channels"),
            ("num_heads_upsample", "num_heads_upsample"),
            ("use_scale_shift_norm", "use_scale_shift_norm"),
            ("resblock_updown", "resblock_updown"),
            ("norm_groups", "norm_groups"),
            ("use_new_attention_order", "use_new_attention_order"),
        ]:
            value = getattr(args, flag)
            if value is not None:
                data[key] = value
        if args.learn_sigma is not None:
            data["out_channels"] = 6 if args.learn_sigma else 3
        if args.attention_resolutions and args.attention_ds:
            raise ValueError("give --attention-resolutions or --attention-ds, not both")
        if args.attention_resolutions:
            size = data["image_size"]
            for side in args.attention_resolutions:
                if size % side:
                    raise ValueError(f"attention resolution {side} does not divide image size {size}")
            data["attention_resolutions"] = [size // side for side in args.attention_resolutions]
        if args.attention_ds:
            data["attention_resolutions"] = args.attention_ds
    else:
        for key in [
            "in_size", "out_size", "min_ch", "max_ch", "min_feat_size", "res_depth", "bottleneck_size", "norm",
            "activation", "attention", "attention_channels", "spectral_norm", "input_skip",
        ]:
            value = getattr(args, key)
            if value is not None:
                data[key] = value
    config = config_from_dict(args.arch, data)
    if isinstance(config, UNetConfig) and args.variance is not None:
        if (args.variance == "learned_range") != (config.out_channels == 6):
            raise ValueError(
                f"--variance {args.variance} does not fit {config.out_channels} output channels "
                "(learned_range needs 6: --learn-sigma true; fixed_small and fixed_large need 3)"
            )
    return config


def _license(text: str) -> dict[str, Any]:
    if text in LICENSES:
        return dict(LICENSES[text])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--license must be one of {', '.join(LICENSES)} or a JSON object") from error
    if not isinstance(value, dict) or "name" not in value or "commercialUse" not in value:
        raise ValueError('--license JSON needs at least "name" and "commercialUse"')
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        notes = apply_config_diffusion(args)
        config = resolve_config(args)
        license_info = _license(args.license)
        framing = None if args.framing == "none" else FRAMINGS.get(args.framing)
        if args.framing != "none" and framing is None:
            raise ValueError(f"--framing must be one of {', '.join(FRAMINGS)} or none")
    except ValueError as error:
        parser.error(str(error))
        return 2  # pragma: no cover - parser.error exits

    for note in notes:
        print(note, file=sys.stderr)
    name = args.name or args.out.resolve().parent.name
    options = ExportOptions(
        name=name,
        source=args.source or args.checkpoint.name,
        license=license_info,
        description=args.description,
        framing=framing,
        fp16=args.fp16,
        beta_schedule=args.beta_schedule or "linear",
        num_timesteps=args.timesteps or 1000,
        variance=args.variance,
        parity_batch=args.parity_batch,
        parity_tolerance=args.parity_tolerance,
        recipe=args.recipe,
        allow_zero_output=args.allow_zero_output,
        external_data=args.external_data,
    )
    if args.no_timestamp:
        options.created_at = None
    start = time.perf_counter()
    try:
        result = export_checkpoint(
            args.arch, config, args.checkpoint, args.out, options, key=args.key, strip=args.strip_prefix
        )
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (ExportError, OnnxRunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 4
    total = time.perf_counter() - start
    p32 = result.parity_fp32
    print(f"wrote {result.onnx_path} ({result.onnx_path.stat().st_size / 1e6:.1f} MB) and {result.manifest_path}")
    print(
        f"parity fp32: max abs error {p32.max_abs_error:.3g} (output scale {p32.output_scale:.3g}, "
        f"relative {p32.relative_error:.2g}) at batch {args.parity_batch}"
    )
    if p32.output_scale > IMPLAUSIBLE_OUTPUT:
        print(f"warning: the model's outputs on the parity inputs reach {p32.output_scale:.3g}; a working denoiser "
              "(noise estimates) or enhancer (images in [-1, 1]) stays within a few units, so these weights look "
              "broken (e.g. spectral-norm u/v vectors that do not belong to the weights)", file=sys.stderr)
    if result.manifest["provenance"]["parity"].get("proven") is False:
        print("warning: parity NOT proven: the PyTorch output is all zero (--allow-zero-output); "
              "these weights restore nothing", file=sys.stderr)
    for entry in result.manifest.get("externalData", []):
        print(f"weights in {entry['path']} (external data, listed in the manifest)")
    if result.parity_fp16:
        p16 = result.parity_fp16
        print(f"parity fp16: max abs error {p16.max_abs_error:.3g} (relative {p16.relative_error:.2g})")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    print(f"time: {timings}, total {total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
