"""Near-duplicate search on 1,000,000 x 128 float32 embeddings: time and peak memory.

    python benchmarks/bench_scan_neardup.py [--rows 1000000] [--dim 128] [--backend auto]

Claim (issue 3): the scan's near-duplicate search (kNN graph -> relative
threshold -> connected components, ``curate.scan.knn`` + ``curate.scan.duplicates``)
completes on 1M x 128 embeddings without an N x N allocation (an N x N float32
matrix would be 4 TB). Reports wall time per stage, the process's peak RSS,
and the recall of 10,000 planted near-duplicate pairs.

Data: 1M points around 5,000 random cluster centres (realistic embeddings
are clustered), with 10,000 rows replaced by a slightly perturbed copy of
another row (the planted near duplicates).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--backend", default="auto", help="auto | flat | faiss | exact")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from curate.scan.classifier import torch_threads
    from curate.scan.duplicates import groups_from_pairs, near_duplicate_threshold
    from curate.scan.knn import knn_graph

    rng = np.random.default_rng(0)
    n, dim = args.rows, args.dim
    t = time.perf_counter()
    centres = rng.normal(size=(5000, dim)).astype(np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 65536):  # in chunks, so generating does not set the peak
        e = min(s + 65536, n)
        chunk = centres[rng.integers(0, 5000, e - s)]
        chunk += 0.35 * rng.standard_normal((e - s, dim), dtype=np.float32)
        x[s:e] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    src = rng.choice(n, args.pairs, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), args.pairs, replace=False)
    x[dst] = x[src] + 0.002 * rng.normal(size=(args.pairs, dim)).astype(np.float32)
    gen_s = time.perf_counter() - t
    base_mb = peak_rss_mb()
    print(
        f"data: {n} x {dim} float32 ({x.nbytes / 2**20:.0f} MiB) in {gen_s:.1f}s; "
        f"RSS after generating: {base_mb:.0f} MiB"
    )

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    with torch_threads():
        t = time.perf_counter()
        dist, idx = knn_graph(x, 10, backend=args.backend, device=args.device, seed=0)
        knn_s = time.perf_counter() - t
        t = time.perf_counter()
        threshold = near_duplicate_threshold(dist)
        close = (dist <= threshold) & (idx >= 0)
        rows = np.repeat(np.arange(n), dist.shape[1])[close.ravel()]
        groups = groups_from_pairs(n, rows, idx.ravel()[close.ravel()])
        group_s = time.perf_counter() - t
    found = groups[src] >= 0
    same = found & (groups[src] == groups[dst])
    recall = same.mean()
    peak = peak_rss_mb()
    n_groups = len(np.unique(groups[groups >= 0]))
    print(f"kNN graph (k=10, backend {args.backend}): {knn_s:.1f} s")
    print(f"threshold {threshold:.4f}, components: {group_s:.1f} s, {n_groups} groups")
    print(f"planted pairs found in one group: {same.sum()}/{args.pairs} (recall {recall:.3f})")
    print(
        f"peak RSS: {peak:.0f} MiB (data alone {x.nbytes / 2**20:.0f} MiB; "
        f"an N x N float32 matrix would be {n * n * 4 / 2**40:.1f} TiB)"
    )
    total = knn_s + group_s
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    # The claim has no time target: it must complete, within memory, without N x N.
    ok = recall > 0.95 and peak < 4 * 1024 + x.nbytes / 2**20
    print(
        ("PASS" if ok else "MISS")
        + f": near-duplicate search on {n} x {dim} completed in {total:.1f} s wall "
        f"({cpu:.0f} CPU-s), peak RSS {peak:.0f} MiB, no N x N allocation"
    )


if __name__ == "__main__":
    main()
