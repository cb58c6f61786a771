"""Measure where the eyes and the mouth sit in a set of aligned face crops, from their mean image.

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.measure_framing            # UTKFace train/ vs FFHQ-aligned faces
    # -> docs/model/framing.json, docs/model/framing.png

No landmark detector is available here, so the measurement uses what alignment guarantees:
in a set of aligned crops the eyes and the mouth fall on nearly the same pixels, so the
per-pixel mean of many crops shows them as dark blobs on the lighter skin (the classic
"average face"). On the mean luminance image ``M`` (on a 128x128 grid):

1. darkness ``D = G_large(M) - G_small(M)``: a difference of Gaussians (sigma 3% and 1% of
   the side) that peaks on dark blobs of eye/mouth size and ignores slow shading;
2. eyes: the maximum of ``D`` in each half of the band ``y in [0.25, 0.62]``, ``x`` within
   ``0.12..0.48`` of the side from the centre line, refined to a centroid of ``D`` in a small
   window around it; the eye line is the mean of the two ``y``, the eye distance the
   difference of the ``x``;
3. mouth: the maximum of the row-wise darkness in a central column band (``|x - cx| < 0.08``)
   between ``eyeY + 0.12`` and ``0.95``, refined the same way. The dark line between the
   lips is what the mean shows; it lies at the height of the mouth corners, which is what
   the FFHQ 5-point template's ``mouthY`` (mean of the two corners) means.

The same procedure runs on the FFHQ-aligned faces in ``../shared/data`` (few and degraded,
so it is a sanity check of the method against the published template, reported side by side).
Numbers are fractions of the image side: ``eyeDistance``, ``eyeY``, ``mouthY``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image, ImageDraw


from .data import load_faces
from .paths import REPO_ROOT, shared_dir

__all__ = ["FFHQ_TEMPLATE", "mean_luminance", "locate_landmarks", "framing_from_landmarks", "measure"]

#: The widely used FFHQ 5-point template for 512x512 aligned crops, as fractions of the side.
FFHQ_TEMPLATE = {"name": "ffhq", "eyeDistance": 0.2459, "eyeY": 0.4688, "mouthY": 0.7252}
GRID = 128


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge replication (so borders do not look dark)."""
    kernel = _gaussian_kernel(sigma)
    radius = len(kernel) // 2
    padded = np.pad(image, radius, mode="edge")
    rows = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, padded)
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, rows)


def mean_luminance(images: Iterable[np.ndarray], size: int = GRID) -> np.ndarray:
    """Mean Rec.601 luminance in [0, 1] of ``[H, W, 3]`` uint8 images, each area-resized to ``size``."""
    total = np.zeros((size, size), dtype=np.float64)
    count = 0
    for image in images:
        if image.shape[:2] != (size, size):
            image = np.asarray(Image.fromarray(image).resize((size, size), Image.BOX))
        rgb = image.astype(np.float64) / 255.0
        total += rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        count += 1
    if count == 0:
        raise ValueError("no images")
    return total / count


def _refine(darkness: np.ndarray, y: int, x: int, radius: int) -> tuple[float, float]:
    """Centroid of the positive darkness in a window around ``(y, x)``."""
    y0, y1 = max(0, y - radius), min(darkness.shape[0], y + radius + 1)
    x0, x1 = max(0, x - radius), min(darkness.shape[1], x + radius + 1)
    window = np.clip(darkness[y0:y1, x0:x1], 0, None)
    window = np.clip(window - 0.5 * window.max(), 0, None)  # the blob's core only
    if window.sum() <= 0:
        return float(y), float(x)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return float((ys * window).sum() / window.sum()), float((xs * window).sum() / window.sum())


def locate_landmarks(mean: np.ndarray) -> dict[str, tuple[float, float]]:
    """Eye and mouth centres ``(x, y)`` as fractions of the side, found on a mean luminance image."""
    size = mean.shape[0]
    darkness = _blur(mean, 0.03 * size) - _blur(mean, 0.01 * size)
    cx = size / 2.0
    rows = np.arange(size)[:, None] / size
    cols = np.arange(size)[None, :] / size
    band = (rows >= 0.25) & (rows <= 0.62)
    left = band & (cols <= 0.5 - 0.12 / 2) & (cols >= 0.5 - 0.48)
    right = band & (cols >= 0.5 + 0.12 / 2) & (cols <= 0.5 + 0.48)
    radius = max(2, int(round(0.04 * size)))
    found: dict[str, tuple[float, float]] = {}
    for name, mask in (("eyeLeft", left), ("eyeRight", right)):
        y, x = np.unravel_index(np.argmax(np.where(mask, darkness, -np.inf)), darkness.shape)
        ry, rx = _refine(darkness, int(y), int(x), radius)
        found[name] = (rx / size + 0.5 / size, ry / size + 0.5 / size)
    eye_y = (found["eyeLeft"][1] + found["eyeRight"][1]) / 2
    column = (np.abs(cols + 0.5 / size - cx / size) < 0.08) & (rows >= eye_y + 0.12) & (rows <= 0.95)
    y, x = np.unravel_index(np.argmax(np.where(column, darkness, -np.inf)), darkness.shape)
    ry, rx = _refine(darkness, int(y), int(x), radius)
    found["mouth"] = (rx / size + 0.5 / size, ry / size + 0.5 / size)
    return found


