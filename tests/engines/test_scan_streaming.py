"""The streaming scan (issue 9): matrices on disk read in chunks give what the
in-memory path gives, and a forced streaming scan records the same findings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curate.api import Workspace
from curate.errors import Cancelled
from curate.scan import featurestore
from curate.scan.featurestore import ArrayMatrix, FeatureStore


def test_disk_matrix_chunks_and_take_match_the_array(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 3, 4)).astype(np.float32)
    store = FeatureStore(tmp_path / "s")
    w = store.writer("x", (3, 4), np.float32)
    for a, b in [(0, 7), (7, 300), (300, 301), (301, 1000)]:  # uneven row groups
        w.append(x[a:b])
    m = w.close()
    assert m.shape == (1000, 3, 4) and m.dtype == np.float32
    for rows in (1, 64, 999, 5000):
        starts, blocks = zip(*m.chunks(rows), strict=True)
        assert all(len(b) <= rows for b in blocks)
        assert list(starts) == list(np.cumsum([0, *[len(b) for b in blocks[:-1]]]))
        np.testing.assert_array_equal(np.concatenate(blocks), x)
    index = np.array([999, 0, 5, 5, 300, 299, 6, 7])
    np.testing.assert_array_equal(m.take(index), x[index])
    np.testing.assert_array_equal(m.take(index), ArrayMatrix(x).take(index))
    np.testing.assert_array_equal(m.read(), x)
    assert m.take(np.array([], dtype=np.int64)).shape == (0, 3, 4)
    with pytest.raises(IndexError):
        m.take(np.array([1000]))
    empty = store.writer("empty", (2,), np.uint8).close()
    assert empty.n == 0 and empty.read().shape == (0, 2) and list(empty.chunks()) == []
    assert m.take(np.array([3])).flags.writeable  # torch.from_numpy needs writable memory
    # Pixels (uint8) cost their own bytes on disk, not the 4 bytes per value of a
    # Parquet int32 column.
    pixels = np.random.default_rng(1).integers(0, 256, (500, 8, 8, 3), dtype=np.uint8)
    pm = store.put("pixels", pixels, rows=128)
    np.testing.assert_array_equal(pm.take(np.array([499, 0, 130])), pixels[[499, 0, 130]])
    assert pm.dtype == np.uint8 and store.path("pixels").stat().st_size < 1.1 * pixels.nbytes


def test_temporary_store_is_removed_even_on_errors(tmp_path):
    with pytest.raises(RuntimeError), FeatureStore.temporary(tmp_path) as store:
        store.put("a", np.zeros((3, 2), np.float32))
        assert store.size_bytes() > 0
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_what_a_killed_scan_left_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)  # a process that has exited
    (tmp_path / f"run-{pid}-abcd1234").mkdir()
    (tmp_path / f"findings-{pid}-abcd1234.parquet").write_bytes(b"x")
    mine = tmp_path / f"run-{os.getpid()}-live0000"  # a scan still running: kept
    mine.mkdir()
    with FeatureStore.temporary(tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


@pytest.mark.parametrize("backend", ["faiss", "flat"])
def test_knn_graph_from_disk_in_chunks_equals_in_memory(tmp_path, monkeypatch, backend):
    from curate.scan.knn import knn_graph

    rng = np.random.default_rng(1)
    centers = rng.normal(size=(8, 16))
    x = (centers[rng.integers(0, 8, 1500)] + 0.1 * rng.normal(size=(1500, 16))).astype(np.float32)
    x[11] = x[4]  # an exact twin
    monkeypatch.setattr(featurestore, "CHUNK_ROWS", 256)  # six chunks, not one
    on_disk = FeatureStore(tmp_path).put("x", x, rows=100)
    d_mem, i_mem = knn_graph(x, 5, backend=backend, seed=3)
    d_disk, i_disk = knn_graph(on_disk, 5, backend=backend, seed=3)
    np.testing.assert_array_equal(i_disk, i_mem)
    np.testing.assert_array_equal(d_disk, d_mem)
    assert i_disk[4, 0] == 11 and i_disk[11, 0] == 4


def test_streaming_heads_give_the_in_memory_probabilities(tmp_path, monkeypatch):
    import torch

    from curate.scan.features import (
        KNNHead,
        LogRegHead,
        cross_val_heads,
        cross_val_heads_streaming,
    )

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 400)
    feats = (np.eye(3)[labels] @ rng.normal(size=(3, 12)) + rng.normal(size=(400, 12))).astype(
        np.float32
    )
    emb = feats[:, :6] / np.linalg.norm(feats[:, :6], axis=1, keepdims=True)
    labels[::37] = -1  # a few unlabeled rows: predicted by heads trained on every label
    factories = [lambda: LogRegHead(l2=0.01), lambda: KNNHead(k=5)]
    expected = cross_val_heads(
        [torch.from_numpy(feats), torch.from_numpy(emb)], factories, labels,
        n_classes=3, folds=4, seed=0,
    )  # fmt: skip
    store = FeatureStore(tmp_path)
    got = cross_val_heads_streaming(
        [store.put("f", feats, rows=90), store.put("e", emb, rows=90)], factories, labels,
        n_classes=3, folds=4, seed=0, chunk_rows=64,
    )  # fmt: skip
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (got.argmax(1)[labels >= 0] == labels[labels >= 0]).mean() > 0.8


def test_subsample_rows_keeps_every_class_and_its_share():
    from curate.scan.features import subsample_rows

    rows = np.arange(10_000)
    labels = np.r_[np.zeros(9000, int), np.ones(990, int), np.full(10, 2)]
    picked = subsample_rows(rows, labels, 1000, seed=0)
    assert len(picked) <= 1000 and np.all(np.diff(picked) > 0)
    counts = np.bincount(labels[picked], minlength=3)
    assert counts[0] == 900 and counts[1] == 99 and counts[2] == 1
    np.testing.assert_array_equal(picked, subsample_rows(rows, labels, 1000, seed=0))
    assert subsample_rows(rows, labels, None, seed=0) is rows
    assert subsample_rows(rows, labels, 20_000, seed=0) is rows


@pytest.fixture(scope="module")
def digits_ws(tmp_path_factory):
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("stream")
    x, y = load_digits(return_X_y=True)
    images = (x.reshape(-1, 8, 8) * 255 / 16).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    for i in range(240):
        label = int(y[i]) if i % 20 else int((y[i] + 1) % 10)  # 12 flipped
        path = root / "data" / str(label) / f"d{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(path)
    near = np.clip(images[0].astype(int) + rng.integers(-3, 4, (8, 8)), 0, 255).astype(np.uint8)
    Image.fromarray(near).save(root / "data" / str(y[0]) / "near.png")
    Image.fromarray(images[1]).save(root / "data" / str(y[1]) / "exact.png", compress_level=0)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "data" / "0" / "black.png")
    ws = Workspace.init(root / "ws")
    ws.ingest(root / "data")
    yield ws
    ws.close()


def _close(a, b, tol=1e-3) -> bool:
    """Equal JSON values, numbers within ``tol`` (the details round to 4 digits)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


