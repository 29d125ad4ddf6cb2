"""k-nearest-neighbour graphs without an N x N matrix.

Two backends, same output ``(distances (N, k) float32, indices (N, k) int64)``,
rows sorted by distance, the query itself left out:

* ``exact``: blocked matmul + running top-k in torch (CPU or CUDA). Memory is
  O(query_block x db_block), never N x N. The GPU path.
* ``flat``: faiss's exact brute-force search (BLAS + heap selection, blocked
  queries): the same result as ``exact``, faster on a CPU.
* ``faiss``: an IVF-Flat index (faiss-cpu), approximate, for large N on a CPU.
  It takes the rows in chunks, so the input can be a matrix on disk
  (:mod:`curate.scan.featurestore`); the index holds N x D float32.

``backend="auto"``: ``exact`` on CUDA, ``flat`` on a CPU up to 50,000 rows,
``faiss`` (IVF) beyond (exact search grows as N^2: 100k x 128 took 114 s on
one busy core).
Distances are Euclidean; on L2-normalised inputs that is sqrt(2 - 2 cos).

:func:`to_csr` turns the result into the sparse ``knn_graph`` cleanlab's
Datalab accepts, so Datalab never builds its own (slow, exact sklearn) graph.
"""

from __future__ import annotations

import math

import numpy as np

from curate.core.progress import CancelFn, ProgressFn, check_cancel, no_progress

EXACT_MAX_ROWS_CPU = 50_000


