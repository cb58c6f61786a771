"""Checkpoint -> ONNX + manifest, with a strict layout check and a parity gate.

Used by ``dr2e_models.export`` (command line) and ``dr2e_models.make_tiny_models``; tests call it
in-process.
"""

from __future__ import annotations

import datetime as _dt
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import onnx
import torch
from torch import nn

from .checkpoints import (
    CheckpointError,
    check_layout,
    fold_spectral_norm,
    load_state_dict,
    spectral_norm_layout,
)
from .manifest import (
    denoiser_manifest,
    enhancer_manifest,
    external_data_entries,
    external_data_locations,
    sha256_file,
    write_json,
)
from .onnx_export import DEFAULT_OPSET, ParityReport, convert_to_float16, export_onnx, measure_parity
from .sparnethd import SPARNetConfig, build_sparnet
from .unet import UNetConfig, build_unet

__all__ = [
    "ARCHITECTURES",
    "MIN_OUTPUT_SCALE",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "build_model",
    "default_config",
    "config_from_dict",
    "describe",
    "checkpoint_layout",
    "prepare_state_dict",
    "export_model",
    "export_checkpoint",
]

#: ``--arch`` values: the U-Net denoiser family and the SPARNet enhancer family.
ARCHITECTURES = ("dr2-unet", "sparnethd")
CONVERTER = "models/dr2e_models/export.py"
#: Below this max |output| of the PyTorch reference, parity proves nothing: a graph returning zeros
#: would match it. Trained denoisers and enhancers output values of order 1 on the parity inputs.
MIN_OUTPUT_SCALE = 1e-6


class ExportError(Exception):
    """Export refused: parity outside tolerance, or an unusable configuration."""


ModelConfig = UNetConfig | SPARNetConfig


def build_model(arch: str, config: ModelConfig) -> nn.Module:
    """Plain (inference) module for an architecture; spectral norm is never attached here."""
    if arch == "dr2-unet":
        assert isinstance(config, UNetConfig)
        return build_unet(config)
    if arch == "sparnethd":
        assert isinstance(config, SPARNetConfig)
        plain = SPARNetConfig.from_dict({**config.to_dict(), "spectral_norm": False})
        return build_sparnet(plain)
    raise ExportError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")


def default_config(arch: str) -> ModelConfig:
    """The official DR2 configurations: U-Net FFHQ-256 and SPARNetHD-512."""
    if arch == "dr2-unet":
        return UNetConfig.dr2_ffhq_256()
    if arch == "sparnethd":
        return SPARNetConfig.sparnethd_512()
    raise ExportError(f"unknown architecture {arch!r}")


def config_from_dict(arch: str, data: Mapping[str, Any]) -> ModelConfig:
    """Rebuild a config from its ``to_dict()`` form (as stored in manifests)."""
    if arch == "dr2-unet":
        return UNetConfig.from_dict(data)
    if arch == "sparnethd":
        return SPARNetConfig.from_dict(data)
    raise ExportError(f"unknown architecture {arch!r}")


