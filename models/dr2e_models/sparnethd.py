"""SPARNet / SPARNetHD, the face super-resolution network DR2 uses as its enhancer.

Architecture from "Learning Spatial Attention for Face Super-Resolution" (Chen et al., TIP 2020),
re-implemented for dr2e. The module tree reproduces the state-dict names of the public
Face-SPARNet code (``encoder.1.conv1.conv2d.weight_orig``, ``res_layers.0.preact_func.0.norm.weight``
...), so the published ``SPARNetHD_FFHQ_DR2aug.pth`` loads strictly once spectral norm is folded
(see :func:`dr2e_models.checkpoints.fold_spectral_norm`).

Structure (all convolutions reflection-padded, stride 2 for "down", nearest 2x before the conv
for "up"):

* ``encoder.0``: conv 3 -> n_ch; then one down-sampling residual block per halving down to
  ``min_feat_size``;
* ``res_layers``: ``res_depth + 3 - down_steps`` residual blocks at the bottleneck;
* ``decoder``: one up-sampling residual block per doubling up to ``out_size``;
* ``out_conv``: conv to 3 channels, no activation.

A residual block is ``shortcut(x) + attention(conv2(conv1(act(norm(x)))))`` where the
attention is a small hourglass producing a sigmoid map (1 channel for the 2D "spar" variant,
``c_out`` channels for "spar3d") that multiplies the branch. Channel counts follow the
reference: ``n_ch = clip(max_ch // (log2(in_size / min_feat_size) + 1))`` doubled per level
and clipped to ``[min_ch, max_ch]``, which gives 102, 204, 408, 512 for SPARNetHD-512.

Example::

    from dr2e_models.sparnethd import SPARNetConfig, build_sparnet
    net = build_sparnet(SPARNetConfig.sparnethd_512()).eval()
    restored = net(image)   # [B, 3, 512, 512] in [-1, 1] -> [B, 3, 512, 512]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SPARNetConfig", "SPARNet", "build_sparnet"]

_NORMS = ("in", "bn", "gn", "none")
_ACTIVATIONS = ("leakyrelu", "relu", "prelu", "none")
_ATTENTIONS = ("spar", "spar3d")
_INPUT_SKIPS = ("none", "bilinear", "bicubic")


@dataclass(frozen=True)
class SPARNetConfig:
    """Hyper-parameters of a SPARNet generator (defaults: SPARNetHD-512 as used by DR2)."""

    in_size: int = 512
    out_size: int = 512
    min_ch: int = 32
    max_ch: int = 512
    min_feat_size: int = 32
    res_depth: int = 10
    #: Spatial side at the bottom of the first block's hourglass; sets the hourglass depths.
    bottleneck_size: int = 4
    norm: str = "in"
    activation: str = "leakyrelu"
    attention: str = "spar"
    #: Width of the attention hourglasses (64 in the reference code).
    attention_channels: int = 64
    #: Whether the checkpoint's convolutions carry spectral normalisation
    #: (``weight_orig``/``weight_u``/``weight_v``). It is folded away for inference.
    spectral_norm: bool = True
    #: dr2e extension, off for the published weights: add a resized copy of the input to the
    #: output so that a small network only learns a residual.
    input_skip: str = "none"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for configurations the architecture cannot build."""
        for label, size in (("in_size", self.in_size), ("out_size", self.out_size)):
            ratio = size / self.min_feat_size
            if ratio < 1 or ratio != 2 ** round(math.log2(ratio)):
                raise ValueError(f"{label} {size} must be min_feat_size {self.min_feat_size} times a power of two")
        if self.out_size < self.in_size:
            raise ValueError("out_size must be at least in_size")
        if self.norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}")
        if self.attention not in _ATTENTIONS:
            raise ValueError(f"attention must be one of {_ATTENTIONS}")
        if self.input_skip not in _INPUT_SKIPS:
            raise ValueError(f"input_skip must be one of {_INPUT_SKIPS}")
        if self.bottleneck_size < 1 or self.bottleneck_size > 64:
            raise ValueError("bottleneck_size must be within 1..64")
        if self.res_depth + 3 - self.down_steps < 0:
            raise ValueError("res_depth too small for the number of down steps")
        smallest = 2 if self.norm == "in" else 1  # instance norm needs more than one value per map
        for where, side, depth in self.hourglasses():
            if depth < 0:
                raise ValueError(f"{where}: hourglass depth {depth} < 0; raise bottleneck_size")
            if depth > 0 and side // 2**depth < smallest:
                raise ValueError(
                    f"{where}: a {side}x{side} map cannot be halved {depth} times by its attention hourglass;"
                    " raise bottleneck_size (each doubling removes one halving everywhere)"
                )

    def hourglasses(self) -> list[tuple[str, int, int]]:
        """``(block, feature side, hourglass depth)`` of every residual block, as built."""
        first = int(math.log2(64 / self.bottleneck_size))
        result = []
        for i in range(self.down_steps):
            result.append((f"encoder.{i + 1}", self.in_size // 2 ** (i + 1), first - i))
        bottom = first - self.down_steps + 1
        for i in range(self.res_depth + 3 - self.down_steps):
            result.append((f"res_layers.{i}", self.min_feat_size, bottom))
        for i in range(self.up_steps):
            result.append((f"decoder.{i}", self.min_feat_size * 2 ** (i + 1), bottom + i + 1))
        return result

    @property
    def down_steps(self) -> int:
        return int(round(math.log2(self.in_size // self.min_feat_size)))

    @property
    def up_steps(self) -> int:
        return int(round(math.log2(self.out_size // self.min_feat_size)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; ``from_dict`` reverses it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SPARNetConfig":
        """Build from a dict, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"arch"})
        if unknown:
            raise ValueError(f"unknown SPARNet config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def sparnethd_512(cls) -> "SPARNetConfig":
        """SPARNetHD as trained for DR2 (``SPARNetHD_FFHQ_DR2aug.pth``)."""
        return cls()


class NormLayer(nn.Module):
    """Wraps the normalisation in a child named ``norm`` (as the reference state dicts expect)."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "in":
            self.norm: nn.Module = nn.InstanceNorm2d(channels, affine=True)
        elif kind == "bn":
            self.norm = nn.BatchNorm2d(channels)
        elif kind == "gn":
            self.norm = nn.GroupNorm(32, channels, affine=True)
        elif kind == "none":
            self.norm = nn.Identity()
        else:
            raise ValueError(kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.norm(x)


class ActivationLayer(nn.Module):
    """Wraps the activation in a child named ``func``; LeakyReLU uses slope 0.2."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        if kind == "leakyrelu":
            self.func: nn.Module = nn.LeakyReLU(0.2)
        elif kind == "relu":
            self.func = nn.ReLU()
        elif kind == "prelu":
            self.func = nn.PReLU(channels)
        elif kind == "none":
            self.func = nn.Identity()
        else:
            raise ValueError(kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.func(x)


class ConvLayer(nn.Module):
    """[nearest 2x up] -> reflection pad -> conv (stride 2 when down) -> norm -> activation.

    The conv has a bias only when no normalisation follows it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        scale: str = "none",
        norm: str = "none",
        activation: str = "none",
    ) -> None:
        super().__init__()
        self.upsample = scale == "up"
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=2 if scale == "down" else 1,
            bias=norm == "none",
        )
        self.norm = NormLayer(out_channels, norm)
        self.relu = ActivationLayer(out_channels, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.pad:
            x = reflect_pad(x, self.pad)
        return self.relu(self.norm(self.conv2d(x)))


class _ReflectPadForExport(torch.autograd.Function):
    """Reflection padding that exports as one ONNX ``Pad`` node with constant pads.

    torch 1.13 otherwise exports ``F.pad(mode="reflect")`` with a chain of ~16 shape-computing
    nodes per convolution.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, pad: int) -> torch.Tensor:  # noqa: D102
        return F.pad(x, (pad, pad, pad, pad), mode="reflect")

    @staticmethod
    def symbolic(g: Any, x: Any, pad: int) -> Any:  # noqa: D102
        pads = g.op("Constant", value_t=torch.tensor([0, 0, pad, pad, 0, 0, pad, pad], dtype=torch.int64))
        return g.op("Pad", x, pads, mode_s="reflect")


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflection-pad the two spatial axes by ``pad`` on every side."""
    if torch.onnx.is_in_onnx_export():
        return _ReflectPadForExport.apply(x, pad)
    return F.pad(x, (pad, pad, pad, pad), mode="reflect")


class HourGlassBlock(nn.Module):
    """Recursive hourglass that turns features into a sigmoid attention map and applies it.

    Level ``L`` (from ``depth`` down to 1) has ``b1_L`` (same size), ``b2_L`` (down), then either
    the next level or, at the bottom, ``b2_plus_1``, and ``b3_L`` (up); it returns
    ``b1_L(x) + b3_L(inner(b2_L(x)))``. ``out_block`` maps the result to the attention map.
    Depth 0 means no attention (the block is the identity).
    """

    def __init__(self, depth: int, c_in: int, c_out: int, c_mid: int, norm: str, activation: str) -> None:
        super().__init__()
        self.depth = depth
        self.c_in, self.c_mid, self.c_out = c_in, c_mid, c_out
        self._norm, self._activation = norm, activation
        if depth > 0:
            self._add_level(depth)
            self.out_block = nn.Sequential(ConvLayer(c_mid, c_out), nn.Sigmoid())

    def _add_level(self, level: int) -> None:
        # Registration order matters only for state-dict order; it mirrors the reference files.
        c1 = self.c_in if level == self.depth else self.c_mid
        conv = self._conv
        self.add_module(f"b1_{level}", conv(c1, self.c_mid, "none"))
        self.add_module(f"b2_{level}", conv(c1, self.c_mid, "down"))
        if level > 1:
            self._add_level(level - 1)
        else:
            self.add_module(f"b2_plus_{level}", conv(self.c_mid, self.c_mid, "none"))
        self.add_module(f"b3_{level}", conv(self.c_mid, self.c_mid, "up"))

    def _conv(self, c_in: int, c_out: int, scale: str) -> ConvLayer:
        return ConvLayer(c_in, c_out, 3, scale, norm=self._norm, activation=self._activation)

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        same = self._modules[f"b1_{level}"](x)  # type: ignore[misc]
        lower = self._modules[f"b2_{level}"](x)  # type: ignore[misc]
        if level > 1:
            lower = self._level(level - 1, lower)
        else:
            lower = self._modules[f"b2_plus_{level}"](lower)  # type: ignore[misc]
        lower = self._modules[f"b3_{level}"](lower)  # type: ignore[misc]
        if lower.shape[2:] != same.shape[2:]:
            # Odd sizes: stride-2 then 2x up does not come back to the same side.
            lower = F.interpolate(lower, size=tuple(same.shape[2:]), mode="nearest")
        return same + lower

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.depth == 0:
            return x
        attention_map = self.out_block(self._level(self.depth, x))
        return x * attention_map


class ResidualBlock(nn.Module):
    """Pre-activation residual block with spatial attention on its branch."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        scale: str,
        hg_depth: int,
        norm: str,
        activation: str,
        attention: str,
        attention_channels: int,
    ) -> None:
        super().__init__()
        if scale == "none" and c_in == c_out:
            self.shortcut_func: nn.Module = nn.Identity()
        else:
            self.shortcut_func = ConvLayer(c_in, c_out, 3, scale)
        self.preact_func = nn.Sequential(NormLayer(c_in, norm), ActivationLayer(c_in, activation))
        first_scale, second_scale = {"down": ("none", "down"), "up": ("up", "none"), "none": ("none", "none")}[
            scale
        ]
        self.conv1 = ConvLayer(c_in, c_out, 3, first_scale, norm=norm, activation=activation)
        self.conv2 = ConvLayer(c_out, c_out, 3, second_scale, norm=norm, activation="none")
        attention_out = 1 if attention == "spar" else c_out
        self.att_func = HourGlassBlock(hg_depth, c_out, attention_out, attention_channels, norm, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        branch = self.conv2(self.conv1(self.preact_func(x)))
        return self.shortcut_func(x) + self.att_func(branch)


class SPARNet(nn.Module):
    """SPARNet generator: ``forward(image [B, 3, in, in]) -> [B, 3, out, out]``."""

    def __init__(self, config: SPARNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config

        def clip(channels: int) -> int:
            return max(c.min_ch, min(channels, c.max_ch))

        def block(c_in: int, c_out: int, scale: str, depth: int) -> ResidualBlock:
            return ResidualBlock(
                c_in, c_out, scale, depth, c.norm, c.activation, c.attention, c.attention_channels
            )

        n_ch = clip(c.max_ch // (c.down_steps + 1))
        hg_depth = int(math.log2(64 / c.bottleneck_size))

        encoder: list[nn.Module] = [ConvLayer(3, n_ch, 3)]
        for _ in range(c.down_steps):
            encoder.append(block(clip(n_ch), clip(n_ch * 2), "down", hg_depth))
            n_ch *= 2
            hg_depth -= 1
        hg_depth += 1
        self.encoder = nn.Sequential(*encoder)

        width = clip(n_ch)
        self.res_layers = nn.Sequential(
            *[block(width, width, "none", hg_depth) for _ in range(c.res_depth + 3 - c.down_steps)]
        )

        decoder: list[nn.Module] = []
        for _ in range(c.up_steps):
            hg_depth += 1
            decoder.append(block(clip(n_ch), clip(n_ch // 2), "up", hg_depth))
            n_ch //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_conv = ConvLayer(clip(n_ch), 3, 3)

        if c.spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, nn.Conv2d):
                    nn.utils.spectral_norm(module)

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.out_conv(self.decoder(self.res_layers(self.encoder(image))))
        if self.config.input_skip != "none":
            out = out + _resize(image, self.config.out_size, self.config.input_skip)
        return out


def _resize(image: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    return F.interpolate(image, size=(size, size), mode=mode, align_corners=False)


def build_sparnet(config: SPARNetConfig | Mapping[str, Any] | None = None) -> SPARNet:
    """Build a SPARNet from a :class:`SPARNetConfig` or its dict form (default: SPARNetHD-512).

    With ``config.spectral_norm`` the convolutions get torch's spectral normalisation, so the
    module's state dict has the published names (``weight_orig``/``weight_u``/``weight_v``);
    use :func:`dr2e_models.checkpoints.remove_spectral_norm_hooks` (or build with
    ``spectral_norm=False`` and load a folded state dict) for export.
    """
    if config is None:
        config = SPARNetConfig()
    elif not isinstance(config, SPARNetConfig):
        config = SPARNetConfig.from_dict(config)
    return SPARNet(config)
