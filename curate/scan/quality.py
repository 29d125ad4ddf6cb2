"""Image-quality checks in the spirit of CleanVision, on native-size pixels.

Each check gives a score in [0, 1] (lower = worse) and flags an issue below
0.5. Absolute checks look at one image; relative ones compare it with the
dataset (its median), so a dataset of small, dark digits is not "all dark".

=============== =======================================================
dark            the brightest 1% of pixels is below 15% grey
bright          the darkest 1% of pixels is above 85% grey
low_information histogram entropy below 0.5 bit (nearly constant image)
blurry          Laplacian energy / contrast below 30% of the dataset median
                (images of 16 px or more)
odd_size        area below 1/4 or above 4x the median area
odd_aspect      aspect ratio off by 2x or more from the median aspect
=============== =======================================================
"""

from __future__ import annotations

import numpy as np

CHECKS = ("dark", "bright", "low_information", "blurry", "odd_size", "odd_aspect")
ISSUE_BELOW = 0.5
#: The statistics of :func:`image_stats`, in the column order of a stats matrix.
STAT_KEYS = ("width", "height", "p01", "p99", "entropy", "sharpness")


def stack_stats(grays: np.ndarray) -> np.ndarray:
    """Statistics of a stack of (M, H, W) float32 grayscale images in [0, 1]:
    a (M, len(STAT_KEYS)) float64 matrix, vectorised over the stack (a
    per-image loop of a dozen small numpy calls cost ~0.17 ms an image)."""
    m, h, w = grays.shape
    size = h * w
    levels = np.clip((grays * 255).astype(np.int64), 0, 255).reshape(m, size)
    # one bincount for the whole stack: image j's levels are shifted by 256 * j
    hist = np.bincount((levels + 256 * np.arange(m)[:, None]).ravel(), minlength=256 * m)
    hist = hist.reshape(m, 256)
    cdf = np.cumsum(hist, axis=1) / size
    # searchsorted(cdf, q) on a non-decreasing cdf = the number of entries below q
    p01 = (cdf < 0.01).sum(axis=1) / 255.0
    p99 = (cdf < 0.99).sum(axis=1) / 255.0
    prob = hist / size
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(hist > 0, prob * np.log2(prob), 0.0).sum(axis=1)
    std = grays.reshape(m, size).std(axis=1)
    sharp = np.zeros(m)
    if min(h, w) >= 3:
        lap = (
            -4 * grays[:, 1:-1, 1:-1]
            + grays[:, :-2, 1:-1]
            + grays[:, 2:, 1:-1]
            + grays[:, 1:-1, :-2]
            + grays[:, 1:-1, 2:]
        )
        lap_std = lap.reshape(m, -1).std(axis=1)
        ok = std > 1e-6
        sharp[ok] = lap_std[ok] / std[ok]
    out = np.empty((m, len(STAT_KEYS)))
    out[:, 0], out[:, 1] = w, h
    out[:, 2], out[:, 3], out[:, 4], out[:, 5] = p01, p99, entropy, sharp
    return out


def image_stats(gray: np.ndarray) -> dict[str, float]:
    """Per-image statistics of an (H, W) float32 grayscale image in [0, 1]."""
    row = stack_stats(gray[None])[0]
    return {k: float(v) for k, v in zip(STAT_KEYS, row, strict=True)}


class StatsAccumulator:
    """Statistics of many images of mixed sizes, computed in stacks of one shape.

    Images wait until ``budget_pixels`` are pending, so a batch of large photos
    never holds more than that many grayscale pixels at once.
    """

    def __init__(self, n: int, budget_pixels: int = 1 << 22) -> None:
        self.out = np.zeros((n, len(STAT_KEYS)), dtype=np.float64)
        self.budget = budget_pixels
        self.pending: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
        self.pending_pixels = 0

    def add(self, row: int, gray: np.ndarray) -> None:
        self.pending.setdefault(gray.shape, []).append((row, gray))
        self.pending_pixels += gray.size
        if self.pending_pixels >= self.budget:
            self.flush()

    def flush(self) -> None:
        for items in self.pending.values():
            rows = [row for row, _ in items]
            self.out[rows] = stack_stats(np.stack([gray for _, gray in items]))
        self.pending.clear()
        self.pending_pixels = 0

    def result(self) -> np.ndarray:
        self.flush()
        return self.out


def score_quality(stats: list[dict[str, float]]) -> tuple[np.ndarray, list[dict]]:
    """(overall score per image, per-image details with each check's score and the flagged ones)."""
    if len(stats) == 0:
        return np.zeros(0), []
    matrix = np.array([[s[k] for k in STAT_KEYS] for s in stats], dtype=np.float64)
    overall, scores = quality_scores(matrix)
    return overall, [quality_details(scores, matrix, i) for i in range(len(stats))]


def quality_scores(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(overall score (N,), score per check (N, len(CHECKS))) from a (N, len(STAT_KEYS))
    stats matrix: vectorised, so a million images cost no Python loop."""
    n = len(stats)
    if n == 0:
        return np.zeros(0), np.zeros((0, len(CHECKS)))
    col = {k: stats[:, j] for j, k in enumerate(STAT_KEYS)}
    area = col["width"] * col["height"]
    aspect = col["width"] / np.maximum(col["height"], 1)
    big = np.minimum(col["width"], col["height"]) >= 16
    sharp_median = float(np.median(col["sharpness"][big])) if big.any() else 0.0
    scores = {
        "dark": np.clip(col["p99"] / 0.3, 0, 1),
        "bright": np.clip((1 - col["p01"]) / 0.3, 0, 1),
        "low_information": np.clip(col["entropy"] / 1.0, 0, 1),
        "blurry": np.where(
            big & (sharp_median > 0),
            np.clip(col["sharpness"] / max(sharp_median, 1e-9) / 0.6, 0, 1),
            1.0,
        ),
        "odd_size": np.clip(2 * np.minimum(area / np.median(area), np.median(area) / area), 0, 1),
        "odd_aspect": np.clip(
            np.minimum(aspect / np.median(aspect), np.median(aspect) / aspect), 0, 1
        ),
    }
    # A blank image is "low information", not also blurry.
    scores["blurry"] = np.where(scores["low_information"] < ISSUE_BELOW, 1.0, scores["blurry"])
    # + 0.0 turns IEEE's -0.0 (a clipped negative) into 0.0: shown and stored as "-0" else.
    matrix = np.stack([scores[c] for c in CHECKS], axis=1) + 0.0
    return matrix.min(axis=1), matrix


def quality_details(scores: np.ndarray, stats: np.ndarray, i: int) -> dict:
    """The details of image ``i``: flagged checks, every check's score, its size."""
    row = scores[i].tolist()
    return {
        "checks": [c for c, v in zip(CHECKS, row, strict=True) if v < ISSUE_BELOW],
        "scores": {c: round(v, 4) for c, v in zip(CHECKS, row, strict=True)},
        "size": [int(stats[i, 0]), int(stats[i, 1])],
    }
