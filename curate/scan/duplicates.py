"""Exact duplicates (same pixels) and near-duplicate clusters (kNN + threshold).

Samples are already unique by file bytes (the catalog stores each image once),
so an *exact* duplicate here is the same pixels in a different file (another
format, metadata, compression level). *Near* duplicates are pairs whose
fingerprints (small, mean-centred, unit-norm grayscale thumbnails) are closer
than a threshold relative to the typical nearest-neighbour distance, the rule
cleanlab's Datalab uses (0.13 x the median); connected components of those
pairs are the groups. Nothing here is O(N^2) in memory.
"""

from __future__ import annotations

import numpy as np

FINGERPRINT_SIDE = 16
MEAN_WEIGHT = 0.25


def fingerprints(pixels: np.ndarray, batch: int = 4096) -> np.ndarray:
    """uint8 (N, H, W, C) -> (N, 257) float32: mean-centred unit-norm 16x16 grayscale
    thumbnails, plus a weak brightness term.

    Mean-centring and unit norm make them blind to brightness/contrast shifts,
    the thumbnail to resizing and recompression; the brightness term keeps a
    black and a white blank image apart. A constant image has a zero thumbnail.
    """
    import torch
    import torch.nn.functional as F

    out = np.zeros((len(pixels), FINGERPRINT_SIDE * FINGERPRINT_SIDE + 1), dtype=np.float32)
    side = FINGERPRINT_SIDE
    for start in range(0, len(pixels), batch):
        x = torch.from_numpy(np.ascontiguousarray(pixels[start : start + batch])).float() / 255.0
        gray = x.mean(3, keepdim=True).permute(0, 3, 1, 2)
        if min(gray.shape[2], gray.shape[3]) >= side:
            thumb = F.adaptive_avg_pool2d(gray, side)
        else:
            thumb = F.interpolate(gray, size=(side, side), mode="bilinear", align_corners=False)
        thumb = thumb.flatten(1)
        mean = thumb.mean(1, keepdim=True)
        centred = thumb - mean
        norm = centred.norm(dim=1, keepdim=True)
        unit = torch.where(norm > 1e-6, centred / norm.clamp_min(1e-6), torch.zeros_like(centred))
        out[start : start + len(x)] = torch.cat([unit, MEAN_WEIGHT * mean], 1).numpy()
    return out


def groups_from_pairs(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the pairs (a[i], b[i]): a group id per row, -1 when alone."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    labels = np.full(n, -1, dtype=np.int64)
    if len(a) == 0:
        return labels
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    grouped = sizes[comp] > 1
    # Renumber the groups densely, in order of their smallest member.
    _, first = np.unique(comp[grouped], return_index=True)
    order = np.argsort(first)
    remap = np.empty(order.size, dtype=np.int64)
    remap[order] = np.arange(order.size)
    uniq = np.unique(comp[grouped])
    labels[grouped] = remap[np.searchsorted(uniq, comp[grouped])]
    return labels


def exact_groups(hashes: list[str]) -> np.ndarray:
    """Group id per row for rows sharing a pixel hash, -1 when unique."""
    first: dict[str, int] = {}
    a, b = [], []
    for i, h in enumerate(hashes):
        j = first.setdefault(h, i)
        if j != i:
            a.append(j)
            b.append(i)
    return groups_from_pairs(len(hashes), np.array(a, np.int64), np.array(b, np.int64))


def near_duplicate_threshold(distances: np.ndarray, factor: float = 0.13) -> float:
    """``factor`` x the median distance to the nearest neighbour (cleanlab's rule).

    Exact matches (distance ~0) always count, even when most images are
    identical and the median is 0.
    """
    if distances.size == 0:
        return 0.0
    nn = distances[:, 0]
    nn = nn[np.isfinite(nn)]
    median = float(np.median(nn)) if nn.size else 0.0
    return max(factor * median, 1e-4)


def near_groups(
    distances: np.ndarray, indices: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Group id per row (-1 when none) and each row's distance to its nearest group mate."""
    n = distances.shape[0]
    close = (distances <= threshold) & (indices >= 0)
    rows = np.repeat(np.arange(n), distances.shape[1])[close.ravel()]
    cols = indices.ravel()[close.ravel()]
    labels = groups_from_pairs(n, rows, cols)
    nearest = np.where(close.any(1), np.where(close, distances, np.inf).min(1), np.inf)
    return labels, nearest
