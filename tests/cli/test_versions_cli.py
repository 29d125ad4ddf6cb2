"""The CLI of issue 4: changes, split, commit/log/show/diff/tag, export; --json; one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from curate.cli import cli
from tests.engines.test_versions import make_folder


def run(ws, *args, code=0):
    result = CliRunner().invoke(cli, ["-w", str(ws), *args])
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


def js(ws, *args):
    return json.loads(run(ws, *args, "--json").stdout)


def test_curation_flow_from_the_command_line(tmp_path):
    ws = tmp_path / "ws"
    run(tmp_path, "init", str(ws))
    run(ws, "ingest", str(make_folder(tmp_path / "src", 6)))
    split = js(ws, "split", "--ratios", "0.5,0.5", "--seed", "4")
    assert split["moved"] == 18 and set(split["splits"]) == {"train", "val"}
    commit = js(ws, "commit", "-m", "first")
    assert commit["version"]["name"] == "v1" and commit["version"]["stats"]["samples"] == 18

    path = str(tmp_path / "src" / "cat" / "cat_000.png")
    relabel = js(ws, "relabel", path, "dog", "-m", "it barks")
    assert relabel["details"][0] == {"sample_id": relabel["samples"][0], "from": "cat", "to": "dog"}
    sample = relabel["samples"][0]
    dropped = js(ws, "drop", str(tmp_path / "src" / "eel" / "eel_001.png"))["samples"][0]
    changes = js(ws, "changes")
    assert [c["op"] for c in changes] == ["relabel", "drop"] and changes[0]["reason"] == "it barks"
    assert "2 pending change(s)" in run(ws, "changes").stdout
    pending = js(ws, "diff")  # HEAD -> working
    assert pending["b"] == "working" and pending["summary"]["relabeled"] == 1

    run(ws, "commit", "-m", "second")
    run(ws, "tag", "release")
    diff = js(ws, "diff", "v1", "release")
    assert {"added", "removed", "relabeled", "moved", "classes"} <= set(diff)
    assert diff["relabeled"] == [
        {
            "sample_id": sample,
            "source": path,
            "from": "cat",
            "to": "dog",
            "label_source": "human",
            "reason": "it barks",
            "run_id": None,
        }
    ]
    assert [r["sample_id"] for r in diff["removed"]] == [dropped]
    assert diff["classes"]["dog"] == {"a": 6, "b": 7, "delta": 1}
    text = run(ws, "diff", "v1", "v2").stdout
    assert "cat -> dog" in text and "it barks" in text

    log = js(ws, "log")
    assert [(v["name"], v["tags"]) for v in log] == [("v2", ["release"]), ("v1", [])]
    shown = js(ws, "show", "release", "--changes")
    assert shown["name"] == "v2" and [c["op"] for c in shown["changes"]] == ["relabel", "drop"]
    assert "v2" in run(ws, "show", "HEAD").stdout

    out = tmp_path / "export"
    exported = js(ws, "export", "v1", "--format", "parquet", "--out", str(out))
    assert exported["samples"] == 18 and (out / "curate-manifest.json").exists()
    hf = run(ws, "export", "v1", "--format", "hf", "--out", str(tmp_path / "hf"), "--json")
    assert json.loads(hf.stdout)["samples"] == 18
    assert "Saving the dataset" not in hf.stderr  # datasets' own bars stay off
    run(ws, "restore", dropped)
    assert "Version: v2; pending changes: 1" in run(ws, "status").stdout
    assert "quarantined" in js(ws, "status")  # status --json keeps its keys
    assert js(ws, "reset")["recorded"] == 1


def test_user_errors_are_one_line(tmp_path):
    ws = tmp_path / "ws"
    run(tmp_path, "init", str(ws))
    run(ws, "ingest", str(make_folder(tmp_path / "src", 2)))
    cases = [
        (("commit", "-m", "x"), 0),
        (("commit", "-m", "again"), 2),  # nothing to commit
        (("show", "v9"), 1),
        (("relabel", "nope.png", "cat"), 1),
        (("relabel", str(tmp_path / "src" / "cat" / "cat_000.png"), "zebra"), 1),
        (("split", "--ratios", "0.9,0.9"), 2),
        (("export", "v1", "--format", "parquet", "--out", str(tmp_path / "src")), 2),
        (("accept", "--type", "label"), 1),  # no scan yet
        (("tag", "v3"), 2),
    ]
    for args, code in cases:
        result = run(ws, *args, code=code)
        if code:
            lines = result.stderr.strip().splitlines()
            assert lines[0].startswith("error: ") and "Traceback" not in result.output, args
            assert len(lines) <= 2, lines


def test_bare_diff_before_the_first_commit_shows_everything_as_added(tmp_path):
    ws = tmp_path / "ws"
    run(tmp_path, "init", str(ws))
    run(ws, "ingest", str(make_folder(tmp_path / "src", 2)))
    text = run(ws, "diff").stdout
    assert text.startswith("empty -> working: 6 added, 0 removed") and "added" in text
    doc = js(ws, "diff")
    assert (doc["a"], doc["b"], doc["summary"]["added"]) == ("empty", "working", 6)
    run(ws, "commit", "-m", "first")
    assert "(identical)" in run(ws, "diff").stdout


def test_retagging_the_same_version_exits_0(tmp_path):
    ws = tmp_path / "ws"
    run(tmp_path, "init", str(ws))
    run(ws, "ingest", str(make_folder(tmp_path / "src", 2)))
    run(ws, "commit", "-m", "first")
    first = js(ws, "tag", "best")
    assert first["version"] == "v1" and first["unchanged"] is False
    assert "tag 'best' already names v1" in run(ws, "tag", "best").stdout
    again = js(ws, "tag", "best", "HEAD")
    assert again == {**first, "unchanged": True}  # the tag as it was, created_at included
    run(ws, "drop", str(tmp_path / "src" / "cat" / "cat_000.png"))
    run(ws, "commit", "-m", "second")
    moved = run(ws, "tag", "best", code=2)  # another version: still needs --force
    assert "already names v1" in moved.stderr and "--force" in moved.stderr
    assert js(ws, "tag", "best", "--force")["version"] == "v2"
