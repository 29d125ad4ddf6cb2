"""User mistakes across the whole CLI: one line on stderr, a non-zero exit, nothing written.

Each case is a mistake the bad-input audit found answered with a traceback,
a silent success or a damaged workspace; the cases other test files already
cover (tests/cli/test_*_cli.py, tests/engines/test_scan_bad_input.py) are not
repeated. One small workspace serves the module: every case must leave it
exactly as it was.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.api import Workspace
from curate.cli import cli
from curate.errors import InvalidInput
from tests.conftest import SAMPLE_DIGITS


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding ws/ (36 digits of 3 classes, split, v1 tagged raw), a plain file,
    an empty folder and a few bad input files."""
    root = tmp_path_factory.mktemp("audit")
    src = root / "src"
    for cls in ("0", "1", "2"):
        (src / cls).mkdir(parents=True)
        for f in sorted((SAMPLE_DIGITS / cls).glob("*.png"))[:12]:
            shutil.copy(f, src / cls / f.name)
    with Workspace.init(root / "ws") as ws:
        ws.ingest(src)
        ws.split("0.5,0.5", seed=0)
        ws.commit("raw")
        ws.tag("raw")
    (root / "afile").write_text("")
    (root / "empty").mkdir()
    (root / "not-an-evaluation.json").write_text('{"a": 1}')
    shutil.copy(next((src / "0").glob("*.png")), root / "image.png")
    (root / "manifest.csv").write_text("path,given\nsrc/0/x.png,0\n")
    return root


def fingerprint(ws_path: Path) -> tuple:
    """What a mistake must not change: samples, classes, pending changes, versions, tags,
    ingests and scan runs."""
    with Workspace.open(ws_path) as ws:
        status = ws.status()
        cat = ws.catalog()
        return (
            status.samples,
            status.classes,
            len(ws.changes()),
            [v.name for v in ws.log()],
            [(t.name, t.version) for t in ws.tags()],
            cat.scalar("SELECT count(*) FROM ingests"),
            len(ws.scan_runs()),
        )


def listing(root: Path) -> set[str]:
    """Every path under ``root`` outside the workspace's own folder (hidden ones too)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if ".curate" not in p.parts}


def case(case_id: str, argv: str, code: int, message: str, env: dict | None = None):
    """``argv`` is split on spaces ('' stands for an empty argument); "{site}" is the
    fixture's folder, "{ws}" the workspace."""
    args = ["" if a == "''" else a for a in argv.split()]
    return pytest.param(args, env or {}, code, message, id=case_id)


