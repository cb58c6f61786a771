"""Where things live: the repository, the training runs folder and the shared reference folder.

Every path is derived from this file's location, so the commands work from any working
directory (``python3 -m dr2e_models.<tool>`` with ``models/`` on the import path).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PACKAGE_DIR", "MODELS_DIR", "REPO_ROOT", "RUNS_DIR", "shared_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
MODELS_DIR = PACKAGE_DIR.parent
REPO_ROOT = MODELS_DIR.parent
#: Checkpoints, caches and figures of training runs (gitignored).
RUNS_DIR = MODELS_DIR / "runs"


def shared_dir() -> Path:
    """The reference folder: ``$DR2E_SHARED_DIR`` or ``<repo>/../shared``."""
    override = os.environ.get("DR2E_SHARED_DIR")
    return Path(override).resolve() if override else (REPO_ROOT.parent / "shared").resolve()
