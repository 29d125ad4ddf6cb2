"""Exports read back by their real consumers; determinism; manifests; torch DataLoader workers."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.errors import Cancelled, InvalidInput
from curate.export.writers import MAX_SHARD_SAMPLES, imagefolder_warnings, shard_starts
from tests.engines.test_versions import derived_sample, make_ws


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def versioned(tmp_path_factory):
    """v1: 3 classes x 12, split 0.5/0.25/0.25, one augmented sample; v2: a relabel."""
    tmp = tmp_path_factory.mktemp("export")
    ws = make_ws(tmp, per_class=12)
    t = ws.samples()
    ws.add_samples([derived_sample(ws, t.column("sample_id")[0].as_py(), "cat", seed=1)])
    ws.split("0.5,0.25,0.25", seed=2)
    ws.commit("v1")
    ws.relabel(t.column("sample_id")[1].as_py(), "eel", reason="test")
    ws.commit("v2")
    yield ws
    ws.close()


def test_hf_export_loads_with_load_from_disk(versioned, tmp_path):
    import datasets

    v1 = versioned.version("v1")
    result = versioned.export("v1", "hf", tmp_path / "hf")
    dd = datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(dd) == {"train", "val", "test"}
    assert sum(len(d) for d in dd.values()) == result.samples == 37
    feats = dd["train"].features
    assert isinstance(feats["image"], datasets.Image)
    assert isinstance(feats["label"], datasets.ClassLabel)
    assert feats["label"].names == ["cat", "dog", "eel"]
    row = dd["train"][0]
    assert row["image"].size == (8, 8)
    expected = {r["sample_id"]: r for r in v1.samples().to_pylist()}
    for split, d in dd.items():
        for r in d.select_columns(["sample_id", "label", "split", "origin"]):
            e = expected[r["sample_id"]]
            assert (feats["label"].int2str(r["label"]), split, r["origin"]) == (
                e["label"],
                e["split"],
                e["origin"],
            )
    aug = [r for r in dd["train"] if r["origin"] == "augmented"]
    assert len(aug) == 1 and aug[0]["parents"] and json.loads(aug[0]["recipe"])["policy"]
    # to_hf() gives the same data in memory.
    mem = v1.to_hf()
    assert mem["val"]["sample_id"] == dd["val"]["sample_id"]


def test_parquet_export_loads_with_load_dataset_and_is_deterministic(versioned, tmp_path):
    import datasets

    a = versioned.version("v2").to_parquet(tmp_path / "a")
    b = versioned.export("v2", "parquet", tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")  # byte-identical
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "a" / "data"))
    assert sum(len(d) for d in ds.values()) == a.samples == b.samples == 37
    assert isinstance(ds["train"].features["label"], datasets.ClassLabel)
    assert isinstance(ds["train"].features["image"], datasets.Image)
    manifest = json.loads((tmp_path / "a" / "curate-manifest.json").read_text())
    assert manifest["hash"] == versioned.version("v2").hash
    assert manifest["classes"] == ["cat", "dog", "eel"]
    assert manifest["lineage_columns"] == ["origin", "parents", "recipe"]
    assert {f["path"] for f in manifest["files"]} == {
        f"data/{s}-00000-of-00001.parquet" for s in ("train", "val", "test")
    }
    # v1 and v2 differ by one label, and so do their exports.
    v1 = versioned.version("v1").to_parquet(tmp_path / "c")
    assert _digests(tmp_path / "c") != _digests(tmp_path / "a") and v1.hash != a.hash


def test_imagefolder_and_webdataset_exports(versioned, tmp_path):
    import datasets
    import webdataset as wds

    r = versioned.export("v1", "imagefolder", tmp_path / "if")
    r2 = versioned.export("v1", "imagefolder", tmp_path / "if2")
    assert _digests(tmp_path / "if") == _digests(tmp_path / "if2")
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"))
    assert sum(len(d) for d in ds.values()) == r.samples == 37
    row = ds["train"][0]
    assert row["image"].size == (8, 8) and row["label"] in ("cat", "dog", "eel")

    w = versioned.export("v1", "webdataset", tmp_path / "wds")
    versioned.export("v1", "webdataset", tmp_path / "wds2")
    assert _digests(tmp_path / "wds") == _digests(tmp_path / "wds2")
    assert w.splits == r2.splits
    shards = sorted(str(p) for p in (tmp_path / "wds").glob("train-*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("rgb8"))
    assert len(samples) == w.splits["train"]
    s = samples[0]
    meta = s["json"]
    assert s["png"].shape == (8, 8, 3) and s["png"].dtype == np.uint8
    assert int(s["cls"]) == ["cat", "dog", "eel"].index(meta["label"])
    assert meta["sample_id"] == s["__key__"] and meta["split"] == "train"


class SeededTransform:
    """A transform with the augmentation helper's hook: seed_worker once per process."""

    def __init__(self) -> None:
        self.seeded: tuple[int, int] | None = None
        self.calls = 0

    def seed_worker(self, worker_id: int, num_workers: int) -> None:
        self.calls += 1
        self.seeded = (worker_id, num_workers)

    def __call__(self, image: np.ndarray):
        import torch

        assert image.dtype == np.uint8 and image.ndim == 3
        assert self.seeded is not None, "transform ran before seed_worker"
        return torch.from_numpy(image.copy()).permute(2, 0, 1), self.seeded[0], self.calls


