"""The TUI holds the catalog only while a worker uses it.

DuckDB lets one process open a database file read-write, and while it does
no other process can open the file at all, not even read-only. A TUI left
open in one terminal must not make ``curate status`` in another fail, so the
app opens the catalog when its first worker starts and closes it when the last
one ends (after a short grace, so that moving through a list does not reopen
it for every row: an open costs some 50 ms). Other curate processes retry a
busy catalog for a few seconds (:mod:`curate.store.catalog`), longer than the grace.

Within the TUI, workers share one connection (each thread gets its own
cursor). Readers open it read-only, so the TUI can read while another process
reads too; a writer needs it read-write, so it waits until running readers are
done, then reopens it read-write, and readers that come while it writes share
that connection. Writes themselves are queued one at a time by the app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Longer than a keypress apart, well under the 5 s other processes wait for a busy catalog.
IDLE_CLOSE_S = 0.75


class CatalogGate:
    """Reference-counted use of ``ws``'s catalog connection by the app's workers."""

    def __init__(self, ws: Any, *, idle_close_s: float = IDLE_CLOSE_S) -> None:
        self.ws = ws
        self.idle_close_s = idle_close_s
        self._cond = threading.Condition()
        self._users = 0
        self._mode: str | None = None  # "r" | "w" while the connection is open
        self._timer: threading.Timer | None = None

    @property
    def mode(self) -> str | None:
        """ "r" or "w" while the TUI holds the catalog open, None while it holds nothing."""
        return self._mode

    @contextmanager
    def use(self, *, write: bool) -> Iterator[None]:
        """Hold the catalog open (read-write if ``write``) for the body of one worker."""
        self._enter(write)
        try:
            yield
        finally:
            self._leave()

    def _enter(self, write: bool) -> None:
        with self._cond:
            self._cancel_timer()
            if write:
                # A read-only connection in use cannot be swapped under its readers.
                while self._mode == "r" and self._users > 0:
                    self._cond.wait()
            try:
                if write and self._mode != "w":
                    with self.ws.writing():  # the writer lock, a read-write connection, migrations
                        pass
                    self._mode = "w"
                elif self._mode is None:
                    self.ws.catalog()  # read-only
                    self._mode = "r"
            except BaseException:
                # Busy elsewhere (WorkspaceLocked after the catalog's retries): hold nothing.
                if self._users == 0:
                    self._disconnect()
                raise
            self._users += 1

    def _leave(self) -> None:
        with self._cond:
            self._users -= 1
            if self._users == 0:
                self._cond.notify_all()
                self._schedule_close()

    def _schedule_close(self) -> None:
        self._timer = threading.Timer(self.idle_close_s, self._close_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _close_if_idle(self) -> None:
        with self._cond:
            if self._users == 0 and self._timer is not None:
                self._timer = None
                try:
                    self._disconnect()
                except RuntimeError:  # a write outside the gate holds the connection: later
                    self._schedule_close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _disconnect(self) -> None:
        self.ws.disconnect()
        self._mode = None

    def release_now(self) -> None:
        """Close the connection now if no worker uses it (tests, app exit)."""
        with self._cond:
            self._cancel_timer()
            if self._users == 0:
                self._disconnect()
