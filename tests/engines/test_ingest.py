"""Ingest: formats, idempotence, conflicts, bad inputs, interruption."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from curate.api import Workspace
from curate.errors import Cancelled, InvalidInput, WorkspaceLocked
from tests.conftest import write_png


def reasons(report) -> dict[str, str]:
    return {Path(q.source).name: q.reason for q in report.quarantined}


def test_imagefolder_counts_classes_and_sources(workspace, image_folder):
    report = workspace.ingest(image_folder)
    assert report.format.value == "imagefolder"
    assert (report.seen, report.added_samples, report.added_sources) == (12, 12, 12)
    assert report.new_classes == ["cat", "dog", "eel"]
    status = workspace.status()
    assert status.samples == 12
    assert status.classes == {"cat": 4, "dog": 4, "eel": 4}
    sources = workspace.samples().column("source").to_pylist()
    assert sorted(sources) == sorted(str(p) for p in image_folder.rglob("*.png"))


def test_class_ids_are_stable_across_ingests(workspace, tmp_path):
    write_png(tmp_path / "a" / "zebra" / "0.png", 1)
    workspace.ingest(tmp_path / "a")
    write_png(tmp_path / "b" / "ant" / "0.png", 2)
    workspace.ingest(tmp_path / "b")
    assert workspace.classes() == [(0, "zebra"), (1, "ant")]


def test_split_folders_are_kept_as_given_splits(workspace, tmp_path):
    root = tmp_path / "splits"
    seed = 0
    for split, n in (("train", 3), ("val", 2), ("test", 1)):
        for cls in ("a", "b"):
            for i in range(n):
                write_png(root / split / cls / f"{i}.png", seed)
                seed += 1
    workspace.ingest(root)
    status = workspace.status()
    assert status.splits == {"test": 2, "train": 6, "val": 4}
    assert {c.name: c.by_split for c in status.class_details}["a"] == {
        "test": 1,
        "train": 3,
        "val": 2,
    }


def test_reingest_is_idempotent(workspace, image_folder):
    first = workspace.ingest(image_folder)
    objects_before = workspace.objects.size_bytes()
    second = workspace.ingest(image_folder)
    assert first.added_samples == 12
    assert (second.added_samples, second.added_sources, second.already_present) == (0, 0, 12)
    assert workspace.objects.size_bytes() == objects_before
    assert workspace.status().samples == 12
    # The same folder named another way ("x/../folder", relative): the same paths.
    detour = image_folder.parent / "elsewhere" / ".." / image_folder.name
    (image_folder.parent / "elsewhere").mkdir()
    third = workspace.ingest(detour)
    assert (third.added_samples, third.added_sources) == (0, 0)
    uris = [u for (u,) in workspace.catalog().rows("SELECT uri FROM sources")]
    assert len(uris) == 12 and not any(".." in u for u in uris)


def test_same_image_under_two_labels_is_a_conflict_not_dropped(workspace, tmp_path):
    root = tmp_path / "conflict"
    write_png(root / "cat" / "x.png", 7)
    shutil.copy(
        root / "cat" / "x.png", (root / "dog").mkdir(parents=True) or root / "dog" / "x.png"
    )
    write_png(root / "dog" / "y.png", 8)
    report = workspace.ingest(root)
    assert report.added_samples == 2  # the copy is stored once
    assert report.added_sources == 3  # ... but both paths are kept
    assert report.conflicts == 1
    status = workspace.status()
    assert status.conflicts == 1
    rows = workspace.catalog().rows("SELECT labels, len(uris) FROM conflicts")
    assert rows == [(["cat", "dog"], 2)]


def test_bad_inputs_are_quarantined_with_reasons_and_the_rest_goes_on(workspace, tmp_path):
    root = tmp_path / "bad"
    good = write_png(root / "ok" / "good.png", 1)
    data = good.read_bytes()
    (root / "ok" / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "ok" / "empty.png").write_bytes(b"")
    (root / "ok" / "notes.txt").write_text("not an image at all")
    write_png(root / "ok" / "huge.png", 2, size=(300, 300))
    outside = write_png(tmp_path / "elsewhere" / "secret.png", 3)
    os.symlink(outside, root / "ok" / "link.png")
    report = workspace.ingest(root, max_pixels=200 * 200)
    got = reasons(report)
    assert report.added_samples == 1
    assert got["truncated.png"].startswith("corrupt image")
    assert got["empty.png"].startswith("empty file")
    assert got["notes.txt"].startswith("not an image")
    assert got["huge.png"].startswith("image too large")
    assert got["link.png"].startswith("symlink outside source")
    status = workspace.status()
    assert status.quarantined == 5
    assert status.quarantine_reasons["corrupt image"] == 1
    assert {Path(u).name for u, _ in workspace.quarantine()} == set(got)


def test_symlink_inside_source_is_followed(workspace, tmp_path):
    root = tmp_path / "links"
    target = write_png(root / "a" / "real.png", 1)
    os.symlink(target, root / "a" / "alias.png")
    report = workspace.ingest(root)
    assert report.quarantined == []
    assert report.added_samples == 1 and report.added_sources == 2


def test_manifest_csv_with_splits_and_bad_rows(workspace, tmp_path):
    root = tmp_path / "m"
    for i in range(4):
        write_png(root / "img" / f"{i}.png", i)
    write_png(tmp_path / "outside.png", 99)
    (root / "manifest.csv").write_text(
        "path,label,split\n"
        "img/0.png,cat,train\n"
        "img/1.png,dog,train\n"
        "img/2.png,cat,val\n"
        "img/3.png,,test\n"
        "../outside.png,cat,train\n"
        "img/missing.png,dog,train\n"
    )
    report = workspace.ingest(root / "manifest.csv")
    assert report.format.value == "manifest"
    assert report.added_samples == 3
    got = {q.source: q.reason for q in report.quarantined}
    assert got[str(root / "img" / "3.png")].startswith("missing label")
    assert got[str(tmp_path / "outside.png")].startswith("path escapes manifest folder")
    assert got[str(root / "img" / "missing.png")].startswith("missing file")
    assert workspace.status().splits == {"train": 2, "val": 1}


def test_manifest_parquet_without_label_column_is_refused_up_front(workspace, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "p"
    for i in range(2):
        write_png(root / f"{i}.png", i)
    pq.write_table(pa.table({"path": ["0.png", "1.png"], "given": ["a", "b"]}), root / "m.parquet")
    with pytest.raises(InvalidInput, match="m.parquet has no 'label' column") as err:
        workspace.ingest(root / "m.parquet")
    assert "columns: path, given" in str(err.value)
    assert "--label-column" in err.value.hint
    status = workspace.status()
    assert status.samples == 0 and status.quarantined == 0  # nothing stored


def test_manifest_parquet_custom_columns(workspace, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "p"
    for i in range(3):
        write_png(root / f"{i}.png", i)
    pq.write_table(
        pa.table({"file": ["0.png", "1.png", "2.png"], "y": ["a", "b", "a"]}), root / "m.parquet"
    )
    report = workspace.ingest(root / "m.parquet", path_column="file", label_column="y")
    assert report.added_samples == 3
    assert workspace.status().classes == {"a": 2, "b": 1}


def test_manifest_missing_path_column_is_a_clear_error(workspace, tmp_path):
    (tmp_path / "m.csv").write_text("file,label\n0.png,a\n")
    with pytest.raises(InvalidInput, match="no 'path' column"):
        workspace.ingest(tmp_path / "m.csv")
    assert workspace.status().samples == 0


@pytest.mark.parametrize("label_kind", ["classlabel", "string"])
def test_hf_dataset_saved_to_disk(workspace, tmp_path, label_kind):
    import datasets
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(6)]
    names = ["ant", "bee"]
    ids = [0, 1, 0, 1, 1, 0]
    label_feature = (
        datasets.ClassLabel(names=names) if label_kind == "classlabel" else datasets.Value("string")
    )
    labels = ids if label_kind == "classlabel" else [names[i] for i in ids]
    features = datasets.Features({"image": datasets.Image(), "label": label_feature})
    ds = datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)
    dd = datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))})
    dd.save_to_disk(str(tmp_path / "hf"))
    report = workspace.ingest(tmp_path / "hf")
    assert report.format.value == "hf"
    assert report.added_samples == 6
    status = workspace.status()
    assert status.classes == {"ant": 3, "bee": 3}
    assert status.splits == {"test": 2, "train": 4}
    assert workspace.ingest(tmp_path / "hf").added_sources == 0


def test_cancel_keeps_finished_batches_and_rerun_completes(workspace, tmp_path):
    root = tmp_path / "many"
    for i in range(30):
        write_png(root / "c" / f"{i:02d}.png", i)
    batches = []

    def progress(done, total, message=""):
        batches.append(done)

    # The cancel says what it kept, in numbers (the CLI's first Ctrl-C shows it).
    kept = r"cancelled: 20 of 30 inputs were read and are stored \(20 new images, 0 quarantined\)"
    with pytest.raises(Cancelled, match=kept):
        workspace.ingest(root, batch_size=10, progress=progress, cancel=lambda: len(batches) >= 3)
    assert workspace.status().samples == 20
    assert workspace.catalog().rows("SELECT status FROM ingests") == [("cancelled",)]
    report = workspace.ingest(root, batch_size=10)
    assert report.added_samples == 10
    assert workspace.status().samples == 30


def test_second_writer_is_told_who_holds_the_lock(workspace, image_folder):
    other = Workspace.open(workspace.root)
    with workspace.writing(), pytest.raises(WorkspaceLocked, match=r"locked by PID \d+"):
        other.ingest(image_folder)
    other.close()


def test_unknown_format_and_missing_source_are_clear_errors(workspace, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        workspace.ingest(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        workspace.ingest(tmp_path / "x.bin")


def test_orphan_packs_from_a_crash_are_removed(workspace, image_folder):
    workspace.ingest(image_folder)
    orphan = workspace.objects.write_pack([b"bytes nobody indexed"])[0].pack
    (workspace.objects.packs_dir / "pack-dead.tmp").write_bytes(b"half")
    write_png(image_folder / "cat" / "new.png", 1000)
    workspace.ingest(image_folder)
    names = workspace.objects.pack_names()
    assert orphan not in names
    assert not list(workspace.objects.packs_dir.glob("*.tmp"))
    # every catalog row still points at readable bytes
    for sid in workspace.samples().column("sid").to_pylist():
        assert workspace.read_bytes(sid)


def test_balancing_plan_counts_unsplit_originals_with_train_additions(workspace, image_folder):
    import numpy as np

    from curate.core.models import ImageInfo, NewSample, Origin
    from curate.imaging import encode_png

    workspace.ingest(image_folder)  # 4 per class, no splits
    rng = np.random.default_rng(12345)  # not a seed the fixture used: new images
    added = [
        NewSample(
            data=encode_png(rng.integers(0, 256, (16, 16), dtype=np.uint8)),
            info=ImageInfo(width=16, height=16, channels=1, mode="L", format="PNG"),
            origin=Origin.SYNTHETIC,
            class_id=0,
            split="train",
        )
        for _ in range(2)
    ]
    workspace.add_samples(added)
    plan = workspace.balancing_plan()
    assert {c.name: c.count for c in plan.classes} == {"cat": 6, "dog": 4, "eel": 4}
    assert {c.name: c.needed for c in plan.classes} == {"cat": 0, "dog": 2, "eel": 2}


def test_report_counts_unlabeled_images_and_labels_it_did_not_apply(workspace, tmp_path):
    """A flat folder gives no labels; the same images later under a class folder keep
    their (empty) label, and the report says both."""
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", i)
        write_png(tmp_path / "mix" / "cat" / f"{i}.png", i)
    first = workspace.ingest(tmp_path / "flat")
    assert (first.added_samples, first.unlabeled, first.label_not_applied) == (3, 3, 0)
    second = workspace.ingest(tmp_path / "mix")
    assert (second.added_samples, second.unlabeled, second.label_not_applied) == (0, 0, 3)
    assert workspace.status().unlabeled == 3
    again = workspace.ingest(tmp_path / "mix")  # still true, still said
    assert (again.already_present, again.label_not_applied) == (3, 3)


def test_labels_no_sample_takes_make_no_class(workspace, tmp_path):
    """A label that only names images stored before (unlabeled, or under another
    label) is kept on its path, not made a class nobody is in: balancing would ask
    for samples of it and synthesis would have nothing to learn from."""
    write_png(tmp_path / "first" / "dog" / "0.png", 50)
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", i)
        write_png(tmp_path / "mix" / "images" / f"{i}.png", i)
    write_png(tmp_path / "other" / "cat" / "0.png", 50)  # the dog, said to be a cat
    workspace.ingest(tmp_path / "first")
    workspace.ingest(tmp_path / "flat")
    mix = workspace.ingest(tmp_path / "mix")
    assert (mix.new_classes, mix.label_not_applied) == ([], 3)
    other = workspace.ingest(tmp_path / "other")
    assert (other.new_classes, other.conflicts) == ([], 1)
    assert workspace.classes() == [(0, "dog")]
    assert workspace.status().classes == {"dog": 1}
    # A label that new images do take still makes its class, next in line.
    write_png(tmp_path / "more" / "cat" / "0.png", 50)
    write_png(tmp_path / "more" / "cat" / "1.png", 51)
    more = workspace.ingest(tmp_path / "more")
    assert more.new_classes == ["cat"]
    assert workspace.classes() == [(0, "dog"), (1, "cat")]
    assert workspace.status().classes == {"dog": 1, "cat": 1}


def test_curate_exports_ingest_back_as_they_were(tmp_path):
    """imagefolder (with an unsplit part) and parquet exports: found without --format,
    sidecar files skipped, splits and labels as exported."""
    from tests.engines.test_versions import make_ws

    src = make_ws(tmp_path / "src", per_class=4)
    src.commit("v1")
    src.export("v1", "imagefolder", tmp_path / "if_unsplit")
    src.split("0.5,0.5", seed=0)
    src.commit("v2")
    src.export("v2", "parquet", tmp_path / "pq")
    src.export("v2", "imagefolder", tmp_path / "if")
    want = sorted(
        zip(
            src.samples().column("label").to_pylist(),
            src.samples().column("split").to_pylist(),
            strict=True,
        )
    )
    src.close()
    for name, fmt in (("if", "imagefolder"), ("pq", "hf"), ("if_unsplit", "imagefolder")):
        with Workspace.init(tmp_path / f"ws_{name}") as ws:
            report = ws.ingest(tmp_path / name)
            assert report.format.value == fmt and report.quarantined == [], name
            t = ws.samples()
            got = sorted(
                zip(t.column("label").to_pylist(), t.column("split").to_pylist(), strict=True)
            )
            if name == "if_unsplit":
                assert got == sorted((label, None) for label, _ in want)
            else:
                assert got == want, name


def test_manifest_rows_whose_label_or_split_is_a_path_are_quarantined(workspace, tmp_path):
    """Exports make labels and splits folder names: such rows are quarantined, the rest ingested."""
    root = tmp_path / "m"
    for i in range(6):
        write_png(root / f"{i}.png", i)
    (root / "manifest.csv").write_text(
        "path,label,split\n"
        "0.png,cat,train\n"
        "1.png,../../ESCAPED,train\n"
        "2.png,/tmp/abs,train\n"
        "3.png,dog,../esc\n"
        "4.png,..,val\n"
        "5.png,dog,val\n"
    )
    report = workspace.ingest(root / "manifest.csv")
    assert report.added_samples == 2
    got = reasons(report)
    assert got["1.png"] == "bad label: '../../ESCAPED' cannot be a folder name (it contains '/')"
    assert got["2.png"].startswith("bad label: '/tmp/abs'")
    assert got["3.png"].startswith("bad split: '../esc'")
    assert got["4.png"].startswith("bad label: '..'")
    status = workspace.status()
    assert status.classes == {"cat": 1, "dog": 1} and status.splits == {"train": 1, "val": 1}


def test_hf_rows_whose_label_is_a_path_are_quarantined(workspace, tmp_path):
    import datasets
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(3)]
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["ant", "../bee"])}
    )
    ds = datasets.Dataset.from_dict({"image": images, "label": [0, 1, 0]}, features=features)
    ds.save_to_disk(str(tmp_path / "hf"))
    report = workspace.ingest(tmp_path / "hf")
    assert report.added_samples == 2
    (q,) = report.quarantined
    assert q.reason.startswith("bad label: '../bee'")
    assert workspace.status().classes == {"ant": 2}


def test_os_junk_folders_are_skipped_and_valid_means_val(workspace, tmp_path):
    """A macOS zip's __MACOSX/ beside train/ and val/ made every split a class."""
    root = tmp_path / "data"
    write_png(root / "train" / "cat" / "0.png", 1)
    write_png(root / "Validation" / "cat" / "1.png", 2)
    (root / "__MACOSX" / "train" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "train" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07")
    report = workspace.ingest(root)
    assert report.new_classes == ["cat"] and not report.quarantined
    assert sorted(workspace.samples().column("split").to_pylist()) == ["train", "val"]


def test_split_folders_beside_other_folders_are_refused(workspace, tmp_path):
    root = tmp_path / "data"
    for split in ("train", "test", "annotations"):
        write_png(root / split / "cat" / f"{split}.png", len(split))
    with pytest.raises(InvalidInput, match=r"mixes split folders \(test, train\) with other"):
        workspace.ingest(root)
    assert workspace.status().samples == 0
    # One split name alone may be a class (CIFAR-100 has 'train'): taken as classes.
    shutil.rmtree(root / "test")
    assert workspace.ingest(root).new_classes == ["annotations", "train"]


def test_manifest_labels_stay_as_written(workspace, tmp_path):
    """'007' was read as the number 7, '1.50' as 1.5 and 'NA' as missing."""
    for i in range(4):
        write_png(tmp_path / "images" / f"{i}.png", i)
    (tmp_path / "m.csv").write_text(
        "path,label,split\nimages/0.png,007,train\nimages/1.png,1.50,Valid\n"
        "images/2.png,NA,test\nimages/3.png,,train\n"
    )
    report = workspace.ingest(tmp_path / "m.csv")
    assert report.new_classes == ["007", "1.50", "NA"]
    assert reasons(report) == {"3.png": "missing label: empty label cell"}
    assert sorted(workspace.samples().column("split").to_pylist()) == ["test", "train", "val"]


def test_a_bad_manifest_path_quarantines_its_row_only(workspace, tmp_path):
    """A NUL byte was a traceback and a too-long name failed the whole ingest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_png(tmp_path / "images" / "ok.png", 1)
    rows = {"path": ["images/ok.png", "images/a\x00b.png", "x" * 300 + ".png"]}
    pq.write_table(pa.table({**rows, "label": ["cat"] * 3}), tmp_path / "m.parquet")
    report = workspace.ingest(tmp_path / "m.parquet")
    assert report.added_samples == 1
    why = sorted(q.reason for q in report.quarantined)
    assert len(why) == 2 and all(r.startswith("bad path: ") for r in why), why
    assert all(len(q.source) < 400 for q in report.quarantined)


def test_manifest_parquet_numbers_and_missing_labels(workspace, tmp_path):
    """pandas writes 0 as 0.0 beside a missing value, which was class '0.0'; NaN was 'nan'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i in range(3):
        write_png(tmp_path / "images" / f"{i}.png", i)
    paths = [f"images/{i}.png" for i in range(3)]
    table = pa.table({"path": paths, "label": pa.array([0.0, 1.0, float("nan")])})
    pq.write_table(table, tmp_path / "m.parquet")
    report = workspace.ingest(tmp_path / "m.parquet")
    assert report.new_classes == ["0", "1"]
    assert reasons(report) == {"2.png": "missing label: empty label cell"}


def test_decomposed_and_composed_names_are_one_class(workspace, tmp_path):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "été")
    write_png(tmp_path / "folder" / nfd / "0.png", 1)
    workspace.ingest(tmp_path / "folder")
    write_png(tmp_path / "man" / "images" / "1.png", 2)
    (tmp_path / "man" / "m.csv").write_text("path,label\nimages/1.png,été\n", encoding="utf-8")
    workspace.ingest(tmp_path / "man" / "m.csv")
    assert [name for _, name in workspace.classes()] == ["été"]
    assert workspace.status().samples == 2


