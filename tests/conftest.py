"""Shared fixtures: small generated datasets and fresh workspaces.

Tests make their own data (or use sample_data/); nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIGITS = REPO / "sample_data" / "digits"

# Keep tests away from the network and from the user's own configuration.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def write_png(path: Path, seed: int, size: tuple[int, int] = (16, 16), mode: str = "L") -> Path:
    """A random (hence unique per seed) image."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """3 classes x 4 images, no splits."""
    root = tmp_path / "folder"
    seed = 0
    for cls in ("cat", "dog", "eel"):
        for i in range(4):
            write_png(root / cls / f"{i}.png", seed)
            seed += 1
    return root


@pytest.fixture
def workspace(tmp_path: Path):
    from curate.api import Workspace

    ws = Workspace.init(tmp_path / "ws")
    yield ws
    ws.close()
