"""Train the face upsampler: a bank of learned linear filters that enlarge a face x2 or x4.

Faces that ``auto`` keeps as they were (clean or mildly degraded faces larger than the prior can
improve) used to come back as a bicubic enlargement of the photo. A linear filter fitted by least
squares to the degradation faces meet is a better interpolator than bicubic (it undoes some of
the blur and averages some of the noise and JPEG artefacts), and cheap enough to run per face in
JavaScript. The filters are chosen per pixel by a hash of the local gradient's structure
(direction, strength, coherence), as in RAISR (Romano, Isidoro and Milanfar, 2016), so edges are
sharpened along their direction and flat skin is left smooth.

The layout, shared with ``gpu-task/src/photo/face-upsampler.ts`` (its tests check parity on a
fixture written by ``--fixture``):

- Input: the photo's RGB samples as floats (0-255). Every output pixel ``(Y, X)`` of an
  enlargement by ``r`` lies over input pixel ``(Y // r, X // r)`` (centre-aligned: its centre is
  at ``(X + 0.5) / r - 0.5`` in input pixels) and has phase ``(Y % r) * r + X % r``.
- Hash of an input pixel, on luma ``0.299 R + 0.587 G + 0.114 B``: central-difference gradients
  (edge-replicated), their products averaged over a 5x5 box (edge-replicated); the structure
  tensor's eigenvalues ``l1 >= l2``; angle ``0.5 atan2(2 gxy, gxx - gyy)`` in ``ANGLES`` bins over
  ``[-pi/2, pi/2)``; strength ``sqrt(l1)`` and coherence ``(sqrt l1 - sqrt l2) / (sqrt l1 +
  sqrt l2)`` binned by the bank's thresholds (a value equal to a threshold falls below it).
  Bucket = ``(angle * (len(strength) + 1) + strength) * (len(coherence) + 1) + coherence``.
- Output sample = sum over the ``taps x taps`` input pixels (``--taps``, 5 by default: 7 gained
  0.02 dB more on held-out faces for twice the cost) centred on the output pixel's input pixel
  (edge-replicated) of ``weights[bucket][phase][tap] * sample``, tap = row * taps + column, the
  same filter for R, G and B; then clamped to 0-255 and rounded.

Training pairs (``train/`` faces only; ``val/`` is for evaluation): a UTKFace crop resized to a
ground-truth side ``r * s`` (``s`` log-uniform between ``--min-side`` and ``--max-side``, as the
photo evaluation places faces), degraded like the evaluation's ``mild`` split (Eq. 13: Gaussian
blur sigma 0.1-3 px of a 512 px face, antialiased bicubic down by ``r``, Gaussian, Laplace or
Poisson noise 0-5, JPEG quality 70-90). The least-squares solution is shrunk toward bicubic
(``--ridge``), so rare buckets stay bicubic. From the repository root:

    PYTHONPATH=models /usr/bin/python3 -m dr2e_models.train_face_upsampler --factor 4 \\
        --out gpu-task/models/default/face-upsampler/x4.json
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from .data import utkface_archive

__all__ = [
    "ANGLES",
    "TAPS",
    "LUMA",
    "bicubic_filters",
    "hash_buckets",
    "enlarge",
    "degrade_mild",
    "fit_bank",
    "main",
]

ANGLES = 8
TAPS = 5
LUMA = (0.299, 0.587, 0.114)
#: The banks inherit the terms of the faces they are fitted on (the manifests' licence object).
LICENSE = {"name": "UTKFace: non-commercial research use only", "commercialUse": False}
#: Box radius of the structure tensor's average (5x5).
TENSOR_RADIUS = 2


def _cubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_filters(factor: int, taps: int = TAPS) -> np.ndarray:
    """The centre-aligned cubic interpolation (a = -0.5) as ``[factor**2, taps**2]`` phase filters."""
    half = taps // 2
    filters = np.zeros((factor * factor, taps * taps))
    for py in range(factor):
        for px in range(factor):
            # The output pixel's centre relative to its input pixel's, in input pixels.
            oy = (2 * py + 1 - factor) / (2 * factor)
            ox = (2 * px + 1 - factor) / (2 * factor)
            wy = np.array([_cubic(d - oy) for d in range(-half, half + 1)])
            wx = np.array([_cubic(d - ox) for d in range(-half, half + 1)])
            filters[py * factor + px] = np.outer(wy, wx).ravel()
    return filters


def _box_mean(plane: np.ndarray, radius: int) -> np.ndarray:
    padded = np.pad(plane, radius, mode="edge")
    h, w = plane.shape
    size = 2 * radius + 1
    return sum(padded[i:i + h, j:j + w] for i in range(size) for j in range(size)) / size**2


def _structure(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    luma = rgb @ np.array(LUMA)
    p = np.pad(luma, 1, mode="edge")
    gx = (p[1:-1, 2:] - p[1:-1, :-2]) / 2
    gy = (p[2:, 1:-1] - p[:-2, 1:-1]) / 2
    xx = _box_mean(gx * gx, TENSOR_RADIUS)
    yy = _box_mean(gy * gy, TENSOR_RADIUS)
    xy = _box_mean(gx * gy, TENSOR_RADIUS)
    half_trace = (xx + yy) / 2
    spread = np.sqrt(np.maximum(half_trace * half_trace - (xx * yy - xy * xy), 0))
    root1 = np.sqrt(half_trace + spread)
    root2 = np.sqrt(np.maximum(half_trace - spread, 0))
    angle = 0.5 * np.arctan2(2 * xy, xx - yy)
    coherence = np.where(root1 + root2 > 0, (root1 - root2) / np.maximum(root1 + root2, 1e-300), 0.0)
    return angle, root1, coherence


def hash_buckets(rgb: np.ndarray, strength: np.ndarray, coherence: np.ndarray) -> np.ndarray:
    """Each input pixel's filter bucket (see the module's layout)."""
    angle, root1, coh = _structure(rgb)
    a = np.floor((angle + np.pi / 2) / np.pi * ANGLES).astype(np.int64) % ANGLES
    s = np.searchsorted(strength, root1, side="left")
    c = np.searchsorted(coherence, coh, side="left")
    return (a * (len(strength) + 1) + s) * (len(coherence) + 1) + c


def _patches(rgb: np.ndarray, taps: int) -> np.ndarray:
    """``[h, w, 3, taps**2]``: each sample's taps x taps neighbourhood (edge-replicated)."""
    half = taps // 2
    h, w, _ = rgb.shape
    p = np.pad(rgb, ((half, half), (half, half), (0, 0)), mode="edge")
    return np.stack([p[i:i + h, j:j + w, :] for i in range(taps) for j in range(taps)], axis=-1)


