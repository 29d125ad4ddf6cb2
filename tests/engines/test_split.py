"""Splits: stratified by class, duplicate groups and lineage never straddle, seeds reproduce."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from curate.errors import InvalidInput
from curate.versions.split import parse_ratios, plan_split
from tests.engines.test_versions import derived_sample, make_ws

NAMES = ["train", "val", "test"]
RATIOS = [0.8, 0.1, 0.1]


def _plan(n=300, classes=3, groups=(), splits=None, origins=None, parents=None, **kw):
    rng = np.random.default_rng(0)
    class_ids = [int(c) for c in rng.integers(0, classes, n)]
    return class_ids, plan_split(
        list(range(n)),
        class_ids,
        splits or [None] * n,
        origins or ["original"] * n,
        parents or [None] * n,
        [list(g) for g in groups],
        ratios=kw.pop("ratios", RATIOS),
        names=kw.pop("names", NAMES),
        seed=kw.pop("seed", 0),
        resplit=kw.pop("resplit", False),
    )


def test_stratified_per_class_and_reproducible():
    class_ids, plan = _plan()
    per_class = defaultdict(Counter)
    for c, s in zip(class_ids, plan.after, strict=True):
        per_class[c][s] += 1
    for c, counts in per_class.items():
        total = sum(counts.values())
        for name, ratio in zip(NAMES, RATIOS, strict=True):
            assert abs(counts[name] - ratio * total) <= 1, (c, counts)
    assert _plan()[1].after == plan.after  # same seed, same split
    assert _plan(seed=1)[1].after != plan.after


def test_duplicate_groups_and_lineage_never_straddle():
    rng = np.random.default_rng(5)
    groups = rng.permutation(280)[:80].reshape(20, 4).tolist()  # disjoint groups
    origins = ["original"] * 300
    parents: list = [None] * 300
    for child, parent in ((290, 3), (291, 3), (292, 150)):
        origins[child] = "augmented"
        parents[child] = [parent]
    origins[299] = "synthetic"  # no parents at all
    _, plan = _plan(groups=groups, origins=origins, parents=parents, resplit=True)
    for g in groups:
        assert len({plan.after[int(i)] for i in g}) == 1, g
    for child, parent in ((290, 3), (291, 3), (292, 150)):
        assert plan.after[child] == plan.after[parent] == "train"
    assert plan.after[299] == "train"
    assert 20 <= plan.groups <= 22  # 20 groups + 2 lineage units (some may merge)


def test_given_splits_are_kept_and_straddling_groups_gathered():
    n = 60
    given = ["train"] * 40 + ["test"] * 10 + [None] * 10
    _, plan = _plan(n=n, splits=list(given), groups=[(0, 1, 45)])  # 2 in train, 1 in test
    assert plan.after[45] == "train" and plan.reasons[45].startswith("leakage")
    assert [plan.after[i] for i in range(n) if i not in (45,) and given[i]] == [
        given[i] for i in range(n) if i not in (45,) and given[i]
    ]
    assert all(plan.after[i] in NAMES for i in range(50, 60))  # the unsplit ones got placed
    assert plan.straddling_fixed == 1
    _, again = _plan(n=n, splits=list(given), resplit=True, seed=3)
    assert again.after != given  # --resplit re-assigns everything


def test_parse_ratios():
    assert parse_ratios("0.7,0.3") == ([0.7, 0.3], ["train", "val"])
    assert parse_ratios("0.6,0.2,0.2", ["a", "b", "c"])[1] == ["a", "b", "c"]
    for bad in ("0.5,0.6", "1", "a,b", "0,0.5,0.5", "-0.1,0.6,0.5"):
        with pytest.raises(InvalidInput):
            parse_ratios(bad)
    with pytest.raises(InvalidInput):
        parse_ratios("0.5,0.5", ["x", "x"])
    with pytest.raises(InvalidInput, match=r"one ratio per split \(3 names, 2 ratios\)"):
        parse_ratios("0.5,0.5", ["a", "b", "c"])


def test_split_in_a_workspace_respects_scan_groups_and_derived_samples(tmp_path):
    ws = make_ws(tmp_path, per_class=20)
    t = ws.samples()
    sids = t.column("sid").to_pylist()
    sample_ids = t.column("sample_id").to_pylist()
    labels = t.column("label").to_pylist()
    # A scan found a near-duplicate group of 3 and an exact pair (details.group).
    with ws.writing() as cat:
        cur = cat.cursor()
        cur.execute("INSERT INTO scan_runs VALUES (7, now(), now(), 't', NULL, 0, NULL, 'done')")
        for sid, kind, group in [
            (sids[0], "near_duplicate", 0),
            (sids[1], "near_duplicate", 0),
            (sids[2], "near_duplicate", 0),
            (sids[3], "duplicate", 0),
            (sids[4], "duplicate", 0),
        ]:
            cur.execute(
                "INSERT INTO findings VALUES (7, ?, ?, 0.0, true, NULL, ?)",
                [sid, kind, json.dumps({"group": group})],
            )
    ws.add_samples([derived_sample(ws, sample_ids[10], labels[10], seed=i) for i in range(3)])
    report = ws.split("0.6,0.2,0.2", seed=11)
    assert report.samples == 63 and report.moved == 60  # the 3 derived ones were in train
    assert report.groups == 3 and report.pinned_to_train == 1
    ws.commit("split")
    rows = {r["sample_id"]: r for r in ws.version("v1").samples().to_pylist()}
    assert len({rows[sample_ids[i]]["split"] for i in (0, 1, 2)}) == 1
    assert len({rows[sample_ids[i]]["split"] for i in (3, 4)}) == 1
    derived = [r for r in rows.values() if r["origin"] == "augmented"]
    assert len(derived) == 3 and {r["split"] for r in derived} == {"train"}
    assert rows[sample_ids[10]]["split"] == "train"
    # Re-running without --resplit keeps every split: nothing to move.
    again = ws.split("0.6,0.2,0.2", seed=99)
    assert again.moved == 0
    ws.close()


@pytest.mark.parametrize(
    ("ratios", "names", "message"),
    [
        # without --names: say how many ratios to give, not "1 names, 1 ratios"
        ("1.0", None, "give two or three ratios (train,val[,test]), e.g. 0.8,0.2 (got 1 ratio: 1)"),
        ("0.4,0.3,0.2,0.1", None, "give two or three ratios (train,val[,test]), e.g. 0.8,0.2"),
        ("1", ["a"], "a split needs at least two parts"),
        ("0.9,-0.1,0.2", None, "ratios must not be negative: 0.9,-0.1,0.2"),
        ("0.9,0.9", None, "ratios must sum to 1: 0.9,0.9 sum to 1.8"),
        ("0,1", None, "the first split (train) needs a share above 0: 0,1"),
        ("nan,0.5", None, "bad ratios nan,0.5: give numbers like"),
    ],
)
def test_ratio_errors_say_what_is_wrong(ratios, names, message):
    with pytest.raises(InvalidInput) as err:
        parse_ratios(ratios, names)
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("bad", ["../../ESC", "/abs", "a\\b", ".", "..", " val", "val "])
def test_split_names_must_be_one_folder_name(bad):
    """Exports make split names folder and file names: '../x' would escape --out."""
    with pytest.raises(InvalidInput, match="cannot be used as a folder") as err:
        parse_ratios("0.9,0.1", ["train", bad])
    assert str(err.value).startswith(f"split name {bad!r}") and "--names" in err.value.hint
    assert parse_ratios("0.9,0.1", ["train", "hold-out"])[1] == ["train", "hold-out"]
