"""Versions: commit snapshots the working state, content hashes, log/show/diff/tag, time travel."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.api import Workspace
from curate.core.models import ImageInfo, NewSample, Origin
from curate.errors import InvalidInput, NotFound
from curate.imaging import encode_png
from tests.conftest import write_png

CLASSES = ("cat", "dog", "eel")


def make_folder(root: Path, per_class: int = 10, seed0: int = 0, classes=CLASSES) -> Path:
    seed = seed0
    for cls in classes:
        for i in range(per_class):
            write_png(root / cls / f"{cls}_{i:03d}.png", seed, size=(8, 8))
            seed += 1
    return root


def make_ws(tmp_path: Path, per_class: int = 10, name: str = "ws") -> Workspace:
    ws = Workspace.init(tmp_path / name)
    ws.ingest(make_folder(tmp_path / f"{name}-src", per_class))
    return ws


def members(ws: Workspace, version: str) -> set[tuple[str, str | None, str | None]]:
    t = ws.version(version).samples()
    return set(
        zip(
            t.column("sample_id").to_pylist(),
            t.column("label").to_pylist(),
            t.column("split").to_pylist(),
            strict=True,
        )
    )


def working(ws: Workspace) -> set[tuple[str, str | None, str | None]]:
    t = ws.samples()
    return set(
        zip(
            t.column("sample_id").to_pylist(),
            t.column("label").to_pylist(),
            t.column("split").to_pylist(),
            strict=True,
        )
    )


def ids(ws: Workspace) -> list[str]:
    return ws.samples().column("sample_id").to_pylist()


def derived_sample(ws: Workspace, parent_id: str, class_name: str, seed: int) -> NewSample:
    import numpy as np

    # Seeds far from the ingested images' (0..N): another seed, another image.
    arr = np.random.default_rng(10_000 + seed).integers(0, 256, (8, 8), dtype=np.uint8)
    return NewSample(
        data=encode_png(arr),
        info=ImageInfo(width=8, height=8, channels=1, mode="L", format="PNG"),
        origin=Origin.AUGMENTED,
        parents=[parent_id],
        recipe={"policy": "test", "seed": seed},
        class_id=dict((n, i) for i, n in ws.classes())[class_name],
        split="train",
        reason="test augmentation",
    )


def test_commit_snapshots_working_state_and_stamps_changes(tmp_path):
    ws = make_ws(tmp_path)
    ws.split("0.6,0.2,0.2", seed=3)
    first = ws.commit("first")
    assert first.version.name == "v1" and first.version.parent is None
    assert members(ws, "v1") == working(ws)
    assert ws.changes() == []  # the split's moves went into v1

    a, b = ids(ws)[:2]
    ws.relabel(a, "dog" if ws.samples().column("label")[0].as_py() != "dog" else "eel", reason="r1")
    ws.drop(b, reason="blurry")
    before = working(ws)
    assert len(ws.changes()) == 2
    second = ws.commit("second")
    assert members(ws, "v2") == before == working(ws)
    assert second.version.parent == "v1"
    assert second.version.stats.changes == {"drop": 1, "relabel": 1}
    assert second.version.stats.samples == 29
    assert second.version.stats.label_sources == {"given": 28, "human": 1}
    assert sum(sum(s.values()) for s in second.version.stats.classes.values()) == 29
    # Every change is stamped with the version it went into.
    cat = ws.catalog()
    assert cat.scalar("SELECT count(*) FROM changes WHERE version_id IS NULL") == 0
    assert cat.scalar("SELECT count(*) FROM changes WHERE version_id = 2") == 2
    assert [v.name for v in ws.log()] == ["v2", "v1"]
    ws.close()


def test_same_content_same_hash_and_nothing_to_commit(tmp_path):
    ws = make_ws(tmp_path)
    v1 = ws.commit("v1").version
    with pytest.raises(InvalidInput, match="nothing to commit"):
        ws.commit("again")
    sid = ids(ws)[0]
    label = ws.samples().column("label")[0].as_py()
    ws.relabel(sid, "eel" if label != "eel" else "cat")
    assert ws.relabel(sid, label).cancelled == 2  # back: content equals v1, nothing pending
    assert ws.changes() == []
    with pytest.raises(InvalidInput, match="nothing to commit"):
        ws.commit("no-op")
    assert ws.commit("forced", allow_empty=True).version.hash == v1.hash
    ws.close()

    # Another workspace, same images ingested class by class in another order:
    # different sids, same content, same hash.
    other = Workspace.init(tmp_path / "other")
    src = tmp_path / "ws-src"
    for cls in reversed(CLASSES):
        other.ingest(src / cls, format="imagefolder")  # no class folders: unlabeled...
    # ...so label them as the first workspace did, by path.
    for cls in CLASSES:
        for p in sorted((src / cls).glob("*.png")):
            other.relabel(str(p), cls, new_class=True)
    assert other.commit("same content").version.hash == v1.hash
    other.close()


def test_time_travel_and_version_names(tmp_path):
    ws = make_ws(tmp_path)
    ws.commit("one")
    v1_rows = members(ws, "v1")
    v1_hash = ws.version("v1").hash
    ws.drop(ids(ws)[:3])
    ws.commit("two")
    ws.tag("best", "v1")
    ws.relabel(ids(ws)[0], "cat")
    ws.drop(ids(ws)[5])
    ws.commit("three")
    assert members(ws, "v1") == v1_rows  # unchanged after later commits
    assert len(members(ws, "v2")) == 27 and len(members(ws, "v3")) == 26
    for ref in ("v1", "1", 1, "best", v1_hash[:8], "HEAD~2", "v3~2", "best~0"):
        assert ws.version(ref).name == "v1", ref
    assert ws.version("HEAD").name == "v3" and ws.version().name == "v3"
    with pytest.raises(NotFound, match="no version named 'nope'") as err:
        ws.version("nope")
    assert "best" in err.value.hint
    with pytest.raises(NotFound, match="no parent"):
        ws.version("v1~1")
    ws.close()


def test_a_class_made_after_a_commit_does_not_change_that_version_s_classes(tmp_path):
    """v1's label indices (manifest, HF ClassLabel, torch) stay v1's after a new class."""
    from curate.export import engine
    from curate.store import samples_repo

    ws = make_ws(tmp_path)
    ws.split("0.5,0.5", seed=1)
    ws.commit("v1")
    sid = ids(ws)[0]
    ws.relabel(sid, "fox", new_class=True)
    ws.commit("v2")
    v1, v2 = ws.version("v1"), ws.version("v2")
    assert v1.classes == list(CLASSES) and v2.classes == [*CLASSES, "fox"]
    assert engine.build_job(ws.catalog(), ws.objects, v1.info).class_names == list(CLASSES)
    assert v1.to_torch("train").classes == list(CLASSES)
    assert v1.to_hf()["train"].features["label"].names == list(CLASSES)

    # A version committed before the count was recorded: its commit time decides.
    info = v1.info.model_copy(
        update={"stats": v1.info.stats.model_copy(update={"class_count": None})}
    )
    assert [n for _, n in samples_repo.version_classes(ws.catalog(), info)] == list(CLASSES)
    ws.close()


def test_diff_lists_added_removed_relabeled_moved_with_reasons(tmp_path):
    ws = make_ws(tmp_path)
    ws.split("0.6,0.2,0.2", seed=0)
    ws.commit("base")
    t = ws.samples()
    sample_ids, labels, splits = (t.column(c).to_pylist() for c in ("sample_id", "label", "split"))
    target = "eel" if labels[0] != "eel" else "cat"
    ws.relabel(sample_ids[0], target, reason="it is an eel")
    ws.drop(sample_ids[1], reason="duplicate")
    with ws.writing() as cat:  # a move, as `curate split --resplit` records them
        from curate.store.changes_repo import record_changes
        from curate.versions.changes import _table

        new_split = "test" if splits[2] != "test" else "train"
        record_changes(
            cat,
            _table(
                [
                    {
                        "op": "move",
                        "sid": int(t.column("sid")[2].as_py()),
                        "split": new_split,
                        "reason": "rebalance",
                    }
                ]
            ),
        )
    ws.ingest(make_folder(tmp_path / "more", 1, seed0=500, classes=("cat",)))
    pending = ws.diff("HEAD", None)  # HEAD -> working
    ws.commit("edits")
    d = ws.diff("v1", "v2")
    assert pending.model_dump() == {**d.model_dump(), "b": "working", "b_hash": None}
    assert d.summary == {"added": 1, "removed": 1, "relabeled": 1, "moved": 1}
    js = d.model_dump(mode="json")
    assert js["relabeled"][0]["from"] == labels[0] and js["relabeled"][0]["to"] == target
    assert js["relabeled"][0]["reason"] == "it is an eel"
    assert js["relabeled"][0]["source"].endswith(".png")
    assert js["moved"][0] == {
        "sample_id": sample_ids[2],
        "source": js["moved"][0]["source"],
        "from_split": splits[2],
        "to_split": new_split,
        "reason": "rebalance",
    }
    assert js["removed"][0]["sample_id"] == sample_ids[1]
    assert js["added"][0]["label"] == "cat" and js["added"][0]["split"] is None
    assert js["classes"]["cat"]["delta"] == (
        1 + (target == "cat") - (labels[0] == "cat") - (labels[1] == "cat")
    )
    back = ws.diff("v2", "v1")
    assert back.summary == {"added": 1, "removed": 1, "relabeled": 1, "moved": 1}
    assert back.relabeled[0].to == labels[0]
    assert ws.diff("v2", "v2").identical
    ws.close()


def test_diff_before_the_first_commit_lists_what_it_would_record(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.split("0.5,0.5", seed=0)
    d = ws.diff()  # HEAD -> working, with no HEAD yet: from the empty state
    assert (d.a, d.b, d.a_hash, d.identical) == ("empty", "working", None, False)
    assert d.summary == {"added": 6, "removed": 0, "relabeled": 0, "moved": 0}
    assert {s.sample_id for s in d.added} == set(ids(ws))
    assert {s.split for s in d.added} == {"train", "val"}
    assert {k: (c.a, c.b) for k, c in d.classes.items()} == {c: (0, 2) for c in CLASSES}
    for ref in ("HEAD~1", "v1"):  # only HEAD means "nothing yet"; other names need a version
        with pytest.raises(NotFound):
            ws.diff(ref)
    first = ws.commit("first").version
    assert ws.diff().identical and ws.diff().a == first.name
    ws.close()


def test_retagging_the_same_version_is_a_no_op(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("one")
    tag = ws.tag("best")
    # scripts re-run: the same version again, by any name, with or without force
    assert ws.tag("best") == tag
    assert ws.tag("best", "v1") == tag and ws.tag("best", "HEAD", force=True) == tag
    ws.drop(ids(ws)[0])
    ws.commit("two")
    with pytest.raises(InvalidInput, match="already names v1"):
        ws.tag("best")  # moving it to v2 still needs force
    assert ws.tag("best", force=True).version == "v2"
    ws.close()


def test_tags(tmp_path):
    ws = make_ws(tmp_path, per_class=2)
    ws.commit("one")
    ws.drop(ids(ws)[0])
    ws.commit("two")
    assert ws.tag("release").version == "v2"
    with pytest.raises(InvalidInput, match="already names v2"):
        ws.tag("release", "v1")
    assert ws.tag("release", "v1", force=True).version == "v1"
    for bad in ("v7", "12", "HEAD", "-x", "has space"):
        with pytest.raises(InvalidInput):
            ws.tag(bad)
    assert [t.name for t in ws.tags()] == ["release"]
    assert ws.log()[1].tags == ["release"]
    ws.untag("release")
    with pytest.raises(NotFound):
        ws.untag("release")
    ws.close()


def test_new_ingests_and_added_samples_enter_the_next_version(tmp_path):
    ws = make_ws(tmp_path, per_class=3)
    v1 = ws.commit("one").version
    assert v1.sid_watermark == 8
    parent = ids(ws)[0]
    ws.add_samples([derived_sample(ws, parent, "cat", seed=10_001)])
    ws.ingest(make_folder(tmp_path / "more", 1, seed0=900, classes=("dog",)))
    assert ws.status().samples == 11
    v2 = ws.commit("two").version
    assert v2.stats.new_samples == 2
    assert v2.stats.origins == {"augmented": 1, "original": 10}
    assert v2.stats.changes == {"add": 1}
    assert ws.status().samples == 11  # the working state now rests on v2
    ws.close()


def test_incremental_hash_and_stats_match_a_full_recount(tmp_path):
    """Commits update hash and stats from the touched rows only; check them from scratch."""
    import random

    from curate.store import versions_repo

    rng = random.Random(7)
    ws = make_ws(tmp_path, per_class=8)
    ws.commit("base")
    for round_ in range(6):
        live = ids(ws)
        dropped = sorted(
            set(ws.catalog().rows("SELECT sample_id FROM samples")[i][0] for i in range(24))
            - set(live)
        )
        for _ in range(4):
            ws.relabel(rng.choice(live), rng.choice(CLASSES))
        ws.drop(rng.sample(live, 2))
        if dropped:
            ws.restore(dropped[:2])
        if round_ % 2:
            ws.split("0.5,0.3,0.2", seed=round_, resplit=True)
        if round_ == 3:
            ws.ingest(make_folder(tmp_path / f"more{round_}", 1, seed0=700, classes=("eel",)))
            ws.add_samples([derived_sample(ws, live[0], "dog", seed=round_)])
        expected = working(ws)
        try:
            v = ws.commit(f"round {round_}").version
        except InvalidInput:
            continue  # the random edits cancelled out
        assert members(ws, v.name) == expected
        cat = ws.catalog()
        assert versions_repo.verify_hash(cat, v.version_id)
        assert v.hash == versions_repo.content_hash(cat, None)  # = the working state's
        recount: dict[str, dict[str, int]] = {}
        for _, label, split in expected:
            recount.setdefault(label, {}).setdefault(split or "-", 0)
            recount[label][split or "-"] += 1
        assert v.stats.classes == recount
        assert v.stats.samples == len(expected)
    assert len(ws.log()) >= 5
    ws.close()