def test_to_torch_with_dataloader_workers(versioned):
    import torch.utils.data

    v = versioned.version("v1")
    ds = v.to_torch("train", transform=SeededTransform())
    assert len(ds) == v.stats.splits["train"]
    # Main process: seed_worker(0, 1) before the first transform.
    (x, worker, calls), label = ds[0]
    assert x.shape == (1, 8, 8) and (worker, calls) == (0, 1) and 0 <= label < 3
    fresh = v.to_torch("train", transform=SeededTransform())  # never used in this process
    loader = torch.utils.data.DataLoader(fresh, batch_size=4, num_workers=2, shuffle=False)
    seen_workers, labels = set(), []
    for (images, workers, calls), batch_labels in loader:
        assert images.shape[1:] == (1, 8, 8)
        assert set(calls.tolist()) == {1}  # seeded exactly once per worker process
        seen_workers.update(workers.tolist())
        labels += batch_labels.tolist()
    assert seen_workers == {0, 1}
    expected = [v.classes.index(x) for x in v.samples("train").column("label").to_pylist()]
    assert labels == expected
    plain = v.to_torch("val")
    img, _ = plain[0]
    assert img.shape == (8, 8, 1) and img.dtype == np.uint8
    df = v.to_pandas("val")
    assert len(df) == len(plain) and {"sample_id", "label", "origin", "parents"} <= set(df)
    assert "pack" not in df


