"""The per-batch work of a scan, as engine functions (:mod:`curate.engines`).

A scan's embarrassingly parallel stages run on the engine it was given, in
this process (the local engine) or on Ray workers:

* :func:`decode_rows`: read image bytes from the packs (the engine's
  :class:`~curate.engines.packs.PackReader`, fsspec), decode, pixel hash,
  quality statistics, pixels at the extractor's size, fingerprints;
* :func:`feature_rows`: a fitted feature map applied to a batch of pixels;
* :func:`fold_group_probs` / :func:`fit_fold_heads`: the classifier heads of a
  group of folds.

Inputs and outputs are Arrow tables (matrices travel as fixed-size binary
columns, one row per sample) or plain arrays, so the driver gets results
back as Arrow batches and keeps the catalog to itself. Every function
computes a row from that row alone, so the batch boundaries the caller
picks (the same on every engine) decide the arithmetic, never the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

#: Rows per engine batch in decoding and feature maps, the same on every engine: a
#: multiple of the patch features' internal batch (256), so in-process and engine
#: runs add the same floats in the same order. 4,096 and not fewer: a Ray Data
#: batch costs ~30-80 ms of scheduling and transfer on a busy 2-core machine
#: (measured), against ~1 s of work in 4,096 28x28 images.
ENGINE_BATCH_ROWS = 4096


# -- matrices as Arrow columns ---------------------------------------------------------------
def rows_to_arrow(array: np.ndarray) -> pa.FixedSizeBinaryArray:
    """(N, ...) array -> N fixed-size binary values (each row's bytes, C order)."""
    array = np.ascontiguousarray(array)
    width = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize
    flat = array.reshape(-1).view(np.uint8)
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(array), [None, pa.py_buffer(flat)]
    )


def arrow_to_rows(column, row_shape: tuple[int, ...], dtype) -> np.ndarray:
    """The inverse of :func:`rows_to_arrow` (read-only when it can be zero-copy)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    dtype = np.dtype(dtype)
    n = len(column)
    width = column.type.byte_width
    data = column.buffers()[1]
    flat = np.frombuffer(data, dtype=np.uint8, count=n * width, offset=column.offset * width)
    return flat.view(dtype).reshape(n, *row_shape)


# -- decoding --------------------------------------------------------------------------------
def decode_rows(batch: pa.Table, context: tuple) -> pa.Table:
    """Decode a batch of ``working`` rows (pack, pack_offset, nbytes).

    ``context`` = (reader, size (w, h), mode). Returns ``hash`` (string),
    ``stats`` (quality statistics, float64), ``pixels`` (uint8 at ``size``)
    and ``fingerprint`` (float32) per row.
    """
    from curate.scan.classifier import torch_threads
    from curate.scan.duplicates import fingerprints
    from curate.scan.engine import decode_batch

    reader, size, mode = context
    pixels, hashes, stats = decode_batch(reader, batch, size=size, mode=mode)
    with torch_threads():
        prints = fingerprints(pixels)
    return pa.table(
        {
            "hash": pa.array(hashes, pa.string()),
            "stats": rows_to_arrow(stats),
            "pixels": rows_to_arrow(pixels),
            "fingerprint": rows_to_arrow(prints),
        }
    )


# -- feature maps ----------------------------------------------------------------------------
def feature_rows(batch: pa.Table, context: tuple) -> pa.Table:
    """A fitted feature map on a batch of pixels (column ``pixels``).

    ``context`` = (feature map, size (w, h), channels, pixel row shape, device).
    Returns ``features`` (float32 rows).
    """
    import torch

    from curate.scan.classifier import torch_threads
    from curate.scan.features import to_tensor

    fmap, size, channels, row_shape, device = context
    images = arrow_to_rows(batch.column("pixels"), row_shape, np.uint8)
    with torch_threads(), torch.no_grad():
        x = to_tensor(images, size=size, channels=channels, device=device)
        feats = fmap.transform(x).float().cpu().numpy()
    return pa.table({"features": rows_to_arrow(feats)})


def map_features(engine, fmap, images: np.ndarray, *, size, channels, device) -> np.ndarray:
    """``fmap.transform`` of every image in batches of :data:`ENGINE_BATCH_ROWS`, on
    ``engine`` (None: here, the same batches): (N, D) float32."""
    from curate.engines.base import slices

    table = pa.table({"pixels": rows_to_arrow(images)})
    context = (fmap, tuple(size), channels, tuple(images.shape[1:]), device)
    if engine is None:
        results = (
            feature_rows(table.slice(start, length), context)
            for start, length in slices(table.num_rows, ENGINE_BATCH_ROWS)
        )
    else:
        results = engine.map_batches(
            feature_rows, table, batch_rows=ENGINE_BATCH_ROWS, context=context
        )
    parts = []
    dim = None
    for part in results:
        col = part.column("features")
        dim = col.type.byte_width // 4
        parts.append(arrow_to_rows(col, (dim,), np.float32))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)


# -- fold heads --------------------------------------------------------------------------------
def fit_gathered(factory, x, y, positions: list[np.ndarray], n_classes: int) -> list:
    """Heads of a group of folds from their gathered rows ``x`` (labels ``y``);
    ``positions[k]``: the rows of ``x`` fold k trains on."""
    head = factory()
    if len(positions) == 1 and len(positions[0]) == x.shape[0]:
        return [head.fit(x, y, n_classes)]  # one fold: x is its rows
    return head.fit_folds(x, y, positions, n_classes)


def fold_group_probs(item: tuple, context: tuple) -> list[np.ndarray]:
    """Probabilities of one head's group of folds on their held-out rows.

    ``item`` = (head index, job indices: :func:`curate.scan.features.fold_groups`);
    ``context`` = (features per head, head factories, labels, n_classes,
    jobs as (training rows, predicted rows)). The arithmetic of
    :func:`curate.scan.features.cross_val_heads`, so in-process and engine
    folds agree to the bit.
    """
    import torch

    from curate.scan.classifier import torch_threads
    from curate.scan.features import gather_folds

    h, group = item
    features, factories, labels, n_classes, jobs = context
    with torch_threads():
        feats = features[h]
        rows, positions = gather_folds([jobs[j][0] for j in group])
        x = feats[torch.from_numpy(rows).to(feats.device)]
        y = torch.from_numpy(labels[rows]).long().to(feats.device)
        heads = fit_gathered(factories[h], x, y, positions, n_classes)
        return [
            head.predict_proba(feats[jobs[j][1]]).float().cpu().numpy()
            for head, j in zip(heads, group, strict=True)
        ]


def fit_fold_heads(item: tuple, context: Any) -> list:
    """A group of folds' heads from gathered training rows:
    ``item`` = (factory, x, y, positions per fold, n_classes, device)."""
    import torch

    from curate.scan.classifier import torch_threads

    factory, x, y, positions, n_classes, device = item
    with torch_threads():
        x = np.ascontiguousarray(x)
        if not x.flags.writeable:  # a zero-copy view of Ray's object store
            x = x.copy()
        xt = torch.from_numpy(x).to(device)
        yt = torch.from_numpy(np.asarray(y)).long().to(device)
        return fit_gathered(factory, xt, yt, positions, n_classes)
