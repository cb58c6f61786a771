"""What the training scripts (``train_ddpm``, ``train_enhancer``) share: the EMA copy and its update,
one optimiser step, atomic checkpoints, the run log, and the loop that trains within a time
budget, logs every ``--log-every`` steps and checkpoints every ``--checkpoint-minutes``.

A trainer passed to :func:`train_within_budget` needs ``step``, ``images_seen``,
``train_seconds``, ``train_step()`` (returns a record) and ``save(path)``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

__all__ = ["Trainable", "frozen_copy", "load_training_state", "log_line", "open_run", "optimizer_step",
           "save_atomically", "train_within_budget", "training_state", "update_ema"]


class Trainable(Protocol):
    step: int
    images_seen: int
    train_seconds: float

    def train_step(self) -> dict[str, Any]: ...

    def save(self, path: Path) -> None: ...


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in eval mode without gradients: the EMA weights."""
    ema = copy.deepcopy(model).eval()
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, copy_buffers: bool = False) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for every parameter; buffers copied when asked."""
    for ema_p, p in zip(ema.parameters(), model.parameters()):
        ema_p.mul_(decay).add_(p.detach(), alpha=1.0 - decay)
    if copy_buffers:
        for ema_b, b in zip(ema.buffers(), model.buffers()):
            ema_b.copy_(b)


def optimizer_step(optimizer: torch.optim.Optimizer, model: torch.nn.Module, loss: torch.Tensor, lr: float,
                   grad_clip: float) -> float:
    """One step at learning rate ``lr`` with gradients clipped to ``grad_clip``; returns the gradient norm."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(grad_norm)


def training_state(trainer: Any) -> dict[str, Any]:
    """What every trainer checkpoints: architecture, weights, EMA, optimiser and counters."""
    return {
        "config": trainer.config.to_dict(),
        "model": trainer.model.state_dict(),
        "ema": trainer.ema.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "step": trainer.step,
        "images_seen": trainer.images_seen,
        "train_seconds": trainer.train_seconds,
    }


def load_training_state(trainer: Any, state: dict[str, Any]) -> None:
    """Restore :func:`training_state`; refuses a checkpoint of another architecture."""
    if state["config"] != trainer.config.to_dict():
        raise SystemExit(f"checkpoint architecture differs from the command line: {state['config']}")
    trainer.model.load_state_dict(state["model"])
    trainer.ema.load_state_dict(state["ema"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.step = int(state["step"])
    trainer.images_seen = int(state["images_seen"])
    trainer.train_seconds = float(state["train_seconds"])


def save_atomically(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def log_line(run_dir: Path, text: str) -> None:
    """Print a time-stamped line and append it to ``run_dir/log.txt``."""
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
    print(line, flush=True)
    with open(run_dir / "log.txt", "a") as handle:
        handle.write(line + "\n")


def open_run(run_dir: Path, resume: bool, trainer: Any, start: str) -> Path:
    """Create ``run_dir`` and return its checkpoint path: resumed from it with ``resume`` (which
    needs it), else a fresh run (which refuses to overwrite one), logged with ``start`` and the
    trainer's architecture and arguments."""
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    if resume:
        if not checkpoint.is_file():
            raise SystemExit(f"--resume: {checkpoint} does not exist")
        trainer.load_state(torch.load(checkpoint, map_location="cpu"))
        minutes = trainer.train_seconds / 60
        log_line(run_dir, f"resumed at step {trainer.step} ({trainer.images_seen} images, {minutes:.1f} min)")
    else:
        if checkpoint.exists():
            raise SystemExit(f"{checkpoint} exists: pass --resume or choose another --run-dir")
        log_line(run_dir, f"start: {start}, config {json.dumps(trainer.config.to_dict())}, "
                          f"args {json.dumps(trainer.state()['args'])}")
    return checkpoint


def train_within_budget(trainer: Trainable, args: Any, run_dir: Path, checkpoint: Path,
                        loss_of: Callable[[dict[str, Any]], float],
                        summarise: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> int:
    """Train until ``args.time_budget_minutes`` of step time or ``args.max_steps`` (if > 0).

    Every ``args.log_every`` steps ``summarise(records since the last log)`` is written to
    ``metrics.jsonl`` and the log, between ``step``/``images_seen`` and the throughput. A
    non-finite ``loss_of(record)`` stops at once without saving (exit status 2); otherwise the
    run ends with a checkpoint (exit status 0).
    """
    budget = args.time_budget_minutes * 60.0
    last_checkpoint = time.monotonic()
    records: list[dict[str, Any]] = []
    interval_start, interval_images = time.monotonic(), 0
    while trainer.train_seconds < budget and (args.max_steps <= 0 or trainer.step < args.max_steps):
        step_start = time.monotonic()
        record = trainer.train_step()
        trainer.train_seconds += time.monotonic() - step_start
        if not math.isfinite(loss_of(record)):
            log_line(run_dir, f"non-finite loss at step {trainer.step}; stopping without saving")
            return 2
        records.append(record)
        interval_images += args.batch_size
        if trainer.step % args.log_every == 0:
            now = time.monotonic()
            summary = {"step": trainer.step, "images_seen": trainer.images_seen, **summarise(records),
                       "img_per_s": round(interval_images / max(now - interval_start, 1e-9), 2),
                       "train_minutes": round(trainer.train_seconds / 60, 2)}
            with open(run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(summary) + "\n")
            log_line(run_dir, " ".join(f"{k}={v}" for k, v in summary.items()))
            records, interval_images, interval_start = [], 0, time.monotonic()
        if time.monotonic() - last_checkpoint >= args.checkpoint_minutes * 60:
            trainer.save(checkpoint)
            last_checkpoint = time.monotonic()
    trainer.save(checkpoint)
    return 0
