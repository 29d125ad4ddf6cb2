"""An open TUI does not lock other curate processes out of the workspace, and the reverse is a modal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from curate.api import Workspace
from curate.tui import messages as m
from curate.tui.app import CurateApp
from curate.tui.catalog_gate import CatalogGate
from curate.tui.screens.dialogs import ErrorModal
from curate.tui.screens.review import ReviewScreen
from tests.tui.conftest import SIZE, drive, settle, wait_until

# Opens the catalog the way DuckDB lets a second process in: read-only.
PEEK = "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True).close(); print('ok')"

HOLD_CATALOG = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: no other process can open the file
print("holding", flush=True)
time.sleep(60)
"""


def _catalog(path: Path) -> str:
    return str(path / ".curate" / "catalog.duckdb")


def _can_open(path: Path) -> bool:
    r = subprocess.run([sys.executable, "-c", PEEK, _catalog(path)], capture_output=True, text=True)
    return r.returncode == 0


async def _curate(*args: str) -> subprocess.CompletedProcess:
    """`python -m curate ARGS` without blocking the app's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "curate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def _of(messages, cls):
    return list({id(x): x for x in messages if isinstance(x, cls)}.values())


@drive
async def test_idle_tui_lets_other_curate_commands_in(digits_ws):
    seen: list = []
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(app, pilot)
        assert _of(seen, m.OverviewLoaded)  # the overview read the catalog ...
        await wait_until(pilot, lambda: app.catalog.mode is None, timeout=10)  # ... and let go

        r = await _curate("-w", str(digits_ws), "status", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["samples"] == 1437
        # A writer too: the TUI holds neither the catalog nor the writer lock.
        r = await _curate("-w", str(digits_ws), "tag", "from-the-shell")
        assert r.returncode == 0, r.stderr

        # The TUI still works: it reads again and records a decision.
        await pilot.press("2")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.findings
        target = screen.selected
        await pilot.press("d")
        await settle(app, pilot)
        assert _of(seen, m.ChangeRecorded)[-1].report.recorded == 1
        await pilot.press("5")
        await settle(app, pilot)
        assert "from-the-shell" in _of(seen, m.HistoryLoaded)[-1].versions[0].tags
        await wait_until(pilot, lambda: app.catalog.mode is None, timeout=10)
        r = await _curate("-w", str(digits_ws), "changes", "--json")
        assert r.returncode == 0, r.stderr
        assert target.sample_id in r.stdout
    with Workspace.open(digits_ws) as ws:
        assert [(c.op, c.sample_id) for c in ws.changes()] == [("drop", target.sample_id)]


@drive
async def test_a_busy_catalog_is_a_modal_not_a_traceback(digits_ws, monkeypatch):
    import curate.store.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "_OPEN_RETRY_SECONDS", 0.3)
    app = CurateApp(digits_ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await wait_until(pilot, lambda: app.catalog.mode is None, timeout=10)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_CATALOG, _catalog(digits_ws)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "holding"
            await pilot.press("r")  # Overview: refresh
            await settle(app, pilot)
            assert isinstance(app.screen, ErrorModal)
            assert "in use by another process" in app.screen.message
        finally:
            holder.kill()
            holder.wait()
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("r")  # free again: reads work
        await settle(app, pilot)
        assert not isinstance(app.screen, ErrorModal)
        assert app.catalog.mode in ("r", None)


def test_gate_opens_for_workers_and_closes_after_them(digits_ws):
    ws = Workspace.open(digits_ws)
    gate = CatalogGate(ws, idle_close_s=0.05)
    try:
        assert gate.mode is None and _can_open(digits_ws)
        reading, release = threading.Event(), threading.Event()
        order: list[str] = []

        def reader() -> None:
            with gate.use(write=False):
                order.append("read")
                reading.set()
                release.wait(10)
                order.append("read done")

        def writer() -> None:
            with gate.use(write=True):
                order.append("write")
                ws.tag("gated")

        t_read = threading.Thread(target=reader)
        t_read.start()
        assert reading.wait(10)
        assert gate.mode == "r" and ws.status().samples == 1437
        assert _can_open(digits_ws)  # read-only here: other readers are welcome
        t_write = threading.Thread(target=writer)
        t_write.start()
        time.sleep(0.2)
        assert order == ["read"]  # the writer waits for the reader's connection
        release.set()
        t_read.join(10)
        t_write.join(10)
        assert order == ["read", "read done", "write"]
        deadline = time.monotonic() + 5
        while gate.mode is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gate.mode is None and _can_open(digits_ws)
        assert [t.name for t in ws.tags()] == ["gated"]
    finally:
        ws.close()
