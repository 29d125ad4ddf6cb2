"""The local engine (the default): this process, or a pool of forked processes.

``workers=1`` runs every batch in this process, in order. ``workers>1``
runs them in a process pool (augmentation by default, one process per
core; a CPU scan with ``--workers``): ``fork`` where the platform has it, so workers inherit the
already imported libraries instead of paying seconds each to import them
again; at most ``3 x workers`` batches in flight, results yielded in order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from curate.engines.base import Engine, compact, slices
from curate.engines.packs import PackReader

WINDOW_PER_WORKER = 3


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _init_worker(parent: int, from_main_thread: bool) -> None:
    # Ctrl-C goes to the whole process group; the main process decides what
    # to keep, so workers must not die mid-batch with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent, from_main_thread)


def _die_with_parent(parent: int, from_main_thread: bool) -> None:
    """A worker whose parent was killed (kill -9, SIGTERM) exits instead of idling forever.

    An orphan waits on a queue nobody writes to, holding memory and whatever
    it inherited. Linux: the kernel sends SIGKILL when the parent goes
    (PR_SET_PDEATHSIG), but "the parent" is the *thread* that forked, so that
    is used only when the pool was started from the main thread (a TUI worker
    thread ends long before its pool does). Otherwise, and off Linux, a daemon
    thread polls the parent's PID once a second.
    """
    if from_main_thread and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # it died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):  # no libc prctl: fall back to polling
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="curate-parent-watch", daemon=True).start()


def _worker_ready() -> int:
    return os.getpid()


def default_workers() -> int:
    """Worker processes by default: the CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class LocalEngine(Engine):
    name = "local"
    preferred_batch_rows = 256

    def __init__(self, reader: PackReader, *, workers: int = 1) -> None:
        super().__init__(reader)
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallelism(self) -> int:
        return self.workers

    # -- the pool ---------------------------------------------------------------------------
    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
                initargs=(os.getpid(), threading.current_thread() is threading.main_thread()),
            )
            if method == "fork":
                self._start_forked()
        return self._pool

    def _start_forked(self) -> None:
        """Fork every worker while OpenCV runs single-threaded, then restore the parent.

        A child forked while OpenCV's pthreads pool exists inherits the pool
        without its threads and hangs in its first OpenCV call. With the pool
        shut down (1 thread) at fork time, children start clean and stay
        single-threaded: one process per core. (Only when OpenCV is already
        imported, as albumentations does; importing it here would cost ~1 s.)
        """
        cv2 = sys.modules.get("cv2")
        previous = cv2.getNumThreads() if cv2 is not None else None
        if cv2 is not None:
            cv2.setNumThreads(1)
        try:
            # With fork, the executor starts all its processes on the first submit.
            self._pool.submit(_worker_ready).result()
        finally:
            if cv2 is not None:
                cv2.setNumThreads(previous)

    def _ordered(self, calls: Iterator[tuple]) -> Iterator[Any]:
        """Run ``(fn, *args)`` calls, at most WINDOW_PER_WORKER x workers in flight, in order."""
        if self.workers == 1:
            for fn, *args in calls:
                yield fn(*args)
            return
        pool = self._get_pool()
        window: deque[Future] = deque()
        try:
            for fn, *args in calls:
                window.append(pool.submit(fn, *args))
                if len(window) >= WINDOW_PER_WORKER * self.workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:  # an early stop: drop what has not started
                future.cancel()

    # -- the seam -----------------------------------------------------------------------------
    def map_batches(self, fn, table, *, batch_rows: int, context: Any = None) -> Iterator[Any]:
        if self.workers == 1:
            calls = (
                (fn, table.slice(s, n), context) for s, n in slices(table.num_rows, batch_rows)
            )
        else:  # pickled to a worker: send only the slice's rows
            calls = (
                (fn, compact(table.slice(s, n)), context)
                for s, n in slices(table.num_rows, batch_rows)
            )
        return self._ordered(calls)

    def map(
        self, fn: Callable[[Any, Any], Any], items: Iterable[Any], *, context: Any = None
    ) -> Iterator[Any]:
        return self._ordered((fn, item, context) for item in items)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
