"""Working changes: sample lookup, relabel/drop/restore/reset, accepting scan suggestions."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from curate.errors import InvalidInput, NotFound
from tests.engines.test_versions import ids, make_ws


def test_resolve_sample_by_id_prefix_and_path(tmp_path, monkeypatch):
    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(SAMPLE_DIGITS)  # 1437 samples: some share a 4-character id prefix
    t = ws.samples()
    sid0 = t.column("sid")[0].as_py()
    full = t.column("sample_id")[0].as_py()
    source = t.column("source")[0].as_py()
    assert ws.resolve_sample(full) == sid0
    assert ws.resolve_sample(full[:10].upper()) == sid0
    assert ws.resolve_sample(source) == sid0
    monkeypatch.chdir(os.path.dirname(os.path.dirname(source)))
    assert ws.resolve_sample(os.path.relpath(source)) == sid0  # relative to the current folder
    tail = os.path.join(os.path.basename(os.path.dirname(source)), os.path.basename(source))
    assert ws.resolve_sample(tail) == sid0  # the end of a path
    prefixes = Counter(i[:4] for i in t.column("sample_id").to_pylist())
    # (all-digit prefixes may also be sids: see the test below)
    shared = sorted(p for p, n in prefixes.items() if n > 1 and not p.isdigit())
    assert shared, "sample data has no shared 4-character prefix"
    with pytest.raises(InvalidInput, match=f"sample prefix '{shared[0]}' is ambiguous"):
        ws.resolve_sample(shared[0])
    with pytest.raises(NotFound, match="no sample matches 'nothing/here.png'"):
        ws.resolve_sample("nothing/here.png")
    with pytest.raises(NotFound) as err:
        ws.resolve_sample("abc")
    assert "at least 4" in err.value.hint
    ws.close()


def test_resolve_sample_by_sid_and_refuse_a_sid_that_is_also_an_id_prefix(tmp_path):
    """`curate issues` shows sids; a number naming another sample's id prefix is refused."""
    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(SAMPLE_DIGITS)
    t = ws.samples()
    sids = t.column("sid").to_pylist()
    sample_ids = t.column("sample_id").to_pylist()
    owner = {}
    for sid, sample_id in zip(sids, sample_ids, strict=True):
        owner.setdefault(sample_id[:4], []).append(sid)
    # a sid of 4 digits that is also the start of exactly one other sample's id
    clash = next(
        s
        for s in sids
        if len(str(s)) == 4 and owner.get(str(s), [s]) != [s] and len(owner[str(s)]) == 1
    )
    plain = next(s for s in sids if len(str(s)) <= 3)
    assert ws.resolve_sample(str(plain)) == plain  # too short to be an id prefix
    assert ws.resolve_sample(f"sid:{clash}") == clash
    with pytest.raises(InvalidInput, match=f"'{clash}' is ambiguous: sid {clash}") as err:
        ws.resolve_sample(str(clash))
    assert f"sid:{clash}" in err.value.hint
    with pytest.raises(NotFound, match="no sample has sid 99999"):
        ws.resolve_sample("sid:99999")
    # the relabel the walkthrough made: it changed another sample than the sid named
    label = t.column("label")[sids.index(clash)].as_py()
    other = "0" if label != "0" else "1"
    with pytest.raises(InvalidInput):
        ws.relabel(str(clash), other)
    r = ws.relabel(f"sid:{clash}", other)
    assert r.recorded == 1 and r.details[0]["from"] == label
    ws.close()


