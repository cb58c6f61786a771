"""Write the tiny random model pair the engine's tests (and a fresh checkout) run with.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.make_tiny_models [--out gpu-task/models/tiny] [--seed 20230]

Writes ``denoiser.onnx``/``.json`` (a 64x64 guided-diffusion U-Net of the same family as DR2's,
6 output channels = noise + learned-range variance, linear schedule T=1000),
``enhancer.onnx``/``.json`` (a small SPARNet 64 -> 128 with a bicubic input skip) and
``pipeline.json``. The weights are random, so the models restore nothing; they are scaled so
that outputs have realistic magnitudes:

* denoiser: the noise channels have roughly unit standard deviation on Gaussian inputs over the
  whole timestep range, the variance channels stay near 0 (mid-way between the two variance
  bounds);
* enhancer: bicubic upsampling of the input plus a residual of a few hundredths, so the output
  looks like the (upscaled) input.

Everything is deterministic given ``--seed`` (same torch version): the ONNX files are
byte-identical from run to run. The manifests carry no timestamp for the same reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


import torch
from torch import nn

from .exporter import ExportOptions, ExportResult, export_model
from .manifest import LICENSES, pipeline_manifest, write_json
from .paths import REPO_ROOT
from .sparnethd import SPARNetConfig, build_sparnet
from .unet import UNetConfig, build_unet

DEFAULT_OUT = REPO_ROOT / "gpu-task" / "models" / "tiny"
DEFAULT_SEED = 20230

TINY_DENOISER = UNetConfig(
    image_size=64,
    model_channels=16,
    out_channels=6,
    num_res_blocks=1,
    attention_resolutions=(4,),  # 16x16 maps
    channel_mult=(1, 1, 2),
    num_head_channels=16,  # two heads at 32 channels: exercises the legacy head layout
    use_scale_shift_norm=True,
    resblock_updown=True,
    norm_groups=8,
)

TINY_ENHANCER = SPARNetConfig(
    in_size=64,
    out_size=128,
    min_ch=8,
    max_ch=32,
    min_feat_size=16,
    res_depth=1,
    bottleneck_size=16,
    attention_channels=8,
    spectral_norm=False,
    input_skip="bicubic",
)

PROVENANCE_SOURCE = "random weights, test only"


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    """Fan-in scaled Gaussian weights everywhere (also in the layers DR2 zero-initialises)."""
    for name, parameter in module.named_parameters():
        with torch.no_grad():
            if parameter.dim() >= 2:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
            elif name.endswith("weight"):  # normalisation gains
                parameter.copy_(1 + 0.1 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))


def make_denoiser(seed: int) -> nn.Module:
    """Tiny U-Net whose noise channels have unit-ish scale and variance channels near 0."""
    generator = torch.Generator().manual_seed(seed)
    model = build_unet(TINY_DENOISER).eval()
    _randomise(model, generator)
    x = torch.randn(8, 3, 64, 64, generator=generator)
    t = torch.linspace(0, 999, 8).round().long()
    with torch.no_grad():
        raw = model(x, t)
        final = model.out[2]
        assert isinstance(final, nn.Conv2d)
        eps_std = raw[:, :3].std().item()
        final.weight[:3] /= eps_std
        final.bias[:3] /= eps_std
        var_std = raw[:, 3:].std().item()
        final.weight[3:] *= 0.02 / var_std
        final.bias[3:] = 0
    return model


def make_enhancer(seed: int) -> nn.Module:
    """Tiny SPARNet 64 -> 128: bicubic upsampling plus a small random residual."""
    generator = torch.Generator().manual_seed(seed + 1)
    model = build_sparnet(TINY_ENHANCER).eval()
    _randomise(model, generator)
    image = torch.rand(4, 3, 64, 64, generator=generator) * 2 - 1
    with torch.no_grad():
        skip = nn.functional.interpolate(image, size=(128, 128), mode="bicubic", align_corners=False)
        residual = model(image) - skip
        final = model.out_conv.conv2d
        scale = 0.03 / residual.std().item()
        final.weight *= scale
        final.bias *= scale
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    recipe = f"PYTHONPATH=models python3 -m dr2e_models.make_tiny_models --seed {args.seed}"
    license_info = LICENSES["mit-test"]
    results: list[ExportResult] = []

    denoiser = make_denoiser(args.seed)
    results.append(
        export_model(
            "dr2-unet",
            TINY_DENOISER,
            denoiser,
            args.out / "denoiser.onnx",
            ExportOptions(
                name="tiny-denoiser",
                description="Tiny random guided-diffusion U-Net (64x64, learned-range variance) for tests only.",
                source=PROVENANCE_SOURCE,
                license=license_info,
                created_at=None,
                recipe=recipe,
            ),
        )
    )
    enhancer = make_enhancer(args.seed)
    results.append(
        export_model(
            "sparnethd",
            TINY_ENHANCER,
            enhancer,
            args.out / "enhancer.onnx",
            ExportOptions(
                name="tiny-enhancer",
                description="Tiny random SPARNet 64->128 (bicubic upsampling plus a small random residual), "
                "tests only.",
                source=PROVENANCE_SOURCE,
                license=license_info,
                created_at=None,
                recipe=recipe,
            ),
        )
    )
    write_json(
        args.out / "pipeline.json",
        pipeline_manifest(
            name="tiny",
            description="Random test models (64x64 denoiser, 64->128 enhancer); "
            "the default until a trained model exists.",
            denoiser="denoiser.json",
            enhancer="enhancer.json",
        ),
    )
    for result in results:
        size = result.onnx_path.stat().st_size / 1e6
        print(
            f"{result.onnx_path} {size:.2f} MB, parity fp32 max abs {result.parity_fp32.max_abs_error:.3g}"
            f" (scale {result.parity_fp32.output_scale:.3g})"
        )
    print(f"{args.out / 'pipeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