def test_hf_label_column_is_never_guessed_between_several(workspace, tmp_path):
    import datasets
    import numpy as np

    images = [np.full((8, 8), i * 40, np.uint8) for i in range(4)]
    two = datasets.Features(
        {
            "image": datasets.Image(),
            "fine": datasets.ClassLabel(names=["a", "b"]),
            "coarse": datasets.ClassLabel(names=["p", "q"]),
        }
    )
    data = {"image": images, "fine": [0, 1, 0, 1], "coarse": [1, 1, 0, 0]}
    datasets.Dataset.from_dict(data, features=two).save_to_disk(str(tmp_path / "two"))
    with pytest.raises(InvalidInput, match=r"several ClassLabel columns \(fine, coarse\)"):
        workspace.ingest(tmp_path / "two")
    with pytest.raises(InvalidInput, match="has no 'lable' column"):
        workspace.ingest(tmp_path / "two", label_column="lable")
    assert workspace.status().samples == 0
    assert workspace.ingest(tmp_path / "two", label_column="coarse").new_classes == ["p", "q"]
    one = datasets.Features({"image": datasets.Image(), "y": datasets.ClassLabel(names=["u"])})
    dd = datasets.DatasetDict(
        {
            "validation": datasets.Dataset.from_dict(
                {"image": [np.full((8, 8), 250, np.uint8)], "y": [0]}, features=one
            )
        }
    )
    dd.save_to_disk(str(tmp_path / "one"))
    assert workspace.ingest(tmp_path / "one").new_classes == ["u"]  # the only ClassLabel
    assert "val" in workspace.status().model_dump()["splits"]


