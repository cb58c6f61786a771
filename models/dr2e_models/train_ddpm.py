"""Train the dr2e default face prior: a small guided-diffusion U-Net on 64x64 UTKFace ``train/``.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.train_ddpm --run-dir models/runs/ddpm64 --time-budget-minutes 260
    /usr/bin/python3 -m dr2e_models.train_ddpm --run-dir models/runs/ddpm64 --resume      # continue
    /usr/bin/python3 -m dr2e_models.train_ddpm --benchmark 6 --model-channels 32          # img/s only

Recipe (see ``dr2e_models.diffusion`` for the maths): linear schedule, ``T = 1000``; noise
prediction with a learned-range variance and the improved-DDPM hybrid loss; AdamW; gradient
clipping; EMA of the weights with a warm-up ``decay = min(ema_max, (1 + n) / (10 + n))``;
random horizontal flips. Timesteps are uniform by default; ``--t-sampling dr2`` draws
``t < 700`` (the range DR2 starts from and walks down) with probability ``--dr2-fraction`` and
the rest uniformly from the whole range, so the model still learns ``t`` up to 999.

Reproducibility: the data order, flips, timesteps and noise of step ``n`` are a pure function of
``(seed, n)`` (see :func:`batch_for_step`), and a checkpoint holds the model, EMA, optimiser and
step, so ``--resume`` continues the exact stream of a run that was stopped. Bitwise equality
with an uninterrupted run is not promised: CPU kernels (threaded reductions in oneDNN / OpenMP)
are not deterministic, so repeated runs drift apart by float rounding.

Outputs in ``--run-dir``: ``checkpoint.pt`` (written every ``--checkpoint-minutes`` and at the
end, atomically), ``log.txt`` (human-readable) and ``metrics.jsonl`` (one JSON object per log
interval: step, images seen, losses, mse by timestep quarter, lr, img/s, elapsed seconds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


from .data import load_faces
from .diffusion import DiffusionSchedule, hybrid_loss
from .training import (frozen_copy, load_training_state, log_line, open_run, optimizer_step, save_atomically,
                       train_within_budget, training_state, update_ema)
from .unet import UNetConfig, build_unet, parameter_count

__all__ = ["parse_args", "model_config", "batch_for_step", "ema_decay", "Trainer", "main"]

T = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the 64x64 UTKFace diffusion prior")
    p.add_argument("--run-dir", type=Path, default=Path("models/runs/ddpm64"))
    p.add_argument("--data", type=Path, help="a [N,64,64,3] uint8 .npy (default: cached UTKFace train/ at 64)")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/checkpoint.pt")
    p.add_argument("--init", type=Path,
                   help="start a new run from these weights (dr2e_models.onnx_weights output): model and EMA")
    p.add_argument("--seed", type=int, default=20230601)
    # Architecture (guided-diffusion names).
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--model-channels", type=int, default=32)
    p.add_argument("--channel-mult", default="1,2,2,2")
    p.add_argument("--num-res-blocks", type=int, default=2)
    p.add_argument("--attention-rates", default="4,8",
                   help="downsample rates with attention (4,8 = 16x16, 8x8 at 64px)")
    p.add_argument("--head-channels", type=int, default=32)
    p.add_argument("--norm-groups", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
    # Optimisation.
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ema-max", type=float, default=0.999)
    p.add_argument("--t-sampling", choices=("uniform", "dr2"), default="uniform")
    p.add_argument("--dr2-fraction", type=float, default=0.75)
    p.add_argument("--no-flip", action="store_true")
    # Budget and bookkeeping.
    p.add_argument("--time-budget-minutes", type=float, default=60.0, help="training wall time, summed over resumes")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = no limit)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--benchmark", type=int, default=0, help="time this many steps (after 2 warm-up steps) and exit")
    return p.parse_args(argv)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def model_config(args: argparse.Namespace) -> UNetConfig:
    """The U-Net configuration named by the command line (always 6 outputs: learned range)."""
    return UNetConfig(
        image_size=args.image_size,
        model_channels=args.model_channels,
        out_channels=6,
        num_res_blocks=args.num_res_blocks,
        attention_resolutions=_ints(args.attention_rates),
        channel_mult=_ints(args.channel_mult),
        num_head_channels=args.head_channels,
        norm_groups=args.norm_groups,
        dropout=args.dropout,
        use_scale_shift_norm=True,
        resblock_updown=True,
    )


def ema_decay(updates: int, ema_max: float) -> float:
    """EMA decay after ``updates`` optimiser steps: warm-up ``(1+n)/(10+n)`` capped at ``ema_max``."""
    return min(ema_max, (1.0 + updates) / (10.0 + updates))


def batch_for_step(step: int, seed: int, count: int, batch_size: int, t_sampling: str = "uniform",
                   dr2_fraction: float = 0.75, flip: bool = True) -> dict[str, Any]:
    """Indices, flips, timesteps and noise seed of training step ``step``: a pure function of its inputs.

    Epoch ``e`` visits the images in the permutation drawn from ``(seed, e)``; a batch that
    crosses an epoch boundary takes the rest from the next permutation.
    """
    start = step * batch_size
    indices = []
    position = start
    while len(indices) < batch_size:
        epoch, offset = divmod(position, count)
        order = np.random.default_rng([seed, epoch]).permutation(count)
        take = min(batch_size - len(indices), count - offset)
        indices.extend(order[offset:offset + take].tolist())
        position += take
    rng = np.random.default_rng([seed, 1_000_000 + step])
    flips = rng.random(batch_size) < 0.5 if flip else np.zeros(batch_size, dtype=bool)
    if t_sampling == "uniform":
        t = rng.integers(0, T, batch_size)
    else:
        low = rng.random(batch_size) < dr2_fraction
        t = np.where(low, rng.integers(0, 700, batch_size), rng.integers(0, T, batch_size))
    return {"indices": np.asarray(indices), "flips": flips, "t": t.astype(np.int64),
            "noise_seed": int(rng.integers(0, 2**62))}


def load_init(path: Path, config: UNetConfig) -> dict[str, Any]:
    """Weights to start from (written by ``dr2e_models.onnx_weights``); refuses another architecture."""
    init = torch.load(path, map_location="cpu")
    if not isinstance(init, dict) or not {"state_dict", "config", "source"} <= set(init):
        raise SystemExit(f"--init: {path} is not a weights file of dr2e_models.onnx_weights")
    if init["config"] != config.to_dict():
        raise SystemExit(f"--init: {path} holds another architecture than the command line: {init['config']}")
    return init


class Trainer:
    """Model, EMA, optimiser and step counter; ``train_step`` runs one deterministic step."""

    def __init__(self, args: argparse.Namespace, faces: np.ndarray) -> None:
        self.args = args
        self.faces = faces
        self.config = model_config(args)
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        np.random.seed(args.seed % 2**32)
        self.model = build_unet(self.config)
        #: Where the starting weights came from (``--init``), kept in every checkpoint of the run.
        self.init_source: dict[str, Any] | None = None
        if args.init:
            init = load_init(args.init, self.config)
            self.model.load_state_dict(init["state_dict"], strict=True)
            self.init_source = init["source"]
        self.ema = frozen_copy(self.model)
        self.memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        self.schedule = DiffusionSchedule.linear(T)
        self.step = 0
        self.images_seen = 0
        self.train_seconds = 0.0

    def learning_rate(self) -> float:
        warmup = max(1, self.args.warmup_steps)
        return self.args.lr * min(1.0, (self.step + 1) / warmup)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.args
        plan = batch_for_step(step, a.seed, len(self.faces), a.batch_size, a.t_sampling, a.dr2_fraction, not a.no_flip)
        images = np.stack([self.faces[i] for i in plan["indices"]])
        images[plan["flips"]] = images[plan["flips"]][:, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 127.5 - 1.0
        generator = torch.Generator().manual_seed(plan["noise_seed"])
        noise = torch.randn(x.shape, generator=generator)
        return x, torch.from_numpy(plan["t"]), noise

    def train_step(self) -> dict[str, Any]:
        x, t, noise = self.batch(self.step)
        x = x.contiguous(memory_format=self.memory_format)
        noise = noise.contiguous(memory_format=self.memory_format)
        self.model.train()
        terms = hybrid_loss(self.schedule, self.model, x, t, noise)
        grad_norm = optimizer_step(self.optimizer, self.model, terms["loss"].mean(), self.learning_rate(),
                                   self.args.grad_clip)
        update_ema(self.ema, self.model, ema_decay(self.step, self.args.ema_max))
        self.step += 1
        self.images_seen += x.shape[0]
        return {"loss": terms["loss"].detach(), "mse": terms["mse"].detach(), "vb": terms["vb"].detach(), "t": t,
                "grad_norm": grad_norm}

    def state(self) -> dict[str, Any]:
        return {
            **training_state(self),
            "init": self.init_source,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()},
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "numpy_rng": np.random.get_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        load_training_state(self, state)
        # a resumed --init run keeps its origin (and its recipe keeps --init)
        self.init_source = state.get("init")
        if state["args"].get("init"):
            self.args.init = Path(state["args"]["init"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        np.random.set_state(state["numpy_rng"])

    def save(self, path: Path) -> None:
        save_atomically(self.state(), path)


def _summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    loss = torch.cat([r["loss"] for r in records])
    mse = torch.cat([r["mse"] for r in records])
    vb = torch.cat([r["vb"] for r in records])
    t = torch.cat([r["t"] for r in records])
    quarters = {}
    for q in range(4):
        mask = (t >= q * 250) & (t < (q + 1) * 250)
        quarters[f"mse_q{q}"] = round(float(mse[mask].mean()), 6) if mask.any() else None
    return {"loss": round(float(loss.mean()), 6), "mse": round(float(mse.mean()), 6), "vb": round(float(vb.mean()), 6),
            **quarters, "grad_norm": round(float(np.mean([r["grad_norm"] for r in records])), 4)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.init and args.resume:
        raise SystemExit("--init starts a new run; --resume continues one, "
                         "whose checkpoint holds its weights and origin")
    torch.set_num_threads(args.threads)
    faces = np.load(args.data, mmap_mode="r") if args.data else load_faces("train", args.image_size)
    faces = np.asarray(faces)  # 64x64 train/ is ~270 MB: hold it in memory for random access
    trainer = Trainer(args, faces)

    if args.benchmark:
        for _ in range(2):
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(args.benchmark):
            trainer.train_step()
        seconds = time.perf_counter() - start
        rate = args.benchmark * args.batch_size / seconds
        print(json.dumps({"config": trainer.config.to_dict(), "params": parameter_count(trainer.model),
                          "batch": args.batch_size, "threads": args.threads, "channels_last": args.channels_last,
                          "img_per_s": round(rate, 2)}))
        return 0

    run_dir = args.run_dir
    checkpoint = open_run(run_dir, args.resume, trainer,
                          f"{parameter_count(trainer.model)} params, {len(faces)} images")

    status = train_within_budget(
        trainer, args, run_dir, checkpoint,
        loss_of=lambda record: float(record["loss"].mean()),
        summarise=lambda records: {**_summarise(records), "lr": trainer.learning_rate(),
                                   "ema_decay": round(ema_decay(trainer.step, args.ema_max), 5)})
    if status != 0:
        return status
    log_line(run_dir, f"done: step {trainer.step}, {trainer.images_seen} images, {trainer.train_seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