def enlarge(rgb: np.ndarray, bank: dict) -> np.ndarray:
    """Enlarge ``[h, w, 3]`` floats by the bank's factor; float output (before rounding)."""
    r = bank["factor"]
    weights = bank["weights"]
    buckets = hash_buckets(rgb, bank["strength"], bank["coherence"])
    taps = math.isqrt(weights.shape[-1])
    out = np.einsum("hwcn,hwpn->hwcp", _patches(rgb, taps), weights[buckets])
    h, w, _ = rgb.shape
    return out.reshape(h, w, 3, r, r).transpose(0, 3, 1, 4, 2).reshape(h * r, w * r, 3)


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    xs = np.arange(-radius, radius + 1)
    kernel = np.exp(-(xs**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    h, w, _ = image.shape
    p = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    rows = sum(kernel[i] * p[i:i + h, :, :] for i in range(2 * radius + 1))
    return sum(kernel[i] * rows[:, i:i + w, :] for i in range(2 * radius + 1))


def _noise(shape: tuple[int, ...], image: np.ndarray, delta: float, rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    if delta <= 0:
        return image
    if kind == 0:
        return image + rng.normal(0, delta, shape)
    if kind == 1:
        return image + rng.laplace(0, delta / math.sqrt(2), shape)
    lam = 128 / delta**2
    return rng.poisson(np.maximum(image, 0) * lam) / lam


def degrade_mild(face: Image.Image, factor: int, min_side: float, max_side: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A (ground truth, degraded input) pair as float arrays: see the module's text."""
    side = math.exp(rng.uniform(math.log(min_side), math.log(max_side)))
    truth_side = max(factor * 8, int(round(side)) * factor)
    truth = np.asarray(face.resize((truth_side, truth_side), Image.BICUBIC), dtype=np.float64)
    sigma = rng.uniform(0.1, 3) * truth_side / 512
    blurred = np.clip(np.round(_gaussian_blur(truth, sigma)), 0, 255).astype(np.uint8)
    small_side = truth_side // factor
    small = np.asarray(Image.fromarray(blurred).resize((small_side, small_side), Image.BICUBIC), dtype=np.float64)
    noisy = np.clip(np.round(_noise(small.shape, small, rng.uniform(0, 5), rng)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=int(rng.integers(70, 91)))
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        degraded = np.asarray(decoded.convert("RGB"), dtype=np.float64)
    return truth, degraded


def fit_bank(pairs: list[tuple[np.ndarray, np.ndarray]], factor: int, ridge: float, taps: int = TAPS) -> dict:
    """Least-squares filters per (bucket, phase), shrunk toward bicubic by ``ridge``."""
    roots = np.concatenate([_structure(lr)[1].ravel() for _, lr in pairs])
    cohs = np.concatenate([_structure(lr)[2].ravel() for _, lr in pairs])
    strength = np.quantile(roots, [1 / 3, 2 / 3])
    coherence = np.quantile(cohs, [0.5])
    buckets_n = ANGLES * (len(strength) + 1) * (len(coherence) + 1)
    n = taps * taps
    gram = np.zeros((buckets_n, n, n))
    cross = np.zeros((buckets_n, n, factor * factor))
    counts = np.zeros(buckets_n, dtype=np.int64)
    half = taps // 2
    for truth, lr in pairs:
        h, w, _ = lr.shape
        buckets = hash_buckets(lr, strength, coherence)[half:h - half, half:w - half]
        patches = _patches(lr, taps)[half:h - half, half:w - half]
        targets = truth.reshape(h, factor, w, factor, 3).transpose(0, 2, 4, 1, 3).reshape(h, w, 3, factor * factor)
        targets = targets[half:h - half, half:w - half]
        for bucket in np.unique(buckets):
            chosen = buckets == bucket
            a = patches[chosen].reshape(-1, n)
            b = targets[chosen].reshape(-1, factor * factor)
            gram[bucket] += a.T @ a
            cross[bucket] += a.T @ b
            counts[bucket] += len(a)
    prior = bicubic_filters(factor, taps).T
    weights = np.stack([
        np.linalg.solve(gram[k] + ridge * np.eye(n), cross[k] + ridge * prior).T for k in range(buckets_n)
    ])
    return {"factor": factor, "weights": weights, "strength": strength, "coherence": coherence, "counts": counts}


def _psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    error = np.mean((np.clip(np.round(estimate), 0, 255) - truth) ** 2)
    return float(10 * np.log10(255**2 / max(error, 1e-12)))


def held_out_gain(pairs: list[tuple[np.ndarray, np.ndarray]], bank: dict) -> dict:
    """Mean PSNR of the bank and of bicubic (the same layout with cubic weights) on pairs."""
    taps = math.isqrt(bank["weights"].shape[-1])
    cubic = dict(bank, weights=np.broadcast_to(bicubic_filters(bank["factor"], taps), bank["weights"].shape))
    learned = [_psnr(enlarge(lr, bank), truth) for truth, lr in pairs]
    plain = [_psnr(enlarge(lr, cubic), truth) for truth, lr in pairs]
    return {
        "faces": len(pairs),
        "psnr_bicubic": round(float(np.mean(plain)), 3),
        "psnr_learned": round(float(np.mean(learned)), 3),
        "better_share": round(float(np.mean(np.array(learned) > np.array(plain))), 3),
    }


def bank_json(bank: dict, provenance: dict) -> dict:
    weights = np.ascontiguousarray(bank["weights"], dtype="<f4")
    return {
        "format": "dr2e-face-upsampler/1",
        "factor": bank["factor"],
        "taps": math.isqrt(weights.shape[-1]),
        "angles": ANGLES,
        "luma": list(LUMA),
        "tensorRadius": TENSOR_RADIUS,
        "strength": [float(v) for v in bank["strength"]],
        "coherence": [float(v) for v in bank["coherence"]],
        "shape": list(weights.shape),
        "weights": base64.b64encode(weights.tobytes()).decode("ascii"),
        "license": LICENSE,
        "provenance": provenance,
    }


def load_bank(path: Path) -> dict:
    """A bank written by this module, weights as float64 ``[buckets, factor**2, TAPS**2]``."""
    data = json.loads(path.read_text())
    weights = np.frombuffer(base64.b64decode(data["weights"]), dtype="<f4").astype(np.float64)
    return {
        "factor": data["factor"],
        "weights": weights.reshape(data["shape"]),
        "strength": np.array(data["strength"]),
        "coherence": np.array(data["coherence"]),
    }


def _train_faces(archive: Path, count: int, rng: np.random.Generator) -> list[Image.Image]:
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith("train/")),
                         key=lambda m: m.name)
        chosen = rng.choice(len(members), size=min(count, len(members)), replace=False)
        faces = []
        for index in chosen:
            with Image.open(io.BytesIO(tar.extractfile(members[index]).read())) as image:
                faces.append(image.convert("RGB"))
    return faces


def write_fixture(bank: dict, path: Path, rng: np.random.Generator) -> None:
    """A small input and the bank's float output, for the TypeScript parity test."""
    height, width = 9, 12
    base = rng.uniform(0, 255, (height, width, 3))
    ramp = np.linspace(0, 255, width)[None, :, None]
    image = np.round(0.5 * base + 0.5 * ramp)
    out = enlarge(image, bank)
    path.write_text(json.dumps({
        "factor": bank["factor"],
        "width": width,
        "height": height,
        "input": image.astype(int).ravel().tolist(),
        "output": [round(float(v), 4) for v in out.ravel()],
    }) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, choices=(2, 4), required=True)
    parser.add_argument("--faces", type=int, default=1200, help="train/ faces to fit on")
    parser.add_argument("--held-out", type=int, default=200, help="other train/ faces to report the gain on")
    parser.add_argument("--min-side", type=float, default=20, help="smallest degraded face side (px)")
    parser.add_argument("--max-side", type=float, default=160, help="largest degraded face side (px)")
    parser.add_argument("--ridge", type=float, default=1000.0, help="shrinkage toward bicubic")
    parser.add_argument("--taps", type=int, default=TAPS, help="filter side in input pixels (odd)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--archive", type=Path, default=None, help="utkface-200.tar (default: ../shared)")
    parser.add_argument("--out", type=Path, required=True, help="the bank (.json)")
    parser.add_argument("--fixture", type=Path, default=None, help="also write a parity fixture here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    faces = _train_faces(args.archive or utkface_archive(), args.faces + args.held_out, rng)
    pairs = [degrade_mild(face, args.factor, args.min_side, args.max_side, rng) for face in faces]
    bank = fit_bank(pairs[:args.faces], args.factor, args.ridge, args.taps)
    gain = held_out_gain(pairs[args.faces:], bank)
    provenance = {
        "command": "PYTHONPATH=models /usr/bin/python3 -m dr2e_models.train_face_upsampler " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "data": "UTKFace train/ (utkface-200.tar), degraded like the eval's mild split",
        "faces": args.faces,
        "sides": [args.min_side, args.max_side],
        "ridge": args.ridge,
        "taps": args.taps,
        "seed": args.seed,
        "heldOutTrain": gain,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(bank_json(bank, provenance), indent=2) + "\n")
    if args.fixture:
        write_fixture(load_bank(args.out), args.fixture, np.random.default_rng(args.seed + 100))
    print(json.dumps({"out": str(args.out), **gain}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
