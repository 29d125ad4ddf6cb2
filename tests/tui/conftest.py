"""A workspace built from sample_data/digits, scanned once per session.

Read-only tests share it; tests that write get a copy (a folder copy: the
catalog and packs are small). Times that would change from run to run (the
commit time of v1) are pinned, so snapshots are byte-for-byte stable.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DIGITS

pytest.importorskip("textual")

PINNED_TIME = "2026-11-22 12:00:00"
SIZE = (100, 32)
SMALL = (80, 24)


@pytest.fixture(autouse=True)
def halfblock_graphics(monkeypatch):
    """Half-block images in every TUI test: deterministic cells, no terminal queries."""
    from curate.tui.graphics import GRAPHICS_ENV

    monkeypatch.setenv(GRAPHICS_ENV, "halfblock")


@pytest.fixture(scope="session")
def digits_template(tmp_path_factory) -> Path:
    """digits: ingested, split (seed 0), committed as v1 "baseline", scanned (pixels, 2 folds)."""
    from curate.api import Workspace

    root = tmp_path_factory.mktemp("tui") / "digits"
    ws = Workspace.init(root)
    try:
        ws.ingest(SAMPLE_DIGITS)
        ws.split("0.8,0.1,0.1", seed=0)
        ws.commit("baseline")
        ws.scan("pixels", folds=2, seed=0)
        with ws.writing() as cat:
            cat.rows("UPDATE versions SET created_at = ?::TIMESTAMP", [PINNED_TIME])
    finally:
        ws.close()
    return root


@pytest.fixture
def digits_ws(digits_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template (same folder name, so screens show "digits")."""
    dest = tmp_path / "copy" / "digits"
    shutil.copytree(digits_template, dest)
    return dest


async def settle(app, pilot, rounds: int = 4) -> None:
    """Let requests reach the app, workers finish and their answers render.

    A worker superseded by a newer one of its exclusive group (the preview of
    a row the cursor already left) ends cancelled; waiting for it is no error
    (``workers.wait_for_complete`` would raise WorkerCancelled: a flake when
    the cursor moved while a decode ran).
    """
    from contextlib import suppress

    from textual.worker import WorkerCancelled

    for _ in range(rounds):
        await pilot.pause()
        for worker in list(app.workers):
            with suppress(WorkerCancelled):
                await worker.wait()
    await pilot.pause()
    await tables_laid_out(app, pilot)


async def tables_laid_out(app, pilot, tries: int = 100) -> None:
    """Wait until every DataTable on the screen has measured the rows it was given.

    A DataTable sizes its columns on its next idle pass after rows arrive; a
    screenshot under load showed header-width columns ("6bc6" for a hash: a
    flaky snapshot in full runs). Textual has no public "measured" flag, so
    this reads the table's own pending-work fields, then drops its render
    caches (keyed without column widths) and redraws. Waiting alone still
    failed 1 run in 10 under load; with the redraw 10 of 10 passed. A probe
    of a bare DataTable did not reproduce stale rows after the idle pass, so
    which of the two mattered is not settled.
    """
    from textual.widgets import DataTable

    for _ in range(tries):
        tables = list(app.screen.query(DataTable))
        pending = [
            table
            for table in tables
            if table._require_update_dimensions or table._updated_cells or table._new_rows
        ]
        if not pending:
            for table in tables:
                table._clear_caches()
                table.refresh()
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"DataTables still laying out after {tries} pauses: {pending}")


def call(app, fn, *args, write: bool = False, **kwargs):
    """Call the API from the test as the app's workers do: holding its catalog gate.

    The app closes the catalog when no worker uses it; a bare ``app.ws`` call
    from the test could see its connection closed under it.
    """
    with app.catalog.use(write=write):
        return fn(*args, **kwargs)


def message_names(messages: list) -> list[str]:
    return [type(m).__name__ for m in messages]


@pytest.fixture
def make_app() -> Callable:
    """``make_app(path)`` -> (app, messages): a CurateApp and the list its messages go to."""

    def make(path: Path):
        from curate.tui.app import CurateApp

        return CurateApp(path)

    return make


def drive(fn):
    """Run an ``async def`` test body with asyncio (no async pytest plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_until(pilot, condition, timeout: float = 60.0) -> None:
    """Pause until ``condition()`` holds (a thread worker may outlive its cancelled task)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)
    await pilot.pause()