def test_export_refuses_non_empty_folder_and_cancel_leaves_nothing(versioned, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not empty"):
        versioned.export("v1", "parquet", out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(InvalidInput, match="unknown export format"):
        versioned.export("v1", "tfrecord", tmp_path / "x")
    with pytest.raises(Cancelled):
        versioned.version("v1").export("webdataset", tmp_path / "c", cancel=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half-written folder
    with pytest.raises(InvalidInput, match="not an earlier curate export"):
        versioned.export("v1", "parquet", out, overwrite=True)  # not curate's to replace
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    earlier = tmp_path / "earlier"
    versioned.export("v2", "parquet", earlier)
    (earlier / "stale.txt").write_text("from before")
    replaced = versioned.export("v1", "parquet", earlier, overwrite=True)
    assert replaced.samples == 37 and not (earlier / "stale.txt").exists()


def test_unsplit_samples_get_a_warning_whose_recipe_loads_them(tmp_path):
    """datasets' folder loaders skip a split named 'unsplit': the export says so, and
    the data_files it suggests load those rows."""
    import datasets

    ws = make_ws(tmp_path / "w", per_class=4)
    ws.commit("no splits")
    result = ws.export("HEAD", "parquet", tmp_path / "pq")
    assert result.splits == {"unsplit": 12}
    (warning,) = result.warnings
    assert "12 sample(s) have no split" in warning
    files = warning.split("data_files={'unsplit': '")[1].split("'")[0]
    ds = datasets.load_dataset("parquet", data_files={"unsplit": files})
    assert len(ds["unsplit"]) == 12
    ws.split("0.5,0.5", seed=0)
    ws.commit("split")
    assert ws.export("HEAD", "parquet", tmp_path / "pq2").warnings == []
    ws.close()


def _cli(root: Path, *args, code: int = 0):
    """``curate -w root ...``; the workspace must be closed in this process (DuckDB)."""
    result = CliRunner().invoke(cli, ["-w", str(root), *args])
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


def test_webdataset_loads_with_datasets_webdataset_loader(versioned, tmp_path):
    """datasets infers the .json types from a shard's first samples: originals (no parents,
    no recipe) and an augmented sample must give the same types."""
    import datasets

    w = versioned.export("v1", "webdataset", tmp_path / "wds")
    ds = datasets.load_dataset(
        "webdataset", data_dir=str(tmp_path / "wds"), cache_dir=str(tmp_path / "cache")
    )
    renamed = {"validation" if k == "val" else k: n for k, n in w.splits.items()}
    assert {k: len(d) for k, d in ds.items()} == renamed
    meta = ds["train"].features["json"]
    for name in ("label", "split", "source", "label_source", "origin", "parents", "recipe"):
        assert meta[name] == datasets.Value("string"), name
    rows = [r for d in ds.values() for r in d["json"]]
    (aug,) = [r for r in rows if r["origin"] == "augmented"]
    assert len(json.loads(aug["parents"])) == 1 and json.loads(aug["recipe"])["policy"]
    assert aug["source"] == ""
    original = next(r for r in rows if r["origin"] == "original")
    assert json.loads(original["parents"]) == [] and original["recipe"] == ""


def test_webdataset_shards_several_per_split_by_default_and_shard_samples_sets_them(
    versioned, tmp_path
):
    import webdataset as wds

    assert len(shard_starts(145)) == len(shard_starts(1440)) == 8
    assert shard_starts(3) == [0, 1, 2]  # never an empty shard
    assert shard_starts(25, 10) == [0, 10, 20]
    big = shard_starts(100_001)
    assert len(big) == 11 and max(np.diff([*big, 100_001])) <= MAX_SHARD_SAMPLES
    with pytest.raises(InvalidInput, match="positive"):
        shard_starts(10, -1)

    w = versioned.export("v1", "webdataset", tmp_path / "auto")
    for split, n in w.splits.items():
        assert len(list((tmp_path / "auto").glob(f"{split}-*.tar"))) == min(n, 8), split
    # The smallest split, two loader workers: each gets shards (one shard left one idle: an error).
    val = sorted(str(p) for p in (tmp_path / "auto").glob("val-*.tar"))
    loader = wds.WebLoader(
        wds.WebDataset(val, shardshuffle=False).to_tuple("__key__"), num_workers=2
    )
    assert len(list(loader)) == w.splits["val"]

    ws = make_ws(tmp_path, per_class=4)
    ws.split("0.5,0.5", seed=0)
    ws.commit("v1")
    ws.close()
    four = tmp_path / "four"
    args = ["export", "v1", "--shard-samples", "5", "--out"]
    _cli(ws.root, *args, str(four), "--format", "webdataset")  # 6 train samples
    assert sorted(p.name for p in four.glob("train-*.tar")) == [
        "train-000000.tar",
        "train-000001.tar",
    ]
    wrong = _cli(ws.root, *args, str(tmp_path / "pq"), "--format", "parquet", code=2)
    assert "--shard-samples is for --format webdataset only" in wrong.stderr
    assert not (tmp_path / "pq").exists()


def test_imagefolder_keeps_label_indices_and_warns_when_folders_sort_otherwise(tmp_path):
    """Every split holds every class folder (a missing one shifts torchvision's indices);
    a class made later sorts before older ones, which the export warns of; the README's
    datasets recipe gives the manifest's indices."""
    import datasets

    ws = make_ws(tmp_path, per_class=4)
    ws.relabel(ws.samples().column("sample_id")[0].as_py(), "bird", new_class=True)
    ws.split("0.5,0.5", seed=0)
    ws.commit("v1")
    labels = {
        r["sample_id"]: (r["label"], r["split"]) for r in ws.version("v1").samples().to_pylist()
    }
    ws.close()
    out = tmp_path / "if"
    result = json.loads(
        _cli(ws.root, "export", "v1", "--format", "imagefolder", "--out", str(out), "--json").stdout
    )
    manifest = json.loads((out / "curate-manifest.json").read_text())
    classes = manifest["classes"]
    assert classes == ["cat", "dog", "eel", "bird"]
    for split in manifest["splits"]:
        # torchvision's ImageFolder.find_classes: the sorted folder names.
        folders = sorted(e.name for e in os.scandir(out / split) if e.is_dir())
        assert folders == ["bird", "cat", "dog", "eel"], split
    (bird_split,) = {split for label, split in labels.values() if label == "bird"}
    (other,) = set(manifest["splits"]) - {bird_split}
    order, empty = result["warnings"]
    assert "4 class(es) get other label indices" in order
    assert "'cat': 0 in the manifest, 1 in ImageFolder" in order and "find_classes" in order
    assert f"split '{other}' has no samples of class(es) 'bird'" in empty
    assert "allow_empty=True" in empty
    # The README's recipe for datasets: labels as the manifest's indices.
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "c"))
    ds = ds.cast_column("label", datasets.ClassLabel(names=classes))
    rows = [r for d in ds.values() for r in d.select_columns(["label", "sample_id"])]
    assert len(rows) == len(labels)
    for row in rows:
        assert row["label"] == classes.index(labels[row["sample_id"]][0])
    # Classes in sorted order: nothing to warn of.
    (only,) = imagefolder_warnings(out, sorted(classes))  # in sorted order: no other index
    assert "has no samples of class(es) 'bird'" in only


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="the README's torchvision recipe"
)
def test_readme_find_classes_recipe_gives_the_manifests_indices(tmp_path):
    from torchvision.datasets import ImageFolder

    ws = make_ws(tmp_path, per_class=3)
    ws.relabel(ws.samples().column("sample_id")[0].as_py(), "bird", new_class=True)
    ws.split("0.5,0.5", seed=0)
    ws.commit("v1")
    ws.export("v1", "imagefolder", tmp_path / "if")
    classes = json.loads((tmp_path / "if" / "curate-manifest.json").read_text())["classes"]

    class CurateImageFolder(ImageFolder):  # as in the README
        def find_classes(self, directory):
            return classes, {name: i for i, name in enumerate(classes)}

    labels = {r["sample_id"]: r["label"] for r in ws.version("v1").samples().to_pylist()}
    for split in ("train", "val"):
        folder = CurateImageFolder(str(tmp_path / "if" / split), allow_empty=True)
        assert len(folder) > 0
        for path, target in folder.samples:
            assert classes[target] == labels[Path(path).stem]
    ws.close()
