"""Ingesting Hugging Face datasets: rows are read as ingest reaches them, and image
paths start from the dataset's folder (or --root), never the current folder."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from curate.errors import InvalidInput
from tests.conftest import write_png


@pytest.fixture(autouse=True)
def _hf_cache_in_tmp(tmp_path, monkeypatch):
    """load_dataset converts parquet files into its cache: keep it out of the user's."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def _noise_png(seed: int, side: int = 64) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _saved_dataset(folder: Path, n: int) -> int:
    """An HF dataset of ``n`` noise images saved with save_to_disk; its image bytes."""
    import datasets

    blobs = [_noise_png(i) for i in range(n)]
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])}
    )
    images = [{"bytes": b, "path": None} for b in blobs]
    ds = datasets.Dataset.from_dict({"image": images, "label": [i % 2 for i in range(n)]}, features)
    ds.save_to_disk(str(folder))
    return sum(map(len, blobs))


def _path_parquet(file: Path, paths: list[str], labels: list[str]) -> Path:
    """A parquet file as datasets writes one, whose Image cells hold paths, no bytes."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    images = [{"bytes": None, "path": p} for p in paths]
    table = pa.table({"image": images, "label": labels}, schema=features.arrow_schema)
    file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, file)
    return file


def test_hf_items_hold_no_image_bytes_until_read(tmp_path):
    """Each item's reader bound its image's bytes: a dataset bigger than memory crashed."""
    from curate.core.models import IngestFormat
    from curate.ingest.sources import ColumnNames, enumerate_items

    image_bytes = _saved_dataset(tmp_path / "hf", 60)
    tracemalloc.start()
    try:
        items = list(enumerate_items(tmp_path / "hf", IngestFormat.HF, ColumnNames()))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(items) == 60
    assert held < image_bytes / 4, f"60 items hold {held:,} bytes; their images are {image_bytes:,}"
    assert items[7].read() == _noise_png(7)  # ... and each reads its own when called


def test_ingest_reads_an_hf_dataset_as_it_goes_with_a_right_total(workspace, tmp_path, monkeypatch):
    """The engine listed every item before reading the first: the whole dataset at once."""
    import curate.ingest.engine as engine

    _saved_dataset(tmp_path / "hf", 100)
    made = []
    real = engine.enumerate_items

    class Counted:  # the real HF items, counting those the engine has taken so far
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __iter__(self):
            for item in self.items:
                made.append(item.uri)
                yield item

    monkeypatch.setattr(engine, "enumerate_items", lambda *a: Counted(real(*a)))
    seen = []

    def progress(done, total, message=""):
        seen.append((done, total, len(made)))

    report = workspace.ingest(tmp_path / "hf", batch_size=10, progress=progress)
    assert report.added_samples == 100
    assert seen[0] == (0, 100, 0)
    assert seen[-1][:2] == (100, 100)
    assert all(taken <= done + 10 for done, _, taken in seen), seen[:3]


@pytest.mark.parametrize("layout", ["parquet file", "hub folder", "path column"])
def test_hf_image_paths_start_from_the_dataset_folder(workspace, tmp_path, monkeypatch, layout):
    """Relative paths were opened from the current folder: every row was unreadable."""
    ds = tmp_path / "ds"
    write_png(ds / "images" / "0.png", 1)
    write_png(ds / "images" / "1.png", 2)
    write_png(tmp_path / "outside.png", 3)
    paths = ["images/0.png", "images/1.png", "images/missing.png", "../outside.png"]
    labels = ["cat", "dog", "cat", "dog"]
    options: dict = {"format": "hf"}
    if layout == "parquet file":
        source = _path_parquet(ds / "train.parquet", paths, labels)
    elif layout == "hub folder":
        _path_parquet(ds / "data" / "train-00000-of-00001.parquet", paths, labels)
        source, options = ds, {}
    else:  # plain strings in a column named with --image-column
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = ds / "files.parquet"
        pq.write_table(pa.table({"file": paths, "label": labels}), source)
        options["image_column"] = "file"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    report = workspace.ingest(source, **options)
    assert report.format.value == "hf"
    assert report.added_samples == 2
    got = {q.source.rpartition("#")[2]: q.reason for q in report.quarantined}
    assert got["images/missing.png"].startswith("missing file: images/missing.png")
    assert str(ds / "images" / "missing.png") in got["images/missing.png"]
    assert got["../outside.png"] == "path escapes dataset folder: ../outside.png"
    assert workspace.status().classes == {"cat": 1, "dog": 1}


def test_hf_image_paths_from_another_root(workspace, tmp_path):
    """ds/images/ with ds/meta/train.parquet: --root says paths start from ds/."""
    write_png(tmp_path / "ds" / "images" / "0.png", 1)
    write_png(tmp_path / "ds" / "images" / "1.png", 2)
    parquet = _path_parquet(
        tmp_path / "ds" / "meta" / "train.parquet", ["images/0.png", "images/1.png"], ["a", "b"]
    )
    report = workspace.ingest(parquet, format="hf")
    assert report.added_samples == 0
    assert [q.reason.split(":")[0] for q in report.quarantined] == ["missing file"] * 2
    report = workspace.ingest(parquet, format="hf", root=tmp_path / "ds")
    assert (report.added_samples, report.quarantined) == (2, [])
    with pytest.raises(InvalidInput, match="--root is for manifests and HF datasets"):
        workspace.ingest(tmp_path / "ds" / "images", format="imagefolder", root=tmp_path)


def test_an_image_column_of_numbers_is_a_clear_error(workspace, tmp_path):
    """--image-column naming a column of numbers ended in pyarrow's traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"n": [1, 2], "label": ["a", "b"]}), tmp_path / "n.parquet")
    with pytest.raises(InvalidInput, match="column 'n' of HF dataset n.parquet holds neither"):
        workspace.ingest(tmp_path / "n.parquet", format="hf", image_column="n")
    assert workspace.status().samples == 0
