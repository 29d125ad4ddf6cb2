"""A killed curate process leaves no lock and no workers behind; Ctrl-C keeps read work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.errors import WorkspaceLocked
from curate.store.lock import WriterLock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _read_line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return line


def _lock_is_free(path: Path) -> bool:
    lock = WriterLock(path)
    try:
        lock.acquire()
    except WorkspaceLocked:
        return False
    lock.release()
    return True


FORK_SCRIPT = """
import os, sys, time
from pathlib import Path
from curate.store.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire()
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
print(child, lock.held, flush=True)
time.sleep(30)
"""


def test_a_forked_child_does_not_keep_the_writer_lock(tmp_path: Path):
    path = tmp_path / "write.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", FORK_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        child_text, held = _read_line(proc).split()
        child = int(child_text)
        assert held == "True"
        assert not _lock_is_free(path)  # the child closing its copy left the parent's lock
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _alive(child)
        # The orphan holds nothing. (It closes its copy when it first runs, in its
        # at-fork handler: on a busy machine that may be after the parent's print.)
        deadline = time.monotonic() + 10
        while not _lock_is_free(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lock_is_free(path)
    finally:
        proc.kill()
        proc.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)


POOL_SCRIPT = """
import sys, time
from pathlib import Path
from curate.engines.local import LocalEngine
from curate.engines.packs import PackReader
from curate.store.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire()
engine = LocalEngine(PackReader(Path(sys.argv[2]).as_uri()), workers=2)
assert list(engine.map(max, [1, 2, 3], context=0)) == [1, 2, 3]
print(*engine._pool._processes, flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_a_pool_owner_ends_its_workers_and_frees_the_lock(tmp_path: Path, sig):
    path = tmp_path / "write.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL_SCRIPT, str(path), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    try:
        workers = [int(p) for p in _read_line(proc).split()]
        assert len(workers) == 2
        assert not _lock_is_free(path)
        os.kill(proc.pid, sig)
        proc.wait()
        assert _wait_gone(workers, 5.0) == []
        assert _lock_is_free(path)
    finally:
        proc.kill()
        proc.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# -- Ctrl-C during COMMIT (DuckDB reports it as RuntimeError("Query interrupted")) ----------
class _InterruptingCursor:
    """A cursor whose COMMIT is interrupted, before or after it went through."""

    def __init__(self, cur, exc: BaseException, *, after: bool) -> None:
        self._cur, self._exc, self._after = cur, exc, after

    def execute(self, sql, *args):
        if sql == "COMMIT" and not self._after:
            raise self._exc
        result = self._cur.execute(sql, *args)
        if sql == "COMMIT":
            raise self._exc
        return result

    def __getattr__(self, name):
        return getattr(self._cur, name)


# Factories, not instances: a raised instance kept by the parametrization would keep
# its traceback's frames, and with them a DuckDB connection, alive to the end.
@pytest.mark.parametrize(
    "make_exc",
    [lambda: RuntimeError("Query interrupted"), KeyboardInterrupt],
    ids=["duckdb", "python"],
)
@pytest.mark.parametrize("after", [True, False], ids=["committed", "not-committed"])
def test_ctrl_c_during_commit_is_one_line_and_leaves_no_open_transaction(
    tmp_path, monkeypatch, make_exc, after
):
    from curate.errors import Interrupted
    from curate.store.catalog import Catalog

    cat = Catalog(tmp_path / "c.duckdb", read_only=False)
    cat.cursor().execute("CREATE TABLE t (x INTEGER)")
    wrapped = _InterruptingCursor(cat.cursor(), make_exc(), after=after)
    with monkeypatch.context() as m:
        m.setattr(cat, "cursor", lambda: wrapped)
        try:
            with pytest.raises(Interrupted) as err, cat.transaction() as tx:
                tx.execute("INSERT INTO t VALUES (1)")
        except KeyboardInterrupt:  # would stop the whole test run
            pytest.fail("Ctrl-C during COMMIT escaped as a bare KeyboardInterrupt")
    assert err.value.exit_code == 130
    assert "curate log" in err.value.hint
    if after:
        assert "may have been saved" in err.value.message
    else:
        assert "was not saved" in err.value.message
    # Nothing left half-open: the next transaction works, and the row is there or not.
    with cat.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (2)")
    assert cat.rows("SELECT x FROM t ORDER BY x") == ([(1,), (2,)] if after else [(2,)])
    cat.close()


def test_duckdb_interrupt_inside_a_transaction_is_a_keyboard_interrupt(tmp_path):
    from curate.store.catalog import Catalog

    cat = Catalog(tmp_path / "c.duckdb", read_only=False)
    cat.cursor().execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(KeyboardInterrupt), cat.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("Query interrupted")
    assert cat.rows("SELECT x FROM t") == []
    cat.close()


# -- ingest: Ctrl-C keeps what was read; a failure is recorded as one ---------------------
def _ingest_rows(ws) -> list[tuple]:
    return ws.catalog().rows("SELECT status FROM ingests ORDER BY ingest_id")


def test_ctrl_c_during_ingest_keeps_the_images_already_read(tmp_path, monkeypatch):
    from curate.api import Workspace
    from curate.ingest import engine
    from tests.conftest import write_png

    for i in range(50):
        write_png(tmp_path / "src" / ("a" if i % 2 else "b") / f"{i:02d}.png", i)
    monkeypatch.setattr(engine, "READ_CHUNK", 10)

    def progress(done, total, message=""):
        if done >= 30:
            raise KeyboardInterrupt

    with Workspace.init(tmp_path / "ws") as ws:
        with pytest.raises(KeyboardInterrupt):  # one group of 1,000: nothing flushed yet
            ws.ingest(tmp_path / "src", batch_size=1000, progress=progress)
        assert ws.status().samples == 30
        assert _ingest_rows(ws) == [("cancelled",)]
        assert ws.ingest(tmp_path / "src").added_samples == 20


def test_ctrl_c_while_a_group_is_stored_stores_it_whole(tmp_path, monkeypatch):
    from curate.api import Workspace
    from curate.store import ingest_repo
    from tests.conftest import write_png

    for i in range(12):
        write_png(tmp_path / "src" / "a" / f"{i:02d}.png", i)
    real_commit = ingest_repo.commit_batch
    calls = []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(ingest_repo, "commit_batch", interrupted_once)
    with Workspace.init(tmp_path / "ws") as ws:
        with pytest.raises(KeyboardInterrupt):
            ws.ingest(tmp_path / "src")
        assert ws.status().samples == 12
        assert len(list(ws.objects.packs_dir.glob("*.pack"))) == 2  # one orphan, until the next
        assert ws.ingest(tmp_path / "src").added_samples == 0
        assert len(list(ws.objects.packs_dir.glob("*.pack"))) == 1


def test_a_failed_ingest_is_recorded_as_failed_and_leaves_no_temp_pack(tmp_path, monkeypatch):
    import errno

    from curate.api import Workspace
    from tests.conftest import write_png

    for i in range(6):
        write_png(tmp_path / "src" / "a" / f"{i}.png", i)
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if str(path).endswith(".tmp"):

            def write(_data):
                raise OSError(errno.EFBIG, "File too large")

            fh.write = write
        return fh

    with Workspace.init(tmp_path / "ws") as ws:
        monkeypatch.setattr("builtins.open", full_disk)
        with pytest.raises(OSError, match="File too large") as err:
            ws.ingest(tmp_path / "src")
        monkeypatch.undo()
        assert str(err.value.filename).endswith(".tmp")  # the message can name the file
        assert list(ws.objects.packs_dir.iterdir()) == []
        assert _ingest_rows(ws) == [("failed",)]
        assert ws.status().samples == 0


# -- a damaged object store ---------------------------------------------------------------
@pytest.fixture
def ingested(tmp_path, image_folder):
    from curate.api import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ws.ingest(image_folder)
    yield ws
    ws.close()


def test_scan_of_damaged_bytes_names_the_sample(ingested):
    from curate.engines.packs import close_all
    from curate.errors import DamagedData

    ws = ingested
    first = ws.catalog().rows(
        "SELECT sid, sample_id, pack, pack_offset FROM samples ORDER BY pack_offset LIMIT 1"
    )[0]
    sid, sample_id, pack, offset = first
    path = ws.objects.packs_dir / pack
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\0" * 16  # the PNG signature and header: gone
    path.write_bytes(bytes(data))
    ws.objects.close()
    close_all()
    with pytest.raises(DamagedData) as err:
        ws.scan(seed=0)
    assert f"sample {sid} ({sample_id[:12]})" in err.value.message
    assert "damaged" in err.value.message
    assert "BytesIO" not in err.value.message


def test_a_missing_pack_is_a_damaged_workspace_not_an_objects_url_problem(ingested):
    from curate.engines.packs import close_all
    from curate.errors import DamagedData

    ws = ingested
    for pack in ws.objects.packs_dir.iterdir():
        pack.unlink()
    ws.objects.close()
    close_all()
    with pytest.raises(DamagedData, match="missing from the object store") as err:
        ws.scan(seed=0)
    assert "CURATE_OBJECTS_URL" not in (err.value.hint or "")
    sid = ws.samples().column("sid").to_pylist()[0]
    with pytest.raises(DamagedData, match="missing from the object store"):
        ws.read_bytes(sid)