def test_relabel_drop_restore_reset(tmp_path):
    ws = make_ws(tmp_path)
    t = ws.samples()
    a, b, c = t.column("sample_id").to_pylist()[:3]
    label_a = t.column("label")[0].as_py()
    other = "eel" if label_a != "eel" else "cat"

    with pytest.raises(NotFound, match="no class named 'zebra'") as err:
        ws.relabel(a, "zebra")
    assert "--new-class" in err.value.hint
    r = ws.relabel(a, other, reason="wrong folder")
    assert (r.recorded, r.unchanged, r.details[0]["from"], r.details[0]["to"]) == (
        1,
        0,
        label_a,
        other,
    )
    assert ws.relabel(a, other).unchanged == 1  # already so: nothing recorded
    assert ws.relabel(b, "zebra", new_class=True).recorded == 1
    assert "zebra" in dict((n, i) for i, n in ws.classes())

    ws.drop([a, c], reason="blurry")
    live = set(ids(ws))
    assert a not in live and c not in live
    with pytest.raises(InvalidInput, match="dropped"):
        ws.relabel(a, "cat")
    assert ws.drop(a).unchanged == 1
    r = ws.restore(a)
    assert r.details[0]["label"] == other  # the relabel survives drop + restore
    assert r.cancelled == 2  # the restore and the drop it undid; the relabel stays
    changes = ws.changes()
    assert [ch.op for ch in changes] == ["relabel", "relabel", "drop"]
    assert changes[0].reason == "wrong folder" and changes[0].from_label == label_a
    assert changes[0].label_source == "human"

    assert ws.reset([b]).recorded == 1
    assert "zebra" not in set(ws.samples().column("label").to_pylist())
    assert ws.reset().recorded == 2
    assert ws.changes() == []
    assert len(ids(ws)) == 30
    ws.close()


def test_sids_that_name_no_sample_are_one_line_errors(tmp_path):
    """Was KeyError (unknown sid), DuckDB's ConversionException (2**70), TypeError (None, 5.5)."""
    import numpy as np

    ws = make_ws(tmp_path)
    sid = ws.samples().column("sid")[0].as_py()
    label = ws.samples().column("label")[0].as_py()
    for bad in (10**9, 2**70, -1, [sid, 10**9]):
        with pytest.raises(NotFound, match="no sample has sid"):
            ws.relabel(bad, label)
    for bad in (None, 5.5, True, [sid, None], b"x"):
        with pytest.raises(InvalidInput, match="cannot name a sample by"):
            ws.drop(bad)
    assert ws.changes() == []
    assert ws.relabel(np.int64(sid), label).unchanged == 1  # numpy ints are sids too


def test_restore_after_commit_brings_back_last_committed_label_and_split(tmp_path):
    ws = make_ws(tmp_path)
    ws.split("0.5,0.5", seed=1)
    ws.commit("v1")
    t = ws.samples()
    a = t.column("sample_id")[0].as_py()
    label, split = t.column("label")[0].as_py(), t.column("split")[0].as_py()
    ws.drop(a)
    ws.commit("v2")
    assert a not in set(ids(ws))
    ws.restore(a, reason="was fine")
    ws.commit("v3")
    back = {r["sample_id"]: r for r in ws.samples().to_pylist()}[a]
    assert (back["label"], back["split"]) == (label, split)
    ws.close()


def test_restore_of_a_sample_split_and_dropped_in_one_commit_keeps_its_split(tmp_path):
    """It was never a version member with that split: the committed move has it."""
    ws = make_ws(tmp_path)
    ws.split("0.5,0.5", seed=1)
    t = ws.samples()
    a, split = t.column("sample_id")[0].as_py(), t.column("split")[0].as_py()
    assert split is not None
    ws.drop(a)
    ws.commit("v1")
    assert ws.restore(a).details[0]["split"] == split
    ws.commit("v2")
    assert {r["sample_id"]: r["split"] for r in ws.samples().to_pylist()}[a] == split
    ws.close()


def test_edits_that_undo_pending_ones_cancel_out(tmp_path):
    """Drop + restore, relabel and back: nothing left to commit; earlier edits stay."""
    ws = make_ws(tmp_path)
    ws.split("0.5,0.5", seed=1)
    ws.commit("v1")
    t = ws.samples()
    a, b, c = t.column("sample_id").to_pylist()[:3]
    label_a, label_b = t.column("label")[0].as_py(), t.column("label")[1].as_py()
    other = "eel" if label_a != "eel" else "cat"

    ws.drop(a)
    assert ws.restore(a).cancelled == 2 and ws.changes() == []
    ws.relabel(a, other)
    ws.relabel(a, "zebra", new_class=True)
    assert ws.relabel(a, label_a).cancelled == 3 and ws.changes() == []

    # b: relabeled, then dropped and restored: the relabel is what is left.
    ws.relabel(b, other if label_b != other else label_a)
    ws.drop(b)
    assert ws.restore(b).cancelled == 2
    assert [(ch.op, ch.sample_id) for ch in ws.changes()] == [("relabel", b)]

    # c: dropped in v2, so restoring it is a change; dropping it again cancels that.
    ws.reset()
    ws.drop(c)
    ws.commit("v2")
    assert ws.restore(c).cancelled == 0
    assert [ch.op for ch in ws.changes()] == ["restore"]
    assert ws.drop(c).cancelled == 2 and ws.changes() == []
    with pytest.raises(InvalidInput, match="nothing to commit"):
        ws.commit("no-op")

    # An added sample stays added: dropping it is a change of its own.
    from tests.engines.test_versions import derived_sample

    [new] = ws.add_samples([derived_sample(ws, a, label_a, seed=1)])
    ws.drop(new)
    assert [ch.op for ch in ws.changes()] == ["add", "drop"]
    assert ws.restore(new).cancelled == 2
    assert [ch.op for ch in ws.changes()] == ["add"]
    ws.close()