W = "-w {ws} "
# Before the audit each was a traceback, a silent success or data loss.
CASES = [
    # a folder that cannot be made: NotADirectoryError traceback
    case("init-under-a-file", "init {site}/afile/sub", 2, "cannot create a workspace in"),
    # numpy refused the seed deep inside the scan / the split: tracebacks
    case("scan-negative-seed", W + "scan --seed -1", 2, "seed: Input should be greater than"),
    case(
        "split-negative-seed",
        W + "split --seed -3 --resplit --dry-run",
        2,
        "seed must be 0 or more",
    ),
    # CURATE_THREADS=abc was int()'s ValueError; a negative count was taken silently
    case(
        "threads-not-a-number",
        W + "scan --extractor pixels --folds 2 --json",
        2,
        "CURATE_THREADS must be a whole number >= 0, not 'abc'",
        {"CURATE_THREADS": "abc"},
    ),
    case(
        "threads-negative",
        W + "scan --extractor pixels --folds 2",
        2,
        "CURATE_THREADS must be a whole number",
        {"CURATE_THREADS": "-4"},
    ),
    # "Accepted 0 of 0 label suggestions from scan run 999", exit 0
    case("accept-unknown-run", W + "accept --type label --run 999", 1, "no finished scan run 999"),
    # listed the tags and exited 0
    case("tag-delete-without-name", W + "tag --delete", 2, "--delete takes the tag NAME only"),
    # "Ingested 0 inputs", exit 0
    case("ingest-empty-folder", W + "ingest {site}/empty --json", 2, "found nothing to ingest in"),
    # FileExistsError traceback
    case(
        "export-under-a-file",
        W + "export v1 --format parquet --out {site}/afile/sub",
        2,
        "afile is not a folder",
    ),
    # "." (the current folder) is not empty
    case(
        "export-empty-out",
        W + "export raw --format parquet --out '' --json",
        2,
        "the output folder name is empty",
    ),
    # fsspec's "Protocol not known" traceback, after the export had started
    case(
        "objects-url-unknown-protocol",
        W + "export v1 --format parquet --out {site}/out --json",
        2,
        "cannot read packs from bogus://x: Protocol not known",
        {"CURATE_OBJECTS_URL": "bogus://x"},
    ),
    # --overwrite replaced the workspace (or everything around it) with the export
    case(
        "export-overwrite-workspace",
        W + "export v1 --format parquet --out {ws} --overwrite",
        2,
        "it holds a curate workspace",
    ),
    case(
        "export-overwrite-its-meta-folder",
        W + "export v1 --format hf --out {ws}/.curate --overwrite",
        2,
        "inside a workspace's .curate folder",
    ),
    case(
        "export-overwrite-a-parent",
        W + "export v1 --format parquet --out {site} --overwrite",
        2,
        "it contains the workspace",
    ),
    # output files under a plain file: tracebacks (evaluate's after the training)
    case(
        "preview-under-a-file",
        W + "augment preview -p light -o {site}/afile/grid.png",
        2,
        "afile is not a folder",
    ),
    case("replay-under-a-file", W + "augment replay 1 -o {site}/afile/x.png", 2, "not a folder"),
    case(
        "evaluate-under-a-file",
        W + "evaluate --out {site}/afile/e.json --epochs 1 --seeds 1",
        2,
        "afile is not a folder",
    ),
    case("report-under-a-file", W + "report -o {site}/afile/r.html", 2, "afile is not a folder"),
    # the hint was "1 validation error for EvaluationResult"
    case(
        "report-not-an-evaluation",
        W + "report -o {site}/r.html --evaluation {site}/not-an-evaluation.json",
        2,
        "a: Extra inputs are not permitted",
    ),
    # a failing demo left a workspace that the next run refused without --overwrite
    case(
        "demo-empty-data",
        "demo --data {site}/empty --out {site}/demo --quick --generator none",
        2,
        "holds no files",
    ),
    case(
        "demo-unknown-generator",
        "demo --data {site}/src --out {site}/demo --quick --generator nope",
        1,
        "no generator plugin named 'nope'",
    ),
    # the CSV parser's message quoted the PNG's raw bytes onto the terminal
    case(
        "evaluate-truth-is-an-image",
        W + "evaluate --truth {site}/image.png --epochs 1 --seeds 1",
        2,
        "cannot read truth file {site}/image.png: ",
    ),
    # every row was quarantined ("missing label"), exit 0
    case(
        "ingest-manifest-without-label-column",
        W + "ingest {site}/manifest.csv",
        2,
        "manifest manifest.csv has no 'label' column (columns: path, given)",
    ),
    # an empty message was taken
    case("commit-empty-message", W + "commit -m '' --allow-empty", 2, "commit message is empty"),
    case(
        "demo-bad-truth",
        "demo --data {site}/src --out {site}/demo --truth {site}/afile",
        2,
        "cannot read truth file",
    ),
    # --overwrite deleted the user's own workspace / wrote into their folder
    case(
        "demo-overwrite-a-users-workspace",
        "demo --data {site}/src --out {ws} --quick --generator none --overwrite",
        1,
        "curate demo did not make",
    ),
    case(
        "demo-into-a-non-empty-folder",
        "demo --data {site}/src --out {site} --quick --generator none",
        1,
        "already holds files that curate demo did not make",
    ),
    # a workspace's own files: a pack was ingested as an image of class "objects", a
    # workspace was made inside another's .curate, and the hint said `curate init W/.curate`
    case("ingest-its-own-meta", W + "ingest {ws}/.curate", 2, "inside the .curate folder of"),
    case("init-inside-a-meta", "init {ws}/.curate/objects", 2, "inside the .curate folder of"),
    case("workspace-is-its-meta", "-w {ws}/.curate status", 1, "--workspace {ws}"),
    # huge numbers: DuckDB's ConversionException, multiprocessing's OverflowError,
    # 300 processes on 2 cores, or a run that would never end
    case("issues-huge-limit", W + "issues --limit 9223372036854775808", 2, "limit must be"),
    case("scan-huge-workers", W + "scan --workers 2147483648", 2, "processes is too many"),
    case("scan-300-workers", W + "scan --workers 300", 2, "processes is too many"),
    case(
        "augment-huge-copies",
        W + "augment run -p light --copies 9223372036854775808 --dry-run",
        2,
        "copies: Input should be less than or equal to",
    ),
    case(
        "augment-huge-target",
        W + "augment run -p light --target-per-class 9223372036854775808 --dry-run",
        2,
        "target_per_class: Input should be less than or equal to",
    ),
    case("augment-300-workers", W + "augment run -p light --workers 300", 2, "too many"),
    case(
        "synth-huge-fit-steps",
        W + "synth -g gan --classes 1 --fit-steps 9223372036854775808",
        2,
        "fit_steps: Input should be less than or equal to",
    ),
    case(
        "synth-huge-seed",
        W + "synth -g gan --classes 1 --seed 9223372036854775808",
        2,
        "seed: Input should be less than or equal to",
    ),
]


