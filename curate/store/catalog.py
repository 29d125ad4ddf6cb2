"""The DuckDB catalog: connection, transactions, migrations.

``curate.store`` is the only package that imports duckdb. Every other layer
talks to the catalog through the repositories in this package, which return
core models, Arrow tables or plain Python values.

Threads: DuckDB connections are not shared across threads; :meth:`cursor`
hands each thread its own cursor on the one connection (the TUI's workers rely
on this). Processes: DuckDB lets one process open the file read-write; a
reader in another process retries briefly and then gets a clear message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb

from curate.errors import CurateError, Interrupted, WorkspaceLocked
from curate.store.faults import is_interrupt
from curate.store.migrations import MIGRATIONS

_OPEN_RETRY_SECONDS = 5.0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


class Catalog:
    def __init__(
        self,
        path: Path,
        *,
        read_only: bool,
        wait: float = _OPEN_RETRY_SECONDS,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Open the catalog; while another process holds the file, retry for ``wait``
        seconds (at least a few), calling ``on_wait(message)`` once if it takes longer."""
        self.path = Path(path)
        self.read_only = read_only
        self._wait, self._on_wait = max(wait, _OPEN_RETRY_SECONDS), on_wait
        self._local = threading.local()
        # Every thread's cursor, so close() can close them all: a cursor left
        # open keeps DuckDB's database (and its file lock) alive after con.close().
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self.con = self._connect()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        start = time.monotonic()
        told = False
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise CurateError(f"cannot open catalog {self.path}: {exc}") from None
                # DuckDB keeps one database per file per process: a second Workspace
                # object (or a duckdb.connect) on this folder, opened read-only where
                # this one needs to write, or the reverse. Waiting would not help.
                raise WorkspaceLocked(
                    f"the catalog {self.path} is already open in this process "
                    f"{'for writing' if self.read_only else 'read-only'} by another "
                    "Workspace object or DuckDB connection",
                    hint="use one Workspace per folder in a process, or close the other "
                    "first (ws.close(), or `with Workspace.open(...) as ws:`)",
                ) from None
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise CurateError(f"cannot open catalog {self.path}: {exc}") from None
                waited = time.monotonic() - start
                if waited > _OPEN_RETRY_SECONDS and not told and self._on_wait is not None:
                    told = True  # past a curate command's usual hold: say who we wait for
                    self._on_wait(
                        "waiting for the program that has .curate/catalog.duckdb open "
                        "(a DuckDB client?) to close it"
                    )
                if waited > self._wait:
                    raise WorkspaceLocked(
                        "workspace catalog is in use by another process",
                        hint="wait for the running curate command to finish, or close the "
                        "program that has .curate/catalog.duckdb open (a DuckDB client, or a "
                        "script or notebook holding a Workspace: ws.close())",
                    ) from None
                time.sleep(0.1)

    # -- connections -----------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor owned by the calling thread."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.con.cursor()
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def close(self) -> None:
        """Close every thread's cursor, then the connection: the file is free for others."""
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, []
        for cur in cursors:
            with suppress(duckdb.Error):
                cur.close()
        with suppress(duckdb.Error):
            self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: a crash or an exception inside leaves the catalog as it was."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException as exc:
            # A failed or interrupted statement may have ended the transaction already.
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            if is_interrupt(exc):  # DuckDB's Ctrl-C: tell callers it was Ctrl-C
                raise KeyboardInterrupt from exc
            raise
        try:
            cur.execute("COMMIT")
        except BaseException as exc:
            if not (isinstance(exc, KeyboardInterrupt) or is_interrupt(exc)):
                raise
            # Ctrl-C during COMMIT: DuckDB may have finished it (it reports the
            # interrupt after the fact) or not. A ROLLBACK that succeeds proves
            # it did not; otherwise there is no transaction left either way, and
            # nothing is open for the next statement to trip over.
            try:
                cur.execute("ROLLBACK")
            except (duckdb.Error, RuntimeError):
                saved = "the change may have been saved"
            else:
                saved = "the change was not saved"
            raise Interrupted(
                f"interrupted while saving to the catalog: {saved}",
                hint="check with `curate log` / `curate status`",
            ) from None

    # -- helpers ---------------------------------------------------------------
    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        # fetchall, not fetchone: DuckDB 2 refuses new work on a cursor with
        # an unfinished result.
        rows = self.cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.cursor().execute(sql, params or []).fetchall()

    def arrow(self, sql: str, params: list[Any] | None = None):
        """Query result as a pyarrow Table."""
        # .sql() streams straight to Arrow; execute() would copy the rows once more.
        return self.cursor().sql(sql, params=params or None).to_arrow_table()

    # -- schema ----------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        if not exists:
            return 0
        return int(self.scalar("SELECT count(*) FROM schema_migrations"))

    def pending_migrations(self) -> int:
        return len(MIGRATIONS) - self.schema_version()

    def migrate(self) -> int:
        """Apply pending migrations in order; each in its own transaction."""
        if self.read_only:
            raise CurateError("internal: migrate() needs a writable catalog")
        cur = self.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        applied = {r[0] for r in cur.execute("SELECT name FROM schema_migrations").fetchall()}
        count = 0
        for number, migration in enumerate(MIGRATIONS, start=1):
            if migration.name in applied:
                continue
            with self.transaction() as tx:
                tx.execute(migration.sql)
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now())", [number, migration.name]
                )
            count += 1
        return count
