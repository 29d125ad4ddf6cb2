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

    def acquire(self) -> None:
        if self._fd is not None:
            self._depth += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkspaceLocked(
                f"workspace is locked by PID {holder}",
                hint="wait for it to finish, or stop that process",
            ) from None
        os.ftruncate(fd, 0)
        cmd = " ".join(os.path.basename(a) for a in sys.argv[:2])
        os.pwrite(fd, f"{os.getpid()} ({cmd})".encode(), 0)
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