@pytest.mark.parametrize(("argv", "env", "code", "message"), CASES)
def test_mistake_is_one_line_and_changes_nothing(site, argv, env, code, message):
    fill = {"site": str(site), "ws": str(site / "ws")}
    argv = [a.format(**fill) for a in argv]
    message = message.format(**fill)
    before, files = fingerprint(site / "ws"), listing(site)

    result = CliRunner().invoke(cli, argv, env=env)

    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == code, (result.exit_code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert "━" not in result.stderr  # no empty progress bar above the error
    assert all(ch.isprintable() and ch != "\ufffd" for ch in result.stderr.replace("\n", ""))
    assert result.stdout == ""  # with --json too: no half document
    assert fingerprint(site / "ws") == before
    assert listing(site) == files  # no output, temporary or half-made folder left


def test_probe_refuses_a_closed_port_at_once():
    """ray.init retries an unreachable head for minutes; the probe answers in a second."""
    from curate.engines.ray import probe_address

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(InvalidInput, match=f"cannot reach Ray at {address}: "):
            probe_address(address, timeout=5)
    probe_address("auto")  # left to Ray
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        probe_address(f"127.0.0.1:{s.getsockname()[1]}")  # reachable: no error


def test_failed_replace_keeps_the_earlier_export(site, tmp_path, monkeypatch):
    """--overwrite moves the old export aside, then renames the new one in: when that
    last rename fails, the old export is put back and the error is one line."""
    import os

    import curate.export.engine as export_engine

    out = tmp_path / "out"
    with Workspace.open(site / "ws") as ws:
        first = ws.export("v1", "parquet", out)
        before = sorted(p.name for p in out.rglob("*"))
        real = os.replace

        def failing(src, dst):
            if ".curate-tmp-" in str(src):
                raise OSError(28, "No space left on device")
            return real(src, dst)

        monkeypatch.setattr(export_engine.os, "replace", failing)
        with pytest.raises(InvalidInput, match="No space left on device"):
            ws.export("v1", "parquet", out, overwrite=True)
    assert sorted(p.name for p in out.rglob("*")) == before
    assert json.loads((out / "curate-manifest.json").read_text())["hash"] == first.hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folders


@pytest.mark.parametrize(
    "argv, help_path",
    [
        (["scan", "--folds", "1"], "curate scan"),  # out of range
        (["status", "--bogus"], "curate status"),  # unknown option
        (["xyzzy"], "curate"),  # unknown command, none like it (test_progress_and_interrupts
        # has the hint for a mistyped one)
    ],
)
def test_clicks_usage_errors_are_one_line_too(argv, help_path):
    """The executable (not CliRunner): click's usage block becomes curate's error + hint."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "curate", *argv], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("error: ") and "Usage:" not in r.stderr
    assert lines[1] == f"hint: see '{help_path} --help'"


def test_a_bare_group_still_prints_its_help():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "curate", "augment"], capture_output=True, text=True)
    assert "Usage: curate augment" in r.stdout + r.stderr
    assert "error:" not in r.stdout + r.stderr