def _add_label_findings(ws, run_id: int, rows: list[tuple[int, float, str]]) -> None:
    """Write a scan run's label findings as the scan engine does (sid, score, suggested)."""
    names = dict((n, i) for i, n in ws.classes())
    with ws.writing() as cat:
        cur = cat.cursor()
        cur.execute(
            "INSERT INTO scan_runs VALUES (?, now(), now(), 'test', NULL, 0, NULL, 'done')",
            [run_id],
        )
        for sid, score, suggested in rows:
            cur.execute(
                "INSERT INTO findings VALUES (?, ?, 'label', ?, true, ?, ?)",
                [run_id, sid, score, names[suggested], json.dumps({"given": "x"})],
            )


def test_accept_label_suggestions(tmp_path):
    ws = make_ws(tmp_path)
    with pytest.raises(NotFound, match="no label findings"):
        ws.accept("label")
    t = ws.samples()
    sids = t.column("sid").to_pylist()
    labels = t.column("label").to_pylist()

    def flip(i):
        return "dog" if labels[i] != "dog" else "eel"

    # An older run, superseded by the newer one below.
    _add_label_findings(ws, 1, [(sids[9], 0.01, flip(9))])
    findings = [
        (sids[0], 0.02, flip(0)),  # most suspicious
        (sids[1], 0.10, flip(1)),
        (sids[2], 0.30, flip(2)),  # confidence 0.7
        (sids[3], 0.05, labels[3]),  # suggests the label it has
        (sids[4], 0.04, flip(4)),  # a human relabels it first
        (sids[5], 0.03, flip(5)),  # dropped
    ]
    _add_label_findings(ws, 2, findings)
    ws.relabel(int(sids[4]), labels[4] if labels[4] != "cat" else "eel")
    ws.drop(int(sids[5]))

    dry = ws.accept("label", min_confidence=0.8, dry_run=True)
    assert dry.accepted == 2 and ws.changes()[-1].op == "drop"  # nothing recorded
    report = ws.accept("label", min_confidence=0.8, limit=1)
    assert report.run_id == 2
    assert (report.candidates, report.accepted) == (6, 1)
    assert (report.skipped_same_label, report.skipped_human_edit, report.skipped_not_live) == (
        1,
        1,
        1,
    )
    assert (report.skipped_low_confidence, report.skipped_over_limit) == (1, 1)
    assert report.relabels[0]["confidence"] == pytest.approx(0.98)
    shown = report.relabels[0]
    assert (
        shown["sid"] == int(sids[0]) and shown["source"] == ws.samples().column("source")[0].as_py()
    )
    change = ws.changes()[-1]
    assert (change.op, change.label, change.label_source, change.run_id) == (
        "relabel",
        flip(0),
        "accepted-suggestion",
        2,
    )
    assert "scan run 2" in change.reason and change.details["score"] == 0.02
    # The rest, without limits; the accepted one is now "same label".
    rest = ws.accept("label")
    assert rest.accepted == 2 and rest.skipped_same_label == 2
    with pytest.raises(InvalidInput):
        ws.accept("label", min_confidence=1.5)
    with pytest.raises(InvalidInput):
        ws.accept("outlier")
    v = ws.commit("accepted").version
    assert v.stats.label_sources["accepted-suggestion"] == 3
    ws.close()


