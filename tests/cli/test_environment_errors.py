"""The disk or the catalog refusing (permissions, space, size limits) and DuckDB's Ctrl-C:
one line and an exit code, never a traceback. Real bugs keep their traceback."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from curate.cli.render import handle_errors


def _run(exc: BaseException, capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as out, handle_errors():
        raise exc
    return out.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/w/.curate/write.lock"), "permission"),
        (OSError(errno.ENOSPC, "No space left on device", "/w/pack.tmp"), "disk space"),
        (OSError(errno.EFBIG, "File too large", "/w/pack.tmp"), "ulimit -f"),
        (OSError(errno.EROFS, "Read-only file system", "/w/pack.tmp"), "read-only"),
    ],
    ids=["eacces", "enospc", "efbig", "erofs"],
)
def test_os_errors_are_one_line_naming_the_path(exc, words, capsys):
    code, lines = _run(exc, capsys)
    assert code == 1
    assert len(lines) == 2
    assert lines[0].startswith("error: ") and exc.filename in lines[0]
    assert lines[1].startswith("hint: ") and words in lines[1]


def test_duckdb_io_errors_are_one_line(capsys):
    exc = duckdb.TransactionException(
        "TransactionContext Error: Failed to commit: Cannot open file "
        '"/w/.curate/catalog.duckdb.wal": Permission denied'
    )
    code, lines = _run(exc, capsys)
    assert code == 1
    assert lines[0] == (
        'error: catalog: failed to commit: Cannot open file "/w/.curate/catalog.duckdb.wal": '
        "Permission denied"
    )
    assert "permissions" in lines[1]


def test_duckdb_interrupt_is_ctrl_c(capsys):
    code, lines = _run(RuntimeError("Query interrupted"), capsys)
    assert code == 130
    assert lines == ["error: interrupted: work that had finished is kept, nothing is half-written"]


@pytest.mark.parametrize(
    "exc",
    [ValueError("a bug"), RuntimeError("another bug"), duckdb.BinderException("no column x")],
)
def test_real_bugs_keep_their_traceback(exc):
    with pytest.raises(type(exc)), handle_errors():
        raise exc


# -- a workspace this process may not write -----------------------------------------------
def _unprivileged() -> list[str] | None:
    """A command prefix that runs without the power to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.fixture
def read_only_workspace(tmp_path, image_folder):
    from curate.api import Workspace

    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest(image_folder)
    paths = [tmp_path / "ws", *(tmp_path / "ws").rglob("*")]
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield prefix, tmp_path / "ws"
    for p in paths:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _curate(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "curate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("command", [["relabel", "1", "cat"], ["scan"]])
def test_writing_to_a_read_only_workspace_is_one_line(read_only_workspace, command):
    prefix, ws = read_only_workspace
    r = _curate(prefix, "-w", str(ws), *command)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "error: workspace is not writable" in r.stderr
    assert str(Path(ws) / ".curate" / "write.lock") in r.stderr
    # Reading still works.
    assert _curate(prefix, "-w", str(ws), "status").returncode == 0


def test_scan_checks_it_can_write_before_it_computes(workspace, image_folder, monkeypatch):
    from curate.errors import NotWritable

    workspace.ingest(image_folder)

    def no_scan(*args, **kwargs):
        raise AssertionError("the scan ran")

    monkeypatch.setattr("curate.scan.engine.run_scan", no_scan)
    monkeypatch.setattr("curate.store.lock.os.access", lambda path, mode: False)
    with pytest.raises(NotWritable, match="is not writable"):
        workspace.scan()


def _hold_catalog(ws: Path, seconds: float) -> subprocess.Popen:
    """Another program (a DuckDB client) with the catalog open read-only for ``seconds``."""
    code = (
        "import duckdb, sys, time\n"
        f"c = duckdb.connect({str(ws / '.curate' / 'catalog.duckdb')!r}, read_only=True)\n"
        "print('open', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    return holder


def test_a_writer_with_results_waits_for_a_duckdb_client_to_close_the_catalog(workspace):
    workspace.close()
    holder = _hold_catalog(workspace.root, 7)
    told: list[str] = []
    try:
        with workspace.writing(wait=60, on_wait=told.append) as cat:
            assert not cat.read_only
    finally:
        holder.kill()
        holder.wait()
    assert len(told) == 1 and "catalog.duckdb open" in told[0]
