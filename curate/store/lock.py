"""The single-writer lock of a workspace.

An exclusive ``flock`` on ``.curate/write.lock``: the kernel drops it when the
holder dies (even by kill -9), so a crash never leaves a stale lock behind.
The holder writes its PID and command into the file so a second writer can be
told who holds it.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from curate.errors import WorkspaceLocked


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._depth = 0

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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WorkspaceLocked(
                        f"workspace is locked by PID {holder}",
                        hint="wait for it to finish, or stop that process",
                    ) from None
                if not told and on_busy is not None:
                    told = True
                    on_busy(holder)
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} ({_command()})".encode(), 0)
        self._fd = fd
        self._depth = 1

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