def test_accept_the_suggestion_of_named_samples(tmp_path):
    """One sample's suggestion (the TUI's accept key; `curate accept --type label SAMPLE`)."""
    from click.testing import CliRunner

    from curate.cli import cli

    ws = make_ws(tmp_path)
    t = ws.samples()
    sids, refs = t.column("sid").to_pylist(), t.column("sample_id").to_pylist()
    labels = t.column("label").to_pylist()

    def flip(i):
        return "dog" if labels[i] != "dog" else "eel"

    _add_label_findings(ws, 1, [(sids[0], 0.5, flip(0)), (sids[1], 0.6, flip(1))])
    _add_label_findings(ws, 2, [(sids[0], 0.02, flip(0)), (sids[2], 0.1, flip(2))])
    ws.relabel(int(sids[2]), "cat" if labels[2] != "cat" else "eel")  # by hand first

    one = ws.accept("label", samples=[refs[2]])  # named: the hand relabel does not skip it
    assert (one.run_id, one.candidates, one.accepted) == (2, 1, 1)
    change = ws.changes()[-1]
    assert (change.sample_id, change.label, change.label_source, change.run_id) == (
        refs[2],
        flip(2),
        "accepted-suggestion",
        2,
    )
    assert ws.accept("label", samples=[int(sids[2])]).skipped_same_label == 1
    with pytest.raises(
        NotFound, match=f"sample {refs[1][:12]} has no label suggestion in scan run 2"
    ):
        ws.accept("label", samples=[refs[1]])
    older = ws.accept("label", samples=[refs[1]], run_id=1)  # an older run, by number
    assert older.accepted == 1 and ws.changes()[-1].run_id == 1
    ws.close()

    runner = CliRunner()
    args = ["-w", str(tmp_path / "ws"), "accept", "--type", "label", refs[0][:12], "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accepted"] == 1
    result = runner.invoke(cli, ["-w", str(tmp_path / "ws"), "accept", "--type", "label", "nope"])
    assert result.exit_code != 0 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/tmp/ESCAPED", "contains '/'"),
        ("../up", "contains '/'"),
        ("a\\b", "contains '\\'"),
        ("nul\0", "NUL"),
        (".", "means a folder itself"),
        ("..", "means a folder itself"),
        (" cat", "whitespace"),
        ("cat ", "whitespace"),
    ],
)
def test_new_class_names_must_be_one_folder_name(tmp_path, name, problem):
    """Exports make class names folders (split/class/...): '../x' would escape --out."""
    ws = make_ws(tmp_path, per_class=1)
    a = ws.samples().column("sample_id")[0].as_py()
    with pytest.raises(InvalidInput, match="cannot be used as a folder or file name") as err:
        ws.relabel(a, name, new_class=True)
    assert problem in str(err.value) and repr(name) in str(err.value)
    assert name not in {n for _, n in ws.classes()} and ws.changes() == []
    ws.close()


def test_augmented_copies_follow_their_parent(tmp_path):
    """Relabel, drop, restore and accepted suggestions take a parent's augmented copies along
    (a copy relabeled by hand, or dropped on its own, keeps its own state)."""
    from tests.engines.test_versions import derived_sample

    ws = make_ws(tmp_path)
    ws.split("0.5,0.5", seed=1)
    t = ws.samples()
    rows = [r for r in t.to_pylist() if r["split"] == "train"]
    parent, other = rows[0], next(r for r in rows[1:] if r["label"] != rows[0]["label"])
    label, new = parent["label"], other["label"]
    kids = ws.add_samples(
        [derived_sample(ws, parent["sample_id"], label, seed=i) for i in range(3)]
    )
    kid_ids = {r["sid"]: r["sample_id"] for r in ws.samples().to_pylist()}
    a, b, c = (kid_ids[k] for k in kids)
    spare = "eel" if label != "eel" and new != "eel" else "cat"
    ws.relabel(c, spare)  # a copy relabeled by hand does not follow

    def state():
        now = {r["sample_id"]: r["label"] for r in ws.samples().to_pylist()}
        return {k: now.get(k) for k in (parent["sample_id"], a, b, c)}

    r = ws.relabel(parent["sample_id"], new, reason="wrong folder")
    assert (r.recorded, r.followed) == (3, 2)
    assert {d["sample_id"]: d.get("parent") for d in r.details} == {
        parent["sample_id"]: None,
        a: parent["sample_id"],
        b: parent["sample_id"],
    }
    assert state() == {parent["sample_id"]: new, a: new, b: new, c: spare}
    follows = [ch for ch in ws.changes() if ch.sample_id == a and ch.op == "relabel"]
    assert follows[0].reason == f"follows its parent {parent['sample_id'][:12]}: wrong folder"

    ws.drop(b)  # on its own: restoring the parent does not bring it back
    r = ws.drop(parent["sample_id"])
    assert r.followed == 2  # a and c (b was out already)
    assert state() == dict.fromkeys((parent["sample_id"], a, b, c))
    r = ws.restore(parent["sample_id"])
    assert r.followed == 2 and state() == {parent["sample_id"]: new, a: new, b: None, c: spare}

    # An accepted suggestion for the parent takes the copies that carry its label.
    run_id = 7
    _add_label_findings(ws, run_id, [(parent["sid"], 0.01, label)])
    report = ws.accept("label", samples=[parent["sid"]], run_id=run_id)  # named: past the relabel
    assert (report.accepted, report.followed) == (1, 1)  # a (b is out, c has its own label)
    assert state() == {parent["sample_id"]: label, a: label, b: None, c: spare}
    ws.close()


