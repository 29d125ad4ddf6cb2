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


def image_stats(gray: np.ndarray) -> dict[str, float]:
    """Per-image statistics of an (H, W) float32 grayscale image in [0, 1]."""
    h, w = gray.shape
    hist = np.bincount(np.clip((gray * 255).astype(np.int64), 0, 255).ravel(), minlength=256)
    cdf = np.cumsum(hist) / gray.size
    p01 = float(np.searchsorted(cdf, 0.01)) / 255.0
    p99 = float(np.searchsorted(cdf, 0.99)) / 255.0
    prob = hist[hist > 0] / gray.size
    entropy = float(-(prob * np.log2(prob)).sum())
    std = float(gray.std())
    if min(h, w) >= 3:
        lap = (
            -4 * gray[1:-1, 1:-1]
            + gray[:-2, 1:-1]
            + gray[2:, 1:-1]
            + gray[1:-1, :-2]
            + gray[1:-1, 2:]
        )
        sharp = float(lap.std() / std) if std > 1e-6 else 0.0
    else:
        sharp = 0.0
    return {
        "width": float(w),
        "height": float(h),
        "p01": float(p01),
        "p99": float(p99),
        "entropy": entropy,
        "sharpness": sharp,
    }


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
    matrix = np.stack([scores[c] for c in CHECKS], axis=1)
    return matrix.min(axis=1), matrix


def quality_details(scores: np.ndarray, stats: np.ndarray, i: int) -> dict:
    """The details of image ``i``: flagged checks, every check's score, its size."""
    row = scores[i].tolist()
    return {
        "checks": [c for c, v in zip(CHECKS, row, strict=True) if v < ISSUE_BELOW],
        "scores": {c: round(v, 4) for c, v in zip(CHECKS, row, strict=True)},
        "size": [int(stats[i, 0]), int(stats[i, 1])],
    }
