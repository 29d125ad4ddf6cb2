"""Progress and cancellation callbacks shared by every long-running engine.

Engines call ``progress(done, total, message)`` between batches and poll
``cancel()``; the CLI renders a rich progress bar, the TUI updates a worker's
progress widget. Neither callback may raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from curate.errors import Cancelled


class ProgressFn(Protocol):
    def __call__(self, done: int, total: int | None, message: str = "") -> None: ...


CancelFn = Callable[[], bool]


def no_progress(done: int, total: int | None, message: str = "") -> None:
    """Default progress callback: ignore."""


def never_cancel() -> bool:
    return False


def check_cancel(cancel: CancelFn | None) -> None:
    """Raise :class:`Cancelled` if the caller asked to stop."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by request; finished batches were kept")
