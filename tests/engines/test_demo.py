"""`curate demo` end to end on the sample digits with small settings (CPU)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.demo import DemoSettings, run_demo


def test_demo_runs_every_step_and_reports_the_payoff(tmp_path):
    lines: list[str] = []
    out = tmp_path / "demo"
    result = run_demo(out, settings=DemoSettings.quick(), step=lines.append)

    # every step ran for real, in order, and said what it did
    assert [s.name for s in result.steps] == [
        "ingest",
        "scan",
        "split + commit raw",
        "accept label fixes",
        "drop exact duplicates",
        "commit fixed",
        "synthesize rare classes",
        "augment to balance",
        "commit curated + export",
        "evaluate",
        "report",
    ]
    assert result.skipped == []
    assert sum(1 for line in lines if re.match(r"\[\d+/10\]", line)) == 10

    from curate.api import Workspace

    with Workspace.open(out) as ws:
        raw, fixed, curated = ws.version("raw"), ws.version("fixed"), ws.version("curated")
        assert (raw.name, fixed.name, curated.name) == ("v1", "v2", "v3")
        assert (raw.name, curated.name) == (result.raw, result.curated)
        assert fixed.stats.label_sources.get("accepted-suggestion", 0) > 0
        assert fixed.stats.origins == {"original": 1437}
        # the raw baseline is the data as given: no relabels, nothing made
        assert raw.stats.label_sources == {"given": 1437}
        assert raw.stats.origins == {"original": 1437}
        # curation relabeled, and balanced the train split only
        diff = ws.diff("raw", "curated")
        assert diff.summary["relabeled"] > 0 and diff.summary["added"] > 0
        added_splits = {s.split for s in diff.added}
        assert added_splits == {"train"}
        assert curated.stats.splits["test"] == raw.stats.splits["test"]
        plan = ws.balancing_plan(split="train")
        assert all(c.needed == 0 for c in plan.classes)

    # exports, where the result says they are
    assert (out / "exports" / "hf" / "dataset_dict.json").is_file()
    assert list((out / "exports" / "parquet" / "data").glob("train-*.parquet"))

    # the report holds the raw / curated / oracle table with this run's numbers
    html = (out / "report.html").read_text()
    evaluation = json.loads((out / "evaluation.json").read_text())
    roles = [a["role"] for a in evaluation["arms"]]
    assert roles == ["baseline", "candidate", "oracle"]
    assert "Evaluation: raw vs curated vs clean-label oracle" in html
    for arm in evaluation["arms"]:
        assert f"{100 * arm['accuracy']:.2f}%" in html
        assert f"{100 * arm['macro_f1']:.2f}%" in html
        assert result.accuracy[arm["role"]] == arm["accuracy"]
    assert "How this version was made" in html and "Augmented and synthetic samples" in html
    md = (out / "report.md").read_text()
    assert "| raw (baseline) | v1 |" in md and "| curated | v3 |" in md
    assert set(result.outputs) >= {
        "workspace",
        "export_hf",
        "export_parquet",
        "evaluation",
        "report_html",
        "report_md",
    }


def test_demo_help_states_the_generator_budget_the_demo_uses():
    from curate.demo import CPU_FIT_STEPS, GPU_FIT_STEPS

    text = " ".join(CliRunner().invoke(cli, ["demo", "--help"]).output.split())
    assert f"{GPU_FIT_STEPS} on a GPU" in text and f"a short {CPU_FIT_STEPS} on a CPU" in text
    assert f"{DemoSettings.quick().fit_steps} with --quick" in text


def test_demo_refuses_to_overwrite_without_asking(tmp_path):
    (tmp_path / "demo" / ".curate").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--quick"])
    assert result.exit_code == 1
    assert "already holds a workspace" in result.stderr and "--overwrite" in result.stderr


def test_demo_overwrite_never_touches_what_the_demo_did_not_make(tmp_path):
    from curate.api import Workspace
    from curate.demo import DEMO_MARKER

    run = CliRunner().invoke
    # the user's own workspace: refused with and without --overwrite, left intact
    Workspace.init(tmp_path / "mine").close()
    for extra in ([], ["--overwrite"]):
        result = run(cli, ["demo", "--out", str(tmp_path / "mine"), "--quick", *extra])
        assert result.exit_code == 1 and "did not make" in result.stderr
        assert "Traceback" not in result.output
    assert (tmp_path / "mine" / ".curate" / "catalog.duckdb").exists()
    # a folder of the user's files: refused, nothing overwritten
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "report.html").write_text("mine")
    result = run(cli, ["demo", "--out", str(tmp_path / "e"), "--quick"])
    assert result.exit_code == 1 and "did not make" in result.stderr
    assert (tmp_path / "e" / "report.html").read_text() == "mine"
    # an earlier demo's folder (marked): refused without --overwrite only
    (tmp_path / "d" / ".curate").mkdir(parents=True)
    (tmp_path / "d" / DEMO_MARKER).write_text("")
    result = run(cli, ["demo", "--out", str(tmp_path / "d"), "--quick"])
    assert result.exit_code == 1 and "earlier demo" in result.stderr
    assert "--overwrite" in result.stderr


def test_demo_marks_its_folder_and_overwrite_replaces_it(tmp_path, monkeypatch):
    from curate import demo

    # stop right after the folder is prepared: the rest is the slow end-to-end test
    class Stop(Exception):
        pass

    def stop(path):
        raise Stop

    monkeypatch.setattr("curate.api.Workspace.init", stop)
    out = tmp_path / "d"
    with pytest.raises(Stop):
        demo.run_demo(out, settings=DemoSettings.quick())
    assert (out / demo.DEMO_MARKER).is_file()
    (out / "report.html").write_text("old")  # as an earlier demo leaves it
    with pytest.raises(Stop):
        demo.run_demo(out, settings=DemoSettings.quick(), overwrite=True)
    assert not (out / "report.html").exists() and (out / demo.DEMO_MARKER).is_file()
