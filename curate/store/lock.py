"""The single-writer lock of a workspace.

An exclusive ``flock`` on ``.curate/write.lock``: the kernel drops it when the
holder dies (even by kill -9), so a crash never leaves a stale lock behind.
The holder writes its PID and command into the file so a second writer can be
told who holds it.

A forked child (the local engine's workers) inherits the locked open file
description, and a flock lives as long as any descriptor of it is open: an
orphaned worker would keep the workspace locked after its parent was killed.
So every child closes its copies right after the fork (``_forget_in_child``).
The parent keeps the lock: it still holds its own descriptor, and only an
explicit LOCK_UN or closing the last descriptor releases a flock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from curate.errors import NotWritable, WorkspaceLocked

# Descriptors of lock files this process has open, and the locks holding them:
# what a forked child must close and forget.
_OPEN_FDS: set[int] = set()
_LOCKS: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    """After a fork, in the child: close the inherited lock descriptors (no LOCK_UN,
    which would release the parent's lock too) and mark every lock as not held."""
    for fd in list(_OPEN_FDS):
        with suppress(OSError):
            os.close(fd)
    _OPEN_FDS.clear()
    for lock in list(_LOCKS):
        lock._fd = None
        lock._depth = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._depth = 0
        _LOCKS.add(self)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: float = 0.0, on_busy: Callable[[str], None] | None = None) -> None:
        """Take the lock; held by another process: wait up to ``wait`` seconds, then raise.

        ``on_busy(holder)`` is called once when the lock is found taken (a
        caller that will wait lets go of what the holder may need first).
        """
        if self._fd is not None:
            self._depth += 1
            return
        fd = self._open()
        _OPEN_FDS.add(fd)
        try:
            self._wait_for(fd, wait, on_busy)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} ({_command()})".encode(), 0)
        except BaseException:  # busy, interrupted, or the file not writable: let go
            _OPEN_FDS.discard(fd)
            os.close(fd)
            raise
        self._fd = fd
        self._depth = 1

    def check_writable(self) -> None:
        """Raise now if this process could not take the lock or write the catalog:
        a long computation (a scan) finds out before it starts, not after."""
        os.close(self._open())
        folder = self.path.parent
        if not os.access(folder, os.W_OK):
            raise NotWritable(
                f"workspace folder {folder} is not writable",
                hint="commands that change the workspace need write access to its "
                ".curate folder (the catalog writes its journal there)",
            )

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            raise NotWritable(
                f"workspace is not writable: {(exc.strerror or 'denied').lower()}: {self.path}",
                hint="commands that change the workspace need write access to its "
                ".curate folder; read-only commands (status, log, issues) still work",
            ) from None

    @staticmethod
    def _wait_for(fd: int, wait: float, on_busy: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    raise WorkspaceLocked(
                        f"workspace is locked by PID {holder}",
                        hint="wait for it to finish, or stop that process",
                    ) from None
                if not told and on_busy is not None:
                    told = True
                    on_busy(holder)
                time.sleep(0.1)

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            _OPEN_FDS.discard(fd)
            os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _command(argv: list[str] | None = None) -> str:
    """What the holder runs, for the message a second writer gets: "curate relabel"."""
    argv = sys.argv if argv is None else argv
    words = []
    if argv:  # `python -m curate` runs curate/__main__.py
        head, name = os.path.split(argv[0])
        words.append(os.path.basename(head) if name == "__main__.py" else name)
    rest = iter(argv[1:])
    for arg in rest:
        if arg in ("-w", "--workspace"):
            next(rest, None)  # its value
        elif not arg.startswith("-"):
            words.append(arg)
            break
    return " ".join(words)
