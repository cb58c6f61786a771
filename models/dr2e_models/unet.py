"""The guided-diffusion (ADM) U-Net family, written for dr2e.

DR2's diffusion model (``DR2_FFHQ.pkl``), ILVR's ``ffhq_10m.pt`` and P2-weighting's
``ffhq_p2.pt`` are all instances of the U-Net described in "Diffusion Models Beat GANs on Image
Synthesis" (Dhariwal & Nichol, 2021) and "Improved DDPM" (Nichol & Dhariwal, 2021). This module
re-implements that architecture so that:

* the module tree produces exactly the state-dict names and shapes of those checkpoints
  (``time_embed.0.weight``, ``input_blocks.1.0.in_layers.2.weight``, ...), so they load with
  ``strict=True``;
* the forward pass computes the same function (same timestep embedding, GroupNorm in float32,
  FiLM "scale-shift" conditioning, legacy head ordering in attention, ...);
* the graph exports cleanly to ONNX with a dynamic batch axis (no einsum, no batch size baked in).

Everything is driven by :class:`UNetConfig`, a frozen dataclass that serialises to a plain dict
(``config.to_dict()`` / ``UNetConfig.from_dict``) so that the exact architecture can be stored
next to a checkpoint or in an ONNX manifest and rebuilt later with :func:`build_unet`.

Example::

    from dr2e_models.unet import UNetConfig, build_unet
    model = build_unet(UNetConfig.dr2_ffhq_256()).eval()
    eps_and_var = model(x, t)    # x: [B, 3, 256, 256] float32, t: [B] int64 in 0..999
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "UNetConfig",
    "UNetModel",
    "build_unet",
    "timestep_embedding",
    "ResBlock",
    "AttentionBlock",
]


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of one U-Net of the guided-diffusion family.

    Field names follow guided-diffusion's ``create_model`` arguments where one exists, so a
    config can be read off the flags a checkpoint was trained with.
    """

    image_size: int = 256
    in_channels: int = 3
    model_channels: int = 128
    #: 6 = noise + learned-range variance ("learn_sigma"), 3 = noise only.
    out_channels: int = 6
    num_res_blocks: int = 1
    #: Downsample *rates* (1 = full resolution) at which self-attention is used. guided-diffusion's
    #: command line takes resolutions instead: rate = image_size // resolution.
    attention_resolutions: tuple[int, ...] = (16,)
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    #: Number of heads when ``num_head_channels`` is -1.
    num_heads: int = 4
    #: Channels per head; when set (not -1) it overrides ``num_heads``.
    num_head_channels: int = 64
    #: Heads in the decoder's attention blocks; -1 = same as ``num_heads``.
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    #: Only used when ``resblock_updown`` is False: convolve after upsampling / stride-2 conv.
    conv_resample: bool = True
    dropout: float = 0.0
    #: GroupNorm groups; guided-diffusion always uses 32. Smaller values allow tiny models.
    norm_groups: int = 32
    #: guided-diffusion's default (False) splits heads with the "legacy" channel order.
    use_new_attention_order: bool = False

    def __post_init__(self) -> None:
        # Lists from JSON become tuples so the config stays hashable and comparable.
        object.__setattr__(self, "attention_resolutions", tuple(int(r) for r in self.attention_resolutions))
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for combinations the architecture cannot build."""
        levels = len(self.channel_mult)
        if levels < 1:
            raise ValueError("channel_mult needs at least one level")
        if self.image_size % (2 ** (levels - 1)) != 0:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 2^{levels - 1} (one halving per level)"
            )
        for mult in self.channel_mult:
            channels = self.model_channels * mult
            if channels % self.norm_groups != 0:
                raise ValueError(f"{channels} channels are not divisible into {self.norm_groups} norm groups")
        for channels in self.attention_channels():
            if self.num_head_channels != -1 and channels % self.num_head_channels != 0:
                raise ValueError(
                    f"attention over {channels} channels cannot use {self.num_head_channels} channels per head"
                )
            if self.num_head_channels == -1 and channels % self.num_heads != 0:
                raise ValueError(f"attention over {channels} channels cannot use {self.num_heads} heads")
        if self.num_head_channels == -1 and self.num_heads < 1:
            raise ValueError("num_heads must be at least 1 when num_head_channels is -1")

    def attention_channels(self) -> list[int]:
        """Channel counts of the levels that carry attention (for validation)."""
        result = [
            self.model_channels * mult
            for level, mult in enumerate(self.channel_mult)
            if 2**level in self.attention_resolutions
        ]
        # The middle block always has attention, at the deepest width.
        result.append(self.model_channels * self.channel_mult[-1])
        return result

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4

    @property
    def learned_sigma(self) -> bool:
        return self.out_channels == 2 * self.in_channels

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists); ``from_dict`` reverses it."""
        data = asdict(self)
        data["attention_resolutions"] = list(self.attention_resolutions)
        data["channel_mult"] = list(self.channel_mult)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UNetConfig":
        """Build from a dict, refusing unknown keys so a typo cannot pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"arch"})
        if unknown:
            raise ValueError(f"unknown U-Net config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def dr2_ffhq_256(cls) -> "UNetConfig":
        """The configuration of DR2_FFHQ.pkl (and ILVR / P2 FFHQ-256 models)."""
        return cls()


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, ``[B] -> [B, dim]``.

    The first half of the vector holds cosines, the second half sines, of ``t * f_i`` with
    ``f_i = exp(-ln(max_period) * i / half)`` for ``i = 0..half-1``; odd ``dim`` gets a zero pad.
    """
    half = dim // 2
    frequencies = _frequencies(half, max_period, timesteps.device)
    angles = timesteps[:, None].float() * frequencies[None, :]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2 == 1:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def _frequencies(half: int, max_period: float, device: torch.device | None = None) -> torch.Tensor:
    # Same operation order as the reference formula so the float32 constants agree bit for bit.
    steps = torch.arange(0, half, dtype=torch.float32, device=device)
    return torch.exp(-math.log(max_period) * steps / half)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm evaluated in float32 whatever the activation dtype (as guided-diffusion does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dtype == torch.float32:
            # No casts to trace: keeps the exported float32 graph free of no-op Cast nodes.
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).type(x.dtype)