def test_changes_and_lineage_name_origin_and_parents(tmp_path):
    """Every change says where its sample came from; ws.lineage shows both directions."""
    from tests.engines.test_versions import derived_sample

    ws = make_ws(tmp_path)
    parent = ws.samples().to_pylist()[0]
    kid_sid, other_sid = ws.add_samples(
        [derived_sample(ws, parent["sample_id"], parent["label"], seed=i) for i in range(2)]
    )
    ws.drop(other_sid)
    ws.relabel(parent["sid"], "eel" if parent["label"] != "eel" else "cat")
    kid = ws.samples().to_pylist()[-1]
    assert kid["sid"] == kid_sid
    seen = {(c.op, c.sample_id): (c.origin, c.parents) for c in ws.changes()}
    assert seen[("add", kid["sample_id"])] == ("augmented", [parent["sample_id"]])
    assert seen[("relabel", kid["sample_id"])] == ("augmented", [parent["sample_id"]])
    assert seen[("relabel", parent["sample_id"])] == ("original", [])
    assert {o for (op, _), (o, _) in seen.items() if op == "drop"} == {"augmented"}

    mine = ws.lineage(kid["sample_id"][:8])
    assert (mine.sid, mine.origin, mine.live, mine.label) == (
        kid_sid,
        "augmented",
        True,
        kid["label"],
    )
    assert mine.recipe == {"policy": "test", "seed": 0} and mine.sources == []
    (p,) = mine.parents
    assert (p.sid, p.sample_id, p.origin, p.label) == (
        parent["sid"],
        parent["sample_id"],
        "original",
        kid["label"],
    )
    up = ws.lineage(parent["sid"])
    assert up.origin == "original" and up.parents == [] and up.recipe is None
    assert up.sources == [parent["source"]]
    assert [(c.sid, c.origin, c.live) for c in up.children] == [
        (kid_sid, "augmented", True),
        (other_sid, "augmented", False),
    ]
    with pytest.raises(NotFound, match="no sample has sid 99999"):
        ws.lineage(99999)
    (orphan,) = ws.add_samples([derived_sample(ws, "ab" * 32, parent["label"], seed=9)])
    (gone,) = ws.lineage(orphan).parents  # a parent id no sample here has
    assert (gone.sid, gone.sample_id, gone.live) == (None, "ab" * 32, False)
    ws.close()