def test_the_same_image_in_two_given_splits_is_reported(workspace, tmp_path):
    """It went to the first split silently: the held-out set shrank without a word."""
    root = tmp_path / "data"
    write_png(root / "train" / "cat" / "0.png", 1)
    write_png(root / "train" / "cat" / "1.png", 2)
    (root / "test" / "cat").mkdir(parents=True)
    shutil.copy(root / "train" / "cat" / "0.png", root / "test" / "cat" / "leak.png")
    report = workspace.ingest(root)
    assert (report.added_samples, report.split_conflicts, report.conflicts) == (2, 1, 0)
    assert workspace.status().split_conflicts == 1
    assert workspace.ingest(root).split_conflicts == 0  # counted once, when it appears


def test_manifest_paths_from_another_root(workspace, tmp_path):
    """ds/images/ with ds/annotations/train.csv: paths start from ds/, not the CSV's folder."""
    write_png(tmp_path / "ds" / "images" / "0.png", 1)
    write_png(tmp_path / "ds" / "images" / "1.png", 2)
    (tmp_path / "ds" / "annotations").mkdir()
    csv = tmp_path / "ds" / "annotations" / "train.csv"
    csv.write_text("path,label\nimages/0.png,cat\nimages/1.png,dog\n")
    with pytest.raises(InvalidInput, match="none of the 2 paths in train.csv") as err:
        workspace.ingest(csv)
    assert "--root" in err.value.hint
    assert workspace.status().samples == 0
    assert workspace.ingest(csv, root=tmp_path / "ds").added_samples == 2
    with pytest.raises(InvalidInput, match="--root is for manifests"):
        workspace.ingest(tmp_path / "ds" / "images", root=tmp_path)


def test_a_hub_style_parquet_folder_is_read_as_hf(workspace, tmp_path):
    import datasets
    import numpy as np

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])}
    )
    ds = datasets.Dataset.from_dict(
        {"image": [np.full((8, 8), v, np.uint8) for v in (10, 200)], "label": [0, 1]},
        features=features,
    )
    (tmp_path / "hub" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))
    report = workspace.ingest(tmp_path / "hub")
    assert report.format.value == "hf" and report.added_samples == 2
