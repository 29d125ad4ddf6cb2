"""`curate scan`, `curate issues`, `curate extractors`: JSON documents, tables, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def curate(*args: str, cwd: Path | None = None):
    """Run the CLI in-process (the heavy imports are paid once for the module).

    The result has returncode / stdout / stderr like a subprocess's.
    """
    from click.testing import CliRunner

    from curate.cli import cli

    extra = ["--workspace", str(cwd)] if cwd is not None else []
    r = CliRunner().invoke(cli, [*extra, *args], catch_exceptions=False)
    r.returncode = r.exit_code
    return r


def curate_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def ws_dir(tmp_path_factory) -> Path:
    """60 digits of 3 classes, 4 labels flipped, one image under two labels (a conflict)."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("cli_scan")
    x, y = load_digits(return_X_y=True)
    images = (x.reshape(-1, 8, 8) * 255 / 16).round().astype(np.uint8)
    rng = np.random.default_rng(1)
    picked = np.concatenate([np.flatnonzero(y == c)[:20] for c in (0, 1, 2)])
    flipped = set(rng.choice(picked, 4, replace=False).tolist())
    for i in picked:
        label = (y[i] + 1) % 3 if i in flipped else y[i]
        out = root / "data" / str(label) / f"d{i:04d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(out)
    # The same file under two labels.
    src = root / "data" / "0" / f"d{picked[0]:04d}.png"
    (root / "data" / "1" / "copy.png").write_bytes(src.read_bytes())
    assert curate("init", str(root / "ws")).returncode == 0
    r = curate("ingest", str(root / "data"), cwd=root / "ws")
    assert r.returncode == 0, r.stderr
    return root / "ws"


