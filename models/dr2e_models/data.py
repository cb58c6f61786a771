"""UTKFace data for the default dr2e models: locate the archive, preprocess once, cache as uint8.

The archive ``utkface-200.tar`` (200x200 JPEG "aligned & cropped" faces, a fixed ``train/`` /
``val/`` split) lives in the project's reference folder, resolved as ``<repo>/../shared``
(override with ``DR2E_SHARED_DIR``). It is read once and cached under ``models/runs/data/``
(gitignored: derived data is never committed) as ``[N, S, S, 3]`` uint8 ``.npy`` arrays in the
archive's sorted file order, plus a ``.json`` listing the member names (from the repository root,
with ``PYTHONPATH=models``):

    /usr/bin/python3 -m dr2e_models.data --split train --size 64     # DDPM training set
    /usr/bin/python3 -m dr2e_models.data --split train --size 128    # enhancer targets
    /usr/bin/python3 -m dr2e_models.data --split val --size 64       # evaluation only

Downsampling is area averaging (PIL's ``BOX`` filter over the 200x200 source), so the 64x64
images are what an area resize of the crop gives; both sizes are made from the same source
pixels, so image ``i`` at 64 and at 128 are the same face.

Only ``train/`` is used for training anywhere in ``models/``; ``val/`` is for evaluation.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from .paths import RUNS_DIR, shared_dir

__all__ = [
    "utkface_archive",
    "cache_path",
    "load_faces",
    "preprocess",
    "to_model_range",
]

SPLITS = ("train", "val")


def utkface_archive() -> Path:
    """Path of ``utkface-200.tar``; raises ``FileNotFoundError`` with a hint when it is absent."""
    path = shared_dir() / "data" / "utkface" / "utkface-200.tar"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (set DR2E_SHARED_DIR to the folder holding data/utkface/)")
    return path


def cache_path(split: str, size: int, cache_dir: Path | None = None) -> Path:
    """Where the cached ``[N, size, size, 3]`` uint8 array of a split lives."""
    return (cache_dir or RUNS_DIR / "data") / f"utkface-{split}-{size}.npy"


def _decode(data: bytes, size: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        if rgb.size != (size, size):
            # BOX = area average over the source pixels each target pixel covers.
            rgb = rgb.resize((size, size), Image.BOX)
        return np.asarray(rgb, dtype=np.uint8)


def preprocess(split: str, sizes: tuple[int, ...], archive: Path | None = None, cache_dir: Path | None = None,
               limit: int | None = None) -> dict[int, Path]:
    """Decode one split of the archive at each size and write the cached arrays; returns their paths.

    Members are taken in sorted name order so the index of a face is stable across runs.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    archive = archive or utkface_archive()
    prefix = f"{split}/"
    with tarfile.open(archive) as tar:
        members = sorted(
            (m for m in tar.getmembers()
             if m.isfile() and m.name.startswith(prefix) and m.name.lower().endswith(".jpg")),
            key=lambda m: m.name,
        )
        if limit is not None:
            members = members[:limit]
        arrays = {size: np.empty((len(members), size, size, 3), dtype=np.uint8) for size in sizes}
        for index, member in enumerate(members):
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            for size in sizes:
                arrays[size][index] = _decode(data, size)
    paths = {}
    for size, array in arrays.items():
        path = cache_path(split, size, cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npy")
        np.save(temporary, array)
        os.replace(temporary, path)
        path.with_suffix(".json").write_text(
            json.dumps({"archive": archive.name, "split": split, "size": size, "count": len(members),
                        "resize": "PIL BOX (area average)", "names": [m.name for m in members]}, indent=0)
        )
        paths[size] = path
    return paths


def load_faces(split: str, size: int, cache_dir: Path | None = None, mmap: bool = True) -> np.ndarray:
    """The cached ``[N, size, size, 3]`` uint8 faces of a split, preprocessing them on first use."""
    path = cache_path(split, size, cache_dir)
    if not path.is_file():
        preprocess(split, (size,), cache_dir=cache_dir)
    return np.load(path, mmap_mode="r" if mmap else None)


def to_model_range(batch_uint8: np.ndarray) -> np.ndarray:
    """``[B, H, W, 3]`` uint8 -> ``[B, 3, H, W]`` float32 in [-1, 1] (the models' value range)."""
    return np.ascontiguousarray(batch_uint8.transpose(0, 3, 1, 2), dtype=np.float32) / 127.5 - 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cache UTKFace splits as uint8 arrays under models/runs/data/")
    parser.add_argument("--split", choices=SPLITS, action="append", help="default: train and val")
    parser.add_argument("--size", type=int, action="append", help="default: 64 and 128")
    args = parser.parse_args(argv)
    for split in args.split or list(SPLITS):
        paths = preprocess(split, tuple(args.size or (64, 128)))
        for size, path in paths.items():
            print(f"{split} {size}: {path} {np.load(path, mmap_mode='r').shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