def test_reset_of_a_parent_forgets_what_its_copies_did_by_following_it(tmp_path):
    """Was: the parent came back, its copies kept the follow (relabeled '3', or dropped) and a
    commit shipped it. A copy's own edits, and those that followed another parent, stay."""
    from click.testing import CliRunner

    from curate.cli import cli
    from tests.engines.test_versions import derived_sample

    ws = make_ws(tmp_path)
    rows = ws.samples().to_pylist()
    parent, other = rows[0], next(r for r in rows if r["label"] != rows[0]["label"])
    label, new = parent["label"], other["label"]
    spare = next(n for n in ("cat", "dog", "eel") if n not in (label, new))
    kids = ws.add_samples(
        [derived_sample(ws, parent["sample_id"], label, seed=i) for i in range(3)]
        + [derived_sample(ws, other["sample_id"], new, seed=3)]
    )
    ws.commit("v1")  # the copies are committed: what is pending below are edits only
    kid_ids = {r["sid"]: r["sample_id"] for r in ws.samples().to_pylist()}
    a, b, c, d = (kid_ids[k] for k in kids)
    p = parent["sample_id"]
    committed = {r["sample_id"]: r["label"] for r in ws.samples().to_pylist()}

    def state():
        now = {r["sample_id"]: r["label"] for r in ws.samples().to_pylist()}
        return {k: now.get(k) for k in (p, a, b, c, d)}

    def pending():
        return sorted((ch.op, ch.sample_id) for ch in ws.changes())

    ws.relabel(c, spare)  # c's own edit
    ws.relabel(other["sample_id"], spare)  # d follows another parent
    kept = pending()
    assert ("relabel", d) in kept

    # relabel: the parent and the copies that followed it come back together
    assert ws.relabel(p, new, reason="oops").followed == 2  # a and b
    r = ws.reset(p)
    assert (r.recorded, r.followed, r.cancelled) == (3, 2, 0)
    assert state() == {p: label, a: label, b: label, c: spare, d: spare}
    assert pending() == kept and r.pending == len(kept)

    # drop: a copy dropped on its own stays out
    ws.drop(b)
    kept = pending()
    assert ws.drop(p).followed == 2  # a and c
    r = ws.reset([p])
    assert (r.recorded, r.followed) == (3, 2)
    assert state() == {p: label, a: label, b: None, c: spare, d: spare}
    assert pending() == kept

    # an accepted suggestion, reset from the CLI (as `curate reset SAMPLE`)
    _add_label_findings(ws, 7, [(parent["sid"], 0.01, new)])
    assert ws.accept("label", samples=[parent["sid"]], run_id=7).followed == 1  # a
    ws.close()
    result = CliRunner().invoke(cli, ["-w", str(tmp_path / "ws"), "reset", p[:12]])
    assert result.exit_code == 0, result.output
    assert f"Forgot 2 pending change(s); {len(kept)} left." in result.output
    from curate.api import Workspace

    ws = Workspace.open(tmp_path / "ws")
    assert state() == {p: label, a: label, b: None, c: spare, d: spare}
    assert pending() == kept

    # a follow, then the copy's own edits: once the follow goes, what undid it goes too
    ws.relabel(p, new)
    ws.split("0.5,0.5", names=["fit", "check"], seed=1)  # moves a (was train) in between
    ws.relabel(a, label)
    r = ws.reset(p)
    assert (r.followed, r.cancelled) == (1, 1)
    assert [ch.op for ch in ws.changes() if ch.sample_id == a] == ["move"]

    # reset of everything forgets everything, followers included
    ws.relabel(p, new)
    r = ws.reset()
    assert r.followed == 2  # a, and d (followed the other parent)
    assert ws.changes() == [] and state() == {k: committed[k] for k in (p, a, b, c, d)}
    ws.close()


def test_relabel_takes_an_int_label_as_its_class_name(tmp_path):
    """Was: `ws.relabel(30, 3)` said "no class named 3" although the digits have a class '3';
    with new_class=True an int (or None) crashed with AttributeError."""
    import numpy as np

    from curate.api import Workspace
    from tests.engines.test_versions import make_folder

    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(make_folder(tmp_path / "digits", per_class=2, classes=tuple("0123456789")))
    rows = ws.samples().to_pylist()
    a, b = [r["sid"] for r in rows if r["label"] not in ("3", "7")][:2]
    r = ws.relabel(a, 3)
    assert r.recorded == 1 and r.details[0]["to"] == "3"
    assert ws.relabel(a, np.int64(3)).unchanged == 1  # numpy ints too
    assert ws.relabel(b, 7, new_class=True).details[0]["to"] == "7"  # '7' exists: no new class
    assert ws.relabel(b, 12, new_class=True).details[0]["to"] == "12"
    assert "12" in {n for _, n in ws.classes()}
    with pytest.raises(NotFound, match="no class named '13'") as err:
        ws.relabel(b, 13)
    assert "new_class=True" in err.value.hint and "--new-class" in err.value.hint
    for bad, shown in ((None, "NoneType None"), (3.0, "float 3.0"), (["3"], "list ['3']")):
        for create in (False, True):
            with pytest.raises(InvalidInput) as err:
                ws.relabel(b, bad, new_class=create)
            assert str(err.value) == f"label must be a class name (a string), got {shown}"
    with pytest.raises(InvalidInput, match="got bool True"):
        ws.relabel(b, True)
    assert sorted(n for _, n in ws.classes()) == sorted([*"0123456789", "12"])
    ws.close()
