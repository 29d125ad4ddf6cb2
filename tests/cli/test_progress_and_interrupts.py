"""Progress on stderr (with --json too, and as plain lines in a log), click's usage
errors on one line, a hint for a mistyped command, what Ctrl-C says per command,
and the warning when HEAD leaves pending changes out."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.api import Workspace
from curate.cli import cli, render
from tests.conftest import write_png

needs_posix_signals = pytest.mark.skipif(
    not hasattr(os, "killpg"), reason="sends SIGINT to a process group"
)


def curate(*args: str) -> subprocess.CompletedProcess:
    """The executable, stderr a pipe (not a terminal), as in a log or CI."""
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """90 images in 3 classes, split, committed as v1 (tag raw); one relabel left pending."""
    root = tmp_path_factory.mktemp("small")
    for i in range(90):
        write_png(root / "src" / "abc"[i % 3] / f"{i}.png", i)
    with Workspace.init(root / "ws") as ws:
        ws.ingest(root / "src")
        ws.split()
        ws.commit("raw")
        ws.tag("raw")
        ws.relabel([1], "b")
    return root / "ws"


@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """6,000 tiny distinct images: enough work that a command is still busy when
    its first progress line comes out, however loaded the machine."""
    root = tmp_path_factory.mktemp("big") / "src"
    for i in range(6000):
        write_png(root / str(i % 3) / f"{i}.png", 10_000 + i, size=(8, 8))
    return root


@pytest.fixture(scope="module")
def big(tmp_path_factory, big_source) -> Path:
    ws_dir = tmp_path_factory.mktemp("bigws") / "ws"
    with Workspace.init(ws_dir) as ws:
        ws.ingest(big_source)
        ws.commit("raw")
    return ws_dir


# -- progress -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, step",
    [
        (["export", "v1", "--format", "parquet", "--out", "{tmp}/out"], "exporting: 90/90"),
        (["scan", "--extractor", "pixels", "--folds", "2"], "decoding images: 90/90"),
        (
            ["evaluate", "v1", "--epochs", "1", "--seeds", "1", "--hidden", "8", "--no-oracle"],
            "(100%)",
        ),
        (
            ["report", "v1", "-o", "{tmp}/r.md", "--evaluate", "--epochs", "1", "--seeds", "1"],
            "(100%)",
        ),
    ],
    ids=["export", "scan", "evaluate", "report"],
)
def test_json_keeps_the_progress_on_stderr(small, tmp_path, argv, step):
    """The README: one JSON document on stdout, progress and logs on stderr."""
    argv = [a.format(tmp=tmp_path) for a in argv]
    r = curate("-w", str(small), *argv, "--json")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)  # the whole of stdout is one document
    assert step in r.stderr, r.stderr
    assert re.search(r"\(\d+%\) \d+:\d\d:\d\d$", r.stderr, re.MULTILINE), r.stderr


def test_progress_in_a_log_is_a_line_per_step_tenth_or_interval(monkeypatch):
    """stderr not a terminal: rich's bar printed nothing until a step ended."""
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    now = [0.0]
    with render.plain_progress("scanning", interval=10, clock=lambda: now[0]) as progress:
        progress(0, 1000, "decoding")  # nothing done yet: held back
        for done in range(1, 301):
            now[0] = done / 100
            progress(done, 1000, "decoding")
        now[0] += 11  # a slow batch: a line after the interval, not only at the next tenth
        progress(304, 1000, "decoding")
        progress(0, None, "features")
        now[0] += 5
        progress(17830, 17830)
    assert err.getvalue().splitlines() == [
        "decoding: 1/1000 (0%) 0:00:00",
        "decoding: 100/1000 (10%) 0:00:01",
        "decoding: 200/1000 (20%) 0:00:02",
        "decoding: 300/1000 (30%) 0:00:03",
        "decoding: 304/1000 (30%) 0:00:14",
        "features 0:00:14",
        "scanning: 17830/17830 (100%) 0:00:19",
    ]

    # the command's own bar: the same lines, with the interval it is given
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with render.progress_bar("ingesting", interval=0) as progress:
        progress(0, 4, "ingesting")
        progress(2, 4, "ingesting")
        progress(2, 4, "ingesting")
    assert err.getvalue().splitlines()[0] == "ingesting: 0/4 (0%) 0:00:00"
    assert len(err.getvalue().splitlines()) == 3