def _norm(channels: int, groups: int) -> GroupNorm32:
    return GroupNorm32(groups, channels)


def _zeroed(module: nn.Module) -> nn.Module:
    """Zero a module's parameters: residual branches start as the identity when training."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class _Resample(nn.Module):
    """Factor-2 change of resolution without parameters: nearest upsample or 2x2 average pool."""

    def __init__(self, direction: str) -> None:
        super().__init__()
        if direction not in ("up", "down"):
            raise ValueError(direction)
        self.direction = direction

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.direction == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class Upsample(nn.Module):
    """Stand-alone upsampling layer (used when ``resblock_updown`` is off); parameter ``conv``."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        elif out_channels != channels:
            raise ValueError("changing channels needs use_conv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """Stand-alone downsampling layer (used when ``resblock_updown`` is off); parameter ``op``."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        elif out_channels != channels:
            raise ValueError("changing channels needs use_conv")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding, optionally changing resolution.

    ``in_layers`` = [GroupNorm, SiLU, conv3x3]; ``emb_layers`` = [SiLU, Linear] producing
    either a bias (``out_ch``) or a scale and a shift (``2 * out_ch``); ``out_layers`` =
    [GroupNorm, SiLU, Dropout, conv3x3]. With scale-shift the normalised activations become
    ``norm(h) * (1 + scale) + shift`` before the SiLU. When the block resamples, both the branch
    (after norm+SiLU, before its first conv) and the identity path are resampled.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_scale_shift_norm: bool = False,
        up: bool = False,
        down: bool = False,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            _norm(channels, norm_groups),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.resamples = up or down
        if up and down:
            raise ValueError("a block cannot go both up and down")
        if self.resamples:
            direction = "up" if up else "down"
            self.h_upd: nn.Module = _Resample(direction)
            self.x_upd: nn.Module = _Resample(direction)
        else:
            self.h_upd = nn.Identity()
            self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            _norm(out_channels, norm_groups),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            _zeroed(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.resamples:
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[2](h)
        else:
            h = self.in_layers(x)
        conditioning = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = torch.chunk(conditioning, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            for layer in self.out_layers[1:]:
                h = layer(h)
        else:
            h = self.out_layers(h + conditioning)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all spatial positions, with a residual connection.

    ``qkv`` is a 1x1 Conv1d to ``3 * channels``. With the legacy order (guided-diffusion's
    default) the ``3 * channels`` axis is laid out head by head, each head holding its own
    ``[q, k, v]`` slices of ``head_channels``; the new order holds all q, then all k, then all v.
    q and k are each scaled by ``head_channels ** -0.25`` before the dot product, and the softmax
    runs in float32.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_new_attention_order: bool = False,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        self.channels = channels
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels != 0:
                raise ValueError(f"{channels} channels do not split into heads of {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.head_channels = channels // self.num_heads
        self.use_new_attention_order = use_new_attention_order
        self.norm = _norm(channels, norm_groups)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = _zeroed(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        height, width = x.shape[-2], x.shape[-1]
        flat = x.flatten(2)  # [B, C, L]
        qkv = self.qkv(self.norm(flat))
        attended = self._attend(qkv)
        h = self.proj_out(attended)
        return (flat + h).reshape(-1, self.channels, height, width)

    def _attend(self, qkv: torch.Tensor) -> torch.Tensor:
        length = qkv.shape[-1]
        heads, head_ch = self.num_heads, self.head_channels
        if self.use_new_attention_order:
            q, k, v = qkv.chunk(3, dim=1)
            q = q.reshape(-1, head_ch, length)
            k = k.reshape(-1, head_ch, length)
            v = v.reshape(-1, head_ch, length)
        else:
            per_head = qkv.reshape(-1, 3 * head_ch, length)  # [B * heads, 3 * head_ch, L]
            q, k, v = per_head.split(head_ch, dim=1)
        scale = 1.0 / math.sqrt(math.sqrt(head_ch))
        # weights[b, t, s] = sum_c q[b, c, t] k[b, c, s]
        weights = torch.matmul((q * scale).transpose(1, 2), k * scale)
        weights = torch.softmax(weights.float(), dim=-1).type(weights.dtype)
        # out[b, c, t] = sum_s v[b, c, s] weights[b, t, s]
        out = torch.matmul(v, weights.transpose(1, 2))
        return out.reshape(-1, heads * head_ch, length)


class TimestepEmbedSequential(nn.Sequential):
    """A sequence whose residual blocks also receive the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNetModel(nn.Module):
    """The ADM U-Net: ``forward(x [B, C, S, S], t [B]) -> [B, out_channels, S, S]``."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        emb_dim = c.time_embed_dim
        heads_up = c.num_heads if c.num_heads_upsample == -1 else c.num_heads_upsample

        def res_block(ch_in: int, ch_out: int, up: bool = False, down: bool = False) -> ResBlock:
            return ResBlock(
                ch_in,
                emb_dim,
                c.dropout,
                out_channels=ch_out,
                use_scale_shift_norm=c.use_scale_shift_norm,
                up=up,
                down=down,
                norm_groups=c.norm_groups,
            )

        def attention(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(
                ch,
                num_heads=heads,
                num_head_channels=c.num_head_channels,
                use_new_attention_order=c.use_new_attention_order,
                norm_groups=c.norm_groups,
            )

        self.time_embed = nn.Sequential(
            nn.Linear(c.model_channels, emb_dim),
            nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )

        ch = c.model_channels * c.channel_mult[0]
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        skip_channels = [ch]
        rate = 1
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                layers: list[nn.Module] = [res_block(ch, c.model_channels * mult)]
                ch = c.model_channels * mult
                if rate in c.attention_resolutions:
                    layers.append(attention(ch, c.num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(c.channel_mult) - 1:
                if c.resblock_updown:
                    down: nn.Module = res_block(ch, ch, down=True)
                else:
                    down = Downsample(ch, c.conv_resample)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_channels.append(ch)
                rate *= 2

        self.middle_block = TimestepEmbedSequential(
            res_block(ch, ch),
            attention(ch, c.num_heads),
            res_block(ch, ch),
        )

        self.output_blocks = nn.ModuleList([])
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            for index in range(c.num_res_blocks + 1):
                skip = skip_channels.pop()
                layers = [res_block(ch + skip, c.model_channels * mult)]
                ch = c.model_channels * mult
                if rate in c.attention_resolutions:
                    layers.append(attention(ch, heads_up))
                if level > 0 and index == c.num_res_blocks:
                    if c.resblock_updown:
                        layers.append(res_block(ch, ch, up=True))
                    else:
                        layers.append(Upsample(ch, c.conv_resample))
                    rate //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            _norm(ch, c.norm_groups),
            nn.SiLU(),
            _zeroed(nn.Conv2d(ch, c.out_channels, 3, padding=1)),
        )

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # The embedding stays float32 even in a half-precision model (its angles reach ~1000 rad).
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels))

        h = x
        skips: list[torch.Tensor] = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


def build_unet(config: UNetConfig | Mapping[str, Any] | None = None) -> UNetModel:
    """Build a U-Net from a :class:`UNetConfig` or its dict form (default: DR2 FFHQ-256)."""
    if config is None:
        config = UNetConfig()
    elif not isinstance(config, UNetConfig):
        config = UNetConfig.from_dict(config)
    return UNetModel(config)


def parameter_count(module: nn.Module) -> int:
    """Number of scalars in a module's parameters."""
    return sum(p.numel() for p in module.parameters())


def state_dict_layout(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """``[(name, shape), ...]`` of a module's persistent state, in state-dict order."""
    return [(name, tuple(tensor.shape)) for name, tensor in module.state_dict().items()]