def knn_graph(
    x,
    k: int,
    *,
    device: str = "cpu",
    backend: str = "auto",
    query_block: int = 4096,
    db_block: int = 65536,
    seed: int = 0,
    progress: ProgressFn = no_progress,
    cancel: CancelFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``x``: an (N, D) array or a :class:`~curate.scan.featurestore.Matrix` (on disk:
    the IVF backend reads it in chunks; ``flat`` and ``exact`` read it whole)."""
    from curate.scan.featurestore import ArrayMatrix, Matrix

    matrix = x if isinstance(x, Matrix) else ArrayMatrix(np.ascontiguousarray(x, np.float32))
    n = matrix.n
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    if backend == "auto":
        cpu = "flat" if n <= EXACT_MAX_ROWS_CPU else "faiss"
        backend = "exact" if device == "cuda" else cpu
    if backend == "faiss":
        return _faiss_ivf(matrix, k, seed=seed, progress=progress, cancel=cancel)
    x = np.ascontiguousarray(matrix.read(), dtype=np.float32)
    if backend == "flat":
        return _faiss_flat(x, k, progress=progress, cancel=cancel)
    if backend != "exact":
        raise ValueError(f"unknown kNN backend {backend!r}")
    return _exact(x, k, device, query_block, db_block, progress, cancel)


def _exact(x, k, device, query_block, db_block, progress, cancel):
    import torch

    n = x.shape[0]
    db = torch.from_numpy(x).to(device)
    sq = (db * db).sum(1)
    out_d = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    kk = k + 1  # one extra so the query itself can be dropped
    for qs in range(0, n, query_block):
        check_cancel(cancel)
        qe = min(qs + query_block, n)
        q = db[qs:qe]
        best_d = torch.full((qe - qs, 0), math.inf, device=device)
        best_i = torch.zeros((qe - qs, 0), dtype=torch.long, device=device)
        for ds in range(0, n, db_block):
            de = min(ds + db_block, n)
            d2 = sq[qs:qe, None] + sq[None, ds:de] - 2.0 * (q @ db[ds:de].T)
            # The query itself: force it out (exact duplicates tie at 0 with it).
            rows = torch.arange(qs, qe, device=device)
            inside = (rows >= ds) & (rows < de)
            if inside.any():
                r = torch.nonzero(inside).squeeze(1)
                d2[r, rows[r] - ds] = math.inf
            m = min(kk, de - ds)
            top_d, top_i = torch.topk(d2, m, dim=1, largest=False)
            cand_d = torch.cat([best_d, top_d], 1)
            cand_i = torch.cat([best_i, top_i + ds], 1)
            m = min(kk, cand_d.shape[1])
            best_d, order = torch.topk(cand_d, m, dim=1, largest=False)
            best_i = torch.gather(cand_i, 1, order)
        out_d[qs:qe] = best_d[:, :k].clamp_min(0).sqrt().cpu().numpy()
        out_i[qs:qe] = best_i[:, :k].cpu().numpy()
        progress(qe, n, "nearest neighbours")
    return out_d, out_i


def _import_faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        from curate.errors import MissingDependency

        raise MissingDependency(
            "faiss is needed for kNN graphs on a CPU", hint="pip install faiss-cpu"
        ) from None
    import torch

    # Same thread count as torch (see curate.scan.engine.torch_threads).
    faiss.omp_set_num_threads(max(1, torch.get_num_threads()))
    return faiss


def _search(index, x, k, progress, cancel, message, *, first: int = 0, total: int | None = None):
    """Search every row of ``x`` (rows ``first``.. of the indexed set) for k+1
    neighbours and drop the row itself."""
    n = x.shape[0]
    total = total if total is not None else n
    out_d = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    block = 16384
    for qs in range(0, n, block):
        check_cancel(cancel)
        qe = min(qs + block, n)
        d2, idx = index.search(np.ascontiguousarray(x[qs:qe], dtype=np.float32), k + 1)
        rows = np.arange(first + qs, first + qe)[:, None]
        is_self = idx == rows
        # Drop the query itself where found (exact duplicates may rank before
        # it), else the farthest candidate.
        keep = ~is_self
        keep[~is_self.any(1), k] = False
        d2 = d2[keep].reshape(qe - qs, k)
        idx = idx[keep].reshape(qe - qs, k)
        missing = idx < 0  # fewer than k candidates in the probed lists
        d2[missing] = np.inf
        idx[missing] = -1
        out_d[qs:qe] = np.sqrt(np.maximum(d2, 0))
        out_i[qs:qe] = idx
        progress(first + qe, total, message)
    return out_d, out_i


def _faiss_flat(x, k, *, progress, cancel):
    faiss = _import_faiss()
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return _search(index, x, k, progress, cancel, "nearest neighbours")


def _faiss_ivf(matrix, k, *, seed, progress, cancel):
    """IVF-Flat over a :class:`Matrix`: trained on a sample, filled and searched chunk
    by chunk (the index itself holds the N x D float32 vectors)."""
    faiss = _import_faiss()
    n, dim = matrix.n, int(np.prod(matrix.row_shape))
    nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist)
    rng = np.random.default_rng(seed)
    train = matrix.take(rng.choice(n, size=min(n, nlist * 39), replace=False))
    index.cp.seed = seed
    # 10 k-means iterations instead of faiss's 25: the coarse partition only
    # has to be good enough for 16 probes, and training dominated the 1M run.
    index.cp.niter = 10
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    del train
    for _, block in matrix.chunks():
        check_cancel(cancel)
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    index.nprobe = min(nlist, 16)
    out_d = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    for start, block in matrix.chunks():
        d, i = _search(
            index,
            block,
            k,
            progress,
            cancel,
            "nearest neighbours (IVF index)",
            first=start,
            total=n,
        )
        out_d[start : start + len(block)] = d
        out_i[start : start + len(block)] = i
    return out_d, out_i


def to_csr(distances: np.ndarray, indices: np.ndarray):
    """A scipy CSR ``knn_graph`` (row i: its neighbours, sorted by distance)."""
    from scipy.sparse import csr_matrix

    n, k = distances.shape
    valid = indices >= 0
    counts = valid.sum(1)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    # Datalab reads neighbours from the stored entries: keep exact zeros as a
    # tiny positive distance so scipy never drops them as implicit zeros.
    data = np.maximum(distances[valid], 1e-12).astype(np.float64)
    graph = csr_matrix((data, indices[valid], indptr), shape=(n, n))
    graph.has_sorted_indices = False
    return graph