def test_progress_in_a_log_says_nothing_when_nothing_was_done(monkeypatch):
    """As the bar: a command failing before any work prints its error alone."""
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(ValueError), render.progress_bar("exporting") as progress:
        progress(0, 10, "exporting")
        raise ValueError("bad argument")
    assert err.getvalue() == ""
    # interrupted work says where it stopped
    with pytest.raises(KeyboardInterrupt), render.progress_bar("exporting") as progress:
        progress(30, 100, "exporting")
        progress(35, 100, "exporting")  # not a line of its own: the same tenth
        raise KeyboardInterrupt
    assert [line.rsplit(" ", 1)[0] for line in err.getvalue().splitlines()] == [
        "exporting: 30/100 (30%)",
        "exporting: 35/100 (35%)",
    ]


def test_a_terminal_keeps_its_live_bar(monkeypatch):
    from rich.console import Console

    out = io.StringIO()
    monkeypatch.setattr(
        render, "stderr_console", lambda: Console(file=out, force_terminal=True, width=80)
    )
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with render.progress_bar("scanning", interval=0) as progress:
        progress(5, 10, "scanning")
    assert "━" in out.getvalue() and err.getvalue() == ""
    # and a pipe gets lines
    monkeypatch.setattr(render, "stderr_console", lambda: Console(file=err))
    with render.progress_bar("scanning", interval=0) as progress:
        progress(5, 10, "scanning")
    assert err.getvalue() == "scanning: 5/10 (50%) 0:00:00\n"


# -- usage errors ---------------------------------------------------------------------


