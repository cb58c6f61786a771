"""SPARNet / SPARNetHD: published layout, block semantics, spectral-norm folding."""

from __future__ import annotations

import unittest

import torch
from torch.nn import functional as F

from dr2e_models.checkpoints import fold_spectral_norm
from dr2e_models.sparnethd import ConvLayer, HourGlassBlock, SPARNetConfig, build_sparnet

from ._support import SeededTestCase, layout, random_state

SMALL = dict(in_size=64, out_size=128, min_ch=8, max_ch=32, min_feat_size=16, res_depth=1, bottleneck_size=16,
             attention_channels=8)


def _instance_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * weight[None, :, None, None] + bias[None, :, None, None]


def _randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)


class PublishedLayoutTest(SeededTestCase):
    def test_sparnethd_512_has_exactly_the_published_names_shapes_and_order(self) -> None:
        expected = layout("sparnethd-2d-512.json")
        model = build_sparnet(SPARNetConfig.sparnethd_512())
        got = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
        self.assertEqual(got, expected)

    def test_channel_plan_follows_the_reference_formula(self) -> None:
        model = build_sparnet(SPARNetConfig.sparnethd_512())
        widths = [model.encoder[0].conv2d.out_channels]
        widths += [block.conv2.conv2d.out_channels for block in model.encoder[1:]]
        self.assertEqual(widths, [102, 204, 408, 512, 512])
        self.assertEqual(len(model.res_layers), 9)
        self.assertEqual([block.att_func.depth for block in model.decoder], [2, 3, 4, 5])


class BlockSemanticsTest(SeededTestCase):
    def test_conv_layer_pads_by_reflection_and_strides_when_down(self) -> None:
        layer = ConvLayer(4, 6, 3, "down", norm="in", activation="leakyrelu")
        _randomise(layer, seed=1)
        x = torch.randn(2, 4, 8, 8)
        expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), layer.conv2d.weight, stride=2)
        expected = F.leaky_relu(_instance_norm(expected, layer.norm.norm.weight, layer.norm.norm.bias), 0.2)
        self.assertIsNone(layer.conv2d.bias)  # a normalised conv has no bias
        torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)

    def test_conv_layer_up_is_nearest_then_conv(self) -> None:
        layer = ConvLayer(4, 2, 3, "up")
        _randomise(layer, seed=2)
        x = torch.randn(1, 4, 5, 5)
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        expected = F.conv2d(F.pad(up, (1, 1, 1, 1), mode="reflect"), layer.conv2d.weight, layer.conv2d.bias)
        torch.testing.assert_close(layer(x), expected)

    def test_hourglass_multiplies_input_by_a_sigmoid_map(self) -> None:
        block = HourGlassBlock(1, c_in=4, c_out=1, c_mid=8, norm="in", activation="leakyrelu")
        _randomise(block, seed=3)
        x = torch.randn(2, 4, 8, 8)
        branch = block.b1_1(x) + block.b3_1(block.b2_plus_1(block.b2_1(x)))
        attention = torch.sigmoid(block.out_block[0](branch))
        self.assertEqual(tuple(attention.shape), (2, 1, 8, 8))
        torch.testing.assert_close(block(x), x * attention)

    def test_depth_zero_hourglass_is_the_identity(self) -> None:
        block = HourGlassBlock(0, 4, 1, 8, "in", "leakyrelu")
        x = torch.randn(1, 4, 4, 4)
        self.assertIs(block(x), x)


class SpectralNormFoldingTest(SeededTestCase):
    def test_folded_weights_reproduce_torch_spectral_norm_in_eval_mode(self) -> None:
        # Prepare: a spectrally normalised net whose u, v have been updated by training steps.
        config = SPARNetConfig(**SMALL, spectral_norm=True)
        normalised = build_sparnet(config)
        _randomise(normalised, seed=4)
        normalised.train()
        with torch.no_grad():
            for _ in range(2):
                normalised(torch.rand(2, 3, 64, 64) * 2 - 1)
        normalised.eval()
        image = torch.rand(2, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            expected = normalised(image)
        # Act
        plain = build_sparnet(SPARNetConfig(**SMALL, spectral_norm=False)).eval()
        plain.load_state_dict(fold_spectral_norm(normalised.state_dict()), strict=True)
        with torch.no_grad():
            got = plain(image)
        # Assess
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

    def test_folding_uses_sigma_u_dot_w_v(self) -> None:
        # Prepare: seeded, with u and v from a few power iterations as torch keeps them, so sigma
        # is near the top singular value (random u, v can make u.Wv almost 0 and weight / sigma
        # large enough for float32 rounding to exceed any fixed tolerance).
        generator = torch.Generator().manual_seed(11)
        weight = torch.randn(4, 3, 3, 3, generator=generator)
        matrix = weight.reshape(4, -1).double()
        v = F.normalize(torch.randn(27, generator=generator).double(), dim=0)
        for _ in range(3):
            u = F.normalize(matrix @ v, dim=0)
            v = F.normalize(matrix.t() @ u, dim=0)
        state = {"c.weight_orig": weight, "c.weight_u": u.float(), "c.weight_v": v.float(),
                 "c.bias": torch.ones(4)}
        # Act
        folded = fold_spectral_norm(state)
        # Assess: the expected sigma in float64 from the same float32 u, v.
        self.assertEqual(sorted(folded), ["c.bias", "c.weight"])
        sigma = float(u.float().double() @ matrix @ v.float().double())
        self.assertGreater(sigma, 1.0)
        torch.testing.assert_close(folded["c.weight"].double(), weight.double() / sigma,
                                   rtol=1e-5, atol=1e-6)

    def test_published_layout_folds_into_the_plain_model(self) -> None:
        state = random_state(layout("sparnethd-2d-512.json"), seed=5)
        plain = build_sparnet(SPARNetConfig(spectral_norm=False))
        result = plain.load_state_dict(fold_spectral_norm(state), strict=True)
        self.assertEqual((list(result.missing_keys), list(result.unexpected_keys)), ([], []))


class ConfigurationsTest(SeededTestCase):
    def test_small_config_upscales_64_to_128_for_any_batch(self) -> None:
        model = build_sparnet(SPARNetConfig(**SMALL)).eval()
        for batch in (1, 3):
            with torch.no_grad():
                out = model(torch.rand(batch, 3, 64, 64) * 2 - 1)
            self.assertEqual(tuple(out.shape), (batch, 3, 128, 128))

    def test_input_skip_adds_the_resized_input(self) -> None:
        model = build_sparnet(SPARNetConfig(**SMALL, spectral_norm=False, input_skip="bicubic")).eval()
        with torch.no_grad():
            model.out_conv.conv2d.weight.zero_()
            model.out_conv.conv2d.bias.zero_()
            image = torch.rand(1, 3, 64, 64) * 2 - 1
            expected = F.interpolate(image, size=(128, 128), mode="bicubic", align_corners=False)
            torch.testing.assert_close(model(image), expected)

    def test_hourglass_deeper_than_the_feature_map_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "bottleneck_size"):
            SPARNetConfig(in_size=32, out_size=64, min_feat_size=8, bottleneck_size=4)

    def test_config_round_trips_through_a_dict(self) -> None:
        config = SPARNetConfig(**SMALL)
        self.assertEqual(SPARNetConfig.from_dict(config.to_dict()), config)
        with self.assertRaisesRegex(ValueError, "bogus"):
            SPARNetConfig.from_dict({"bogus": 1})


if __name__ == "__main__":
    unittest.main()
