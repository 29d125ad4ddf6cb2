"""`curate evaluate` and `curate report` from the command line: JSON, files, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curate.cli import cli
from tests.engines.test_evaluate import make_raw_and_fixed

FAST = ["--epochs", "20", "--seeds", "1", "--hidden", "32"]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ws, data, _ = make_raw_and_fixed(root)
    ws.close()
    return root / "ws", data


def run(ws, *args, code=0):
    result = CliRunner().invoke(cli, ["-w", str(ws), *args])
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


def test_evaluate_json_and_saved_file_feed_the_report(noisy, tmp_path):
    ws, data = noisy
    saved = tmp_path / "eval.json"
    result = run(
        ws,
        "evaluate",
        "v2",
        "--against",
        "v1",
        "--truth",
        str(data / "truth.csv"),
        *FAST,
        "--out",
        str(saved),
        "--json",
    )
    doc = json.loads(result.stdout)
    assert [a["role"] for a in doc["arms"]] == ["baseline", "candidate", "oracle"]
    assert doc["gap_closed_accuracy"] == 1.0  # v2 holds the clean labels
    assert json.loads(saved.read_text())["arms"] == doc["arms"]

    text = run(ws, "evaluate", "v2", "--against", "v1", "--truth", str(data / "truth.csv"), *FAST)
    assert "clean-label oracle" in text.stdout and "closed 100%" in text.stdout

    out = tmp_path / "report.html"
    rep = json.loads(
        run(ws, "report", "v2", "--out", str(out), "--evaluation", str(saved), "--json").stdout
    )
    assert rep["evaluation"] and rep["against"] == "v1" and out.is_file()
    html = out.read_text()
    for arm in doc["arms"]:
        assert f"{100 * arm['accuracy']:.2f}%" in html


def test_report_can_run_the_evaluation_itself(noisy, tmp_path):
    ws, data = noisy
    out = tmp_path / "r.md"
    result = run(
        ws, "report", "--out", str(out), "--evaluate", "--truth", str(data / "truth.csv"), *FAST
    )
    assert "with the evaluation table" in result.stdout
    text = out.read_text()
    assert "| raw (baseline) | v1 |" in text and "| curated | v2 |" in text
    assert (tmp_path / "r_files").is_dir()


def test_errors_are_one_line(noisy, tmp_path):
    ws, data = noisy
    bad = run(ws, "report", "--out", str(tmp_path / "r.txt"), code=2)
    assert "cannot tell the report format" in bad.stderr and "Traceback" not in bad.output
    missing = run(ws, "evaluate", "v2", "--split", "val", *FAST, code=1)
    assert "no samples in split 'val'" in missing.stderr
    both = run(
        ws, "report", "--out", str(tmp_path / "r.html"), "--truth", str(data / "truth.csv"), code=2
    )
    assert "need --evaluate" in both.stderr
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.txt").exists()


def test_a_small_training_split_prints_no_library_warning(tmp_path):
    """24 training samples, a batch of 64: scikit-learn would warn on every epoch."""
    import warnings

    from tests.engines.test_evaluate import make_small

    make_small(tmp_path).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that reached the user fails the command
        result = run(tmp_path / "ws", "evaluate", "--epochs", "1", "--seeds", "1")
    assert "batch_size" not in result.output and "Warning" not in result.output
    assert "curated v1: accuracy" in result.stdout