def test_a_missing_choice_option_is_one_line(small):
    r = curate("-w", str(small), "export", "v1", "--out", "x")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "error: missing option '--format' (choose from hf, parquet, imagefolder, webdataset)",
        "hint: see 'curate export --help'",
    ]
    r = curate("-w", str(small), "export", "v1", "--out", "x", "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1
    doc = json.loads(r.stderr)
    assert doc["error"].startswith("missing option '--format' (choose from hf, ")
    assert doc["kind"] == "UsageError" and doc["exit_code"] == 2


@pytest.mark.parametrize(
    "argv, hint",
    [
        (["statsu"], "hint: did you mean status?"),
        (["exprot", "v1"], "hint: did you mean export?"),
        (["status", "--jsn"], "hint: did you mean --json?"),
    ],
)
def test_a_mistyped_name_gets_a_suggestion(argv, hint):
    r = curate(*argv)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: no such "), r.stderr
    assert lines[1] == hint


# -- Ctrl-C ---------------------------------------------------------------------------


def interrupt_after_progress(argv: list[str], line: str, *, times: int = 1):
    """Run ``curate ARGV``, send SIGINT to its process group once its stderr shows a
    progress line starting with ``line``; return (exit code, whole stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    seen = []
    for text in proc.stderr:  # plain progress lines: stderr is a pipe
        seen.append(text)
        if text.startswith(line):
            for _ in range(times):
                os.killpg(proc.pid, signal.SIGINT)
                time.sleep(0.05)
            break
    _, rest = proc.communicate(timeout=300)
    stderr = "".join(seen) + rest
    assert "Traceback" not in stderr, stderr
    return proc.returncode, stderr


@needs_posix_signals
def test_ctrl_c_in_ingest_says_how_much_was_stored_and_a_rerun_completes(tmp_path, big_source):
    ws_dir = tmp_path / "ws"
    Workspace.init(ws_dir).close()
    code, stderr = interrupt_after_progress(
        ["-w", str(ws_dir), "ingest", str(big_source)], "ingesting: "
    )
    assert code == 130, stderr
    assert "stopping after the current batch" in stderr
    said = re.search(
        r"error: interrupted: (\d+) of 6000 inputs were read and are stored \((\d+) new images",
        stderr,
    )
    assert said is not None, stderr
    kept = int(said.group(1))
    assert int(said.group(2)) == kept  # every input was a new image
    assert f"hint: run the same command again to ingest the other {6000 - kept}" in stderr
    with Workspace.open(ws_dir) as ws:
        assert 0 < ws.status().samples == kept < 6000
    r = curate("-w", str(ws_dir), "ingest", str(big_source), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added_samples"] == 6000 - kept


@needs_posix_signals
def test_a_second_ctrl_c_in_ingest_still_says_what_was_kept(tmp_path, big_source):
    ws_dir = tmp_path / "ws"
    Workspace.init(ws_dir).close()
    code, stderr = interrupt_after_progress(
        ["-w", str(ws_dir), "ingest", str(big_source)], "ingesting: ", times=2
    )
    assert code == 130, stderr
    assert "work that had finished is kept" not in stderr
    said = re.search(r"interrupted: (at least )?(\d+) of 6000 inputs were read and are", stderr)
    assert said is not None, stderr
    with Workspace.open(ws_dir) as ws:
        assert ws.status().samples >= int(said.group(2)) > 0


@needs_posix_signals
def test_ctrl_c_in_scan_says_nothing_was_recorded(big):
    code, stderr = interrupt_after_progress(
        ["-w", str(big), "scan", "--extractor", "pixels", "--json"], "decoding images: "
    )
    assert code == 130, stderr
    doc = json.loads(stderr.strip().splitlines()[-1])
    assert doc["error"] == "interrupted: the scan recorded nothing; run it again"
    assert doc["kind"] == "Interrupted"
    with Workspace.open(big) as ws:
        assert ws.scan_runs() == []


@needs_posix_signals
def test_ctrl_c_in_export_says_nothing_was_exported(big, tmp_path):
    out = tmp_path / "out"
    code, stderr = interrupt_after_progress(
        ["-w", str(big), "export", "v1", "--format", "imagefolder", "--out", str(out)],
        "exporting: ",
    )
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == (
        "error: interrupted: nothing was exported; the previous export, if any, is untouched"
    )
    assert list(tmp_path.iterdir()) == []  # no export, no temporary folder


def test_the_interrupt_message_is_the_commands_own_only_inside_its_block(monkeypatch):
    """A Ctrl-C after the work (while printing) is not "nothing was exported"."""
    import click

    @click.command()
    @click.option("--late", is_flag=True)
    def demo(late):
        with render.handle_errors():
            with render.on_interrupt("interrupted: nothing was exported", lambda: "again"):
                if not late:
                    raise KeyboardInterrupt
            raise KeyboardInterrupt

    r = CliRunner().invoke(demo, [])
    assert r.exit_code == 130
    assert r.stderr.splitlines() == ["error: interrupted: nothing was exported", "hint: again"]
    r = CliRunner().invoke(demo, ["--late"])
    assert r.exit_code == 130
    assert r.stderr.splitlines() == ["error: " + render.INTERRUPTED]


# -- HEAD with pending changes --------------------------------------------------------

WARNING = (
    "warning: 1 pending change(s) are not in v1; run curate commit -m MSG first to include them"
)


@pytest.mark.parametrize(
    "argv, explicit",
    [
        (
            ["export", "HEAD", "--format", "parquet", "--out", "{tmp}/out"],
            ["export", "v1", "--format", "parquet", "--out", "{tmp}/out1"],
        ),
        (
            ["export", "latest", "--format", "parquet", "--out", "{tmp}/out", "--json"],
            ["export", "raw", "--format", "parquet", "--out", "{tmp}/out1", "--json"],
        ),
        (["report", "-o", "{tmp}/r.md"], ["report", "v1", "-o", "{tmp}/r1.md"]),
        (
            ["evaluate", "--epochs", "1", "--seeds", "1", "--hidden", "8", "--no-oracle"],
            ["evaluate", "v1", "--epochs", "1", "--seeds", "1", "--hidden", "8", "--no-oracle"],
        ),
    ],
    ids=["export-HEAD", "export-latest-json", "report", "evaluate"],
)
def test_head_with_pending_changes_warns_a_named_version_not(small, tmp_path, argv, explicit):
    """Relabel, export HEAD without committing: the old labels, and now a warning."""
    for args, warns in ((argv, True), (explicit, False)):
        args = [a.format(tmp=tmp_path) for a in args]
        r = CliRunner().invoke(cli, ["-w", str(small), *args])
        assert r.exit_code == 0, r.stderr
        if "--json" in args:
            json.loads(r.stdout)
        if warns:
            assert WARNING in r.stderr.splitlines(), r.stderr
        else:
            assert "pending change" not in r.stderr, r.stderr