def test_issues_before_a_scan_is_a_one_line_error(ws_dir):
    r = curate_process("issues", cwd=ws_dir)
    assert r.returncode != 0
    assert "no scan has run" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_conflicts_need_no_scan(ws_dir):
    r = curate("issues", "--type", "conflict", "--json", cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert len(entries) == 1
    assert entries[0]["kind"] == "conflict" and entries[0]["details"]["labels"] == ["0", "1"]


def test_scan_json_then_issues_json(ws_dir):
    r = curate("scan", "--json", "--folds", "3", "--seed", "1", cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # one JSON document, progress went to stderr
    assert result["samples"] == 60 and result["seed"] == 1 and result["config"]["folds"] == 3
    assert set(result["issues"]) == {"label", "duplicate", "near_duplicate", "outlier", "quality"}
    assert result["imbalance"]["target"] >= 20

    r = curate("issues", "--type", "label", "--json", cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert len(entries) == result["issues"]["label"] >= 1
    for e in entries:
        assert {"sample_id", "source", "given_label", "suggested_label", "score"} <= set(e)
        assert Path(e["source"]).is_file()
    scores = [e["score"] for e in entries]
    assert scores == sorted(scores)

    r = curate("issues", "--type", "label", "--json", "--all", "--limit", "5", cwd=ws_dir)
    assert len(json.loads(r.stdout)) == 5
    r = curate("issues", "--type", "label", "--class", "2", "--json", "--all", cwd=ws_dir)
    assert {e["given_label"] for e in json.loads(r.stdout)} == {"2"}


def test_scan_and_issues_tables(ws_dir):
    r = curate("scan", "--folds", "3", cwd=ws_dir)
    assert r.returncode == 0, r.stderr
    assert "Issues by kind" in r.stdout and "imbalance ratio" in r.stdout
    # 22, 18 and 20 samples once the flips and the copy are counted: largest need first.
    assert "Under-represented (below the target of 22): 1 (+4), 2 (+2)" in r.stdout
    r = curate("issues", "--type", "label", "--all", "--limit", "4", cwd=ws_dir)
    # the title says how many there are, not only how many are shown (was "4 label findings")
    assert r.returncode == 0 and "showing 4 of 60 label findings" in r.stdout, r.stdout
    assert "… 56 more (--limit N or --json)" in r.stdout
    # Paths relative to the folder every source shares, which the caption names.
    assert "sources under" in r.stdout
    assert re.search(r"│ [012]/d\d{4}\.png +│", r.stdout), r.stdout
    assert "p(given)" in r.stdout and "p(suggested)" in r.stdout
    r = curate("issues", "--type", "quality", "--all", "--limit", "3", cwd=ws_dir)
    assert r.returncode == 0 and "showing 3 of 60 quality findings" in r.stdout
    r = curate("issues", "--type", "label", "--all", "--limit", "60", cwd=ws_dir)
    assert "60 label findings" in r.stdout and "showing" not in r.stdout
    assert "more (--limit" not in r.stdout
    r = curate("issues", "--type", "label", "--all", "--limit", "0", cwd=ws_dir)
    assert r.stdout.strip() == "showing 0 of 60 label findings"  # was "No label issues."
    r = curate("issues", "--class", "nope", cwd=ws_dir)
    assert r.returncode != 0 and "no class named 'nope'" in r.stderr


def test_scan_table_shows_the_counts_the_plan_uses(tmp_path):
    """After a split the target is the train split's: the table shows train counts beside
    the all-splits ones (was one "samples" column of every split, beside train's needs)."""
    from tests.conftest import SAMPLE_DIGITS

    for cls in ("0", "1", "5"):
        for f in sorted((SAMPLE_DIGITS / cls).glob("*.png"))[: 20 if cls != "5" else 10]:
            (tmp_path / "src" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "src" / cls / f.name).write_bytes(f.read_bytes())
    ws = tmp_path / "ws"
    assert curate("init", str(ws)).returncode == 0
    assert curate("ingest", str(tmp_path / "src"), cwd=ws).returncode == 0
    assert curate("split", "--ratios", "0.5,0.5", cwd=ws).returncode == 0, "split"
    r = curate("scan", "--extractor", "pixels", "--folds", "2", cwd=ws)
    assert r.returncode == 0, r.stderr
    target = int(re.search(r"target (\d+) in split 'train'", r.stdout)[1])
    assert "all samples" in r.stdout and "in train" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("│ 5 "))
    name, everywhere, train, _issues, needed = [c.strip() for c in row.strip("│").split("│")]
    assert (name, everywhere) == ("5", "10") and int(train) < 10
    assert int(needed) == target - int(train)  # the need adds up against the train column


def test_an_empty_class_is_named_not_hidden_in_the_ratio(tmp_path):
    """A class whose samples were all dropped would make the ratio infinite: the
    ratio is taken among the other classes and the empty one is named."""
    from curate.api import Workspace
    from tests.conftest import SAMPLE_DIGITS

    for cls in ("0", "1", "5"):
        for f in sorted((SAMPLE_DIGITS / cls).glob("*.png"))[: 20 if cls == "0" else 10]:
            (tmp_path / "src" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "src" / cls / f.name).write_bytes(f.read_bytes())
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(tmp_path / "src")
        fives = ws.samples(classes=["5"]).column("sid").to_pylist()
        ws.drop(fives, reason="test: the whole class goes")
    r = curate("scan", "--extractor", "pixels", "--folds", "2", "--json", cwd=tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["imbalance"]
    assert plan["empty_classes"] == ["5"] and plan["imbalance_ratio"] == 2.0
    r = curate("scan", "--extractor", "pixels", "--folds", "2", cwd=tmp_path / "ws")
    assert "imbalance ratio 2 among non-empty, 1 empty" in " ".join(r.stdout.split())
    assert "Classes with no samples at all: 5" in r.stdout


def test_issues_table_shows_a_relabel_made_since_the_scan(ws_dir):
    assert curate("scan", "--folds", "3", cwd=ws_dir).returncode == 0
    top = json.loads(
        curate("issues", "--type", "label", "--json", "--limit", "1", cwd=ws_dir).stdout
    )[0]
    given, suggested = top["given_label"], top["suggested_label"]
    r = curate("accept", f"sid:{top['sid']}", cwd=ws_dir)  # --type label by default
    assert r.returncode == 0, r.stderr
    try:
        r = curate("issues", "--type", "label", "--limit", "1", cwd=ws_dir)
        assert f"{given} -> {suggested}" in r.stdout, r.stdout
    finally:
        assert curate("reset", cwd=ws_dir).returncode == 0  # the module's workspace as it was


def test_bad_scan_options(ws_dir):
    r = curate("scan", "--extractor", "pixel", cwd=ws_dir)
    assert r.returncode != 0
    assert "no extractor plugin named 'pixel'" in r.stderr and "pixels" in r.stderr
    r = curate("scan", "-p", "novalue", cwd=ws_dir)
    assert r.returncode != 0 and "KEY=VALUE" in r.stderr
    r = curate("scan", "--folds", "1", cwd=ws_dir)
    assert r.returncode == 2


def test_help_explains_the_score_convention():
    r = curate("issues", "--help")
    assert "lower = more suspicious" in r.stdout


def test_extractors_lists_the_builtins_with_options():
    r = curate("extractors", "--json")
    assert r.returncode == 0, r.stderr
    names = {e["name"]: e for e in json.loads(r.stdout)}
    assert {"pixels", "patches", "ensemble", "cnn", "backbone"} <= set(names)
    assert any(o["name"] == "path" and o["required"] for o in names["backbone"]["options"])
