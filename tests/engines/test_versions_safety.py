"""Safety: kill -9 inside a commit, a second writer, readers while a writer commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.api import Workspace
from curate.store import versions_repo
from tests.engines.test_versions import make_ws, working

KILL_IN_COMMIT = """
import os, signal, sys
from curate.api import Workspace
from curate.versions import history

def step(name):
    if name == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

history._step = step
ws = Workspace.open(sys.argv[1])
ws.commit("doomed")
if sys.argv[2] == "after-commit":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(
    "where", ["begin", "members", "hashed", "stats", "version", "stamped", "after-commit"]
)
def test_kill_9_during_commit_leaves_old_or_new_state(tmp_path: Path, where: str):
    ws = make_ws(tmp_path, per_class=4)
    ws.commit("v1")
    ws.drop(ws.samples().column("sample_id")[0].as_py(), reason="bad")
    ws.relabel(ws.samples().column("sample_id")[0].as_py(), "eel")
    before = working(ws)
    ws.close()

    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_COMMIT, str(tmp_path / "ws"), where], capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()

    with Workspace.open(tmp_path / "ws") as ws:
        cat = ws.catalog()
        assert working(ws) == before  # the working state never changes by a commit
        versions = [v.name for v in ws.log()]
        pending = cat.scalar("SELECT count(*) FROM changes WHERE version_id IS NULL")
        member_versions = {
            r[0] for r in cat.rows("SELECT DISTINCT version_id FROM version_members")
        }
        if where == "after-commit":
            assert versions == ["v2", "v1"] and pending == 0
            assert versions_repo.verify_hash(cat, 2)
        else:  # old state: no trace of v2 anywhere
            assert versions == ["v1"] and pending == 2 and member_versions == {1}
            assert ws.commit("again").version.name == "v2"
            assert versions_repo.verify_hash(ws.catalog(), 2)
        assert ws.log()[0].stats.samples == len(before)


HOLD_LOCK = """
import sys, time
from curate.api import Workspace
ws = Workspace.open(sys.argv[1])
with ws.writing():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_second_writer_is_told_who_holds_the_lock(tmp_path: Path):
    make_ws(tmp_path, per_class=2).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "ws")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        cli = [sys.executable, "-m", "curate", "-w", str(tmp_path / "ws")]
        r = subprocess.run([*cli, "commit", "-m", "x"], capture_output=True, text=True)
        assert r.returncode != 0
        assert f"workspace is locked by PID {holder.pid}" in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
        r = subprocess.run([*cli, "relabel", "0000", "cat"], capture_output=True, text=True)
        assert f"locked by PID {holder.pid}" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.log() == [] and ws.changes() == []


WRITER = """
import sys
from curate.api import Workspace
path, rounds = sys.argv[1], int(sys.argv[2])
for i in range(rounds):
    with Workspace.open(path) as ws:
        sid = ws.samples().column("sample_id")[i].as_py()
        ws.drop(sid, reason=f"round {i}")
        ws.commit(f"round {i}")
print("done", flush=True)
"""


def test_readers_keep_working_while_a_writer_commits(tmp_path: Path):
    ws = make_ws(tmp_path, per_class=10)
    ws.split("0.5,0.5", seed=0)
    ws.commit("v1")
    dataset = ws.version("v1").to_torch("train")  # training reads from here on
    ws.close()
    rounds = 6
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "ws"), str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads = 0
    seen_versions: set[str] = set()
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        for i in range(len(dataset)):
            assert dataset[i][0].shape == (8, 8, 1)
        with Workspace.open(tmp_path / "ws") as reader:
            log = reader.log()
            head = reader.version("HEAD")
            # A reader sees whole versions only: members match the recorded stats.
            assert head.samples().num_rows == head.stats.samples
            seen_versions.update(v.name for v in log)
        reads += 1
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert out.strip() == "done"
    assert reads >= 2
    with Workspace.open(tmp_path / "ws") as ws:
        assert len(ws.log()) == rounds + 1
        assert ws.version("v1").samples().num_rows == 30  # v1 unchanged underneath
    assert os.path.exists(tmp_path / "ws" / ".curate")


@pytest.mark.parametrize("connection", ["read-only", "read-write"])
def test_work_that_waits_for_a_writer_lets_it_finish_first(tmp_path: Path, connection: str):
    """A scan finishing while a short command writes: the scan's read-only
    connection kept the command from opening the catalog, and the command's
    lock kept the scan from recording; the scan's work was lost. Waiting work
    now closes its connection first, so both finish. (Read-write: one left
    open by an earlier write of the same process, as a synthesis admits in
    several steps.)"""
    ws = make_ws(tmp_path, per_class=2)
    ws.close()
    ws = Workspace.open(tmp_path / "ws")
    sid = ws.samples().column("sample_id")[0].as_py()
    if connection == "read-only":
        ws.catalog()  # as a scan holds while it runs
    else:
        with ws.writing():
            pass  # the lock is released, the read-write connection stays open
        assert not ws.catalog().read_only
    lock_file = ws.paths.lock
    cli = [sys.executable, "-m", "curate", "-w", str(tmp_path / "ws")]
    relabel = subprocess.Popen(
        [*cli, "drop", sid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not lock_file.read_text().strip():  # the command holds the writer lock
            assert time.monotonic() < deadline and relabel.poll() is None
            time.sleep(0.02)
        told = []
        with ws.writing(wait=30, on_wait=told.append) as cat:
            assert relabel.wait(timeout=30) == 0  # it went first, through our wait
            assert cat.rows("SELECT count(*) FROM changes") == [(1,)]
        # who, and doing what
        assert told == [f"waiting for PID {relabel.pid} (curate drop) to finish writing"]
        assert [c.op for c in ws.changes()] == ["drop"]
    finally:
        relabel.kill()
        relabel.wait()
        ws.close()
    # Without waiting, the error names the holder at once (unchanged).
    from curate.errors import WorkspaceLocked

    with (
        Workspace.open(tmp_path / "ws") as other,
        Workspace.open(tmp_path / "ws") as third,
        other.writing(),
        pytest.raises(WorkspaceLocked, match="locked by PID"),
        third.writing(),
    ):
        pass


def test_two_workspace_objects_on_one_folder_in_a_process_get_a_clear_error(tmp_path: Path):
    """DuckDB keeps one database per file per process: a reader and a writer object
    on one folder cannot both have it. A one-line WorkspaceLocked saying what to do,
    not DuckDB's ConnectionException; the first object goes on working."""
    import duckdb

    from curate.errors import WorkspaceLocked

    make_ws(tmp_path).close()
    root = tmp_path / "ws"
    reader, writer = Workspace.open(root), Workspace.open(root)
    before = reader.status().samples  # opens the catalog read-only
    with pytest.raises(WorkspaceLocked, match="already open in this process read-only") as err:
        writer.commit("x")
    assert "ws.close()" in err.value.hint
    reader.close()
    writer.split("0.5,0.5")  # once the reader is closed, the writer writes
    with pytest.raises(WorkspaceLocked, match="already open in this process for writing"):
        Workspace.open(root).status()
    writer.close()
    con = duckdb.connect(str(root / ".curate" / "catalog.duckdb"), read_only=True)  # docs/sql.md
    try:
        with pytest.raises(WorkspaceLocked, match="already open in this process"):
            Workspace.open(root).split("0.5,0.5", resplit=True)
    finally:
        con.close()
    with Workspace.open(root) as ws:
        assert ws.status().samples == before
