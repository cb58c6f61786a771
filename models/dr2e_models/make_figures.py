"""Figures for docs/model/: prior samples, training curves, DR2 outputs of val faces.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.make_figures prior      # docs/model/prior-samples.png (8x8, t=999)
    /usr/bin/python3 -m dr2e_models.make_figures curves     # docs/model/training-curves.png
    /usr/bin/python3 -m dr2e_models.make_figures degrade    # models/runs/figures/val-*-64.npy (clean, degraded)
    npx tsx scripts/make-dr2-pool.ts --faces models/runs/figures/val-clean-64.npy --count 8 --in-order \
        --every-tau --taus 5,10,15,20 --out models/runs/figures/dr2-val-clean
    npx tsx scripts/make-dr2-pool.ts --faces models/runs/figures/val-degraded-64.npy --count 8 --in-order \
        --every-tau --taus 10,22,35 --out models/runs/figures/dr2-val-degraded
    /usr/bin/python3 -m dr2e_models.make_figures dr2-grid   # docs/model/dr2-val-*.png

The prior grid is ancestral sampling with the EMA weights from pure noise at t = 999 with 100
respaced steps (``dr2e_models.diffusion.sample``), seed 0. Val faces are used here for
illustration only; nothing in models/ trains on them.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw


from .data import load_faces
from .diffusion import sample
from .paths import REPO_ROOT, RUNS_DIR
from .sparnethd import SPARNetConfig, build_sparnet
from .unet import UNetConfig, build_unet

DOCS = REPO_ROOT / "docs" / "model"
FIGURES_RUNS = RUNS_DIR / "figures"


def to_uint8(batch: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[B, 3, H, W]`` in [-1, 1] -> ``[B, H, W, 3]`` uint8."""
    array = batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else batch
    return np.clip(np.round((array.transpose(0, 2, 3, 1) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int, pad: int = 2) -> Image.Image:
    """Tile ``[N, H, W, 3]`` uint8 images into rows of ``columns`` with a white gap."""
    count, h, w, _ = images.shape
    rows = math.ceil(count / columns)
    canvas = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas.paste(Image.fromarray(image), (pad + c * (w + pad), pad + r * (h + pad)))
    return canvas


def prior_samples(checkpoint: Path, out: Path, count: int = 64, steps: int = 100, seed: int = 0) -> None:
    state = torch.load(checkpoint, map_location="cpu")
    model = build_unet(UNetConfig.from_dict(state["config"]))
    model.load_state_dict(state["ema"])
    model.eval()
    size = model.config.image_size
    samples = sample(model, (count, 3, size, size), steps=steps, generator=torch.Generator().manual_seed(seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid(to_uint8(samples), 8).save(out)
    print(f"{out}: {count} samples, {steps} steps from t=999, step {state['step']} EMA")


_Series = list[tuple[str, list[tuple[float, float]], tuple[int, int, int]]]


def _plot(panel: Image.Image, box: tuple[int, int, int, int], series: _Series, title: str, log_y: bool = False,
          x_label: str = "images seen") -> None:
    draw = ImageDraw.Draw(panel)
    left, top, right, bottom = box
    draw.rectangle(box, outline="black")
    draw.text((left + 4, top - 14), title, fill="black")
    points = [p for _, data, _ in series for p in data if p[1] is not None and (p[1] > 0 or not log_y)]
    if not points:
        return
    xs = [p[0] for p in points]
    ys = [math.log10(p[1]) if log_y else p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y1 = y0 + 1

    def to_px(x: float, y: float) -> tuple[float, float]:
        yy = math.log10(y) if log_y else y
        return (left + (x - x0) / max(x1 - x0, 1e-9) * (right - left), bottom - (yy - y0) / (y1 - y0) * (bottom - top))
    for label_index, (label, data, colour) in enumerate(series):
        line = [to_px(x, y) for x, y in data if y is not None and (y > 0 or not log_y)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=1)
        draw.text((right - 150, top + 4 + 12 * label_index), label, fill=colour)
    fmt = (lambda v: f"{10 ** v:.3g}") if log_y else (lambda v: f"{v:.3g}")
    draw.text((left - 44, top), fmt(y1), fill="black")
    draw.text((left - 44, bottom - 10), fmt(y0), fill="black")
    draw.text((left, bottom + 2), f"{x0:.0f}", fill="black")
    draw.text((right - 50, bottom + 2), f"{x1:.0f} {x_label}", fill="black")


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def curves(ddpm_metrics: Path, enhancer_metrics: Path, out: Path) -> None:
    ddpm = _read_metrics(ddpm_metrics)
    enhancer = _read_metrics(enhancer_metrics)
    panel = Image.new("RGB", (1000, 360), "white")
    colours = [(0, 0, 0), (214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    if ddpm:
        series = [("loss (hybrid)", [(m["images_seen"], m["loss"]) for m in ddpm], colours[0])]
        for q in range(4):
            points = [(m["images_seen"], m.get(f"mse_q{q}")) for m in ddpm]
            series.append((f"mse t in [{q * 250},{q * 250 + 249}]", points, colours[q + 1]))
        _plot(panel, (60, 30, 480, 320), series, "DDPM (per log interval, log scale)", log_y=True)
    if enhancer:
        series = [("holdout PSNR (EMA)", [(m["images_seen"], m.get("holdout_psnr")) for m in enhancer], colours[2]),
                  ("bicubic PSNR", [(m["images_seen"], m.get("bicubic_psnr")) for m in enhancer], colours[1])]
        _plot(panel, (560, 30, 980, 320), series, "Enhancer: PSNR (dB) on held-out DR2 outputs")
    out.parent.mkdir(parents=True, exist_ok=True)
    panel.save(out)
    print(f"{out}: {len(ddpm)} DDPM and {len(enhancer)} enhancer log points")


def _gaussian_blur_uint8(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")

    def convolve(r: np.ndarray) -> np.ndarray:
        return np.convolve(r, kernel, mode="valid")

    rows = np.stack([np.apply_along_axis(convolve, 1, padded[..., c]) for c in range(3)], -1)
    cols = np.stack([np.apply_along_axis(convolve, 0, rows[..., c]) for c in range(3)], -1)
    return cols


def degrade(count: int = 8, seed: int = 0) -> None:
    """Clean 64x64 val faces and a degraded copy (blur 2 px, x8 bicubic down, noise 8/255, JPEG 50, bicubic up)."""
    faces128 = load_faces("val", 128)[:count]
    faces64 = np.asarray(load_faces("val", 64)[:count])
    rng = np.random.default_rng(seed)
    degraded = []
    for face in faces128:
        blurred = _gaussian_blur_uint8(face, 2.0)
        small = Image.fromarray(np.clip(np.round(blurred), 0, 255).astype(np.uint8)).resize((16, 16), Image.BICUBIC)
        noisy = np.asarray(small, dtype=np.float64) + rng.normal(0, 8.0, (16, 16, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=50)
        buffer.seek(0)
        degraded.append(np.asarray(Image.open(buffer).convert("RGB").resize((64, 64), Image.BICUBIC)))
    FIGURES_RUNS.mkdir(parents=True, exist_ok=True)
    np.save(FIGURES_RUNS / "val-clean-64.npy", faces64)
    np.save(FIGURES_RUNS / "val-degraded-64.npy", np.stack(degraded))
    print(f"{FIGURES_RUNS}: val-clean-64.npy, val-degraded-64.npy ({count} faces)")


def _load_enhancer(checkpoint: Path) -> torch.nn.Module | None:
    if not checkpoint.is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu")
    model = build_sparnet(SPARNetConfig.from_dict(state["config"]))
    model.load_state_dict(state["ema"])
    return model.eval()


@torch.no_grad()
def dr2_grid(pool_dir: Path, faces_path: Path, out: Path, enhancer: torch.nn.Module | None, title: str) -> None:
    """Rows: faces. Columns: input | DR2 at each tau (64 px shown 2x) | the enhancer on the last tau (128 px)."""
    index = json.loads((pool_dir / "index.json").read_text())
    outputs = np.load(pool_dir / "dr2.npy")
    faces = np.load(faces_path)
    taus = index["taus"]
    face_ids = sorted({row["face"] for row in index["rows"]})
    lookup = {(row["face"], row["tau"]): i for i, row in enumerate(index["rows"])}
    scale = 2  # show 64 px images at 128 px so they sit beside the enhancer's output
    tiles = []
    for face in face_ids:
        row_tiles = [np.asarray(Image.fromarray(faces[face]).resize((64 * scale, 64 * scale), Image.NEAREST))]
        for tau in taus:
            image = to_uint8(outputs[lookup[(face, tau)]][None])[0]
            row_tiles.append(np.asarray(Image.fromarray(image).resize((64 * scale, 64 * scale), Image.NEAREST)))
        if enhancer is not None:
            last = torch.from_numpy(outputs[lookup[(face, taus[-1])]][None])
            row_tiles.append(to_uint8(enhancer(last).clamp(-1, 1))[0])
        tiles.extend(row_tiles)
    columns = len(taus) + 1 + (1 if enhancer is not None else 0)
    image = grid(np.stack(tiles), columns)
    header = Image.new("RGB", (image.width, 28), "white")
    draw = ImageDraw.Draw(header)
    labels = ["input"] + [f"DR2 N={index['n']} tau={tau}" for tau in taus]
    labels += ["+ enhancer"] if enhancer is not None else []
    for c, label in enumerate(labels):
        draw.text((4 + c * (64 * scale + 2), 2), label, fill="black")
    draw.text((4, 15), title, fill=(90, 90, 90))
    figure = Image.new("RGB", (image.width, image.height + header.height), "white")
    figure.paste(header, (0, 0))
    figure.paste(image, (0, header.height))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(out)
    print(f"{out}: {len(face_ids)} faces x {len(taus)} taus")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("prior", "curves", "degrade", "dr2-grid"))
    parser.add_argument("--ddpm-run", type=Path, default=RUNS_DIR / "ddpm64")
    parser.add_argument("--enhancer-run", type=Path, default=RUNS_DIR / "enhancer")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "prior":
        prior_samples(args.ddpm_run / "checkpoint.pt", args.out or DOCS / "prior-samples.png", steps=args.steps)
    elif args.what == "curves":
        curves(args.ddpm_run / "metrics.jsonl", args.enhancer_run / "metrics.jsonl",
               args.out or DOCS / "training-curves.png")
    elif args.what == "degrade":
        degrade()
    else:
        enhancer = _load_enhancer(args.enhancer_run / "checkpoint.pt")
        dr2_grid(FIGURES_RUNS / "dr2-val-clean", FIGURES_RUNS / "val-clean-64.npy", DOCS / "dr2-val-clean.png",
                 enhancer,
                 "clean UTKFace val/ faces (the enhancer's training condition, Eq. 12)")
        dr2_grid(FIGURES_RUNS / "dr2-val-degraded", FIGURES_RUNS / "val-degraded-64.npy", DOCS / "dr2-val-degraded.png",
                 enhancer, "val/ faces: blur 2px@128, x8 bicubic down, noise 8/255, JPEG 50, bicubic up to 64")
    return 0


if __name__ == "__main__":
    sys.exit(main())
