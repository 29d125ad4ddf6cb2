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


def test_demo_finishes_when_curation_changes_nothing(tmp_path):
    """Clean, balanced data (3 classes x 20 digits): no fix, no duplicate, nothing to balance.

    Every commit after raw would be empty; the demo says so in its step lines and
    exports, evaluates and reports the raw version as the curated one.
    """
    import csv
    import shutil

    from curate.demo import sample_data_dir

    src = sample_data_dir()
    data = tmp_path / "balanced" / "digits"
    for cls in ("0", "4", "7"):
        (data / cls).mkdir(parents=True)
        for f in sorted((src / "digits" / cls).iterdir())[:20]:
            shutil.copy(f, data / cls / f.name)
    # the clean labels of those images, found next to --data as the demo expects
    with (src / "ground_truth.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (data.parent / r["path"]).is_file()]
    assert len(rows) == 60
    with (data.parent / "ground_truth.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    out = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--data", str(data), "--out", str(out), "--quick", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "error:" not in result.stderr and "Traceback" not in result.output
    doc = json.loads(result.stdout)
    assert doc["raw"] == doc["curated"] == "v1"
    details = {s["name"]: s["detail"] for s in doc["steps"]}
    assert details["commit fixed"].startswith("nothing to commit")
    assert details["augment to balance"].startswith("nothing to augment")
    assert details["commit curated + export"].startswith("nothing to commit")
    assert "evaluate" in details and "report" in details
    assert set(doc["accuracy"]) == {"candidate", "oracle"}  # one version: nothing to compare

    from curate.api import Workspace

    with Workspace.open(out) as ws:
        assert [v.name for v in ws.log()] == ["v1"]
        assert {t.name: t.version for t in ws.tags()} == {
            "raw": "v1",
            "fixed": "v1",
            "curated": "v1",
        }
    assert (out / "exports" / "hf" / "dataset_dict.json").is_file()
    assert (out / "evaluation.json").is_file()
    md = (out / "report.md").read_text()
    assert "curation changed nothing" in md and "the curated version is the raw one (v1)" in md
    # The summary a person reads says it too (not "v1 = raw, v1 = curated").
    again = CliRunner().invoke(
        cli, ["demo", "--data", str(data), "--out", str(out), "--quick", "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert "v1 = raw = curated (curation changed nothing)" in again.stdout
    assert "raw = curated" in again.stdout.split("Held-out accuracy")[1]
