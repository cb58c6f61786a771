"""Train the dr2e default enhancer: a small SPARNet from DR2 outputs (64x64) to clean faces (128x128).

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    npx tsx scripts/make-dr2-pool.ts --model gpu-task/models/default/denoiser.json --count 3000
    /usr/bin/python3 -m dr2e_models.train_enhancer --run-dir models/runs/enhancer --time-budget-minutes 45
    /usr/bin/python3 -m dr2e_models.train_enhancer --run-dir models/runs/enhancer --resume

The paper's Eq. 12: the enhancer's input is ``DR2(x; N, tau)`` of a *clean* training face ``x``
convolved with a Gaussian of random width, its target is ``x`` itself; no other degradation. The
DR2 outputs come from the TypeScript engine (``scripts/make-dr2-pool.ts``: N = 4, tau drawn per
image from {5, 10, 15, 20} on the K = 100 grid, i.e. 50..200 of the 1000-step scale, omega =
tau + 20). The blur (sigma uniform in ``[--sigma-min, --sigma-max]`` input pixels, reflect
padding) and horizontal flips (input and target together) are drawn per step.

The network is SPARNet (the family of DR2's SPARNetHD) at a small size with a bicubic input
skip, so it learns the residual over bicubic upsampling; the loss is L1, plus optionally
(``--grad-weight``) an L1 on neighbour differences that rewards sharp edges. An EMA of the weights
(warm-up ``min(ema_max, (1 + n) / (10 + n))``) is what gets exported. A fixed ``--holdout``
fraction of the pool (training faces, never ``val/``) is kept out of training to watch
over-fitting: ``metrics.jsonl`` logs its L1 and PSNR for the EMA model next to bicubic's.

As in ``train_ddpm.py`` each step's batch, flips and sigmas are a pure function of
``(seed, step)``, and ``--resume`` continues the same stream (CPU kernels are not bitwise
deterministic, so reruns agree only up to float rounding).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F


from .data import load_faces
from .paths import RUNS_DIR
from .sparnethd import SPARNetConfig, build_sparnet
from .training import (frozen_copy, load_training_state, log_line, open_run, optimizer_step, save_atomically,
                       train_within_budget, training_state, update_ema)

__all__ = [
    "parse_args", "model_config", "gaussian_blur", "edge_l1", "step_plan", "EnhancerTrainer", "load_pool", "main",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the 64->128 enhancer on DR2 outputs (Eq. 12)")
    p.add_argument("--run-dir", type=Path, default=RUNS_DIR / "enhancer")
    p.add_argument("--pool-dir", type=Path, action="append",
                   help="output of scripts/make-dr2-pool.ts; repeat to join pools (default: models/runs/dr2-pool)")
    p.add_argument("--targets", type=Path, help="[N,128,128,3] uint8 .npy (default: cached UTKFace train/ at 128)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=20230603)
    # Architecture (SPARNet names).
    p.add_argument("--in-size", type=int, default=64)
    p.add_argument("--out-size", type=int, default=128)
    p.add_argument("--min-feat-size", type=int, default=16)
    p.add_argument("--min-ch", type=int, default=16)
    p.add_argument("--max-ch", type=int, default=64)
    p.add_argument("--res-depth", type=int, default=2)
    p.add_argument("--attention-channels", type=int, default=16)
    p.add_argument("--bottleneck-size", type=int, default=4)
    p.add_argument("--norm", default="in")
    # Optimisation and augmentation.
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ema-max", type=float, default=0.999)
    p.add_argument("--grad-weight", type=float, default=0.0,
                   help="weight of an L1 loss on horizontal and vertical pixel differences (edges)")
    p.add_argument("--sigma-min", type=float, default=0.0, help="blur sigma in input (64 px) pixels")
    p.add_argument("--sigma-max", type=float, default=1.0)
    p.add_argument("--holdout", type=float, default=0.05)
    # Budget and bookkeeping.
    p.add_argument("--time-budget-minutes", type=float, default=45.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--benchmark", type=int, default=0)
    return p.parse_args(argv)


def model_config(args: argparse.Namespace) -> SPARNetConfig:
    """SPARNet with a bicubic input skip and no spectral norm (a plain L1 model)."""
    return SPARNetConfig(
        in_size=args.in_size,
        out_size=args.out_size,
        min_ch=args.min_ch,
        max_ch=args.max_ch,
        min_feat_size=args.min_feat_size,
        res_depth=args.res_depth,
        bottleneck_size=args.bottleneck_size,
        norm=args.norm,
        activation="leakyrelu",
        attention="spar",
        attention_channels=args.attention_channels,
        spectral_norm=False,
        input_skip="bicubic",
    )


def gaussian_blur(images: torch.Tensor, sigmas: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each image of ``[B, C, H, W]`` with its own isotropic Gaussian (``sigma = 0``: unchanged).

    Kernels have ``2 * radius + 1`` taps, are normalised to sum 1, and borders are reflected.
    """
    b, c, h, w = images.shape
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    safe = sigmas.clamp(min=1e-6)[:, None]
    taps = torch.exp(-0.5 * (offsets[None, :] / safe) ** 2)
    taps = taps / taps.sum(dim=1, keepdim=True)
    kernels = taps[:, :, None] * taps[:, None, :]  # [B, k, k], separable
    kernels = kernels.repeat_interleave(c, dim=0)[:, None]  # [B*C, 1, k, k]
    padded = F.pad(images.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(padded, kernels, groups=b * c).reshape(b, c, h, w)


def edge_l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance of horizontal and vertical neighbour differences (rewards sharp edges)."""
    dx = (out[..., :, 1:] - out[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (out[..., 1:, :] - out[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def step_plan(step: int, seed: int, rows: np.ndarray, batch_size: int, sigma_min: float,
              sigma_max: float) -> dict[str, Any]:
    """Pool rows, flips and blur sigmas of step ``step`` (a pure function of its inputs)."""
    count = len(rows)
    indices = []
    position = step * batch_size
    while len(indices) < batch_size:
        epoch, offset = divmod(position, count)
        order = np.random.default_rng([seed, epoch]).permutation(count)
        take = min(batch_size - len(indices), count - offset)
        indices.extend(rows[order[offset:offset + take]].tolist())
        position += take
    rng = np.random.default_rng([seed, 1_000_000 + step])
    return {"rows": np.asarray(indices), "flips": rng.random(batch_size) < 0.5,
            "sigmas": rng.uniform(sigma_min, sigma_max, batch_size).astype(np.float32)}


def load_pool(pool_dirs: Path | list[Path], targets_path: Path | None,
              out_size: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """DR2 outputs ``[M, 3, S, S]`` float32, their clean targets ``[M, out, out, 3]`` uint8, and the index.

    Several pools (e.g. made by parallel ``make-dr2-pool`` runs with different seeds) are joined
    in the order given; the returned index holds all rows and the first pool's parameters.
    """
    dirs = [pool_dirs] if isinstance(pool_dirs, Path) else list(pool_dirs)
    faces = np.load(targets_path, mmap_mode="r") if targets_path else load_faces("train", out_size)
    inputs, targets, rows, first = [], [], [], None
    for pool_dir in dirs:
        index = json.loads((pool_dir / "index.json").read_text())
        if index["done"] != len(index["rows"]):
            raise SystemExit(f"{pool_dir}: pool incomplete ({index['done']} of {len(index['rows'])}); "
                             "run make-dr2-pool --resume")
        if first is not None and (index["n"], index["steps"]) != (first["n"], first["steps"]):
            raise SystemExit(f"{pool_dir}: N/steps differ from {dirs[0]}")
        first = first or index
        inputs.append(np.load(pool_dir / "dr2.npy"))
        targets.append(np.stack([faces[row["face"]] for row in index["rows"]]))
        rows.extend(index["rows"])
    assert first is not None
    return np.concatenate(inputs), np.concatenate(targets), {**first, "rows": rows, "pools": [str(d) for d in dirs]}


class EnhancerTrainer:
    """Model, EMA, optimiser, step; ``train_step`` runs one deterministic step."""

    def __init__(self, args: argparse.Namespace, inputs: np.ndarray, targets: np.ndarray) -> None:
        self.args = args
        self.inputs = inputs
        self.targets = targets
        self.config = model_config(args)
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        np.random.seed(args.seed % 2**32)
        self.model = build_sparnet(self.config)
        self.ema = frozen_copy(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=args.lr, betas=(0.9, 0.99))
        holdout = int(round(len(inputs) * args.holdout))
        order = np.random.default_rng([args.seed, 7]).permutation(len(inputs))
        self.holdout_rows = np.sort(order[:holdout])
        self.train_rows = np.sort(order[holdout:])
        self.radius = max(1, int(math.ceil(3 * args.sigma_max)))
        self.step = 0
        self.images_seen = 0
        self.train_seconds = 0.0

    def learning_rate(self) -> float:
        return self.args.lr * min(1.0, (self.step + 1) / max(1, self.args.warmup_steps))

    def batch(self, rows: np.ndarray, flips: np.ndarray | None = None,
              sigmas: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(self.inputs[rows]))
        y = torch.from_numpy(np.ascontiguousarray(self.targets[rows].transpose(0, 3, 1, 2))).float() / 127.5 - 1.0
        if flips is not None and flips.any():
            mask = torch.from_numpy(flips)
            x[mask] = x[mask].flip(-1)
            y[mask] = y[mask].flip(-1)
        if sigmas is not None:
            x = gaussian_blur(x, torch.from_numpy(sigmas), self.radius)
        return x, y

    def train_step(self) -> dict[str, float]:
        a = self.args
        plan = step_plan(self.step, a.seed, self.train_rows, a.batch_size, a.sigma_min, a.sigma_max)
        x, y = self.batch(plan["rows"], plan["flips"], plan["sigmas"])
        self.model.train()
        out = self.model(x)
        loss = (out - y).abs().mean()
        if a.grad_weight > 0:
            loss = loss + a.grad_weight * edge_l1(out, y)
        grad_norm = optimizer_step(self.optimizer, self.model, loss, self.learning_rate(), a.grad_clip)
        decay = min(a.ema_max, (1.0 + self.step) / (10.0 + self.step))
        update_ema(self.ema, self.model, decay, copy_buffers=True)
        self.step += 1
        self.images_seen += x.shape[0]
        return {"l1": float(loss), "grad_norm": grad_norm}

    @torch.no_grad()
    def evaluate(self, limit: int = 64) -> dict[str, float]:
        """EMA model vs bicubic on the first ``limit`` holdout rows (no blur: the plain DR2 output)."""
        rows = self.holdout_rows[:limit]
        if len(rows) == 0:
            return {}
        x, y = self.batch(rows)
        out = self.ema(x).clamp(-1, 1)
        bicubic = F.interpolate(x, size=y.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)

        def psnr(a: torch.Tensor) -> float:
            mse = ((a - y) ** 2).flatten(1).mean(1) / 4.0  # [-1,1] -> [0,1] scale
            return float((10 * torch.log10(1.0 / mse.clamp(min=1e-10))).mean())

        return {"holdout_l1": round(float((out - y).abs().mean()), 5), "holdout_psnr": round(psnr(out), 3),
                "bicubic_l1": round(float((bicubic - y).abs().mean()), 5), "bicubic_psnr": round(psnr(bicubic), 3)}

    def state(self) -> dict[str, Any]:
        return {**training_state(self), "args": {k: _plain(v) for k, v in vars(self.args).items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        load_training_state(self, state)

    def save(self, path: Path) -> None:
        save_atomically(self.state(), path)


def _plain(value: Any) -> Any:
    """Arguments as JSON-friendly values (paths become strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.pool_dir = args.pool_dir or [RUNS_DIR / "dr2-pool"]
    inputs, targets, index = load_pool(args.pool_dir, args.targets, args.out_size)
    trainer = EnhancerTrainer(args, inputs, targets)
    params = sum(p.numel() for p in trainer.model.parameters())

    if args.benchmark:
        trainer.train_step()
        start = time.perf_counter()
        for _ in range(args.benchmark):
            trainer.train_step()
        rate = args.benchmark * args.batch_size / (time.perf_counter() - start)
        print(json.dumps({"config": trainer.config.to_dict(), "params": params, "img_per_s": round(rate, 2)}))
        return 0

    run_dir = args.run_dir
    checkpoint = open_run(run_dir, args.resume, trainer,
                          f"{params} params, pool {len(inputs)} ({len(trainer.train_rows)} train, "
                          f"{len(trainer.holdout_rows)} holdout), n={index['n']} taus={index['taus']}")

    status = train_within_budget(
        trainer, args, run_dir, checkpoint,
        loss_of=lambda record: record["l1"],
        summarise=lambda records: {"l1": round(float(np.mean([r["l1"] for r in records])), 5),
                                   **trainer.evaluate(), "lr": trainer.learning_rate()})
    if status != 0:
        return status
    log_line(run_dir, f"done: step {trainer.step}, {trainer.images_seen} images, {trainer.train_seconds / 60:.1f} min, "
                      f"{json.dumps(trainer.evaluate(limit=len(trainer.holdout_rows)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