def framing_from_landmarks(name: str, landmarks: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The manifest's ``framing`` object (4 decimals) from eye and mouth centres."""
    left, right, mouth = landmarks["eyeLeft"], landmarks["eyeRight"], landmarks["mouth"]
    return {
        "name": name,
        "eyeDistance": round(abs(right[0] - left[0]), 4),
        "eyeY": round((left[1] + right[1]) / 2, 4),
        "mouthY": round(mouth[1], 4),
    }


def measure(name: str,
            images: Iterable[np.ndarray]) -> tuple[dict[str, Any], np.ndarray, dict[str, tuple[float, float]]]:
    """Framing, mean image and landmarks of one set of aligned crops."""
    mean = mean_luminance(images)
    landmarks = locate_landmarks(mean)
    return framing_from_landmarks(name, landmarks), mean, landmarks


def _read_images(folders: list[Path]) -> list[np.ndarray]:
    images = []
    for folder in folders:
        for path in sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg")):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB").resize((GRID, GRID), Image.BOX)))
    return images


def _panel(mean: np.ndarray, landmarks: dict[str, tuple[float, float]], reference: dict[str, Any] | None,
           title: str, scale: int = 2) -> Image.Image:
    size = mean.shape[0] * scale
    grey = Image.fromarray((np.clip(mean, 0, 1) * 255).astype(np.uint8))
    image = grey.resize((size, size), Image.NEAREST).convert("RGB")
    canvas = Image.new("RGB", (size, size + 16), "white")
    canvas.paste(image, (0, 16))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 2), title, fill="black")
    for x, y in landmarks.values():
        px, py = x * size, y * size + 16
        draw.ellipse((px - 3, py - 3, px + 3, py + 3), outline=(255, 0, 0), width=2)
    if reference:
        for y in (reference["eyeY"], reference["mouthY"]):
            draw.line((0, y * size + 16, size, y * size + 16), fill=(0, 160, 255), width=1)
        half = reference["eyeDistance"] / 2
        for x in (0.5 - half, 0.5 + half):
            draw.line((x * size, 16, x * size, size + 16), fill=(0, 160, 255), width=1)
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-json", type=Path, default=REPO_ROOT / "docs" / "model" / "framing.json")
    parser.add_argument("--out-figure", type=Path, default=REPO_ROOT / "docs" / "model" / "framing.png")
    args = parser.parse_args(argv)

    utk_images = load_faces("train", 128)
    utk, utk_mean, utk_marks = measure("utkface-200", (utk_images[i] for i in range(len(utk_images))))
    data = shared_dir() / "data"
    ffhq_folders = [data / "hq", data / "real-degraded" / "dr2-test", data / "real-degraded" / "gfpgan"]
    ffhq_images = _read_images([f for f in ffhq_folders if f.is_dir()])
    ffhq, ffhq_mean, ffhq_marks = measure("ffhq-measured", ffhq_images)

    result = {
        "method": "mean luminance of aligned crops on a 128x128 grid; eye/mouth blobs located by a difference of "
                  "Gaussians (see models/dr2e_models/measure_framing.py)",
        "utkface": {**utk, "images": len(utk_images), "source": "utkface-200.tar train/, 200x200 crops",
                    "landmarks": {k: [round(v[0], 4), round(v[1], 4)] for k, v in utk_marks.items()}},
        "ffhqMeasured": {**ffhq, "images": len(ffhq_images),
                         "source": "../shared/data/hq + real-degraded (FFHQ-aligned), a check of the method",
                         "landmarks": {k: [round(v[0], 4), round(v[1], 4)] for k, v in ffhq_marks.items()}},
        "ffhqTemplate": FFHQ_TEMPLATE,
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(result, indent=2) + "\n")
    panels = [
        _panel(utk_mean, utk_marks, None, f"UTKFace mean ({len(utk_images)})"),
        _panel(ffhq_mean, ffhq_marks, FFHQ_TEMPLATE, f"FFHQ-aligned mean ({len(ffhq_images)})"),
    ]
    figure = Image.new("RGB", (sum(p.width for p in panels) + 8, panels[0].height), "white")
    x = 0
    for panel in panels:
        figure.paste(panel, (x, 0))
        x += panel.width + 8
    figure.save(args.out_figure)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
