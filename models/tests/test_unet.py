"""The guided-diffusion U-Net: published layout, and the semantics each block must reproduce.

The semantic tests compare our modules with the formulas written out independently (loops over
heads, explicit normalisation), so a wrong head order, scale or conditioning fails them.
"""

from __future__ import annotations

import math
import unittest

import torch
from torch.nn import functional as F

from dr2e_models.unet import (
    AttentionBlock,
    ResBlock,
    UNetConfig,
    build_unet,
    timestep_embedding,
)

from ._support import SeededTestCase, layout, random_state


class PublishedLayoutTest(SeededTestCase):
    def test_dr2_preset_has_exactly_the_published_names_shapes_and_order(self) -> None:
        # Prepare
        expected = layout("dr2-ffhq-256-unet.json")
        # Act
        model = build_unet(UNetConfig.dr2_ffhq_256())
        got = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
        # Assess
        self.assertEqual(got, expected)
        self.assertEqual(sum(p.numel() for p in model.parameters()), 93_563_910)

    def test_random_published_state_dict_loads_strictly(self) -> None:
        # Prepare
        state = random_state(layout("dr2-ffhq-256-unet.json"), seed=1)
        model = build_unet()
        # Act
        result = model.load_state_dict(state, strict=True)
        # Assess
        self.assertEqual((list(result.missing_keys), list(result.unexpected_keys)), ([], []))


