"""Shared helpers for the model tests: paths, layout fixtures and random weights."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Sequence

import torch

from dr2e_models.paths import REPO_ROOT, shared_dir


class SeededTestCase(unittest.TestCase):
    """Seeds torch's global generator before every test, so unseeded ``torch.rand`` inputs are the
    same on every run and a tolerance that passes once passes always."""

    def setUp(self) -> None:
        torch.manual_seed(0)


class ScratchDirTestCase(unittest.TestCase):
    """A fresh temporary directory per test, ``self.dir``, removed after it."""

    def setUp(self) -> None:
        super().setUp()
        scratch = tempfile.TemporaryDirectory()
        self.addCleanup(scratch.cleanup)
        self.dir = Path(scratch.name)


def layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """A checkpoint layout fixture, or skip the test when the shared folder is absent."""
    path = shared_dir() / "fixtures" / "checkpoint-layouts" / name
    if not path.is_file():
        raise unittest.SkipTest(f"{path} not found: checkpoint layouts live in ../shared (set DR2E_SHARED_DIR)")
    return [(n, tuple(s)) for n, s in json.loads(path.read_text())["tensors"]]


def require_node() -> None:
    """Skip when node (which runs onnxruntime-node for parity) is unavailable."""
    if not (os.environ.get("DR2E_NODE") or shutil.which("node")):
        raise unittest.SkipTest("node is not on PATH: ONNX parity runs through onnxruntime-node")
    if not (REPO_ROOT / "node_modules" / "onnxruntime-node").is_dir():
        raise unittest.SkipTest("node_modules/onnxruntime-node missing: run npm ci")


def random_state(entries: Sequence[tuple[str, Sequence[int]]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Plausible random weights for a layout: fan-in scaled weights, small biases, norm gains
    near 1, and spectral-norm vectors close to the leading singular vectors (so the folded
    weights have a spectral norm near 1, as trained ones do)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    names = {n for n, _ in entries}
    for name, shape in entries:
        shape = tuple(shape)
        leaf = name.rsplit(".", 1)[-1]
        is_norm = ".norm" in name or "in_layers.0" in name or "out_layers.0" in name or name.startswith("out.0")
        if leaf in ("weight_u", "weight_v"):
            continue
        if len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(*shape, generator=generator) / math.sqrt(fan_in)
        elif leaf == "weight" and is_norm:
            state[name] = 1 + 0.1 * torch.randn(*shape, generator=generator)
        else:
            state[name] = 0.05 * torch.randn(*shape, generator=generator)
    for name, shape in entries:
        if name.endswith("weight_orig"):
            prefix = name[: -len("orig")]
            if prefix + "u" in names:
                u, v = _power_iteration(state[name], generator)
                state[prefix + "u"], state[prefix + "v"] = u, v
    return {name: state[name] for name, _ in entries}


def _power_iteration(weight: torch.Tensor, generator: torch.Generator,
                     steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = weight.reshape(weight.shape[0], -1)
    u = torch.nn.functional.normalize(torch.randn(matrix.shape[0], generator=generator), dim=0)
    v = torch.nn.functional.normalize(torch.randn(matrix.shape[1], generator=generator), dim=0)
    for _ in range(steps):
        v = torch.nn.functional.normalize(torch.mv(matrix.t(), u), dim=0)
        u = torch.nn.functional.normalize(torch.mv(matrix, v), dim=0)
    return u, v
