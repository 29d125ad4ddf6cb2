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


#: What :func:`check_cancel` says when its caller gives no message. Neutral on
#: purpose: some engines keep their finished batches (ingest, augment), others
#: nothing at all (scan, export, evaluate); each should say which.
CANCELLED = "cancelled by request"


def check_cancel(cancel: CancelFn | None, message: str = CANCELLED) -> None:
    """Raise :class:`Cancelled` with ``message`` if the caller asked to stop.

    ``message`` is what the user reads: say what the cancel kept, e.g. "scan
    cancelled: no findings were recorded".
    """
    if cancel is not None and cancel():
        raise Cancelled(message)
