"""Reading checkpoints: wrappers, prefixes, pickled modules, refusal of mismatched layouts."""

from __future__ import annotations

import os
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

import torch
from torch import nn

from dr2e_models.checkpoints import (
    CheckpointError,
    CheckpointLayoutError,
    check_layout,
    load_state_dict,
    spectral_norm_layout,
)
from dr2e_models.exporter import checkpoint_layout, default_config, prepare_state_dict
from dr2e_models.sparnethd import SPARNetConfig
from dr2e_models.unet import UNetConfig

from ._support import layout, random_state


def _tiny_state() -> dict[str, torch.Tensor]:
    return {"a.weight": torch.randn(2, 3), "a.bias": torch.randn(2), "b.weight": torch.randn(4, 2, 1, 1)}


class _Marker:
    """Pickles as a call to a function with a side effect (creating a file)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.makedirs, (self.path,))


class WrapperTest(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = tempfile.TemporaryDirectory()
        self.dir = Path(self.scratch.name)

    def tearDown(self) -> None:
        self.scratch.cleanup()

    def _save(self, obj: object, name: str = "ckpt.pt") -> Path:
        path = self.dir / name
        torch.save(obj, path)
        return path

    def test_raw_state_dict(self) -> None:
        state = _tiny_state()
        loaded = load_state_dict(self._save(state))
        self.assertEqual(loaded.container, "")
        self.assertEqual(loaded.kind, "state_dict")
        self.assertEqual(sorted(loaded.state_dict), sorted(state))
        self.assertFalse(loaded.used_restricted_unpickler)

    def test_common_wrappers_prefer_ema_and_strip_module_prefix(self) -> None:
        state = _tiny_state()
        ema = {f"module.{k}": v + 1 for k, v in state.items()}
        loaded = load_state_dict(self._save({"model": state, "ema": ema, "step": 10, "args": {"lr": 1e-4}}))
        self.assertEqual(loaded.container, "ema")
        self.assertEqual(sorted(loaded.state_dict), sorted(state))
        torch.testing.assert_close(loaded.state_dict["a.bias"], state["a.bias"] + 1)

    def test_state_dict_and_model_keys_and_nesting(self) -> None:
        state = _tiny_state()
        for wrapped, container in [
            ({"state_dict": state, "epoch": 3}, "state_dict"),
            ({"model": state}, "model"),
            ({"checkpoint": 1, "model": {"state_dict": state}}, "model.state_dict"),
        ]:
            with self.subTest(container=container):
                loaded = load_state_dict(self._save(wrapped))
                self.assertEqual(loaded.container, container)
                self.assertEqual(sorted(loaded.state_dict), sorted(state))

    def test_explicit_key_overrides_the_search(self) -> None:
        state = _tiny_state()
        path = self._save({"ema": {"x": torch.ones(1)}, "model": state})
        self.assertEqual(sorted(load_state_dict(path, key="model").state_dict), sorted(state))
        with self.assertRaisesRegex(CheckpointError, "no key 'nope'.*ema, model"):
            load_state_dict(path, key="nope")

    def test_pickled_module_of_an_unimportable_class(self) -> None:
        # Prepare: a module whose class lives in a package the loader cannot import.
        package = types.ModuleType("vanished_diffusion")
        sys.modules["vanished_diffusion"] = package

        class Wrapper(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.input_blocks = nn.ModuleList([nn.Conv2d(3, 4, 3)])
                self.register_buffer("scale", torch.tensor([2.0]))

        Wrapper.__module__ = "vanished_diffusion"
        Wrapper.__qualname__ = "Wrapper"
        package.Wrapper = Wrapper  # type: ignore[attr-defined]
        model = Wrapper()
        path = self._save(nn.DataParallel(model))
        del sys.modules["vanished_diffusion"]
        # Act
        loaded = load_state_dict(path)
        # Assess
        self.assertTrue(loaded.used_restricted_unpickler)
        self.assertEqual(loaded.kind, "pickled_module")
        self.assertEqual(sorted(loaded.state_dict), sorted(model.state_dict()))
        torch.testing.assert_close(loaded.state_dict["input_blocks.0.weight"], model.input_blocks[0].weight.detach())

    def test_callables_named_by_a_checkpoint_are_never_called(self) -> None:
        marker = self.dir / "side-effect"
        path = self._save({"state_dict": _tiny_state(), "hook": _Marker(str(marker))})
        loaded = load_state_dict(path)
        self.assertFalse(marker.exists())
        self.assertEqual(sorted(loaded.state_dict), sorted(_tiny_state()))

    def test_torchscript_archives_are_refused_before_anything_in_them_runs(self) -> None:
        # Prepare: a scripted module saved as TorchScript (torch 1.13's torch.load hands such a zip
        # to torch.jit.load even with weights_only=True, which runs the archive's code).
        path = self.dir / "scripted.pt"
        torch.jit.script(nn.Linear(3, 2)).save(str(path))
        # Act
        with mock.patch.object(torch.jit, "load", side_effect=AssertionError("torch.jit.load ran")) as jit_load, \
                self.assertRaises(CheckpointError) as caught:
            load_state_dict(path)
        # Assess
        jit_load.assert_not_called()
        self.assertIn("is a TorchScript archive", str(caught.exception))
        self.assertIn(".state_dict()", str(caught.exception))

    def test_unreadable_and_empty_files_are_refused(self) -> None:
        garbage = self.dir / "garbage.pt"
        garbage.write_bytes(b"not a checkpoint")
        with self.assertRaisesRegex(CheckpointError, "cannot read .*not a PyTorch checkpoint.*starts with b'not a ch'"):
            load_state_dict(garbage)
        # torch.save's legacy (non-zip) format in binary protocols loads as before the sniffing.
        for protocol in (1, 2, 4):
            old = self.dir / f"legacy-{protocol}.pt"
            torch.save(_tiny_state(), old, pickle_protocol=protocol, _use_new_zipfile_serialization=False)
            self.assertEqual(sorted(load_state_dict(old).state_dict), sorted(_tiny_state()))
        # torch.save's legacy format in protocol 0 is one, which the safe readers cannot take: say how to re-save.
        legacy = self.dir / "legacy.pt"
        torch.save(_tiny_state(), legacy, pickle_protocol=0, _use_new_zipfile_serialization=False)
        with self.assertRaisesRegex(CheckpointError, "legacy format in text pickle protocol 0.*re-save it"):
            load_state_dict(legacy)
        # A pickle cut short is a pickle: torch's own reading fails, and says so.
        # (A protocol-0 pickle, which torch.save never writes by default, is still tried.)
        cut = self._save(_tiny_state(), "cut.pt").read_bytes()
        (self.dir / "cut.pt").write_bytes(cut[: len(cut) // 2])
        with self.assertRaisesRegex(CheckpointError, "cannot read"):
            load_state_dict(self.dir / "cut.pt")
        with self.assertRaisesRegex(CheckpointError, "no weights"):
            load_state_dict(self._save({"epoch": 3, "note": "x"}))
        with self.assertRaisesRegex(CheckpointError, "does not exist"):
            load_state_dict(self.dir / "missing.pt")

    def test_files_torch_save_did_not_write_are_named_for_what_they_are(self) -> None:
        # Prepare: a safetensors file (8-byte header length, then its JSON header), a folder, an empty file
        header = b'{"a.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        safetensors = self.dir / "model.safetensors"
        safetensors.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
        empty = self.dir / "empty.pt"
        empty.write_bytes(b"")
        # Act + Assess
        with self.assertRaisesRegex(CheckpointError, "is a safetensors file.*safetensors.torch.load_file"):
            load_state_dict(safetensors)
        with self.assertRaisesRegex(CheckpointError, "is a folder: pass the weights file in it"):
            load_state_dict(self.dir)
        with self.assertRaisesRegex(CheckpointError, "is empty"):
            load_state_dict(empty)

    def test_a_wrapper_prefix_is_stripped_when_asked(self) -> None:
        # Prepare: a Lightning-style checkpoint, every name under the module's "model" attribute
        path = self._save({"state_dict": {f"model.{name}": t for name, t in _tiny_state().items()}})
        # Act
        kept = load_state_dict(path)
        stripped = load_state_dict(path, strip=("model.",))
        # Assess
        self.assertIn("model.a.weight", kept.state_dict)
        self.assertEqual(sorted(stripped.state_dict), sorted(_tiny_state()))


class LayoutCheckTest(unittest.TestCase):
    def test_renamed_tensor_is_reported_as_missing_and_unexpected(self) -> None:
        expected = layout("dr2-ffhq-256-unet.json")
        state = random_state(expected)
        state["input_blocks.1.0.in_layers.2.kernel"] = state.pop("input_blocks.1.0.in_layers.2.weight")
        with self.assertRaises(CheckpointLayoutError) as caught:
            check_layout(state, expected, "dr2-unet")
        message = str(caught.exception)
        self.assertIn("1 missing: input_blocks.1.0.in_layers.2.weight [128, 128, 3, 3]", message)
        self.assertIn("1 unexpected: input_blocks.1.0.in_layers.2.kernel [128, 128, 3, 3]", message)

    def test_reshaped_tensor_is_reported_with_both_shapes(self) -> None:
        expected = layout("dr2-ffhq-256-unet.json")
        state = random_state(expected)
        state["out.2.weight"] = torch.zeros(3, 128, 3, 3)
        report = r"out\.2\.weight is \[3, 128, 3, 3\], expected \[6, 128, 3, 3\]"
        with self.assertRaisesRegex(CheckpointLayoutError, report):
            check_layout(state, expected, "dr2-unet")

    def test_long_lists_are_cut_with_a_count(self) -> None:
        expected = [(f"t{i}", (1,)) for i in range(20)]
        with self.assertRaisesRegex(CheckpointLayoutError, r"20 missing: t0 \[1\].*and 12 more"):
            check_layout({}, expected, "x")

    def test_expected_sparnethd_layout_uses_spectral_norm_names(self) -> None:
        self.assertEqual(checkpoint_layout("sparnethd", default_config("sparnethd")), layout("sparnethd-2d-512.json"))
        self.assertEqual(checkpoint_layout("dr2-unet", default_config("dr2-unet")), layout("dr2-ffhq-256-unet.json"))

    def test_spectral_norm_layout_translation(self) -> None:
        plain = [("c.bias", (4,)), ("c.weight", (4, 3, 3, 3)), ("n.weight", (4,))]
        self.assertEqual(
            spectral_norm_layout(plain, ["c.weight"]),
            [("c.bias", (4,)), ("c.weight_orig", (4, 3, 3, 3)), ("c.weight_u", (4,)), ("c.weight_v", (27,)),
             ("n.weight", (4,))],
        )

    def test_plain_sparnet_checkpoint_needs_spectral_norm_off(self) -> None:
        config = SPARNetConfig(in_size=64, out_size=128, min_ch=8, max_ch=32, min_feat_size=16, res_depth=1,
                               bottleneck_size=16, attention_channels=8, spectral_norm=False)
        plain_state = random_state(checkpoint_layout("sparnethd", config))
        self.assertIn("encoder.0.conv2d.weight", prepare_state_dict("sparnethd", config, plain_state))
        with self.assertRaisesRegex(CheckpointLayoutError, "(?s)weight_orig.*hint: .*--spectral-norm false"):
            normalised = SPARNetConfig.from_dict({**config.to_dict(), "spectral_norm": True})
            prepare_state_dict("sparnethd", normalised, plain_state)

    def test_a_mismatch_names_the_flag_that_most_likely_fixes_it(self) -> None:
        unet = layout("dr2-ffhq-256-unet.json")
        three_channels = random_state(unet)
        three_channels["out.2.weight"] = torch.zeros(3, 128, 3, 3)
        three_channels["out.2.bias"] = torch.zeros(3)
        small = SPARNetConfig(in_size=64, out_size=128, min_ch=8, max_ch=32, min_feat_size=16, res_depth=1,
                              bottleneck_size=16, attention_channels=8)
        for state, expected, architecture, hint in [
            (three_channels, unet, "dr2-unet", "--learn-sigma false"),
            (random_state(unet), checkpoint_layout("sparnethd", small), "sparnethd", "--arch dr2-unet"),
        ]:
            with self.assertRaisesRegex(CheckpointLayoutError, f"(?s)\\nhint: .*{hint}"):
                check_layout(state, expected, architecture)

    def test_a_wrapper_prefix_is_named_with_the_flag_that_strips_it(self) -> None:
        expected = [(name, tuple(t.shape)) for name, t in _tiny_state().items()]
        prefixed = {f"model.{name}": t for name, t in _tiny_state().items()}
        with self.assertRaisesRegex(CheckpointLayoutError, "(?s)hint: every tensor name carries the prefix "
                                    "'model.'.*--strip-prefix model\\."):
            check_layout(prefixed, expected, "dr2-unet")

    def test_hints_compare_the_architecture_not_its_label(self) -> None:
        # Prepare: a small U-Net checkpoint with one tensor renamed (the exporter's path, which
        # labels the architecture with its sizes in messages)
        config = UNetConfig(image_size=16, model_channels=16, channel_mult=(1, 2), attention_resolutions=(2,),
                            num_head_channels=8, norm_groups=8)
        state = random_state(checkpoint_layout("dr2-unet", config))
        state["input_blocks.renamed.weight"] = state.pop("input_blocks.0.0.weight")
        # Act
        with self.assertRaises(CheckpointLayoutError) as caught:
            prepare_state_dict("dr2-unet", config, state)
        # Assess: the label names the sizes, and no hint asks for the --arch already given
        self.assertIn("dr2-unet (16px, 16 ch", str(caught.exception))
        self.assertNotIn("--arch dr2-unet", str(caught.exception))

    def test_missing_spectral_norm_vectors_are_named(self) -> None:
        config = SPARNetConfig(in_size=64, out_size=128, min_ch=8, max_ch=32, min_feat_size=16, res_depth=1,
                               bottleneck_size=16, attention_channels=8, spectral_norm=True)
        state = {name: t for name, t in random_state(checkpoint_layout("sparnethd", config)).items()
                 if not name.endswith("weight_u")}
        with self.assertRaisesRegex(CheckpointLayoutError, "(?s)hint: only spectral-norm vectors .* are missing"):
            prepare_state_dict("sparnethd", config, state)

    def test_non_finite_weights_are_named_as_such(self) -> None:
        config = UNetConfig(image_size=16, model_channels=16, channel_mult=(1, 2), attention_resolutions=(2,),
                            num_head_channels=8, norm_groups=8)
        state = random_state(checkpoint_layout("dr2-unet", config))
        state["out.2.weight"][0, 0, 0, 0] = float("nan")
        with self.assertRaisesRegex(CheckpointError, "non-finite values \\(NaN or infinity\\) in out.2.weight "
                                    "\\(1 of them\\): the training run diverged"):
            prepare_state_dict("dr2-unet", config, state)


if __name__ == "__main__":
    unittest.main()
