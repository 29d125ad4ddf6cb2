"""`curate lineage SAMPLE`, and the origin/parents `curate changes` shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import cli
from tests.cli.test_augment_cli import SHORT_FORM
from tests.engines.test_augment import make_folder

LINEAGE_KEYS = {
    "sid",
    "sample_id",
    "origin",
    "live",
    "label",
    "split",
    "sources",
    "parents",
    "recipe",
    "children",
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def lineage(ws_dir: Path, ref) -> dict:
    r = invoke("lineage", str(ref), "-w", str(ws_dir), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    """Ingested, then topped up to 6 train samples per class with a short policy."""
    from curate.api import Workspace

    policy = tmp_path / "light.yaml"
    policy.write_text(SHORT_FORM)
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(make_folder(tmp_path / "data"))
        assert ws.augment(str(policy), target_per_class=6, workers=1).added == 6
    return tmp_path / "ws"


def augmented_rows(ws_dir: Path) -> list[dict]:
    """The augmented samples as stored: sid, sample_id, parents, recipe (parsed)."""
    from curate.api import Workspace

    with Workspace.open(ws_dir) as ws:
        rows = ws.catalog().rows(
            "SELECT sid, sample_id, parents, recipe::VARCHAR FROM samples "
            "WHERE origin = 'augmented' ORDER BY sid"
        )
    return [
        {"sid": s, "sample_id": i, "parents": list(p), "recipe": json.loads(r)}
        for s, i, p, r in rows
    ]


def test_lineage_of_an_augmented_sample(ws_dir):
    rows = augmented_rows(ws_dir)
    # the one with the most steps applied: each is shown
    row = max(rows, key=lambda r: len(r["recipe"]["applied"]))
    recipe = row["recipe"]
    (parent_id,) = row["parents"]

    doc = lineage(ws_dir, row["sample_id"][:10])  # named like every SAMPLE: a prefix
    assert set(doc) == LINEAGE_KEYS
    assert (doc["sid"], doc["sample_id"], doc["origin"]) == (
        row["sid"],
        row["sample_id"],
        "augmented",
    )
    assert doc["live"] is True and doc["split"] == "train" and doc["label"] in {"b", "c"}
    assert doc["sources"] == [] and doc["children"] == []
    assert doc["recipe"] == recipe  # as stored
    (parent,) = doc["parents"]
    assert set(parent) == {"sid", "sample_id", "origin", "live", "label", "split", "source"}
    assert parent["sample_id"] == parent_id and parent["origin"] == "original"
    assert parent["label"] == doc["label"] and parent["source"].endswith(".png")
    assert lineage(ws_dir, row["sid"]) == doc  # by sid too

    r = invoke("lineage", row["sample_id"][:12], "-w", str(ws_dir))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert f"parent    {parent_id[:12]} (sid {parent['sid']}, original)" in out
    assert f"policy    light ({recipe['policy'][:12]})" in out
    assert f"seed      {recipe['seed']}, copy {recipe['copy']}" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("applied   "))
    applied = [lines[start]] + [line for line in lines[start + 1 :] if line.startswith(" ")][
        : len(recipe["applied"]) - 1
    ]
    assert len(recipe["applied"]) >= 1
    for line, step in zip(applied, recipe["applied"], strict=True):
        assert line[10:].split()[0] == step["transform"]  # one line per applied step
        for key in step["params"]:
            assert f" {key}=" in line  # with every parameter it drew
    assert lines[start + len(applied)].startswith("rebuild ")
    assert f"curate augment replay {row['sample_id'][:12]}" in out
    assert "children  none" in out


def test_lineage_of_a_parent_lists_its_children_and_a_dropped_one_is_not_live(ws_dir):
    rows = augmented_rows(ws_dir)
    parent_id = rows[0]["parents"][0]
    kids = [r for r in rows if r["parents"] == [parent_id]]
    doc = lineage(ws_dir, parent_id)
    assert doc["origin"] == "original" and doc["parents"] == [] and doc["recipe"] is None
    assert len(doc["sources"]) == 1 and doc["sources"][0].endswith(".png")
    assert doc["children"] == [
        {"sid": k["sid"], "sample_id": k["sample_id"], "origin": "augmented", "live": True}
        for k in kids
    ]
    r = invoke("lineage", parent_id, "-w", str(ws_dir))
    assert f"source    {doc['sources'][0]}" in r.stdout
    assert f"children  {len(kids)} ({len(kids)} live)" in r.stdout

    child = kids[0]
    r = invoke("drop", child["sample_id"], "-w", str(ws_dir))
    assert r.exit_code == 0, r.output
    doc = lineage(ws_dir, parent_id)
    assert {c["sample_id"]: c["live"] for c in doc["children"]}[child["sample_id"]] is False
    r = invoke("lineage", parent_id, "-w", str(ws_dir))
    assert f"({len(kids) - 1} live)" in r.stdout
    assert f"{child['sample_id'][:12]} (sid {child['sid']}), augmented, dropped" in r.stdout
    mine = lineage(ws_dir, child["sid"])
    assert (mine["live"], mine["label"], mine["split"]) == (False, None, None)
    r = invoke("lineage", str(child["sid"]), "-w", str(ws_dir))
    assert "augmented; dropped" in r.stdout.splitlines()[0]


@pytest.mark.parametrize("ref", ["nothing/here.png", "sid:999999", "ffffffffffff"])
def test_an_unknown_sample_is_one_line_and_exit_1(ws_dir, ref, monkeypatch):
    r = CliRunner().invoke(cli, ["lineage", ref, "-w", str(ws_dir)])
    assert r.exit_code == 1 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no sample" in errors[0], r.stderr
    assert "Traceback" not in r.output
    args = ["lineage", ref, "-w", str(ws_dir), "--json"]
    monkeypatch.setattr("sys.argv", ["curate", *args])  # where errors look for --json
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and r.stdout == ""
    assert json.loads(r.stderr)["kind"] == "NotFound"


def test_changes_carry_origin_and_parents(ws_dir):
    rows = {r["sample_id"]: r for r in augmented_rows(ws_dir)}
    parent_id = next(iter(rows.values()))["parents"][0]
    # an original's change, and its copies' that follow it
    r = invoke("relabel", parent_id, "a", "-w", str(ws_dir))
    assert r.exit_code == 0, r.output
    r = invoke("changes", "-w", str(ws_dir), "--json")
    changes = json.loads(r.stdout)
    adds = [c for c in changes if c["op"] == "add"]
    assert len(adds) == len(rows) == 6
    for c in adds:
        assert c["origin"] == "augmented" and c["parents"] == rows[c["sample_id"]]["parents"]
    relabels = [
        (c["sample_id"], c["origin"], c["parents"]) for c in changes if c["op"] == "relabel"
    ]
    kids = [i for i, row in rows.items() if row["parents"] == [parent_id]]
    assert sorted(relabels) == sorted(
        [(parent_id, "original", []), *((k, "augmented", [parent_id]) for k in kids)]
    )
    r = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["changes", "-w", str(ws_dir)])
    for c in adds:
        assert f"augmented of {c['parents'][0][:12]}" in r.stdout


def test_lineage_of_a_synthetic_sample(tmp_path, monkeypatch):
    """A tiny test-double generator (tests/engines/test_synth.py) makes two admitted images."""
    pytest.importorskip("torch")
    import curate.synthesize.engine as engine
    import curate.synthesize.runner as runner
    from curate.api import Workspace
    from tests.engines import test_synth

    real = engine.load_generator_class

    def load(name):
        return test_synth.PatternGenerator if name == "pattern" else real(name)

    monkeypatch.setattr(engine, "load_generator_class", load)
    monkeypatch.setattr(runner, "load_generator_class", load)
    src = tmp_path / "data"
    test_synth.write_patterns(src, {"top": 16, "bottom": 16, "left": 4}, seed=1)
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(src)
        result = ws.synthesize(generator="pattern", classes=["left"], n=2, fit_steps=1)
    assert result.admitted == 2
    ws_dir = tmp_path / "ws"
    sid = result.admitted_sids[0]

    doc = lineage(ws_dir, sid)
    assert doc["origin"] == "synthetic" and doc["label"] == "left"
    recipe = doc["recipe"]
    assert (recipe["generator"], recipe["checkpoint"], recipe["class"]) == (
        "pattern",
        result.checkpoint,
        "left",
    )
    (parent,) = doc["parents"]
    assert parent["origin"] == "original" and parent["sid"] is not None
    r = invoke("lineage", str(sid), "-w", str(ws_dir))
    assert r.exit_code == 0, r.output
    assert (
        f"generator pattern, checkpoint {result.checkpoint[:12]}, seed {recipe['seed']}" in r.stdout
    )
    assert "class left" in r.stdout and "options   " in r.stdout
    assert "augment replay" not in r.stdout
    kids = lineage(ws_dir, parent["sample_id"])["children"]
    assert {"sid": sid, "sample_id": doc["sample_id"], "origin": "synthetic", "live": True} in kids
    r = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["changes", "-w", str(ws_dir)])
    assert f"synthetic of {parent['sample_id'][:12]}" in r.stdout