def _rows(ws, run_id):
    return ws.catalog().rows(
        "SELECT sid, kind, score, is_issue, suggested_class_id, details::VARCHAR "
        "FROM findings WHERE run_id = ? ORDER BY sid, kind",
        [run_id],
    )


def test_a_streaming_scan_records_the_in_memory_findings(digits_ws, monkeypatch):
    ws = digits_ws
    calls = []
    memory = ws.scan(seed=0, folds=3, streaming=False, progress=lambda *call: calls.append(call))
    # The last report is a full bar: a CLI bar left at "quality findings 0/N" looked stuck.
    assert calls[-1][0] == calls[-1][1] == memory.samples
    monkeypatch.setattr(featurestore, "CHUNK_ROWS", 50)  # every matrix read in 5+ chunks
    calls.clear()
    streamed = ws.scan(seed=0, folds=3, streaming=True, progress=lambda *call: calls.append(call))
    assert calls[-1][0] == calls[-1][1] == streamed.samples
    seen = [what for _done, _total, what in calls]
    assert streamed.config["streaming"] is True and "streaming" not in memory.config
    assert streamed.issues == memory.issues
    assert streamed.issues["label"] > 0 and streamed.issues["duplicate"] == 2
    assert streamed.issues["near_duplicate"] >= 2 and streamed.issues["quality"] >= 1
    # Same rows, same decisions; scores equal up to float noise (chunks of 50
    # rows change the grouping of a few matmuls, not any decision).
    got, want = _rows(ws, streamed.run_id), _rows(ws, memory.run_id)
    assert [r[:2] + r[3:5] for r in got] == [r[:2] + r[3:5] for r in want]
    for a, b in zip(got, want, strict=True):
        assert a[2] == pytest.approx(b[2], abs=1e-4)
        assert _close(json.loads(a[5]), json.loads(b[5]))
    assert {"decoding images", "patches: features", "label findings"} <= set(seen)
    # The store and the findings file are gone once the run is recorded.
    assert list(Path(ws.paths.cache / "scan").iterdir()) == []


def test_max_train_subsamples_the_heads_and_says_so(digits_ws):
    ws = digits_ws
    result = ws.scan(seed=0, folds=3, streaming=True, max_train=60)
    assert result.config["max_train"] == 60
    assert any("max_train" in w for w in result.warnings)
    # Still one out-of-sample label row per labeled sample, and most flips found.
    assert len(ws.findings("label", only_issues=False)) == result.labeled
    assert result.issues["label"] >= 5


def test_cancelling_a_streaming_scan_leaves_no_run_and_no_files(digits_ws):
    ws = digits_ws
    runs = len(ws.scan_runs())
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        ws.scan(seed=0, folds=3, streaming=True, cancel=cancel)
    assert len(ws.scan_runs()) == runs
    assert list(Path(ws.paths.cache / "scan").iterdir()) == []