def checkpoint_layout(arch: str, config: ModelConfig,
                      model: nn.Module | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes a checkpoint of this architecture must have (spectral-norm names included)."""
    model = model if model is not None else build_model(arch, config)
    plain = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    if isinstance(config, SPARNetConfig) and config.spectral_norm:
        convs = [f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        return spectral_norm_layout(plain, convs)
    return plain


def describe(arch: str, config: ModelConfig) -> str:
    """Short label for messages, e.g. ``dr2-unet (256px, 128 ch, mult 1,1,2,2,4,4)``."""
    if isinstance(config, UNetConfig):
        mult = ",".join(map(str, config.channel_mult))
        return f"{arch} ({config.image_size}px, {config.model_channels} ch, mult {mult}, {config.out_channels} out)"
    return f"{arch} ({config.in_size}->{config.out_size}px, ch {config.min_ch}..{config.max_ch})"


def prepare_state_dict(
    arch: str, config: ModelConfig, state: Mapping[str, torch.Tensor], model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """Check a checkpoint's names/shapes against the architecture, then fold spectral norm.

    :raises CheckpointLayoutError: naming the first missing, unexpected and reshaped tensors.
    """
    check_layout(state, checkpoint_layout(arch, config, model), arch, label=describe(arch, config))
    damaged = [(name, int((~torch.isfinite(t)).sum())) for name, t in state.items()
               if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if damaged:
        listing = ", ".join(f"{name} ({count} of them)" for name, count in damaged[:5])
        more = f" and {len(damaged) - 5} more tensors" if len(damaged) > 5 else ""
        raise CheckpointError(
            f"the checkpoint holds non-finite values (NaN or infinity) in {listing}{more}: the training run "
            "diverged or the file is damaged; export an earlier checkpoint or its EMA weights (--key)"
        )
    converted = {name: (t.float() if t.is_floating_point() else t) for name, t in state.items()}
    if isinstance(config, SPARNetConfig) and config.spectral_norm:
        converted = fold_spectral_norm(converted)
    return converted


@dataclass
class ExportOptions:
    """What goes into the ONNX file and its manifest besides the weights."""

    name: str
    source: str
    license: Mapping[str, Any]
    description: str | None = None
    framing: Mapping[str, Any] | None = None
    fp16: bool = False
    #: Denoiser only.
    beta_schedule: str = "linear"
    num_timesteps: int = 1000
    #: Denoiser only: None = learned_range for 6 channels, fixed_large for 3.
    variance: str | None = None
    parity_batch: int = 2
    parity_tolerance: float = 1e-4
    parity_seed: int = 0
    opset: int = DEFAULT_OPSET
    #: Export although the reference output is all (near) zero, so parity proves nothing: only for
    #: an untrained network exported on purpose (plumbing tests of the engine or the export itself).
    allow_zero_output: bool = False
    #: Keep the weights in ``<file>.data`` beside the graph (ONNX external data). Graphs over
    #: protobuf's 2 GB limit are written this way whatever this says.
    external_data: bool = False
    #: ISO timestamp for the manifest; None omits it (reproducible files).
    created_at: str | None = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    recipe: str | None = None
    #: Extra provenance entries (checkpoint hash, container...).
    extra_provenance: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ExportResult:
    """Paths written and the figures measured."""

    onnx_path: Path
    manifest_path: Path
    manifest: dict[str, Any]
    parity_fp32: ParityReport
    parity_fp16: ParityReport | None
    seconds: dict[str, float]


def _example_inputs(arch: str, config: ModelConfig, batch: int, seed: int,
                    num_timesteps: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if isinstance(config, UNetConfig):
        size = config.image_size
        x = torch.randn(batch, config.in_channels, size, size, generator=generator)
        if batch == 1:
            t = torch.tensor([num_timesteps // 2], dtype=torch.int64)
        else:
            # Spread over the whole schedule, ends included.
            t = torch.tensor([round(i * (num_timesteps - 1) / (batch - 1)) for i in range(batch)], dtype=torch.int64)
        return {"x": x, "t": t}
    size = config.in_size
    image = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    return {"input": image}


def export_model(
    arch: str,
    config: ModelConfig,
    model: nn.Module,
    out_path: str | Path,
    options: ExportOptions,
) -> ExportResult:
    """Export a loaded inference module to ``out_path`` (+ manifest beside it), gated on parity.

    The graph is traced with batch 1 and checked at ``options.parity_batch`` (2 by default), so a
    batch size baked into the graph fails the check. fp32 must satisfy
    ``max|onnx - torch| <= parity_tolerance * max|torch|``; with ``fp16`` the half-precision
    file is what is written, and its error is measured and recorded but not gated (a non-finite
    one is: the graph overflows float16). A reference output whose max |value| is below
    :data:`MIN_OUTPUT_SCALE` is refused unless ``options.allow_zero_output``: matching zeros
    proves nothing (an untrained guided-diffusion U-Net's last convolution is zero-initialised).
    """
    if isinstance(config, UNetConfig) and options.variance is not None:
        if (options.variance == "learned_range") != (config.out_channels == 6):
            raise ExportError(f"variance {options.variance!r} does not fit {config.out_channels} output channels")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path = out_path.with_suffix(".json")
    model = model.eval()
    is_denoiser = isinstance(config, UNetConfig)
    input_names = ["x", "t"] if is_denoiser else ["input"]
    output_name = "out" if is_denoiser else "output"
    seconds: dict[str, float] = {}

    trace_inputs = _example_inputs(arch, config, 1, options.parity_seed + 1, options.num_timesteps)
    check_inputs = _example_inputs(arch, config, options.parity_batch, options.parity_seed, options.num_timesteps)

    with tempfile.TemporaryDirectory(prefix="dr2e-export-", dir=out_path.parent) as scratch:
        fp32_path = Path(scratch) / "model.fp32.onnx"
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 1.13 warns about prim::Constant shape inference
            export_onnx(model, tuple(trace_inputs.values()), fp32_path, input_names, [output_name], opset=options.opset)
        seconds["export"] = time.perf_counter() - start

        start = time.perf_counter()
        with torch.no_grad():
            reference = model(*check_inputs.values())
        parity32 = measure_parity(model, fp32_path, check_inputs, output_name, reference=reference)
        seconds["parity_fp32"] = time.perf_counter() - start
        if not parity32.output_scale >= MIN_OUTPUT_SCALE and not options.allow_zero_output:
            raise ExportError(
                f"parity proves nothing: the PyTorch output is all zero (max |output| {parity32.output_scale:.3g} on "
                "random inputs), so any graph returning zeros would match it. The weights look untrained or "
                "zero-initialised (guided-diffusion zero-initialises the U-Net's last convolution): check that the "
                "checkpoint holds the trained weights (--key picks another wrapper entry, e.g. ema). To export an "
                "untrained network on purpose, for plumbing tests only, pass --allow-zero-output"
            )
        if not math.isfinite(parity32.max_abs_error) or not parity32.within(options.parity_tolerance):
            raise ExportError(
                f"ONNX/PyTorch parity failed: max abs error {parity32.max_abs_error:.3g} exceeds "
                f"{options.parity_tolerance:g} x output scale {parity32.output_scale:.3g}"
            )
        parity16 = None
        final = fp32_path
        if options.fp16:
            start = time.perf_counter()
            half = convert_to_float16(onnx.load(str(fp32_path)), image_inputs=[input_names[0]])
            final = Path(scratch) / "model.fp16.onnx"
            onnx.save(half, str(final))
            parity16 = measure_parity(model, final, check_inputs, output_name, reference=reference)
            seconds["fp16"] = time.perf_counter() - start
            # The fp16 error is recorded, not gated (half precision is expected to differ), but a
            # graph that returns NaN or infinity is broken: activations overflow float16.
            if not math.isfinite(parity16.max_abs_error):
                raise ExportError(
                    f"the float16 graph returns non-finite values (max abs error {parity16.max_abs_error}): "
                    "this network's activations overflow float16; export it without --fp16"
                )
        _place_graph(final, out_path, options.external_data)

    parity = parity16 if parity16 is not None else parity32
    provenance: dict[str, Any] = {"source": options.source, "converter": CONVERTER}
    if options.created_at:
        provenance["createdAt"] = options.created_at
    provenance["sha256"] = sha256_file(out_path)
    # The .onnx file's sha256 does not cover weights kept beside it: list them with their own.
    external = external_data_entries(out_path, manifest_path.parent)
    provenance["parityMaxAbsError"] = _round(parity.max_abs_error)
    if options.recipe:
        provenance["recipe"] = options.recipe
    # Entries below are not in the engine's schema (it ignores them); they make the file
    # self-describing: the exact architecture to rebuild, precision, and the parity figures.
    provenance["architecture"] = {"arch": arch, **config.to_dict()}
    provenance["precision"] = "float16" if options.fp16 else "float32"
    provenance["opset"] = options.opset
    provenance["tooling"] = {"torch": torch.__version__, "onnx": onnx.__version__}
    provenance["parity"] = {
        "batch": options.parity_batch,
        "outputScale": _round(parity32.output_scale),
        "float32MaxAbsError": _round(parity32.max_abs_error),
        **({"float16MaxAbsError": _round(parity16.max_abs_error)} if parity16 else {}),
        # Only written when --allow-zero-output let a zero reference through: nothing was compared.
        **({"proven": False} if not parity32.output_scale >= MIN_OUTPUT_SCALE else {}),
    }
    provenance.update(options.extra_provenance)

    if is_denoiser:
        assert isinstance(config, UNetConfig)
        manifest = denoiser_manifest(
            name=options.name,
            file=out_path.name,
            resolution=config.image_size,
            output_channels=config.out_channels,
            beta_schedule=options.beta_schedule,
            num_timesteps=options.num_timesteps,
            variance=options.variance,
            license=options.license,
            provenance=provenance,
            description=options.description,
            framing=options.framing,
            external_data=external,
        )
    else:
        assert isinstance(config, SPARNetConfig)
        manifest = enhancer_manifest(
            name=options.name,
            file=out_path.name,
            input_size=config.in_size,
            output_size=config.out_size,
            license=options.license,
            provenance=provenance,
            description=options.description,
            framing=options.framing,
            external_data=external,
        )
    write_json(manifest_path, manifest)
    return ExportResult(out_path, manifest_path, manifest, parity32, parity16, seconds)


def export_checkpoint(
    arch: str,
    config: ModelConfig,
    checkpoint: str | Path,
    out_path: str | Path,
    options: ExportOptions,
    key: str | None = None,
    strip: Sequence[str] = (),
) -> ExportResult:
    """Read ``checkpoint``, check it strictly against ``config``, export it with :func:`export_model`.

    ``strip`` names prefixes to drop from the tensor names besides ``module.`` (load_state_dict).

    :raises CheckpointError: unreadable file, no weights, or (``CheckpointLayoutError``) a
        layout mismatch naming the first missing / unexpected / reshaped tensors.
    :raises ExportError: parity outside tolerance.
    """
    start = time.perf_counter()
    loaded = load_state_dict(checkpoint, key=key, strip=strip)
    model = build_model(arch, config)
    state = prepare_state_dict(arch, config, loaded.state_dict, model)
    missing, unexpected = model.load_state_dict(state, strict=True)
    if missing or unexpected:  # pragma: no cover - strict=True raises first
        raise CheckpointError(f"load failed: missing {missing}, unexpected {unexpected}")
    load_seconds = time.perf_counter() - start
    extra = dict(options.extra_provenance)
    extra.setdefault(
        "checkpoint",
        {
            "file": Path(checkpoint).name,
            "sha256": sha256_file(checkpoint),
            "container": loaded.container or "(state dict)",
            "kind": loaded.kind,
        },
    )
    options = ExportOptions(**{**options.__dict__, "extra_provenance": extra})
    result = export_model(arch, config, model, out_path, options)
    result.seconds = {"load": load_seconds, **result.seconds}
    return result


def _place_graph(graph: Path, out_path: Path, external: bool) -> None:
    """Move the checked graph from the scratch folder to ``out_path``.

    A graph that keeps weights outside itself (torch does so past protobuf's 2 GB limit, one file
    per tensor, named after it) or ``external`` is saved again with all weights in one
    ``<name>.data`` beside ``out_path``, which the graph names relatively; moving the ``.onnx``
    alone would leave it pointing at files in the scratch folder.
    """
    if not external and not external_data_locations(graph):
        graph.replace(out_path)
        return
    model = onnx.load(str(graph))  # reads the weights back in, wherever they are
    location = f"{out_path.name}.data"
    side_file = out_path.parent / location
    # onnx appends to an existing data file: start from an empty one.
    side_file.unlink(missing_ok=True)
    out_path.unlink(missing_ok=True)
    onnx.save_model(model, str(out_path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location)


def _round(value: float) -> float:
    return float(f"{value:.4g}")
