"""Rebuild sample_data/ from scikit-learn's bundled handwritten digits.

    python sample_data/build.py

Writes ``digits/<given label>/digit_<index>.png`` (8x8 grayscale PNGs) with a
few classes thinned to induce imbalance and about 8% of the labels flipped
to another class at random, plus ``ground_truth.csv`` listing every image
with its given and true label. Deterministic: same seed, same files. No
download: the digits ship inside scikit-learn.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

SEED = 20261122
NOISE_RATE = 0.08
# class -> fraction of its images kept
THIN = {2: 0.30, 5: 0.20, 9: 0.50}


def build(out: Path) -> dict[str, int]:
    rng = np.random.default_rng(SEED)
    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    targets = digits.target

    keep = np.ones(len(targets), dtype=bool)
    for cls, frac in THIN.items():
        idx = np.flatnonzero(targets == cls)
        dropped = rng.choice(idx, size=len(idx) - int(round(frac * len(idx))), replace=False)
        keep[dropped] = False
    kept = np.flatnonzero(keep)

    given = targets.copy()
    n_flip = int(round(NOISE_RATE * len(kept)))
    flipped = rng.choice(kept, size=n_flip, replace=False)
    for i in flipped:
        choices = [c for c in range(10) if c != targets[i]]
        given[i] = rng.choice(choices)

    folder = out / "digits"
    if folder.exists():
        shutil.rmtree(folder)
    rows = []
    for i in kept:
        rel = Path("digits") / str(given[i]) / f"digit_{i:04d}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i], mode="L").save(out / rel, optimize=False)
        rows.append(
            {
                "path": rel.as_posix(),
                "given_label": str(given[i]),
                "true_label": str(targets[i]),
                "flipped": str(bool(given[i] != targets[i])).lower(),
            }
        )
    with open(out / "ground_truth.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "given_label", "true_label", "flipped"])
        writer.writeheader()
        writer.writerows(rows)
    return {"images": len(rows), "flipped": n_flip}


if __name__ == "__main__":
    stats = build(Path(__file__).parent)
    print(f"wrote {stats['images']} images, {stats['flipped']} with flipped labels")