class TimestepEmbeddingTest(SeededTestCase):
    def test_cosines_then_sines_of_geometric_frequencies(self) -> None:
        # Prepare
        t = torch.tensor([0, 7, 999])
        dim = 8
        # Act
        emb = timestep_embedding(t, dim)
        # Assess
        for row, step in enumerate(t.tolist()):
            for i in range(dim // 2):
                frequency = math.exp(-math.log(10000) * i / (dim // 2))
                self.assertAlmostEqual(emb[row, i].item(), math.cos(step * frequency), places=4)
                self.assertAlmostEqual(emb[row, dim // 2 + i].item(), math.sin(step * frequency), places=4)

    def test_odd_dimension_is_zero_padded(self) -> None:
        emb = timestep_embedding(torch.tensor([3]), 5)
        self.assertEqual(emb.shape, (1, 5))
        self.assertEqual(emb[0, -1].item(), 0.0)


def _group_norm(x: torch.Tensor, norm: torch.nn.GroupNorm) -> torch.Tensor:
    b, c = x.shape[:2]
    grouped = x.reshape(b, norm.num_groups, -1)
    mean = grouped.mean(-1, keepdim=True)
    var = grouped.var(-1, unbiased=False, keepdim=True)
    normed = ((grouped - mean) / torch.sqrt(var + norm.eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return normed * norm.weight.reshape(shape) + norm.bias.reshape(shape)


def _randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)


class AttentionSemanticsTest(SeededTestCase):
    def _reference(self, block: AttentionBlock, x: torch.Tensor, legacy: bool) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        qkv = F.conv1d(_group_norm(flat, block.norm), block.qkv.weight, block.qkv.bias)  # [b, 3c, L]
        heads, ch = block.num_heads, c // block.num_heads
        outputs = []
        for head in range(heads):
            if legacy:  # head-major: [q_h, k_h, v_h] blocks of ch channels, head after head
                base = head * 3 * ch
                q = qkv[:, base : base + ch]
                k = qkv[:, base + ch : base + 2 * ch]
                v = qkv[:, base + 2 * ch : base + 3 * ch]
            else:  # all q, then all k, then all v
                q = qkv[:, head * ch : (head + 1) * ch]
                k = qkv[:, c + head * ch : c + (head + 1) * ch]
                v = qkv[:, 2 * c + head * ch : 2 * c + (head + 1) * ch]
            logits = torch.einsum("bct,bcs->bts", q, k) / math.sqrt(ch)
            outputs.append(torch.einsum("bts,bcs->bct", logits.softmax(-1), v))
        attended = torch.cat(outputs, dim=1)
        out = F.conv1d(attended, block.proj_out.weight, block.proj_out.bias)
        return (flat + out).reshape(b, c, h, w)

    def test_legacy_head_order_matches_per_head_formula(self) -> None:
        # Prepare
        block = AttentionBlock(64, num_head_channels=16, norm_groups=32)
        _randomise(block, seed=3)
        x = torch.randn(2, 64, 4, 5)
        # Act
        got = block(x)
        # Assess
        self.assertEqual(block.num_heads, 4)
        torch.testing.assert_close(got, self._reference(block, x, legacy=True), atol=1e-5, rtol=1e-5)
        # The other order gives a different function: the test can tell them apart.
        self.assertGreater((got - self._reference(block, x, legacy=False)).abs().max().item(), 1e-3)

    def test_new_head_order_option_matches_its_formula(self) -> None:
        block = AttentionBlock(64, num_heads=2, num_head_channels=-1, use_new_attention_order=True)
        _randomise(block, seed=4)
        x = torch.randn(1, 64, 3, 3)
        torch.testing.assert_close(block(x), self._reference(block, x, legacy=False), atol=1e-5, rtol=1e-5)

    def test_projection_starts_at_zero_so_a_fresh_block_is_the_identity(self) -> None:
        block = AttentionBlock(32, num_head_channels=16)
        x = torch.randn(1, 32, 4, 4)
        torch.testing.assert_close(block(x), x)


class ResBlockSemanticsTest(SeededTestCase):
    def _reference(self, block: ResBlock, x: torch.Tensor, emb: torch.Tensor, resample: str | None) -> torch.Tensor:
        h = F.silu(_group_norm(x, block.in_layers[0]))
        if resample == "down":
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        elif resample == "up":
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = block.in_layers[2](h)
        film = F.linear(F.silu(emb), block.emb_layers[1].weight, block.emb_layers[1].bias)
        out_ch = h.shape[1]
        scale, shift = film[:, :out_ch, None, None], film[:, out_ch:, None, None]
        h = _group_norm(h, block.out_layers[0]) * (1 + scale) + shift
        h = block.out_layers[3](F.silu(h))
        skip = x if isinstance(block.skip_connection, torch.nn.Identity) else block.skip_connection(x)
        return skip + h

    def test_scale_shift_conditioning_and_channel_change(self) -> None:
        block = ResBlock(32, 16, 0.0, out_channels=64, use_scale_shift_norm=True)
        _randomise(block, seed=5)
        x, emb = torch.randn(2, 32, 8, 8), torch.randn(2, 16)
        torch.testing.assert_close(block(x, emb), self._reference(block, x, emb, None), atol=1e-5, rtol=1e-5)

    def test_down_and_up_resample_both_paths(self) -> None:
        for direction in ("down", "up"):
            with self.subTest(direction=direction):
                block = ResBlock(32, 16, 0.0, use_scale_shift_norm=True, down=direction == "down", up=direction == "up")
                _randomise(block, seed=6)
                x, emb = torch.randn(1, 32, 8, 8), torch.randn(1, 16)
                got = block(x, emb)
                side = 4 if direction == "down" else 16
                self.assertEqual(tuple(got.shape), (1, 32, side, side))
                torch.testing.assert_close(got, self._reference(block, x, emb, direction), atol=1e-5, rtol=1e-5)

    def test_additive_conditioning_without_scale_shift(self) -> None:
        block = ResBlock(32, 16, 0.0, use_scale_shift_norm=False)
        _randomise(block, seed=7)
        x, emb = torch.randn(1, 32, 4, 4), torch.randn(1, 16)
        h = block.in_layers(x) + block.emb_layers(emb)[:, :, None, None]
        expected = x + block.out_layers(h)
        torch.testing.assert_close(block(x, emb), expected)

    def test_group_norm_runs_in_float32_for_half_inputs(self) -> None:
        block = ResBlock(32, 16, 0.0)
        x = (torch.randn(1, 32, 4, 4) * 300).half()
        normed = block.in_layers[0](x)
        self.assertEqual(normed.dtype, torch.float16)
        torch.testing.assert_close(normed.float(), _group_norm(x.float(), block.in_layers[0]), atol=2e-3, rtol=2e-3)


class ConfigurationsTest(SeededTestCase):
    def test_small_configurations_build_and_keep_shapes(self) -> None:
        cases = [
            dict(image_size=32, model_channels=32, channel_mult=(1, 2), attention_resolutions=(2,),
                 num_head_channels=16),
            dict(image_size=32, model_channels=32, channel_mult=(1, 2), attention_resolutions=(1, 2),
                 num_head_channels=-1,
                 num_heads=2, out_channels=3, use_scale_shift_norm=False),
            dict(image_size=32, model_channels=32, channel_mult=(1, 1, 2), resblock_updown=False, conv_resample=True,
                 num_res_blocks=2, attention_resolutions=(4,), num_head_channels=32),
            dict(image_size=16, model_channels=16, channel_mult=(1, 2), norm_groups=8, resblock_updown=False,
                 conv_resample=False, attention_resolutions=(), num_head_channels=8),
        ]
        for case in cases:
            with self.subTest(case=case):
                config = UNetConfig(**case)
                model = build_unet(config).eval()
                for batch in (1, 3):
                    x = torch.randn(batch, 3, config.image_size, config.image_size)
                    t = torch.randint(0, 1000, (batch,))
                    with torch.no_grad():
                        out = model(x, t)
                    size = config.image_size
                    self.assertEqual(tuple(out.shape), (batch, config.out_channels, size, size))

    def test_batch_items_are_independent(self) -> None:
        config = UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), attention_resolutions=(2,),
                            num_head_channels=16)
        model = build_unet(config).eval()
        _randomise(model, seed=8)
        x, t = torch.randn(3, 3, 16, 16), torch.tensor([5, 500, 995])
        with torch.no_grad():
            together = model(x, t)
            alone = model(x[1:2], t[1:2])
        torch.testing.assert_close(together[1:2], alone, atol=1e-4, rtol=1e-4)

    def test_config_round_trips_through_a_dict_and_refuses_unknown_keys(self) -> None:
        config = UNetConfig(image_size=64, channel_mult=(1, 2, 2), attention_resolutions=(4,))
        data = config.to_dict()
        self.assertEqual(UNetConfig.from_dict(data), config)
        self.assertEqual(UNetConfig.from_dict({**data, "arch": "dr2-unet"}), config)
        with self.assertRaisesRegex(ValueError, "attn_res"):
            UNetConfig.from_dict({**data, "attn_res": 3})

    def test_impossible_configurations_are_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "norm groups"):
            UNetConfig(model_channels=48)
        with self.assertRaisesRegex(ValueError, "divisible"):
            UNetConfig(image_size=100)


if __name__ == "__main__":
    unittest.main()
